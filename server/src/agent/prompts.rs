//! The prompts sent to real models, kept as Markdown files in
//! `server/prompts/` (one per role) and compiled into the binary. Each file
//! documents its `{{placeholders}}` at the top; [`render`] fills them.

use minicode::protocol::Phase;

const PHASE_DESIGNER: &str = include_str!("../../prompts/phase_designer.md");
const IMPLEMENTER: &str = include_str!("../../prompts/implementer.md");
const CHAT_AGENT: &str = include_str!("../../prompts/chat_agent.md");
const REPAIR_JSON: &str = include_str!("../../prompts/repair_json.md");
const CONTINUE_ANSWER: &str = include_str!("../../prompts/continue_answer.md");
const MISSING_FILES: &str = include_str!("../../prompts/missing_files.md");

/// Replaces `{{key}}` with its value, and drops the leading HTML comment that
/// documents the placeholders (the model does not need it).
pub fn render(template: &str, values: &[(&str, &str)]) -> String {
    let body = match template.trim_start().strip_prefix("<!--") {
        Some(rest) => rest
            .split_once("-->")
            .map(|(_, after)| after.trim_start())
            .unwrap_or(template),
        None => template,
    };
    let mut out = body.to_string();
    for (key, value) in values {
        out = out.replace(&format!("{{{{{key}}}}}"), value);
    }
    out
}

fn bullet_list(items: &[String]) -> String {
    if items.is_empty() {
        return "(none yet)".into();
    }
    items
        .iter()
        .map(|i| format!("- {i}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn describe_phases(phases: &[Phase]) -> String {
    if phases.is_empty() {
        return "(none yet: this is the first phase)".into();
    }
    phases
        .iter()
        .map(|p| {
            let files: Vec<&str> = p.files.iter().map(|f| f.path.as_str()).collect();
            format!(
                "{}. {} — {} (files: {})",
                p.number,
                p.name,
                p.goal,
                files.join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn phase_designer(
    description: &str,
    phase_number: u32,
    previous: &[Phase],
    files: &[String],
) -> String {
    render(
        PHASE_DESIGNER,
        &[
            ("description", description),
            ("phase_number", &phase_number.to_string()),
            ("previous_phases", &describe_phases(previous)),
            ("files", &bullet_list(files)),
        ],
    )
}

pub fn implementer(description: &str, phase: &Phase, files: &[String]) -> String {
    let planned: Vec<String> = phase
        .files
        .iter()
        .map(|f| format!("{} — {}", f.path, f.purpose))
        .collect();
    render(
        IMPLEMENTER,
        &[
            ("description", description),
            ("phase_number", &phase.number.to_string()),
            ("phase_name", &phase.name),
            ("phase_goal", &phase.goal),
            ("phase_files", &bullet_list(&planned)),
            ("files", &bullet_list(files)),
        ],
    )
}

pub fn chat_agent(files: &[String]) -> String {
    render(CHAT_AGENT, &[("files", &bullet_list(files))])
}

pub fn repair_json(error: &str, answer: &str) -> String {
    let answer: String = answer.chars().take(4000).collect();
    render(REPAIR_JSON, &[("error", error), ("answer", &answer)])
}

/// After an implementer's answer hit `max_tokens`: go on from there.
pub fn continue_answer() -> String {
    render(CONTINUE_ANSWER, &[])
}

/// The files of the plan an answer did not deliver, with why.
pub fn missing_files(missing: &[(String, String)]) -> String {
    let list: Vec<String> = missing
        .iter()
        .map(|(path, why)| format!("`{path}`: {why}"))
        .collect();
    render(MISSING_FILES, &[("files", &bullet_list(&list))])
}

#[cfg(test)]
mod tests {
    use super::*;
    use minicode::protocol::PlannedFile;

    #[test]
    fn every_placeholder_is_filled() {
        let phase = Phase {
            number: 2,
            name: "Core".into(),
            goal: "Make it work".into(),
            files: vec![PlannedFile {
                path: "src/App.tsx".into(),
                purpose: "root".into(),
            }],
            last_phase: false,
        };
        let rendered = [
            phase_designer(
                "a todo app",
                2,
                std::slice::from_ref(&phase),
                &["package.json".into()],
            ),
            implementer("a todo app", &phase, &["package.json".into()]),
            chat_agent(&["src/App.tsx".into()]),
            repair_json("expected value", "not json"),
        ];
        for text in rendered {
            assert!(!text.contains("{{"), "an unfilled placeholder: {text}");
            assert!(
                !text.trim_start().starts_with("<!--"),
                "the placeholder notes are stripped"
            );
        }
    }

    #[test]
    fn render_replaces_and_strips_notes() {
        let out = render("<!-- {{x}}: a value -->\nHello {{x}}!", &[("x", "world")]);
        assert_eq!(out, "Hello world!");
    }
}
