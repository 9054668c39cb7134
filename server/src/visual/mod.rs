//! Visual edits: a change made on an element picked in the preview (its
//! text, colour, background, font size, padding), written back into the JSX
//! that created it — found by the place the browser reported and checked
//! against the element's tag — as a normal, undoable file change.
//!
//! Only what can be done safely without a parser is done: the element's
//! text when its children are exactly that plain text, and one style
//! property added to its `style={{…}}` object (or a new `style` attribute).
//! Everything else is refused with the reason, and nothing is written.

pub(crate) mod routes;

use minicode::VisualEdit;
pub use minicode::{StyleProperty, VisualChange};
use uuid::Uuid;

use crate::error::{AppError, AppResult};
use crate::files::{self, Saved, Source};
use crate::state::AppState;
use crate::workspace::RelPath;

/// Makes `request` on the project's file: read what is stored, edit it (or
/// refuse with 422 and the reason, changing nothing), then store it like an
/// editor save, with an undo point before it ("Before: <what changed>"),
/// in `username`'s batch of saves for the git history.
#[tracing::instrument(name = "visual.apply", skip_all, fields(project_id = %project))]
pub async fn apply(
    state: &AppState,
    project: Uuid,
    request: &VisualEdit,
    username: &str,
) -> AppResult<Saved> {
    let path = RelPath::parse_writable(&request.path)
        .map_err(|e| AppError::validation(format!("invalid path: {e}")))?;
    let current = files::read(state, project, &path).await?;
    if current.encoding != minicode::Encoding::Utf8 {
        return Err(AppError::validation("the file is not text"));
    }
    let edited = edit(
        &current.content,
        request.line,
        request.column,
        &request.tag,
        &request.change,
    )
    .map_err(AppError::validation)?;
    let what = match &request.change {
        VisualChange::Text { to, .. } => {
            format!("the <{}> text to \u{201c}{to}\u{201d}", request.tag)
        }
        VisualChange::Style { property, value } => {
            format!("the <{}> {} to {value}", request.tag, property.js_name())
        }
    };
    let undo = crate::checkpoints::before_turn(state, project, &format!("change {what}")).await?;
    let saved = files::save(
        state,
        project,
        vec![(path, edited.into_bytes())],
        Source::User,
        None,
    )
    .await?
    .into_iter()
    .next()
    .ok_or_else(|| AppError::internal("nothing was saved"))?;
    crate::checkpoints::after_turn(
        state,
        project,
        undo,
        &crate::git::Author::User(username.to_string()),
    )
    .await?;
    Ok(saved)
}

/// How a property is named in a JSX style object, and which values are
/// written (only plain ones: they go into the user's code).
trait Writable {
    fn js_name(self) -> &'static str;
    fn check(self, value: &str) -> Result<(), String>;
}

impl Writable for StyleProperty {
    fn js_name(self) -> &'static str {
        match self {
            StyleProperty::Color => "color",
            StyleProperty::BackgroundColor => "backgroundColor",
            StyleProperty::FontSize => "fontSize",
            StyleProperty::Padding => "padding",
        }
    }

    fn check(self, value: &str) -> Result<(), String> {
        let length = |v: &str| {
            let number_end = v
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(v.len());
            let (number, unit) = v.split_at(number_end);
            !number.is_empty()
                && number.len() <= 6
                && number.parse::<f64>().is_ok()
                && ["px", "rem", "em", "%"].contains(&unit)
        };
        let ok = match self {
            StyleProperty::Color | StyleProperty::BackgroundColor => {
                let hex = value.strip_prefix('#').is_some_and(|h| {
                    [3, 4, 6, 8].contains(&h.len()) && h.bytes().all(|b| b.is_ascii_hexdigit())
                });
                let rgb = (value.starts_with("rgb(") || value.starts_with("rgba("))
                    && value.ends_with(')')
                    && value.len() <= 40
                    && value
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b" (),.%".contains(&b));
                hex || rgb
            }
            StyleProperty::FontSize => length(value),
            StyleProperty::Padding => {
                let parts: Vec<&str> = value.split_whitespace().collect();
                (1..=4).contains(&parts.len()) && parts.iter().all(|p| *p == "0" || length(p))
            }
        };
        if ok {
            Ok(())
        } else {
            Err(format!(
                "`{value}` is not a value minicode writes for {}",
                self.js_name()
            ))
        }
    }
}

/// `source` with `change` made on the `<tag` element written at `line`
/// (1-based; `column` is where on it the browser said, a hint when the line
/// has several). `Err` says why nothing was changed.
pub fn edit(
    source: &str,
    line: u32,
    column: u32,
    tag: &str,
    change: &VisualChange,
) -> Result<String, String> {
    if tag.is_empty() || !tag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err("not an element name".into());
    }
    let line_start = line_offset(source, line).ok_or("the file has no such line")?;
    let line_end = source[line_start..]
        .find('\n')
        .map_or(source.len(), |i| line_start + i);
    let opener = format!("<{tag}");
    let candidates: Vec<usize> = source[line_start..line_end]
        .match_indices(&opener)
        .map(|(i, _)| line_start + i)
        .filter(|&i| {
            source[i + opener.len()..]
                .chars()
                .next()
                .is_some_and(|c| c.is_whitespace() || c == '>' || c == '/')
        })
        .collect();
    let hint = line_start + column.saturating_sub(1) as usize;
    let start = candidates
        .iter()
        .copied()
        .find(|&i| i + 1 >= hint)
        .or_else(|| candidates.first().copied())
        .ok_or_else(|| {
            format!("no <{tag}> on line {line}: the file changed since it was picked")
        })?;
    let tag_end = opening_tag_end(source, start + opener.len())
        .ok_or("the element's opening tag does not end")?;
    let self_closing = source[..tag_end].ends_with("/>");
    match change {
        VisualChange::Text { from, to } => {
            if self_closing {
                return Err("the element has no text".into());
            }
            if to.is_empty() || to.contains(['{', '}', '<', '>']) || to.contains('\n') {
                return Err("the new text must be one line without { } < >".into());
            }
            let close = format!("</{tag}>");
            let end = source[tag_end..]
                .find(&close)
                .map(|i| tag_end + i)
                .ok_or("the element's closing tag is not found")?;
            let inner = &source[tag_end..end];
            if inner.contains(['{', '<']) || inner.trim() != from.trim() {
                return Err(
                    "only an element whose whole content is its plain text can be edited here"
                        .into(),
                );
            }
            let lead = inner.len() - inner.trim_start().len();
            let trail = inner.len() - inner.trim_end().len();
            let mut out = String::with_capacity(source.len() + to.len());
            out.push_str(&source[..tag_end + lead]);
            out.push_str(to);
            out.push_str(&source[end - trail..]);
            Ok(out)
        }
        VisualChange::Style { property, value } => {
            property.check(value)?;
            let entry = format!("{}: \"{value}\"", property.js_name());
            let attrs = &source[start..tag_end];
            if let Some(at) = attrs.find("style={{") {
                let object_start = start + at + "style={{".len();
                let object_end = matching_braces_end(source, object_start)
                    .ok_or("the element's style object does not end")?;
                let body = source[object_start..object_end].trim_end();
                let separator = if body.trim().is_empty() || body.ends_with(',') {
                    " "
                } else {
                    ", "
                };
                let insert_at = object_start + body.len();
                let mut out = String::with_capacity(source.len() + entry.len() + 2);
                out.push_str(&source[..insert_at]);
                out.push_str(separator);
                out.push_str(&entry);
                out.push_str(&source[insert_at..]);
                Ok(out)
            } else if attrs.contains("style=") {
                Err("the element's style is not a plain object: change it in the editor".into())
            } else {
                let insert_at = if self_closing {
                    tag_end - 2
                } else {
                    tag_end - 1
                };
                let before = source[..insert_at].trim_end().len();
                let mut out = String::with_capacity(source.len() + entry.len() + 16);
                out.push_str(&source[..before]);
                out.push_str(&format!(" style={{{{ {entry} }}}}"));
                if self_closing {
                    out.push(' ');
                }
                out.push_str(&source[insert_at..]);
                Ok(out)
            }
        }
    }
}

/// Byte offset where 1-based `line` starts.
fn line_offset(source: &str, line: u32) -> Option<usize> {
    if line == 0 {
        return None;
    }
    if line == 1 {
        return Some(0);
    }
    source
        .match_indices('\n')
        .nth(line as usize - 2)
        .map(|(i, _)| i + 1)
}

/// The offset just after the `>` ending an opening tag whose attributes
/// begin at `from`: braces (JSX expressions) and quotes are skipped over.
fn opening_tag_end(source: &str, from: usize) -> Option<usize> {
    let bytes = source.as_bytes();
    let mut depth = 0usize;
    let mut quote: Option<u8> = None;
    let mut i = from;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None => match b {
                b'"' | b'\'' | b'`' => quote = Some(b),
                b'{' => depth += 1,
                b'}' => depth = depth.checked_sub(1)?,
                b'>' if depth == 0 => return Some(i + 1),
                _ => {}
            },
        }
        i += 1;
    }
    None
}

/// For `{{` just before `from`: the offset of the `}}` that closes it.
fn matching_braces_end(source: &str, from: usize) -> Option<usize> {
    let bytes = source.as_bytes();
    let mut depth = 1usize;
    let mut quote: Option<u8> = None;
    for (i, &b) in bytes.iter().enumerate().skip(from) {
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None => match b {
                b'"' | b'\'' | b'`' => quote = Some(b),
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        return source[i + 1..].starts_with('}').then_some(i);
                    }
                }
                _ => {}
            },
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP: &str = "export default function App() {\n  return (\n    <div className=\"app\">\n      <h1 className=\"title\">Personal Dashboard</h1>\n      <button onClick={() => go({ a: 1 })} style={{ margin: 4 }}>Go</button>\n      <img src=\"/a.png\" />\n    </div>\n  );\n}\n";

    fn style(property: StyleProperty, value: &str) -> VisualChange {
        VisualChange::Style {
            property,
            value: value.into(),
        }
    }

    #[test]
    fn text_is_replaced_only_when_it_is_the_whole_plain_content() {
        let out = edit(
            APP,
            4,
            7,
            "h1",
            &VisualChange::Text {
                from: "Personal Dashboard".into(),
                to: "My Day".into(),
            },
        )
        .unwrap();
        assert!(out.contains("<h1 className=\"title\">My Day</h1>"), "{out}");
        assert_eq!(
            out.len(),
            APP.len() - "Personal Dashboard".len() + "My Day".len()
        );
        let wrong = VisualChange::Text {
            from: "Something else".into(),
            to: "x".into(),
        };
        assert!(
            edit(APP, 4, 7, "h1", &wrong)
                .unwrap_err()
                .contains("plain text")
        );
        let markup = VisualChange::Text {
            from: "Personal Dashboard".into(),
            to: "<script>".into(),
        };
        assert!(edit(APP, 4, 7, "h1", &markup).is_err());
        assert!(
            edit(APP, 3, 5, "h1", &wrong)
                .unwrap_err()
                .contains("no <h1> on line 3")
        );
        assert!(edit(APP, 99, 1, "h1", &wrong).is_err());
    }

    #[test]
    fn a_style_is_added_to_the_object_or_as_a_new_attribute() {
        let out = edit(APP, 4, 7, "h1", &style(StyleProperty::Color, "#ff0000")).unwrap();
        assert!(
            out.contains(
                "<h1 className=\"title\" style={{ color: \"#ff0000\" }}>Personal Dashboard</h1>"
            ),
            "{out}"
        );
        let out = edit(APP, 5, 7, "button", &style(StyleProperty::FontSize, "18px")).unwrap();
        assert!(
            out.contains("style={{ margin: 4, fontSize: \"18px\" }}>Go</button>"),
            "{out}"
        );
        assert!(
            out.contains("onClick={() => go({ a: 1 })}"),
            "the handler's braces are skipped"
        );
        let out = edit(APP, 6, 7, "img", &style(StyleProperty::Padding, "4px 8px")).unwrap();
        assert!(
            out.contains("<img src=\"/a.png\" style={{ padding: \"4px 8px\" }} />"),
            "{out}"
        );
    }

    #[test]
    fn only_plain_values_are_written() {
        for (property, value) in [
            (StyleProperty::Color, "red; background: url(x)"),
            (StyleProperty::Color, "\"}} /><script>"),
            (StyleProperty::FontSize, "12"),
            (StyleProperty::FontSize, "calc(1px)"),
            (StyleProperty::Padding, "1px 2px 3px 4px 5px"),
            (StyleProperty::BackgroundColor, "#12"),
        ] {
            assert!(
                edit(APP, 4, 7, "h1", &style(property, value)).is_err(),
                "{value}"
            );
        }
        for (property, value) in [
            (StyleProperty::Color, "#abc"),
            (StyleProperty::Color, "rgb(255, 0, 0)"),
            (StyleProperty::BackgroundColor, "#11223344"),
            (StyleProperty::FontSize, "1.25rem"),
            (StyleProperty::Padding, "0 12px"),
        ] {
            assert!(
                edit(APP, 4, 7, "h1", &style(property, value)).is_ok(),
                "{value}"
            );
        }
        assert!(edit(APP, 4, 7, "h1 onload", &style(StyleProperty::Color, "#abc")).is_err());
    }
}
