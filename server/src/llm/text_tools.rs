//! Tool calls written as text.
//!
//! Open models served without tool-call parsing (or whose server's template
//! does not recognise them) answer with the call in their text instead of a
//! structured `tool_calls` entry. Left alone, the user sees JSON as the reply
//! and nothing runs. [`extract`] reads the formats in common use, only for
//! the tools that were offered, and only when the provider returned no
//! structured call:
//!
//! - Hermes / Qwen: `<tool_call>{"name": …, "arguments": {…}}</tool_call>`
//! - Llama 3.1 custom: `<function=Name>{…}</function>`
//! - Llama 3.1 JSON: `<|python_tag|>{"name": …, "parameters": {…}}`
//! - Mistral: `[TOOL_CALLS] [{"name": …, "arguments": {…}}, …]`
//! - A reply that is only such an object (bare or in a ```json fence), or a
//!   list of them.
//!
//! `arguments`/`parameters`/`input` may be an object or a string of JSON.

use serde_json::Value;

use super::ToolCall;

/// The calls written in `text` for the `offered` tools, and the text with
/// them removed; `None` if it holds none (the text is an ordinary reply).
pub fn extract(text: &str, offered: &[&str]) -> Option<(String, Vec<ToolCall>)> {
    let mut calls = Vec::new();
    let mut rest = text.to_string();

    // Tagged forms: every block is a call; the blocks leave the text.
    for (open, close) in [
        ("<tool_call>", "</tool_call>"),
        ("<function=", "</function>"),
    ] {
        while let Some(start) = rest.find(open) {
            let body_start = start + open.len();
            let Some(len) = rest[body_start..].find(close) else {
                break;
            };
            let body = rest[body_start..body_start + len].to_string();
            let parsed = if open == "<function=" {
                body.split_once('>').and_then(|(name, args)| {
                    call_from(name.trim(), parse_json(args.trim()), offered, calls.len())
                })
            } else {
                parse_json(body.trim()).and_then(|v| call_from_object(&v, offered, calls.len()))
            };
            let Some(call) = parsed else {
                // Not a call to an offered tool: leave the text as it is.
                return None;
            };
            calls.push(call);
            rest.replace_range(start..body_start + len + close.len(), "");
        }
    }
    if !calls.is_empty() {
        return Some((rest.trim().to_string(), calls));
    }

    // Prefixed forms: the rest of the answer is the call(s).
    for prefix in ["[TOOL_CALLS]", "<|python_tag|>"] {
        if let Some(at) = text.find(prefix) {
            let json = text[at + prefix.len()..].trim();
            let calls = calls_from_value(parse_json(json)?, offered)?;
            return Some((text[..at].trim().to_string(), calls));
        }
    }

    // The whole reply is the call (bare or fenced).
    let trimmed = text.trim();
    let body = trimmed
        .strip_prefix("```json")
        .or_else(|| trimmed.strip_prefix("```"))
        .and_then(|b| b.strip_suffix("```"))
        .unwrap_or(trimmed)
        .trim();
    if body.starts_with('{') || body.starts_with('[') {
        let calls = calls_from_value(parse_json(body)?, offered)?;
        return Some((String::new(), calls));
    }
    None
}

fn parse_json(text: &str) -> Option<Value> {
    serde_json::from_str(text).ok()
}

fn calls_from_value(value: Value, offered: &[&str]) -> Option<Vec<ToolCall>> {
    let items = match value {
        Value::Array(items) => items,
        object @ Value::Object(_) => vec![object],
        _ => return None,
    };
    let mut calls = Vec::with_capacity(items.len());
    for item in &items {
        calls.push(call_from_object(item, offered, calls.len())?);
    }
    (!calls.is_empty()).then_some(calls)
}

/// `{"name", "arguments"|"parameters"|"input"}` (also OpenAI's own
/// `{"function": {"name", "arguments"}}` shape).
fn call_from_object(value: &Value, offered: &[&str], n: usize) -> Option<ToolCall> {
    let value = value
        .get("function")
        .filter(|f| f.is_object())
        .unwrap_or(value);
    let name = value.get("name")?.as_str()?;
    let args = ["arguments", "parameters", "input"]
        .iter()
        .find_map(|k| value.get(*k))
        .cloned();
    call_from(name, args, offered, n)
}

fn call_from(name: &str, args: Option<Value>, offered: &[&str], n: usize) -> Option<ToolCall> {
    // The offered spelling, whatever case the model used.
    let name = offered.iter().find(|o| o.eq_ignore_ascii_case(name))?;
    let arguments = match args {
        Some(Value::String(s)) => parse_json(&s).filter(Value::is_object)?,
        Some(object @ Value::Object(_)) => object,
        None | Some(Value::Null) => Value::Object(Default::default()),
        Some(_) => return None,
    };
    Some(ToolCall {
        id: format!("text_call_{n}"),
        name: (*name).to_string(),
        arguments,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const TOOLS: [&str; 3] = ["Read", "Write", "Glob"];

    fn names_and_args(text: &str) -> Option<(String, Vec<(String, Value)>)> {
        extract(text, &TOOLS).map(|(rest, calls)| {
            (
                rest,
                calls.into_iter().map(|c| (c.name, c.arguments)).collect(),
            )
        })
    }

    #[test]
    fn the_common_text_formats_become_calls() {
        let read = ("Read".to_string(), json!({"path": "src/App.tsx"}));
        for text in [
            "Let me look.\n<tool_call>\n{\"name\": \"Read\", \"arguments\": {\"path\": \"src/App.tsx\"}}\n</tool_call>",
            "Let me look.<function=Read>{\"path\": \"src/App.tsx\"}</function>",
            "Let me look. [TOOL_CALLS] [{\"name\": \"Read\", \"arguments\": {\"path\": \"src/App.tsx\"}}]",
            "Let me look. <|python_tag|>{\"name\": \"read\", \"parameters\": {\"path\": \"src/App.tsx\"}}",
        ] {
            let (rest, calls) = names_and_args(text).unwrap_or_else(|| panic!("{text}"));
            assert_eq!(rest, "Let me look.", "{text}");
            assert_eq!(calls, vec![read.clone()], "{text}");
        }
        let (rest, calls) = names_and_args(
            "```json\n{\"name\": \"Glob\", \"arguments\": \"{\\\"pattern\\\": \\\"src/**\\\"}\"}\n```",
        )
        .unwrap();
        assert_eq!(rest, "");
        assert_eq!(
            calls,
            vec![("Glob".to_string(), json!({"pattern": "src/**"}))]
        );
        let (_, calls) = names_and_args(
            "<tool_call>{\"name\": \"Read\", \"arguments\": {\"path\": \"a\"}}</tool_call>\n<tool_call>{\"name\": \"Read\", \"arguments\": {\"path\": \"b\"}}</tool_call>",
        )
        .unwrap();
        assert_eq!(calls.len(), 2, "parallel calls in text");
    }

    #[test]
    fn ordinary_replies_and_unknown_tools_are_left_alone() {
        for text in [
            "I changed the colour to blue.",
            "Here is the config: {\"name\": \"app\", \"version\": \"1.0.0\"}",
            "{\"name\": \"Delete\", \"arguments\": {\"path\": \"/\"}}",
            "<tool_call>{\"name\": \"Shell\", \"arguments\": {\"cmd\": \"rm -rf /\"}}</tool_call>",
            "<tool_call>not json</tool_call>",
        ] {
            assert!(extract(text, &TOOLS).is_none(), "{text}");
        }
    }
}
