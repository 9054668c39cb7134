//! The scripted chat: a small tool-using agent for [`Purpose::Chat`]. It
//! understands a handful of requests (title, dark/light theme, footer,
//! accent colour, new section), reads the files it needs, edits them, then
//! summarises; anything else gets an explanation of how to configure a real
//! model. It is the largest room because each request is its own small
//! text-editing routine.
//!
//! [`Purpose::Chat`]: crate::llm::Purpose::Chat

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Value, json};

use super::describe::{clean, clip_words, is_light, join_list, words_of};
use super::scaffold::{jsx_text, pascal, section_component};
use super::{Answer, fnv};
use crate::llm::{LlmMessage, ToolCall};

/// A request the chat agent understands.
#[derive(Clone, Debug, PartialEq)]
enum Intent {
    Title(String),
    Theme(Theme),
    Footer(String),
    Accent(String),
    Section(String),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Theme {
    Dark,
    Light,
}

const APP: &str = "src/App.tsx";
const STYLES: &str = "src/styles.css";

impl Intent {
    fn file(&self) -> &'static str {
        match self {
            Intent::Title(_) | Intent::Footer(_) | Intent::Section(_) => APP,
            Intent::Theme(_) | Intent::Accent(_) => STYLES,
        }
    }
}

/// Verbs that start a new request inside one message ("… and add a footer").
#[rustfmt::skip]
const VERBS: &[&str] = &[
    "change", "set", "make", "add", "rename", "update", "switch", "use", "turn", "put", "include",
    "insert", "give", "create", "replace", "apply", "paint", "colour", "color", "call", "also",
    "please", "then",
];

static SEPARATOR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\s*(?:;|\n|[.!?]\s+|,?\s+and\s+|,?\s+then\s+|,\s+)\s*").expect("valid regex")
});

/// Splits a message into requests, but only where the next part starts with
/// a verb: "change the title to Tom and Jerry" stays one request.
fn clauses(message: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut last = 0;
    let mut pending_sep = String::new();
    let push = |part: &str, sep: &str, out: &mut Vec<String>| {
        let first = part.split_whitespace().next().unwrap_or("").to_lowercase();
        if out.is_empty() || VERBS.contains(&first.as_str()) {
            out.push(part.to_string());
        } else if let Some(prev) = out.last_mut() {
            prev.push_str(sep);
            prev.push_str(part);
        }
    };
    for m in SEPARATOR.find_iter(message) {
        push(&message[last..m.start()], &pending_sep, &mut out);
        pending_sep = m.as_str().to_string();
        last = m.end();
    }
    push(&message[last..], &pending_sep, &mut out);
    out.into_iter()
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
        .collect()
}

/// Strips quotes, trailing punctuation and excess whitespace from a value.
fn clean_value(text: &str) -> String {
    let text = clean(text);
    let text = text.trim_end_matches(['.', '!', '?', ',', ';']);
    let text = text
        .trim_matches(|c| matches!(c, '"' | '\'' | '`' | '“' | '”' | '‘' | '’'))
        .trim();
    clip_words(text, 80)
}

static TITLE_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^(?:.*?\b(?:title|heading|headline|h1|name)\b.*?\b(?:to|as|into)\b|.*?\brename\b.*?\bto\b|.*?\bcall\s+(?:it|the\s+app))\s*:?\s*(.+)$").expect("valid regex")
});
static FOOTER_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\bfooter\b(?:\s+(?:saying|that\s+says|which\s+says|that\s+reads|reading|to\s+say|with\s+(?:the\s+)?(?:text|words?)|with|containing|text)\b|\s*:)?\s*(.*)$").expect("valid regex")
});
static SECTION_AFTER_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\bsection\b\s*(?:about|on|for|called|named|titled|describing|with|:)\s*(.+)$")
        .expect("valid regex")
});
static SECTION_BEFORE_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:add|create|include|insert|put)\s+(?:(?:a|an|another|new|the)\s+)*(.+?)\s+section\b")
        .expect("valid regex")
});
static HEX_COLOUR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"#(?:[0-9a-fA-F]{8}|[0-9a-fA-F]{6}|[0-9a-fA-F]{3,4})\b").expect("valid regex")
});
static FUNC_COLOUR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:rgba?|hsla?|oklch|oklab|lab|lch)\([^()]*\)").expect("valid regex")
});

/// CSS named colours (lowercase).
#[rustfmt::skip]
const CSS_COLOURS: &[&str] = &[
    "aliceblue", "antiquewhite", "aqua", "aquamarine", "azure", "beige", "bisque", "black",
    "blanchedalmond", "blue", "blueviolet", "brown", "burlywood", "cadetblue", "chartreuse",
    "chocolate", "coral", "cornflowerblue", "cornsilk", "crimson", "cyan", "darkblue", "darkcyan",
    "darkgoldenrod", "darkgray", "darkgreen", "darkgrey", "darkkhaki", "darkmagenta",
    "darkolivegreen", "darkorange", "darkorchid", "darkred", "darksalmon", "darkseagreen",
    "darkslateblue", "darkslategray", "darkslategrey", "darkturquoise", "darkviolet", "deeppink",
    "deepskyblue", "dimgray", "dimgrey", "dodgerblue", "firebrick", "floralwhite", "forestgreen",
    "fuchsia", "gainsboro", "ghostwhite", "gold", "goldenrod", "gray", "green", "greenyellow",
    "grey", "honeydew", "hotpink", "indianred", "indigo", "ivory", "khaki", "lavender",
    "lavenderblush", "lawngreen", "lemonchiffon", "lightblue", "lightcoral", "lightcyan",
    "lightgoldenrodyellow", "lightgray", "lightgreen", "lightgrey", "lightpink", "lightsalmon",
    "lightseagreen", "lightskyblue", "lightslategray", "lightslategrey", "lightsteelblue",
    "lightyellow", "lime", "limegreen", "linen", "magenta", "maroon", "mediumaquamarine",
    "mediumblue", "mediumorchid", "mediumpurple", "mediumseagreen", "mediumslateblue",
    "mediumspringgreen", "mediumturquoise", "mediumvioletred", "midnightblue", "mintcream",
    "mistyrose", "moccasin", "navajowhite", "navy", "oldlace", "olive", "olivedrab", "orange",
    "orangered", "orchid", "palegoldenrod", "palegreen", "paleturquoise", "palevioletred",
    "papayawhip", "peachpuff", "peru", "pink", "plum", "powderblue", "purple", "rebeccapurple",
    "red", "rosybrown", "royalblue", "saddlebrown", "salmon", "sandybrown", "seagreen", "seashell",
    "sienna", "silver", "skyblue", "slateblue", "slategray", "slategrey", "snow", "springgreen",
    "steelblue", "tan", "teal", "thistle", "tomato", "turquoise", "violet", "wheat", "white",
    "whitesmoke", "yellow", "yellowgreen",
];

/// The first CSS colour in `text`: hex, a colour function or a name
/// ("dark blue" is read as `darkblue`).
fn find_colour(text: &str) -> Option<String> {
    if let Some(m) = HEX_COLOUR.find(text) {
        return Some(m.as_str().to_lowercase());
    }
    if let Some(m) = FUNC_COLOUR.find(text) {
        return Some(m.as_str().to_lowercase());
    }
    let words = words_of(text);
    for pair in words.windows(2) {
        let joined = format!("{}{}", pair[0], pair[1]);
        if CSS_COLOURS.contains(&joined.as_str()) {
            return Some(joined);
        }
    }
    words
        .into_iter()
        .find(|w| CSS_COLOURS.contains(&w.as_str()))
}

/// Which request kind a clause names first decides how it is read, so the
/// text of a value ("a footer saying dark times") cannot change the intent.
fn intent_of(clause: &str) -> Option<Intent> {
    let lower = clause.to_lowercase();
    let words = words_of(&lower);
    let kind_of = |w: &str| -> Option<u8> {
        match w {
            "title" | "heading" | "headline" | "h1" | "name" | "rename" | "call" => Some(0),
            "footer" => Some(1),
            "section" => Some(2),
            "accent" | "primary" | "brand" | "colour" | "color" | "button" | "buttons" | "link"
            | "links" | "highlight" => Some(3),
            "dark" | "light" | "background" | "theme" | "mode" | "night" | "darker" | "lighter" => {
                Some(4)
            }
            _ => None,
        }
    };
    let mut order: Vec<u8> = Vec::new();
    for w in &words {
        if let Some(k) = kind_of(w)
            && !order.contains(&k)
        {
            order.push(k);
        }
    }
    for kind in order {
        let intent = match kind {
            0 => TITLE_RE
                .captures(clause)
                .map(|c| clean_value(&c[1]))
                .filter(|t| !t.is_empty())
                .map(Intent::Title),
            1 => FOOTER_RE.captures(clause).map(|c| {
                let text = clean_value(&c[1]);
                Intent::Footer(if text.is_empty() {
                    "Built with minicode".into()
                } else {
                    text
                })
            }),
            2 => SECTION_AFTER_RE
                .captures(clause)
                .or_else(|| SECTION_BEFORE_RE.captures(clause))
                .map(|c| clean_value(&c[1]))
                .filter(|t| !t.is_empty())
                .map(Intent::Section),
            3 => {
                // Only the part after "to" names the new colour, when there is one.
                let target = lower
                    .rsplit_once(" to ")
                    .map(|(_, after)| after.to_string())
                    .unwrap_or_else(|| lower.clone());
                let mentions_accent = words.iter().any(|w| {
                    matches!(
                        w.as_str(),
                        "accent"
                            | "primary"
                            | "brand"
                            | "button"
                            | "buttons"
                            | "link"
                            | "links"
                            | "highlight"
                            | "colour"
                            | "color"
                    )
                });
                find_colour(&target)
                    .or_else(|| find_colour(&lower))
                    .filter(|_| mentions_accent)
                    .map(Intent::Accent)
            }
            _ => {
                let has = |w: &str| words.iter().any(|x| x == w);
                if has("dark") || has("darker") || has("night") || has("black") {
                    Some(Intent::Theme(Theme::Dark))
                } else if has("light") || has("lighter") || has("white") || has("bright") {
                    Some(Intent::Theme(Theme::Light))
                } else {
                    None
                }
            }
        };
        if intent.is_some() {
            return intent;
        }
    }
    None
}

fn intents_of(message: &str) -> Vec<Intent> {
    let mut out: Vec<Intent> = Vec::new();
    for clause in clauses(message) {
        if let Some(intent) = intent_of(&clause)
            && !out.contains(&intent)
        {
            out.push(intent);
        }
    }
    out
}

pub(super) fn help_text() -> String {
    "I'm minicode's built-in **offline generator**: templates, not a language model, so I only \
understand a few requests:\n\n\
- `change the title to …`\n\
- `make the background dark` (or `light`)\n\
- `add a footer saying …`\n\
- `change the accent colour to …` (a CSS colour such as `teal` or `#e11d48`)\n\
- `add a section about …`\n\n\
For anything else, connect a real model: set `OPENROUTER_API_KEY` or `ANTHROPIC_API_KEY`, or \
`OPENAI_BASE_URL` (plus `OPENAI_API_KEY` if needed) for OpenAI or a local OpenAI-compatible server \
such as Ollama, llama.cpp or LM Studio. Restart minicode, then choose the model for this project, \
or make it the default with `MINICODE_MODEL` (for example `anthropic:<model>`)."
        .to_string()
}

/// The calls of one assistant message, each with its result (content, is_error).
type Round<'a> = Vec<(&'a ToolCall, Option<(&'a str, bool)>)>;

/// The current turn: the last user message and the tool calls made since,
/// each with its result once it came back.
struct Turn<'a> {
    user: &'a str,
    /// The user's message carries images.
    has_images: bool,
    /// Tool-call rounds so far; each is the calls of one assistant message.
    rounds: Vec<Round<'a>>,
    /// Messages before the user's, so call ids differ between turns.
    offset: usize,
}

fn current_turn(messages: &[LlmMessage]) -> Option<Turn<'_>> {
    let at = messages
        .iter()
        .rposition(|m| matches!(m, LlmMessage::User { .. }))?;
    let LlmMessage::User { content, images } = &messages[at] else {
        return None;
    };
    let after = &messages[at + 1..];
    let mut rounds = Vec::new();
    for m in after {
        if let LlmMessage::Assistant { tool_calls, .. } = m
            && !tool_calls.is_empty()
        {
            let round = tool_calls
                .iter()
                .map(|call| {
                    let result = after.iter().find_map(|r| match r {
                        LlmMessage::ToolResult {
                            tool_call_id,
                            content,
                            is_error,
                        } if *tool_call_id == call.id => Some((content.as_str(), *is_error)),
                        _ => None,
                    });
                    (call, result)
                })
                .collect();
            rounds.push(round);
        }
    }
    Some(Turn {
        user: content,
        has_images: !images.is_empty(),
        rounds,
        offset: at,
    })
}

/// Rebuilds a file from `Read`'s numbered lines (`{:>6}\t{line}`).
fn unnumber(read_output: &str) -> String {
    let mut out = String::new();
    for line in read_output.lines() {
        if let Some((number, text)) = line.split_once('\t')
            && !number.trim().is_empty()
            && number.trim().chars().all(|c| c.is_ascii_digit())
        {
            out.push_str(text);
            out.push('\n');
        }
    }
    out
}

/// The chat agent's next answer, from the conversation alone: reads first,
/// then edits computed from what was read, then a summary.
/// `image_accent`: the dominant colour of the images the newest message
/// carries ("make it look like this"), which becomes the accent colour
/// unless the words name one.
pub(super) fn chat(messages: &[LlmMessage], image_accent: Option<&str>) -> Answer {
    let Some(turn) = current_turn(messages) else {
        return Answer::text(help_text());
    };
    let mut intents = intents_of(turn.user);
    if let Some(colour) = image_accent.filter(|_| turn.has_images)
        && !intents.iter().any(|i| matches!(i, Intent::Accent(_)))
    {
        intents.push(Intent::Accent(colour.to_string()));
    }
    if intents.is_empty() {
        return Answer::text(help_text());
    }
    if let Some(text) = explain_failure(&turn) {
        return Answer::text(text);
    }
    let id_seed = fnv(&format!("{}:{}", turn.offset, turn.user));
    let call_id = |round: usize, index: usize| format!("offline_{id_seed:012x}_{round}_{index}");

    match turn.rounds.len() {
        0 => {
            let mut paths: Vec<&str> = Vec::new();
            for intent in &intents {
                if !paths.contains(&intent.file()) {
                    paths.push(intent.file());
                }
            }
            let shown: Vec<String> = paths.iter().map(|p| format!("`{p}`")).collect();
            let shown: Vec<&str> = shown.iter().map(String::as_str).collect();
            Answer {
                text: format!("Let me read {} first.\n\n", join_list(&shown)),
                calls: paths
                    .iter()
                    .enumerate()
                    .map(|(i, p)| (call_id(0, i), "Read".to_string(), json!({"path": p})))
                    .collect(),
            }
        }
        1 => {
            let plan = plan_changes(&intents, &read_files(&turn));
            if plan.calls.is_empty() {
                return Answer::text(plan.problems.join("\n\n"));
            }
            let mut touched: Vec<String> = Vec::new();
            for (name, args) in &plan.calls {
                let path = args["path"].as_str().unwrap_or_default();
                let entry = format!("`{path}`");
                if !touched.contains(&entry) && !name.is_empty() {
                    touched.push(entry);
                }
            }
            let touched: Vec<&str> = touched.iter().map(String::as_str).collect();
            Answer {
                text: format!("Updating {}.\n\n", join_list(&touched)),
                calls: plan
                    .calls
                    .into_iter()
                    .enumerate()
                    .map(|(i, (name, args))| (call_id(1, i), name, args))
                    .collect(),
            }
        }
        _ => {
            let plan = plan_changes(&intents, &read_files(&turn));
            let mut text = plan.done.join("\n");
            if !plan.problems.is_empty() {
                if !text.is_empty() {
                    text.push_str("\n\n");
                }
                text.push_str(&plan.problems.join("\n\n"));
            }
            Answer::text(text)
        }
    }
}

/// Contents returned by the `Read` calls of this turn, by path.
fn read_files(turn: &Turn<'_>) -> HashMap<String, String> {
    let mut files = HashMap::new();
    for round in &turn.rounds {
        for (call, result) in round {
            if call.name == "Read"
                && let Some((content, false)) = result
                && let Some(path) = call.arguments["path"].as_str()
            {
                files.insert(path.to_string(), unnumber(content));
            }
        }
    }
    files
}

/// A failed tool call ends the turn with an explanation: retrying the same
/// scripted edit would only fail again.
fn explain_failure(turn: &Turn<'_>) -> Option<String> {
    let mut succeeded: Vec<String> = Vec::new();
    for round in &turn.rounds {
        for (call, result) in round {
            let path = call.arguments["path"].as_str().unwrap_or("?");
            match result {
                Some((content, true)) => {
                    let mut text = format!(
                        "The {} of `{path}` failed: {}\n\nI stopped here instead of retrying: \
                         the offline generator follows a fixed script, so it would only fail again.",
                        call.name,
                        content.trim()
                    );
                    let changed: Vec<&String> = succeeded
                        .iter()
                        .filter(|s| !s.starts_with("Read"))
                        .collect();
                    if changed.is_empty() {
                        text.push_str(" Nothing was changed.");
                    } else {
                        let list: Vec<&str> = changed.iter().map(|s| s.as_str()).collect();
                        text.push_str(&format!(
                            " These changes did apply: {}; undo the turn to revert them.",
                            join_list(&list)
                        ));
                    }
                    text.push_str(
                        " Check the file in the editor (or undo) and ask again, or connect a real model for this change.",
                    );
                    return Some(text);
                }
                Some((_, false)) => succeeded.push(format!("{} `{path}`", call.name)),
                None => {}
            }
        }
    }
    None
}

/// The tool calls that carry out the intents against the files as read,
/// with what each does, and the intents that cannot be done.
#[derive(Debug, Default)]
struct Plan {
    calls: Vec<(String, Value)>,
    done: Vec<String>,
    problems: Vec<String>,
}

impl Plan {
    /// Records an edit and applies it to the working copy, so later edits of
    /// the same file are computed against the text they will really meet.
    fn edit(
        &mut self,
        files: &mut HashMap<String, String>,
        path: &str,
        old: String,
        new: String,
    ) -> Result<(), String> {
        let text = files
            .get(path)
            .ok_or_else(|| format!("`{path}` could not be read"))?;
        if old == new {
            return Err("it is already like that".into());
        }
        match text.matches(&old).count() {
            1 => {}
            0 => return Err(format!("the text to replace is not in `{path}`")),
            n => return Err(format!("the text to replace appears {n} times in `{path}`")),
        }
        let updated = text.replacen(&old, &new, 1);
        files.insert(path.to_string(), updated);
        self.calls.push((
            "Edit".into(),
            json!({"path": path, "old_string": old, "new_string": new}),
        ));
        Ok(())
    }
}

fn plan_changes(intents: &[Intent], read: &HashMap<String, String>) -> Plan {
    let mut files = read.clone();
    let mut plan = Plan::default();
    for intent in intents {
        if !files.contains_key(intent.file()) {
            plan.problems.push(format!(
                "I could not read `{}`, so I left it alone.",
                intent.file()
            ));
            continue;
        }
        let outcome = match intent {
            Intent::Title(title) => change_title(&mut plan, &mut files, title),
            Intent::Footer(text) => add_footer(&mut plan, &mut files, text),
            Intent::Section(topic) => add_section(&mut plan, &mut files, topic),
            Intent::Theme(theme) => change_theme(&mut plan, &mut files, *theme),
            Intent::Accent(colour) => change_accent(&mut plan, &mut files, colour),
        };
        match outcome {
            Ok(done) => plan.done.push(done),
            Err(problem) => plan.problems.push(problem),
        }
    }
    plan
}

fn change_title(
    plan: &mut Plan,
    files: &mut HashMap<String, String>,
    title: &str,
) -> Result<String, String> {
    let text = files.get(APP).cloned().unwrap_or_default();
    let not_found = || {
        format!(
            "I could not change the title: `{APP}` has no `<h1>` heading (it may live in another component now)."
        )
    };
    let start = text.find("<h1").ok_or_else(not_found)?;
    let open_end = start + text[start..].find('>').ok_or_else(not_found)?;
    let close = open_end + text[open_end..].find("</h1>").ok_or_else(not_found)?;
    let old = text[start..close + "</h1>".len()].to_string();
    let new = format!("{}{}</h1>", &text[start..=open_end], jsx_text(title));
    plan.edit(files, APP, old, new)
        .map_err(|e| format!("I could not change the title: {e}."))?;
    Ok(format!("Changed the title to “{title}” in `{APP}`."))
}

/// Index of the line that closes the root element: the last closing tag
/// before the `);` that ends App's `return (`.
fn root_close(lines: &[&str]) -> Option<usize> {
    let end = lines.iter().rposition(|l| l.trim() == ");")?;
    let close = lines[..end].iter().rposition(|l| !l.trim().is_empty())?;
    let t = lines[close].trim();
    (t.starts_with("</") && t.ends_with('>')).then_some(close)
}

fn indent_of(line: &str) -> &str {
    &line[..line.len() - line.trim_start().len()]
}

fn add_footer(
    plan: &mut Plan,
    files: &mut HashMap<String, String>,
    footer: &str,
) -> Result<String, String> {
    let text = files.get(APP).cloned().unwrap_or_default();
    // An existing footer gets its text replaced instead of a second footer.
    if let Some(start) = text.find("<footer") {
        let close = text[start..].find("</footer>").map(|i| start + i).ok_or(
            "I could not change the footer: its `<footer>` is not closed in `src/App.tsx`.",
        )?;
        let open_end = start + text[start..].find('>').unwrap_or(0);
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        let indent = indent_of(&text[line_start..start]).to_string();
        let old = text[start..close + "</footer>".len()].to_string();
        let new = format!(
            "{}\n{indent}  <p>{}</p>\n{indent}</footer>",
            &text[start..=open_end],
            jsx_text(footer)
        );
        plan.edit(files, APP, old, new)
            .map_err(|e| format!("I could not change the footer: {e}."))?;
        return Ok(format!("Changed the footer text to “{footer}” in `{APP}`."));
    }
    let lines: Vec<&str> = text.lines().collect();
    let close = root_close(&lines).ok_or(
        "I could not add the footer: I did not find where App's root element closes in `src/App.tsx`.",
    )?;
    let end = lines
        .iter()
        .rposition(|l| l.trim() == ");")
        .unwrap_or(close);
    let indent = format!("{}  ", indent_of(lines[close]));
    let old = lines[close..=end].join("\n");
    let new = format!(
        "{indent}<footer className=\"site-footer\">\n{indent}  <p>{}</p>\n{indent}</footer>\n{old}",
        jsx_text(footer)
    );
    plan.edit(files, APP, old, new)
        .map_err(|e| format!("I could not add the footer: {e}."))?;
    Ok(format!("Added a footer saying “{footer}” to `{APP}`."))
}

fn add_section(
    plan: &mut Plan,
    files: &mut HashMap<String, String>,
    topic: &str,
) -> Result<String, String> {
    let base = pascal(topic).unwrap_or_else(|| "Custom".into());
    let name = format!("{base}Section");
    let path = format!("src/components/{name}.tsx");
    let text = files.get(APP).cloned().unwrap_or_default();
    if text.contains(&format!("<{name} />")) {
        return Err(format!(
            "`{APP}` already shows a section about {topic} (`{name}`)."
        ));
    }
    let heading = {
        let mut chars = topic.chars();
        chars
            .next()
            .map(|c| c.to_uppercase().chain(chars).collect::<String>())
            .unwrap_or_default()
    };
    let body = format!(
        "All about {topic}. This section was added from the chat: edit {path} to tell the full story."
    );
    let content = section_component(&name, &heading, &body);

    // Where the new element goes: inside <main>, else before the footer,
    // else at the end of the root element.
    let lines: Vec<&str> = text.lines().collect();
    let anchor = lines
        .iter()
        .position(|l| l.trim() == "</main>")
        .map(|i| (i, format!("{}  ", indent_of(lines[i]))))
        .or_else(|| {
            lines
                .iter()
                .position(|l| l.trim_start().starts_with("<footer"))
                .map(|i| (i, indent_of(lines[i]).to_string()))
        })
        .or_else(|| root_close(&lines).map(|i| (i, format!("{}  ", indent_of(lines[i])))));
    let Some((at, indent)) = anchor else {
        return Err(format!(
            "I could not add the section: I did not find where to put it in `{APP}`."
        ));
    };
    let import = format!("import {name} from './components/{name}';");

    // The import: after the last import statement, else before App.
    let import_edit = match lines.iter().rposition(|l| l.starts_with("import ")) {
        Some(first) => {
            let last = (first..lines.len())
                .find(|&i| lines[i].trim_end().ends_with(';') || lines[i].contains(" from "))
                .unwrap_or(first);
            let old = lines[first..=last].join("\n");
            let new = format!("{old}\n{import}");
            (old, new)
        }
        None => {
            let line = lines
                .iter()
                .find(|l| l.contains("export default function"))
                .ok_or_else(|| {
                    format!(
                        "I could not add the section: `{APP}` has no `export default function`."
                    )
                })?;
            (line.to_string(), format!("{import}\n\n{line}"))
        }
    };
    // Render first: its anchor line was found before the import shifts lines.
    let render_old = lines[at].to_string();
    let render_new = format!("{indent}<{name} />\n{render_old}");

    let mut trial = Plan::default();
    let mut working = files.clone();
    trial
        .edit(&mut working, APP, render_old, render_new)
        .and_then(|()| trial.edit(&mut working, APP, import_edit.0, import_edit.1))
        .map_err(|e| format!("I could not add the section: {e}."))?;
    plan.calls
        .push(("Write".into(), json!({"path": path, "content": content})));
    plan.calls.extend(trial.calls);
    working.insert(path.clone(), content);
    *files = working;
    Ok(format!(
        "Added a section about {topic}: `{path}`, rendered in `{APP}`."
    ))
}

/// The theme variables of each mode (the values of the generated styles).
fn palette(theme: Theme) -> &'static [(&'static str, &'static str)] {
    match theme {
        Theme::Dark => &[
            ("color-scheme", "dark"),
            ("--bg", "#0f1117"),
            ("--fg", "#e7e7f0"),
            ("--muted", "#a2a3b8"),
            ("--surface", "#181b25"),
            ("--border", "#2b2f3d"),
        ],
        Theme::Light => &[
            ("color-scheme", "light"),
            ("--bg", "#f6f6fb"),
            ("--fg", "#1d1d2b"),
            ("--muted", "#5f6075"),
            ("--surface", "#ffffff"),
            ("--border", "#e1e1ec"),
        ],
    }
}

/// One edit that sets CSS declarations: the smallest run of lines holding
/// every declaration found, so `old_string` is exact and unique. `required`
/// names the properties that must exist.
fn set_css_vars(
    plan: &mut Plan,
    files: &mut HashMap<String, String>,
    values: &[(&str, &str)],
    required: &[&str],
) -> Result<(), String> {
    let text = files.get(STYLES).cloned().unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let mut found: Vec<(usize, String)> = Vec::new();
    for (property, value) in values {
        let position = lines.iter().position(|l| {
            l.trim_start()
                .strip_prefix(property)
                .is_some_and(|rest| rest.trim_start().starts_with(':'))
        });
        match position {
            Some(i) => found.push((i, format!("{}{property}: {value};", indent_of(lines[i])))),
            None if required.contains(property) => {
                return Err(format!("`{STYLES}` has no `{property}` variable"));
            }
            None => {}
        }
    }
    let (Some(first), Some(last)) = (
        found.iter().map(|(i, _)| *i).min(),
        found.iter().map(|(i, _)| *i).max(),
    ) else {
        return Err(format!("`{STYLES}` has none of the theme variables"));
    };
    let old = lines[first..=last].join("\n");
    let new = (first..=last)
        .map(|i| {
            found
                .iter()
                .find(|(at, _)| *at == i)
                .map_or(lines[i].to_string(), |(_, line)| line.clone())
        })
        .collect::<Vec<_>>()
        .join("\n");
    plan.edit(files, STYLES, old, new)
}

fn change_theme(
    plan: &mut Plan,
    files: &mut HashMap<String, String>,
    theme: Theme,
) -> Result<String, String> {
    let name = match theme {
        Theme::Dark => "dark",
        Theme::Light => "light",
    };
    set_css_vars(plan, files, palette(theme), &["--bg", "--fg"])
        .map_err(|e| format!("I could not switch to the {name} theme: {e}."))?;
    Ok(format!(
        "Switched to a {name} theme: new `--bg`, `--fg` and surface colours in `{STYLES}`."
    ))
}

fn change_accent(
    plan: &mut Plan,
    files: &mut HashMap<String, String>,
    colour: &str,
) -> Result<String, String> {
    let text_colour = if is_light(colour) {
        "#111111"
    } else {
        "#ffffff"
    };
    set_css_vars(
        plan,
        files,
        &[("--accent", colour), ("--accent-fg", text_colour)],
        &["--accent"],
    )
    .map_err(|e| format!("I could not change the accent colour: {e}."))?;
    Ok(format!(
        "Changed the accent colour to `{colour}` in `{STYLES}`."
    ))
}

#[cfg(test)]
mod tests {
    use minicode::Usage;

    use super::*;
    use crate::agent::chat::tools::apply_edit;
    use crate::llm::offline::Offline;
    use crate::llm::offline::test_support::{
        TODO_CLUB, design, implement_files, phase_of, request, run,
    };
    use crate::llm::{FinishReason, Purpose};

    /// Runs the chat agent against in-memory files with the real edit rule,
    /// until it answers without tool calls. Returns the final text.
    async fn converse(files: &mut HashMap<String, String>, message: &str) -> String {
        let offline = Offline::new(0);
        let mut messages = vec![
            LlmMessage::User {
                images: Vec::new(),
                content: "an earlier request".into(),
            },
            LlmMessage::Assistant {
                content: "an earlier answer".into(),
                tool_calls: vec![],
            },
            LlmMessage::User {
                images: Vec::new(),
                content: message.into(),
            },
        ];
        let mut text = String::new();
        for _ in 0..5 {
            let (step, calls, reason, usage, _) =
                run(&offline, request(Purpose::Chat, messages.clone())).await;
            assert_eq!(usage, Usage::default(), "no model, no usage");
            text.push_str(&step);
            if calls.is_empty() {
                assert_eq!(reason, FinishReason::Stop);
                return text;
            }
            assert_eq!(reason, FinishReason::ToolCalls);
            messages.push(LlmMessage::Assistant {
                content: step,
                tool_calls: calls.clone(),
            });
            for call in calls {
                assert!(call.arguments.is_object(), "arguments are JSON objects");
                let path = call.arguments["path"].as_str().unwrap().to_string();
                let (content, is_error) = match call.name.as_str() {
                    "Read" => match files.get(&path) {
                        Some(text) => (
                            text.lines()
                                .enumerate()
                                .map(|(i, l)| format!("{:>6}\t{l}\n", i + 1))
                                .collect(),
                            false,
                        ),
                        None => (format!("`{path}` does not exist"), true),
                    },
                    "Write" => {
                        let content = call.arguments["content"].as_str().unwrap();
                        files.insert(path.clone(), content.to_string());
                        ("written".to_string(), false)
                    }
                    "Edit" => {
                        let current = files.get(&path).cloned().unwrap_or_default();
                        match apply_edit(
                            &current,
                            call.arguments["old_string"].as_str().unwrap(),
                            call.arguments["new_string"].as_str().unwrap(),
                            false,
                        ) {
                            Ok((updated, _)) => {
                                files.insert(path.clone(), updated);
                                ("edited".to_string(), false)
                            }
                            Err(e) => (e, true),
                        }
                    }
                    other => panic!("unexpected tool {other}"),
                };
                messages.push(LlmMessage::ToolResult {
                    tool_call_id: call.id,
                    content,
                    is_error,
                });
            }
        }
        panic!("the chat agent did not finish");
    }

    async fn generated_app(description: &str) -> HashMap<String, String> {
        let phase1 = phase_of(design(description, 1).await, 1);
        let mut files: HashMap<String, String> = implement_files(description, &phase1, &[])
            .await
            .into_iter()
            .collect();
        let existing: Vec<String> = files.keys().cloned().collect();
        let phase2 = phase_of(design(description, 2).await, 2);
        files.extend(implement_files(description, &phase2, &existing).await);
        files
    }

    #[tokio::test]
    async fn chat_requests_edit_the_app() {
        let mut files = generated_app(TODO_CLUB).await;

        let text = converse(&mut files, "Change the title to \"Reading Circle\"").await;
        assert!(files[APP].contains("<h1>Reading Circle</h1>"));
        assert!(!files[APP].contains("Book Club Todos</h1>"));
        assert!(text.contains("Reading Circle"), "{text}");

        converse(&mut files, "please make the background dark").await;
        assert!(files[STYLES].contains("--bg: #0f1117;"));
        assert!(files[STYLES].contains("color-scheme: dark;"));
        converse(&mut files, "switch to light mode").await;
        assert!(files[STYLES].contains("--bg: #f6f6fb;"));

        converse(&mut files, "add a footer saying Made with love and care").await;
        assert!(files[APP].contains("<p>Made with love and care</p>"));
        assert!(files[APP].contains("<footer className=\"site-footer\">"));
        converse(&mut files, "add a footer saying Second version").await;
        assert_eq!(
            files[APP].matches("<footer").count(),
            1,
            "replaced, not doubled"
        );
        assert!(files[APP].contains("<p>Second version</p>"));

        converse(&mut files, "change the accent colour to teal").await;
        assert!(files[STYLES].contains("--accent: teal;"));
        converse(&mut files, "make the primary color #ffd700").await;
        assert!(files[STYLES].contains("--accent: #ffd700;"));
        assert!(
            files[STYLES].contains("--accent-fg: #111111;"),
            "dark text on gold"
        );

        let text = converse(&mut files, "add a section about our history").await;
        assert!(
            files.contains_key("src/components/OurHistorySection.tsx"),
            "{text}"
        );
        assert!(
            files[APP].contains("import OurHistorySection from './components/OurHistorySection';")
        );
        let main = files[APP].find("</main>").unwrap();
        let at = files[APP].find("<OurHistorySection />").unwrap();
        assert!(at < main, "rendered inside <main>");

        // Several requests in one message, and a title with "and" in it.
        converse(
            &mut files,
            "change the title to Tom and Jerry and make it dark, then add an FAQ section",
        )
        .await;
        assert!(files[APP].contains("<h1>Tom and Jerry</h1>"));
        assert!(files[STYLES].contains("--bg: #0f1117;"));
        assert!(files.contains_key("src/components/FAQSection.tsx"));
    }

    #[tokio::test]
    async fn chat_works_on_the_phase_one_shell() {
        let phase1 = phase_of(design("a counter", 1).await, 1);
        let mut files: HashMap<String, String> = implement_files("a counter", &phase1, &[])
            .await
            .into_iter()
            .collect();
        converse(&mut files, "add a section about pricing").await;
        assert!(files[APP].starts_with(
            "import PricingSection from './components/PricingSection';\n\nexport default"
        ));
        converse(&mut files, "add a footer").await;
        assert!(files[APP].contains("<p>Built with minicode</p>"));
    }

    #[tokio::test]
    async fn chat_explains_errors_and_unknown_requests() {
        let mut files = HashMap::new();
        let text = converse(&mut files, "change the title to Nope").await;
        assert!(text.contains("failed"), "{text}");
        assert!(text.contains("does not exist"), "{text}");
        assert!(files.is_empty());

        let mut files = generated_app("a notes app").await;
        let before = files.clone();
        let text = converse(&mut files, "rewrite everything in Svelte").await;
        assert!(text.contains("OPENROUTER_API_KEY") && text.contains("MINICODE_MODEL"));
        assert_eq!(files, before, "no tool calls");

        // A file that no longer has what the plan needs: explained, nothing sent.
        files.insert(
            APP.into(),
            "export default function App() { return null; }\n".into(),
        );
        let text = converse(&mut files, "change the title to X").await;
        assert!(text.contains("no `<h1>`"), "{text}");
    }

    #[test]
    fn requests_are_understood() {
        assert_eq!(
            intents_of("Change the title to 'Hello'"),
            vec![Intent::Title("Hello".into())]
        );
        assert_eq!(
            intents_of("rename the app to Gardenly."),
            vec![Intent::Title("Gardenly".into())]
        );
        assert_eq!(
            intents_of("dark mode please"),
            vec![Intent::Theme(Theme::Dark)]
        );
        assert_eq!(
            intents_of("add a footer saying dark times ahead"),
            vec![Intent::Footer("dark times ahead".into())]
        );
        assert_eq!(
            intents_of("change the accent colour to dark blue"),
            vec![Intent::Accent("darkblue".into())]
        );
        assert_eq!(
            intents_of("use rgb(10, 20, 30) as the brand colour"),
            vec![Intent::Accent("rgb(10, 20, 30)".into())]
        );
        assert_eq!(
            intents_of("add an about section"),
            vec![Intent::Section("about".into())]
        );
        assert!(intents_of("what is this?").is_empty());
        assert!(intents_of("change the accent to blurple").is_empty());
    }
}
