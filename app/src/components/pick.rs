//! Pointing at the app: the preview's Select mode picks an element (the
//! bridge in the page reports its tag, text, styles and where it was
//! written), and this panel shows it with ways to act on it — open the
//! file at that line, or ask the agent about exactly that element.

// The server build renders the panel but never fills it.
#![cfg_attr(not(feature = "hydrate"), allow(dead_code))]

use leptos::prelude::*;

use minicode::{StyleProperty, VisualChange, VisualEdit};

use super::editor;
use super::workspace::Workspace;

/// An element the user picked in the preview. The app's page wrote every
/// field: shown as text only.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Picked {
    pub tag: String,
    #[serde(default)]
    pub text: String,
    /// `src/App.tsx:12:5`, when React's development build says where.
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub color: String,
    #[serde(default)]
    pub background: String,
    #[serde(default)]
    pub font_size: String,
    #[serde(default)]
    pub padding: String,
}

impl Picked {
    /// Reads the bridge's `minicode:picked` message; `None` otherwise.
    pub fn parse(data: &str) -> Option<Picked> {
        if data.len() > 4096 {
            return None;
        }
        let value: serde_json::Value = serde_json::from_str(data).ok()?;
        if value.get("type")?.as_str()? != "minicode:picked" {
            return None;
        }
        let mut picked: Picked = serde_json::from_value(value).ok()?;
        let tag_ok = !picked.tag.is_empty()
            && picked.tag.len() <= 40
            && picked
                .tag
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !tag_ok {
            return None;
        }
        for field in [
            &mut picked.text,
            &mut picked.source,
            &mut picked.color,
            &mut picked.background,
            &mut picked.font_size,
            &mut picked.padding,
        ] {
            if let Some((at, _)) = field.char_indices().nth(300) {
                field.truncate(at);
            }
        }
        if picked.file_and_line().is_none() {
            picked.source.clear();
        }
        Some(picked)
    }

    /// `("src/App.tsx", 12)` from `src/App.tsx:12:5`.
    pub fn file_and_line(&self) -> Option<(String, u32)> {
        self.place().map(|(file, line, _)| (file, line))
    }

    /// File, line and column of [`Picked::source`], if it names a place
    /// inside the project.
    fn place(&self) -> Option<(String, u32, u32)> {
        let mut parts = self.source.rsplitn(3, ':');
        let column: u32 = parts.next()?.parse().ok()?;
        let line: u32 = parts.next()?.parse().ok()?;
        let file = parts.next()?;
        let safe = !file.is_empty()
            && !file.starts_with('/')
            && !file.split('/').any(|p| p.is_empty() || p == "..");
        (safe && line > 0).then(|| (file.to_string(), line, column))
    }

    /// The request that makes `change` on this element's source.
    pub fn edit(&self, change: VisualChange) -> Option<VisualEdit> {
        let (path, line, column) = self.place()?;
        Some(VisualEdit {
            path,
            line,
            column,
            tag: self.tag.clone(),
            change,
        })
    }

    /// How the element is named in a chat message.
    pub fn describe(&self) -> String {
        let mut text = format!("the <{}>", self.tag);
        if !self.text.is_empty() {
            let short: String = self.text.chars().take(60).collect();
            text.push_str(&format!(" \u{201c}{short}\u{201d}"));
        }
        if !self.source.is_empty() {
            text.push_str(&format!(" in {}", self.source));
        }
        text
    }
}

/// The picked element, with Open in editor, Ask in chat and close.
#[component]
pub fn PickedPanel(picked: RwSignal<Option<Picked>>) -> impl IntoView {
    let ws = expect_context::<Workspace>();
    view! {
        {move || picked.get().map(|p| {
            let target = p.file_and_line();
            let ask = format!("About {}: ", p.describe());
            let styles = [
                ("color", p.color.clone()),
                ("background", p.background.clone()),
                ("font-size", p.font_size.clone()),
                ("padding", p.padding.clone()),
            ]
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join(" · ");
            view! {
                <div class="picked" data-testid="picked" role="status">
                    <div class="picked-what">
                        <code data-testid="picked-tag">{format!("<{}>", p.tag)}</code>
                        {(!p.text.is_empty()).then(|| view! { " " <span class="picked-text">{p.text.clone()}</span> })}
                        {match target.clone() {
                            Some(_) => view! { " in " <code data-testid="picked-source">{p.source.clone()}</code> }.into_any(),
                            None => view! { <span class="muted small">" (where it is written is unknown)"</span> }.into_any(),
                        }}
                        <div class="muted small picked-styles">{styles}</div>
                    </div>
                    {target.map(|(file, line)| view! {
                        <button type="button" class="button small" data-testid="picked-open"
                            on:click=move |_| {
                                ws.open(file.clone());
                                editor::reveal_line(line);
                            }>"Open in editor"</button>
                    })}
                    {p.edit(VisualChange::Text { from: String::new(), to: String::new() }).map(|_| {
                        let p = p.clone();
                        view! { <EditControls picked=p/> }
                    })}
                    <button type="button" class="button small primary" data-testid="picked-ask"
                        on:click=move |_| ws.draft(ask.clone())>"Ask in chat"</button>
                    <button type="button" class="button ghost small" aria-label="Close" data-testid="picked-close"
                        on:click=move |_| picked.set(None)>"×"</button>
                </div>
            }
        })}
    }
}

/// Direct edits of the picked element: its text, colour, background, font
/// size and padding, each written into its source by the server (with an
/// undo point) — the preview follows by Vite's hot reload.
#[component]
fn EditControls(picked: Picked) -> impl IntoView {
    let ws = expect_context::<Workspace>();
    let text = RwSignal::new(picked.text.clone());
    let color = RwSignal::new(css_to_hex(&picked.color).unwrap_or_else(|| "#000000".into()));
    let background =
        RwSignal::new(css_to_hex(&picked.background).unwrap_or_else(|| "#ffffff".into()));
    let font_size = RwSignal::new(picked.font_size.clone());
    let padding = RwSignal::new(picked.padding.clone());
    let message = RwSignal::new(None::<(bool, String)>);
    let picked = StoredValue::new(picked);
    let send = move |change: VisualChange| {
        let Some(edit) = picked.with_value(|p| p.edit(change)) else {
            return;
        };
        message.set(None);
        leptos::task::spawn_local(async move {
            match crate::client::visual_edit(ws.project, &edit).await {
                Ok(_) => message.set(Some((
                    true,
                    format!("Written to {} (undo in Checkpoints)", edit.path),
                ))),
                Err(e) => message.set(Some((false, e.error))),
            }
        });
    };
    let style = move |property: StyleProperty, value: RwSignal<String>| {
        move |_| {
            send(VisualChange::Style {
                property,
                value: value.get_untracked().trim().to_string(),
            })
        }
    };
    let original_text = picked.with_value(|p| p.text.clone());
    view! {
        <details class="picked-edit" data-testid="picked-edit">
            <summary class="small">"Edit"</summary>
            <div class="picked-edit-rows small">
                <label>"Text " <input type="text" data-testid="edit-text" prop:value=move || text.get()
                    on:input=move |e| text.set(event_target_value(&e))/></label>
                <button type="button" class="button small" data-testid="edit-text-apply"
                    on:click=move |_| send(VisualChange::Text { from: original_text.clone(), to: text.get_untracked() })>"Set"</button>
                <label>"Colour " <input type="color" data-testid="edit-color" prop:value=move || color.get()
                    on:input=move |e| color.set(event_target_value(&e))/></label>
                <button type="button" class="button small" data-testid="edit-color-apply"
                    on:click=style(StyleProperty::Color, color)>"Set"</button>
                <label>"Background " <input type="color" data-testid="edit-background" prop:value=move || background.get()
                    on:input=move |e| background.set(event_target_value(&e))/></label>
                <button type="button" class="button small" data-testid="edit-background-apply"
                    on:click=style(StyleProperty::BackgroundColor, background)>"Set"</button>
                <label>"Font size " <input type="text" size="6" data-testid="edit-font-size" prop:value=move || font_size.get()
                    on:input=move |e| font_size.set(event_target_value(&e))/></label>
                <button type="button" class="button small" data-testid="edit-font-size-apply"
                    on:click=style(StyleProperty::FontSize, font_size)>"Set"</button>
                <label>"Padding " <input type="text" size="12" data-testid="edit-padding" prop:value=move || padding.get()
                    on:input=move |e| padding.set(event_target_value(&e))/></label>
                <button type="button" class="button small" data-testid="edit-padding-apply"
                    on:click=style(StyleProperty::Padding, padding)>"Set"</button>
            </div>
            {move || message.get().map(|(ok, text)| view! {
                <p class=if ok { "small muted" } else { "small form-error" } data-testid="edit-result" role="status">{text}</p>
            })}
        </details>
    }
}

/// `rgb(255, 0, 0)` (what the browser reports) as `#ff0000`.
fn css_to_hex(css: &str) -> Option<String> {
    let inner = css
        .strip_prefix("rgba(")
        .or_else(|| css.strip_prefix("rgb("))?
        .strip_suffix(')')?;
    let parts: Vec<u8> = inner
        .split(',')
        .take(3)
        .map(|p| p.trim().parse::<u8>().ok())
        .collect::<Option<_>>()?;
    (parts.len() == 3).then(|| format!("#{:02x}{:02x}{:02x}", parts[0], parts[1], parts[2]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pick_is_checked_and_named() {
        let p = Picked::parse(
            r#"{"type":"minicode:picked","tag":"button","text":"Start","source":"src/components/Timer.tsx:42:7","color":"rgb(0, 0, 0)","fontSize":"16px"}"#,
        )
        .unwrap();
        assert_eq!(
            p.file_and_line(),
            Some(("src/components/Timer.tsx".into(), 42))
        );
        assert_eq!(p.font_size, "16px");
        assert_eq!(
            p.describe(),
            "the <button> \u{201c}Start\u{201d} in src/components/Timer.tsx:42:7"
        );
        for junk in [
            "nope",
            r#"{"type":"minicode:runtime-error","tag":"div"}"#,
            r#"{"type":"minicode:picked","tag":"<img onerror=x>"}"#,
            r#"{"type":"minicode:picked","tag":""}"#,
        ] {
            assert_eq!(Picked::parse(junk), None, "{junk}");
        }
        assert_eq!(css_to_hex("rgb(255, 0, 16)").as_deref(), Some("#ff0010"));
        assert_eq!(css_to_hex("rgba(0, 0, 0, 0)").as_deref(), Some("#000000"));
        assert_eq!(css_to_hex("red"), None);
        let edit = p
            .edit(VisualChange::Style {
                property: StyleProperty::Color,
                value: "#ff0000".into(),
            })
            .unwrap();
        assert_eq!(
            (edit.path.as_str(), edit.line, edit.column),
            ("src/components/Timer.tsx", 42, 7)
        );
        // A place outside the project is dropped, the pick kept.
        for source in ["/etc/passwd:1:1", "../x.ts:1:1", "src/a.ts:0:1", "src/a.ts"] {
            let p = Picked::parse(&format!(
                r#"{{"type":"minicode:picked","tag":"div","source":"{source}"}}"#
            ))
            .unwrap();
            assert_eq!(p.source, "", "{source}");
            assert_eq!(p.file_and_line(), None);
        }
    }
}
