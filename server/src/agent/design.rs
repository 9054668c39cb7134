//! Reading the phase designer's answer.
//!
//! Models wrap the plan in prose and fences, think out loud first (with
//! draft objects and stray braces), and spell the fields their own way
//! (`last_phase`, `title`, files as plain strings). The reader finds the
//! JSON object that parses *and* has the plan's shape, skipping reasoning
//! blocks, accepting the obvious aliases; when none does, its error says
//! what was wrong so the repair round can show the model.

use minicode::protocol::{Phase, PlannedFile};
use serde_json::{Map, Value};

use crate::llm::reasoning;
use crate::workspace::RelPath;

/// At most this many `{` positions are tried (an answer of braces is not a plan).
const MAX_CANDIDATES: usize = 400;

/// The plan in `answer` as phase `number` (ours, not the model's).
pub fn parse(answer: &str, number: u32) -> Result<Phase, String> {
    let text = reasoning::strip(answer);
    let mut first_problem: Option<String> = None;
    for candidate in candidates(&text) {
        match read_object(&candidate).and_then(|object| to_phase(object, number)) {
            Ok(phase) => return Ok(phase),
            Err(problem) => {
                first_problem.get_or_insert(problem);
            }
        }
    }
    Err(first_problem.unwrap_or_else(|| "the answer holds no JSON object".into()))
}

/// The JSON objects the answer may hold, most likely first: the contents of
/// ```json fences, then every object that parses, in order.
fn candidates(text: &str) -> Vec<Value> {
    let mut found = Vec::new();
    let mut fenced = text.split("```").skip(1).step_by(2);
    for block in fenced.by_ref() {
        let body = block
            .trim_start_matches(|c: char| c.is_ascii_alphanumeric())
            .trim();
        if let Ok(value) = serde_json::from_str::<Value>(body) {
            found.push(value);
        }
    }
    for (n, (at, _)) in text.match_indices('{').enumerate() {
        if n >= MAX_CANDIDATES {
            break;
        }
        let mut stream = serde_json::Deserializer::from_str(&text[at..]).into_iter::<Value>();
        if let Some(Ok(value)) = stream.next() {
            found.push(value);
        }
    }
    if found.is_empty()
        && let Err(e) = serde_json::from_str::<Value>(text.trim())
    {
        // Nothing parsed: report the JSON error of the whole answer.
        return vec![Value::String(format!("invalid JSON: {e}"))];
    }
    found
}

/// The candidate as an object (unwrapping `{"phase": {…}}`).
fn read_object(value: &Value) -> Result<Map<String, Value>, String> {
    match value {
        Value::Object(map) => {
            if field(map, &["files"]).is_none()
                && map.len() == 1
                && let Some(Value::Object(inner)) = map.values().next()
            {
                return Ok(inner.clone());
            }
            Ok(map.clone())
        }
        Value::String(problem) if problem.starts_with("invalid JSON") => Err(problem.clone()),
        _ => Err("the answer's JSON is not an object".into()),
    }
}

/// `name` compared without case, `_`, `-` or spaces.
fn key(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The first of `names` (or an alias spelled differently) in `map`.
fn field<'a>(map: &'a Map<String, Value>, names: &[&str]) -> Option<&'a Value> {
    let wanted: Vec<String> = names.iter().map(|n| key(n)).collect();
    map.iter()
        .find(|(k, _)| wanted.contains(&key(k)))
        .map(|(_, v)| v)
}

fn text_of(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

fn truthy(value: Option<&Value>) -> Result<bool, String> {
    match value {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" => Ok(true),
            "false" | "no" | "" => Ok(false),
            other => Err(format!(
                "`lastPhase` must be true or false, not \"{other}\""
            )),
        },
        Some(other) => Err(format!("`lastPhase` must be true or false, not {other}")),
    }
}

fn to_phase(map: Map<String, Value>, number: u32) -> Result<Phase, String> {
    let name = text_of(field(&map, &["name", "title", "phase_name", "phase"]));
    let goal = text_of(field(
        &map,
        &["goal", "description", "objective", "summary", "purpose"],
    ));
    let last_phase = truthy(field(
        &map,
        &[
            "lastPhase",
            "isLastPhase",
            "isLast",
            "finalPhase",
            "final",
            "last",
        ],
    ))?;
    let files = match field(&map, &["files", "plannedFiles", "fileList"]) {
        Some(Value::Array(items)) => items
            .iter()
            .map(planned_file)
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => return Err("`files` must be an array".into()),
        None => return Err("the plan has no `files` array".into()),
    };
    if name.is_empty() {
        return Err("`name` is empty".into());
    }
    if files.is_empty() {
        return Err("`files` lists no file".into());
    }
    for file in &files {
        RelPath::parse_writable(&file.path).map_err(|e| format!("file `{}`: {e}", file.path))?;
    }
    Ok(Phase {
        number,
        name,
        goal,
        files,
        last_phase,
    })
}

fn planned_file(item: &Value) -> Result<PlannedFile, String> {
    match item {
        Value::String(path) => Ok(PlannedFile {
            path: path.trim().to_string(),
            purpose: String::new(),
        }),
        Value::Object(map) => {
            let path = text_of(field(
                map,
                &["path", "file", "filename", "filePath", "name"],
            ));
            if path.is_empty() {
                return Err("a file of `files` has no `path`".into());
            }
            Ok(PlannedFile {
                path,
                purpose: text_of(field(
                    map,
                    &["purpose", "description", "summary", "reason", "goal"],
                )),
            })
        }
        _ => Err("each of `files` must be {\"path\", \"purpose\"}".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAN: &str = r#"{"name": "Scaffold", "goal": "Runs", "files": [{"path": "src/App.tsx", "purpose": "UI"}], "lastPhase": true}"#;

    #[test]
    fn the_plan_is_found_in_prose_fences_and_reasoning() {
        for answer in [
            PLAN.to_string(),
            format!("Here is the plan:\n```json\n{PLAN}\n```\nHope it helps {{}}."),
            format!("<think>Maybe {{\"name\": \"draft\"}} or {{ no }}</think>\n{PLAN}"),
            format!("Okay, {{thinking}}.\n</think>\n{PLAN}"),
            format!("I'll use {{braces}} in prose. {PLAN} Then {{more}}."),
            format!("{{\"phase\": {PLAN}}}"),
        ] {
            let phase = parse(&answer, 3).unwrap_or_else(|e| panic!("{answer}: {e}"));
            assert_eq!(phase.number, 3);
            assert_eq!(phase.name, "Scaffold");
            assert_eq!(phase.files[0].path, "src/App.tsx");
            assert!(phase.last_phase, "{answer}");
        }
    }

    #[test]
    fn the_obvious_aliases_are_accepted() {
        let phase = parse(
            r#"{"title": "Core", "description": "d", "files": ["src/a.ts", {"file": "src/b.ts", "description": "b"}], "last_phase": "true"}"#,
            1,
        )
        .unwrap();
        assert_eq!(phase.name, "Core");
        assert_eq!(phase.goal, "d");
        assert_eq!(phase.files.len(), 2);
        assert_eq!(phase.files[1].purpose, "b");
        assert!(phase.last_phase, "snake_case last_phase counts");
        assert!(
            parse(
                r#"{"name": "x", "files": ["a.ts"], "is_last_phase": true}"#,
                1
            )
            .unwrap()
            .last_phase
        );
    }

    #[test]
    fn a_wrong_plan_says_what_is_wrong() {
        assert!(
            parse("no json here", 1)
                .unwrap_err()
                .contains("invalid JSON")
        );
        assert_eq!(
            parse(r#"{"name": "x", "files": []}"#, 1).unwrap_err(),
            "`files` lists no file"
        );
        assert_eq!(
            parse(r#"{"name": "x"}"#, 1).unwrap_err(),
            "the plan has no `files` array"
        );
        assert!(
            parse(r#"{"name": "x", "files": ["../etc/passwd"]}"#, 1)
                .unwrap_err()
                .contains("../etc/passwd")
        );
        assert!(
            parse(r#"{"name": "x", "files": ["a"], "lastPhase": "maybe"}"#, 1)
                .unwrap_err()
                .contains("maybe")
        );
    }
}
