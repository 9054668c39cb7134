//! The app's runtime errors in the workspace: what the bridge script in the
//! preview (`server/src/preview/bridge.js`) reports, shown in the console
//! with "Fix this error", and fixed automatically when the user turned that
//! on for the project — once per error, never again when it comes back, and
//! at most [`AUTO_FIX_BUDGET`] times in [`AUTO_FIX_WINDOW_MS`], so a fix that
//! keeps failing cannot loop.

// The server build renders these parts but runs none of their browser
// logic: reports arrive in the browser: the server's build renders the list but never fills it.
#![cfg_attr(not(feature = "hydrate"), allow(dead_code))]

use leptos::prelude::*;

use super::workspace::Workspace;

pub use runtime::listen;

/// An error the app's page reported: one row per message and place, with
/// how often it came. Everything in it is the app's text: shown as text,
/// never as markup.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
pub struct RuntimeError {
    /// `error`, `rejection`, `console` or `vite` from the page; `build`
    /// for a production build (publish) that failed.
    pub kind: String,
    pub message: String,
    #[serde(default)]
    pub stack: String,
    /// `src/App.tsx:12:5`, when the stack names one of the app's files.
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub count: u32,
    /// Where automatic fixing stands for this error (the workspace's own).
    #[serde(skip)]
    pub auto: Auto,
}

/// Automatic fixing of one error.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Auto {
    /// Not tried.
    #[default]
    No,
    /// Sent to the agent as a fix turn.
    Sent,
    /// Seen again after its automatic fix: never retried automatically.
    CameBack,
}

/// Most automatic fixes in [`AUTO_FIX_WINDOW_MS`], whatever the errors: a
/// fix that causes a new error each time stops here.
pub const AUTO_FIX_BUDGET: usize = 3;
pub const AUTO_FIX_WINDOW_MS: f64 = 10.0 * 60.0 * 1000.0;
/// Quiet time after an error before it is fixed automatically (its
/// repeats and companions arrive first).
const AUTO_FIX_QUIET_MS: u64 = 2000;

/// Most rows kept; the oldest go first.
const MAX_RUNTIME_ERRORS: usize = 20;
/// Most characters of a report kept (the bridge cuts too, but the app can
/// post anything itself).
const MAX_REPORT_CHARS: usize = 4000;

impl RuntimeError {
    /// Reads a bridge message; `None` for anything else the page posts.
    pub fn parse(data: &str) -> Option<RuntimeError> {
        if data.len() > 4 * MAX_REPORT_CHARS {
            return None;
        }
        let value: serde_json::Value = serde_json::from_str(data).ok()?;
        if value.get("type")?.as_str()? != "minicode:runtime-error" {
            return None;
        }
        let mut error: RuntimeError = serde_json::from_value(value).ok()?;
        error.auto = Auto::No;
        if !["error", "rejection", "console", "vite"].contains(&error.kind.as_str())
            || error.message.trim().is_empty()
        {
            return None;
        }
        for text in [&mut error.message, &mut error.stack, &mut error.source] {
            if let Some((at, _)) = text.char_indices().nth(MAX_REPORT_CHARS) {
                text.truncate(at);
            }
        }
        error.count = error.count.max(1);
        Some(error)
    }

    pub fn key(&self) -> String {
        format!("{}|{}|{}", self.kind, self.message, self.source)
    }

    /// A failed production build as a console row: the place is the
    /// first of the app's files its output names (`src/App.tsx:1:29`).
    pub fn from_build(failure: &super::workspace::BuildFailure) -> RuntimeError {
        let source = failure
            .log_tail
            .iter()
            .find_map(|line| source_in(line))
            .unwrap_or_default();
        RuntimeError {
            kind: "build".into(),
            message: failure.message.clone(),
            stack: failure.log_tail.join("\n"),
            source,
            count: 1,
            auto: Auto::No,
        }
    }

    /// What "Fix this error" sends to the chat agent.
    fn prompt(&self) -> String {
        let mut text = if self.kind == "build" {
            format!(
                "Fix this error of the app's production build (vite build, for publishing):\n{}",
                self.message
            )
        } else {
            format!(
                "Fix this error the app shows in the browser:\n{}",
                self.message
            )
        };
        if !self.source.is_empty() {
            text.push_str(&format!("\nat {}", self.source));
        }
        if !self.stack.is_empty() {
            let label = if self.kind == "build" {
                "Build output"
            } else {
                "Stack"
            };
            text.push_str(&format!("\n\n{label}:\n{}", self.stack));
        }
        text
    }

    /// Adds `new` to `list`: a repeat updates its row's count (and marks
    /// an automatically fixed error as come back).
    pub fn add(list: &mut Vec<RuntimeError>, new: RuntimeError) {
        let key = new.key();
        if let Some(row) = list.iter_mut().find(|r| r.key() == key) {
            row.count = row.count.max(new.count).max(row.count + 1);
            if row.auto == Auto::Sent {
                row.auto = Auto::CameBack;
            }
            return;
        }
        list.push(new);
        if list.len() > MAX_RUNTIME_ERRORS {
            list.remove(0);
        }
    }
}

/// `src/App.tsx:1:29` from a line of build output that names one of the
/// app's files (absolute in the sandbox, or relative).
fn source_in(line: &str) -> Option<String> {
    let at = line.find("src/")?;
    let place: String = line[at..]
        .chars()
        .take_while(|c| !c.is_whitespace() && !matches!(c, '"' | '\'' | '(' | ')' | ','))
        .collect();
    let place = place.trim_end_matches(':');
    // A file name with an extension, at least.
    place
        .split(':')
        .next()
        .is_some_and(|path| path.rsplit('/').next().is_some_and(|n| n.contains('.')))
        .then(|| place.to_string())
}

/// The error to fix automatically now, if any: the oldest not yet tried,
/// while fewer than [`AUTO_FIX_BUDGET`] automatic fixes were sent in the
/// last [`AUTO_FIX_WINDOW_MS`] (`sent` holds their times, ms).
pub fn next_auto_fix(list: &[RuntimeError], sent: &[f64], now: f64) -> Option<String> {
    let recent = sent
        .iter()
        .filter(|t| now - **t < AUTO_FIX_WINDOW_MS)
        .count();
    if recent >= AUTO_FIX_BUDGET {
        return None;
    }
    list.iter()
        .find(|e| e.auto == Auto::No)
        .map(RuntimeError::key)
}

/// The project's "Fix automatically" switch (for the console's title); the
/// browser remembers it per project.
#[component]
pub fn AutoFixSwitch(auto: RwSignal<bool>) -> impl IntoView {
    let project = expect_context::<Workspace>().project;
    Effect::new(move |_| auto.set(stored_auto(project)));
    view! {
        <label class="small autofix" title="Send each new error of the app to the agent once, after a quiet moment">
            <input type="checkbox" data-testid="autofix" prop:checked=move || auto.get()
                on:change=move |e| {
                    let on = event_target_checked(&e);
                    auto.set(on);
                    store_auto(project, on);
                }/>
            " Fix automatically"
        </label>
    }
}

/// The errors above the sandbox log, with "Fix this error" and dismiss;
/// sent to the agent by themselves while `auto` is on.
#[component]
pub fn AppErrors(errors: RwSignal<Vec<RuntimeError>>, auto: RwSignal<bool>) -> impl IntoView {
    let ws = expect_context::<Workspace>();
    // Times of the automatic fixes sent from this page.
    let sent = StoredValue::new(Vec::<f64>::new());
    // Turned on, or a new error, or the agent became free: after a quiet
    // moment, the oldest untried error is sent, if all is still so then.
    Effect::new(move |_| {
        let on = auto.get();
        let busy = ws.busy();
        let waiting = errors.with(|list| list.iter().any(|e| e.auto == Auto::No));
        if !on || busy || !waiting {
            return;
        }
        set_timeout(
            move || {
                if !auto.get_untracked() || ws.busy() {
                    return;
                }
                let now = now_ms();
                let Some(key) =
                    errors.with_untracked(|list| next_auto_fix(list, &sent.get_value(), now))
                else {
                    return;
                };
                let Some(prompt) = errors
                    .try_update(|list| {
                        let row = list.iter_mut().find(|e| e.key() == key)?;
                        row.auto = Auto::Sent;
                        Some(row.prompt())
                    })
                    .flatten()
                else {
                    return;
                };
                sent.update_value(|times| times.push(now));
                ws.send_message(prompt, Vec::new());
            },
            std::time::Duration::from_millis(AUTO_FIX_QUIET_MS),
        );
    });
    view! {
        <Show when=move || errors.with(|e| !e.is_empty())>
            <ul class="app-errors" aria-label="The app's errors" data-testid="app-errors">
                <For
                    each=move || errors.get()
                    key=|e| (e.key(), e.count, e.auto)
                    children=move |e| {
                        let key = e.key();
                        let prompt = e.prompt();
                        let note = match e.auto {
                            Auto::No => None,
                            Auto::Sent => Some("sent to the agent automatically"),
                            Auto::CameBack => Some("came back after an automatic fix: not retried automatically"),
                        };
                        view! {
                            <li class="app-error" data-testid="app-error" data-kind=e.kind.clone()
                                data-auto=format!("{:?}", e.auto).to_lowercase()>
                                <span class="app-error-text">
                                    <strong>{e.message.clone()}</strong>
                                    {(!e.source.is_empty()).then(|| view! {
                                        " " <code data-testid="app-error-source">{e.source.clone()}</code>
                                    })}
                                    {(e.count > 1).then(|| view! {
                                        " " <span class="muted small" data-testid="app-error-count">{format!("×{}", e.count)}</span>
                                    })}
                                    {note.map(|n| view! { " " <em class="muted small" data-testid="app-error-note">{n}</em> })}
                                </span>
                                <button type="button" class="button small" data-testid="app-error-fix"
                                    disabled=move || ws.busy()
                                    on:click=move |_| ws.send_message(prompt.clone(), Vec::new())>"Fix this error"</button>
                                <button type="button" class="button ghost small" aria-label="Dismiss"
                                    data-testid="app-error-dismiss"
                                    on:click=move |_| errors.update(|all| all.retain(|x| x.key() != key))>"×"</button>
                            </li>
                        }
                    }
                />
            </ul>
        </Show>
    }
}

fn now_ms() -> f64 {
    #[cfg(feature = "hydrate")]
    {
        js_sys::Date::now()
    }
    #[cfg(not(feature = "hydrate"))]
    0.0
}

/// Whether the project fixes errors automatically (the browser remembers).
fn stored_auto(project: uuid::Uuid) -> bool {
    #[cfg(feature = "hydrate")]
    {
        web_sys::window()
            .and_then(|w| w.local_storage().ok().flatten())
            .and_then(|s| s.get_item(&auto_key(project)).ok().flatten())
            .is_some_and(|v| v == "on")
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = project;
        false
    }
}

fn store_auto(project: uuid::Uuid, on: bool) {
    #[cfg(feature = "hydrate")]
    if let Some(storage) = web_sys::window().and_then(|w| w.local_storage().ok().flatten()) {
        let _ = if on {
            storage.set_item(&auto_key(project), "on")
        } else {
            storage.remove_item(&auto_key(project))
        };
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (project, on);
}

fn auto_key(project: uuid::Uuid) -> String {
    format!("minicode.autofix.{project}")
}

/// What the preview's bridge talks to: the frame it must come from, and
/// where its messages go.
#[derive(Clone, Copy)]
pub struct BridgeSinks {
    pub frame: NodeRef<leptos::html::Iframe>,
    pub errors: RwSignal<Vec<RuntimeError>>,
    pub picked: RwSignal<Option<super::pick::Picked>>,
    /// Select mode is on (the page turns it off after a pick or Escape).
    pub selecting: RwSignal<bool>,
}

/// The window's `message` listener: one for the page's whole life, handing
/// each message to the preview on screen if it comes from that preview's
/// frame (any other window's messages are ignored).
mod runtime {
    use super::{BridgeSinks, RuntimeError};
    use crate::components::pick::Picked;

    #[cfg(feature = "hydrate")]
    thread_local! {
        static CURRENT: std::cell::RefCell<Option<BridgeSinks>> = const { std::cell::RefCell::new(None) };
        static LISTENING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }

    /// Hands one message from the frame to its sink.
    pub fn deliver(sinks: BridgeSinks, data: &str) {
        use leptos::prelude::*;
        if let Some(error) = RuntimeError::parse(data) {
            sinks
                .errors
                .try_update(|list| RuntimeError::add(list, error));
        } else if let Some(picked) = Picked::parse(data) {
            sinks.picked.try_set(Some(picked));
            sinks.selecting.try_set(false);
        } else if serde_json::from_str::<serde_json::Value>(data)
            .is_ok_and(|v| v["type"] == "minicode:select-ended")
        {
            sinks.selecting.try_set(false);
        }
    }

    pub fn listen(sinks: BridgeSinks) {
        #[cfg(feature = "hydrate")]
        {
            use leptos::prelude::*;
            use wasm_bindgen::JsCast;
            use wasm_bindgen::prelude::Closure;
            CURRENT.with(|c| *c.borrow_mut() = Some(sinks));
            if LISTENING.with(|l| l.replace(true)) {
                return;
            }
            let on_message =
                Closure::<dyn Fn(web_sys::MessageEvent)>::new(|event: web_sys::MessageEvent| {
                    let Some(sinks) = CURRENT.with(|c| *c.borrow()) else {
                        return;
                    };
                    let from_frame = sinks
                        .frame
                        .try_get_untracked()
                        .flatten()
                        .and_then(|iframe| iframe.content_window())
                        .zip(event.source())
                        .is_some_and(|(window, source)| js_sys::Object::is(&window, &source));
                    if !from_frame {
                        return;
                    }
                    if let Some(data) = event.data().as_string() {
                        deliver(sinks, &data);
                    }
                });
            if let Some(window) = web_sys::window() {
                let _ = window.add_event_listener_with_callback(
                    "message",
                    on_message.as_ref().unchecked_ref(),
                );
            }
            // Lives as long as the page (one listener, see LISTENING).
            on_message.forget();
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = sinks;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_build_is_a_console_row_with_its_place() {
        let failure = super::super::workspace::BuildFailure {
            n: 1,
            message: "Publishing failed: the build failed: `vite build` failed with exit code 1"
                .into(),
            log_tail: vec![
                "vite v7.1.3 building for production...".into(),
                "✗ Build failed in 40ms".into(),
                "error during build:".into(),
                "[vite:esbuild] Transform failed with 1 error:".into(),
                "/workspace/src/App.tsx:1:29: ERROR: Expected \")\" but found \"{\"".into(),
            ],
        };
        let row = RuntimeError::from_build(&failure);
        assert_eq!(row.kind, "build");
        assert_eq!(row.source, "src/App.tsx:1:29");
        assert!(
            row.prompt()
                .starts_with("Fix this error of the app's production build")
        );
        assert!(row.prompt().contains("Build output:\n"));
        // The same failure again is the same row: "came back" after a fix.
        let mut list = vec![row.clone()];
        list[0].auto = Auto::Sent;
        RuntimeError::add(&mut list, RuntimeError::from_build(&failure));
        assert_eq!((list.len(), list[0].auto), (1, Auto::CameBack));
        assert_eq!(source_in("see src/ for more"), None);
        assert_eq!(
            source_in("at (src/main.tsx)").as_deref(),
            Some("src/main.tsx")
        );
    }

    #[test]
    fn runtime_error_reports_are_checked_and_repeats_counted() {
        let report = r#"{"type":"minicode:runtime-error","kind":"error","message":"Error: Boom","stack":"at x","source":"src/App.tsx:3:9","count":1}"#;
        let error = RuntimeError::parse(report).unwrap();
        assert_eq!(error.source, "src/App.tsx:3:9");
        for junk in [
            "not json",
            r#"{"type":"other","kind":"error","message":"x"}"#,
            r#"{"type":"minicode:runtime-error","kind":"evil","message":"x"}"#,
            r#"{"type":"minicode:runtime-error","kind":"error","message":"  "}"#,
            r#"{"type":"minicode:runtime-error","kind":"error"}"#,
        ] {
            assert_eq!(RuntimeError::parse(junk), None, "{junk}");
        }
        let long = format!(
            r#"{{"type":"minicode:runtime-error","kind":"console","message":"{}"}}"#,
            "é".repeat(MAX_REPORT_CHARS + 10)
        );
        let cut = RuntimeError::parse(&long).unwrap();
        assert_eq!(cut.message.chars().count(), MAX_REPORT_CHARS);
        assert_eq!(cut.count, 1);

        let mut list = Vec::new();
        RuntimeError::add(&mut list, error.clone());
        RuntimeError::add(
            &mut list,
            RuntimeError {
                count: 2,
                ..error.clone()
            },
        );
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].count, 2);
        for n in 0..30 {
            RuntimeError::add(
                &mut list,
                RuntimeError {
                    message: format!("Error {n}"),
                    ..error.clone()
                },
            );
        }
        assert_eq!(list.len(), MAX_RUNTIME_ERRORS);
        assert_eq!(list.last().unwrap().message, "Error 29");
        assert!(error.prompt().contains("Error: Boom\nat src/App.tsx:3:9"));

        // Fixed automatically once; coming back marks it, never resends.
        let mut list = vec![error.clone()];
        assert_eq!(next_auto_fix(&list, &[], 0.0), Some(error.key()));
        list[0].auto = Auto::Sent;
        assert_eq!(next_auto_fix(&list, &[0.0], 1.0), None);
        RuntimeError::add(&mut list, error.clone());
        assert_eq!(list[0].auto, Auto::CameBack);
        assert_eq!(next_auto_fix(&list, &[0.0], 1.0), None);
        // A budget across errors: three in ten minutes, then none.
        let other = RuntimeError {
            message: "Error: other".into(),
            ..error.clone()
        };
        list.push(other.clone());
        assert_eq!(next_auto_fix(&list, &[0.0, 1.0], 2.0), Some(other.key()));
        assert_eq!(next_auto_fix(&list, &[0.0, 1.0, 2.0], 3.0), None);
        assert_eq!(
            next_auto_fix(&list, &[0.0, 1.0, 2.0], AUTO_FIX_WINDOW_MS + 1.0),
            Some(other.key()),
            "the window moves on"
        );
    }
}
