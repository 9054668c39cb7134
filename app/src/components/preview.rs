//! The right pane: the running app in an iframe and the sandbox's log.

use leptos::prelude::*;
use minicode::protocol::LogStream;

use super::device::{CUSTOM_MAX, CUSTOM_MIN, Device, Viewport, clamp_custom};
use super::workspace::Workspace;

#[component]
pub fn PreviewPane() -> impl IntoView {
    let ws = expect_context::<Workspace>();
    let path = format!("/preview/{}/", ws.project);
    let frame: NodeRef<leptos::html::Iframe> = NodeRef::new();
    // The address as a visitor would type it; known only in the browser.
    let full_url = RwSignal::new(path.clone());
    let path_for_effect = path.clone();
    Effect::new(move |_| {
        if let Some(origin) = web_origin() {
            full_url.set(format!("{origin}{path_for_effect}"));
        }
    });
    // Show the app once its dev server runs, or when an idle project has one to
    // start. Not during a run before `server_started`: loading the preview then
    // would start a second dev server racing the run's own.
    let has_app = move || {
        ws.server_running.get()
            || (!ws.state.get().is_active() && ws.files.with(|f| f.contains_key("package.json")))
    };

    let reload = move || {
        if let Some(iframe) = frame.get_untracked() {
            // Re-setting the same src reloads it, also after an error page.
            let src = iframe.src();
            iframe.set_src(&src);
        }
    };
    Effect::new(move |previous: Option<u64>| {
        let n = ws.preview_reload.get();
        if previous.is_some_and(|p| p != n) {
            reload();
        }
        n
    });

    // The device the frame imitates, remembered per project.
    let viewport = RwSignal::new(Viewport::default());
    let project = ws.project;
    Effect::new(move |_| {
        if let Some(stored) = stored_viewport(project) {
            viewport.set(stored);
        }
    });
    Effect::new(move |first: Option<()>| {
        let current = viewport.get();
        if first.is_some() {
            store_viewport(project, current);
        }
    });
    // The room the frame has, measured as the pane changes size.
    let wrap: NodeRef<leptos::html::Div> = NodeRef::new();
    let room = RwSignal::new((0.0_f64, 0.0_f64));
    Effect::new(move |_| {
        if let Some(el) = wrap.get() {
            observe_size(el, room);
        }
    });
    // Margin around a device inside the pane.
    const GAP: f64 = 16.0;
    let scale = move || {
        let (w, h) = room.get();
        viewport
            .get()
            .scale(((w - GAP).max(0.0), (h - GAP).max(0.0)))
    };
    let box_style = move || match viewport.get().size() {
        None => "flex: 1; width: 100%; height: 100%;".to_string(),
        Some((w, h)) => {
            let s = scale();
            format!(
                "flex: none; width: {:.0}px; height: {:.0}px; margin: {}px auto 0;",
                f64::from(w) * s,
                f64::from(h) * s,
                GAP / 2.0
            )
        }
    };
    let frame_style = move || match viewport.get().size() {
        None => "width: 100%; height: 100%;".to_string(),
        Some((w, h)) => format!(
            "width: {w}px; height: {h}px; transform: scale({}); transform-origin: 0 0;",
            scale()
        ),
    };
    let size_label = move || match viewport.get().size() {
        None => String::new(),
        Some((w, h)) => {
            let s = scale();
            if s < 0.999 {
                format!("{w} × {h} · {:.0} %", s * 100.0)
            } else {
                format!("{w} × {h}")
            }
        }
    };
    let custom = move || matches!(viewport.get().device, Device::Custom { .. });
    let set_custom = move |which: usize, value: String| {
        let Ok(px) = value.trim().parse::<u32>() else {
            return;
        };
        viewport.update(|v| {
            if let Device::Custom { width, height } = &mut v.device {
                // The fields show the rotated size: write back the side the
                // user sees.
                let sides = if v.rotated {
                    [height, width]
                } else {
                    [width, height]
                };
                let [first, second] = sides;
                if which == 0 {
                    *first = clamp_custom(px);
                } else {
                    *second = clamp_custom(px);
                }
            }
        });
    };

    // The app's runtime errors, as its page reports them (see
    // `server/src/preview/bridge.js`).
    let errors = RwSignal::new(Vec::<RuntimeError>::new());
    Effect::new(move |_| runtime::listen(frame, errors));
    // A new dev server (a restart, a new build): the old errors are gone.
    Effect::new(move |previous: Option<bool>| {
        let running = ws.server_running.get();
        if previous == Some(false) && running {
            errors.set(Vec::new());
        }
        running
    });

    let src = path.clone();
    view! {
        <section class="preview-pane" aria-label="Preview">
            <div class="pane-title preview-bar">
                <button type="button" class="button ghost small" data-testid="preview-reload"
                    title="Reload the preview" aria-label="Reload the preview"
                    on:click=move |_| reload()>"⟳"</button>
                <input class="preview-url" readonly aria-label="Preview address" data-testid="preview-url"
                    prop:value=move || full_url.get()/>
                <a class="button ghost small" href=path.clone() target="_blank" rel="noopener"
                    data-testid="preview-open" title="Open in a new tab">"Open ↗"</a>
            </div>
            <div class="pane-title preview-devices">
                <select class="small" data-testid="preview-device" aria-label="Device size"
                    prop:value=move || viewport.get().device.key()
                    on:change=move |e| {
                        let key = event_target_value(&e);
                        viewport.update(|v| {
                            v.device = Device::from_key(&key, v.device);
                            if v.device == Device::Fit {
                                v.rotated = false;
                            }
                        });
                    }>
                    {Device::PRESETS.iter().map(|(d, label)| view! { <option value=d.key()>{*label}</option> }).collect_view()}
                    <option value="custom">"Custom"</option>
                </select>
                <Show when=custom>
                    <input type="number" class="device-side" data-testid="preview-width" aria-label="Width in pixels"
                        min=CUSTOM_MIN max=CUSTOM_MAX
                        prop:value=move || viewport.get().size().map(|(w, _)| w.to_string()).unwrap_or_default()
                        on:change=move |e| set_custom(0, event_target_value(&e))/>
                    <span class="muted small">"×"</span>
                    <input type="number" class="device-side" data-testid="preview-height" aria-label="Height in pixels"
                        min=CUSTOM_MIN max=CUSTOM_MAX
                        prop:value=move || viewport.get().size().map(|(_, h)| h.to_string()).unwrap_or_default()
                        on:change=move |e| set_custom(1, event_target_value(&e))/>
                </Show>
                <button type="button" class="button ghost small" data-testid="preview-rotate"
                    title="Rotate" aria-label="Rotate the device"
                    aria-pressed=move || viewport.get().rotated.to_string()
                    disabled=move || viewport.get().device == Device::Fit
                    on:click=move |_| viewport.update(|v| v.rotated = !v.rotated)>"⟲"</button>
                <span class="muted small" data-testid="preview-size">{size_label}</span>
            </div>
            <div class="preview-frame-wrap" node_ref=wrap
                class:device-mode=move || viewport.get().size().is_some()>
                <Show when=has_app fallback=|| view! {
                    <p class="muted pad-s preview-empty" data-testid="preview-empty">"The preview appears here once the app is generated."</p>
                }>
                    // `/preview/<id>/` redirects to the project's own preview
                    // host (another origin, which never gets minicode's
                    // cookie). The sandbox keeps what an app needs (scripts,
                    // its own origin's storage, forms, dialogs, new tabs) and
                    // withholds the rest (top navigation, downloads without a
                    // click, pointer lock…).
                    <div class="device-box" style=box_style>
                        <iframe node_ref=frame src=src.clone() title="App preview" data-testid="preview-frame"
                            style=frame_style
                            sandbox="allow-scripts allow-same-origin allow-forms allow-modals allow-popups"></iframe>
                    </div>
                </Show>
            </div>
            <LogConsole errors=errors/>
        </section>
    }
    .into_any()
}

/// An error the app's page reported: one row per message and place, with
/// how often it came. Everything in it is the app's text: shown as text,
/// never as markup.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
pub struct RuntimeError {
    /// `error`, `rejection`, `console` or `vite`.
    pub kind: String,
    pub message: String,
    #[serde(default)]
    pub stack: String,
    /// `src/App.tsx:12:5`, when the stack names one of the app's files.
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub count: u32,
}

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

    fn key(&self) -> String {
        format!("{}|{}|{}", self.kind, self.message, self.source)
    }

    /// What "Fix this error" sends to the chat agent.
    fn prompt(&self) -> String {
        let mut text = format!(
            "Fix this error the app shows in the browser:\n{}",
            self.message
        );
        if !self.source.is_empty() {
            text.push_str(&format!("\nat {}", self.source));
        }
        if !self.stack.is_empty() {
            text.push_str(&format!("\n\nStack:\n{}", self.stack));
        }
        text
    }

    /// Adds `new` to `list`: a repeat updates its row's count.
    pub fn add(list: &mut Vec<RuntimeError>, new: RuntimeError) {
        let key = new.key();
        if let Some(row) = list.iter_mut().find(|r| r.key() == key) {
            row.count = row.count.max(new.count).max(row.count + 1);
            return;
        }
        list.push(new);
        if list.len() > MAX_RUNTIME_ERRORS {
            list.remove(0);
        }
    }
}

/// The window's `message` listener: one for the page's whole life, handing
/// each report to the preview on screen if it comes from that preview's
/// frame (any other window's messages are ignored).
mod runtime {
    use leptos::prelude::*;

    use super::RuntimeError;

    #[cfg(feature = "hydrate")]
    type Current = (NodeRef<leptos::html::Iframe>, RwSignal<Vec<RuntimeError>>);

    #[cfg(feature = "hydrate")]
    thread_local! {
        static CURRENT: std::cell::RefCell<Option<Current>> = const { std::cell::RefCell::new(None) };
        static LISTENING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }

    pub fn listen(frame: NodeRef<leptos::html::Iframe>, errors: RwSignal<Vec<RuntimeError>>) {
        #[cfg(feature = "hydrate")]
        {
            use wasm_bindgen::JsCast;
            use wasm_bindgen::prelude::Closure;
            CURRENT.with(|c| *c.borrow_mut() = Some((frame, errors)));
            if LISTENING.with(|l| l.replace(true)) {
                return;
            }
            let on_message =
                Closure::<dyn Fn(web_sys::MessageEvent)>::new(|event: web_sys::MessageEvent| {
                    let Some((frame, errors)) = CURRENT.with(|c| *c.borrow()) else {
                        return;
                    };
                    let from_frame = frame
                        .try_get_untracked()
                        .flatten()
                        .and_then(|iframe| iframe.content_window())
                        .zip(event.source())
                        .is_some_and(|(window, source)| js_sys::Object::is(&window, &source));
                    if !from_frame {
                        return;
                    }
                    if let Some(error) = event
                        .data()
                        .as_string()
                        .as_deref()
                        .and_then(RuntimeError::parse)
                    {
                        errors.try_update(|list| RuntimeError::add(list, error));
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
        let _ = (frame, errors);
    }
}

/// The project's remembered viewport (browser only).
fn stored_viewport(project: uuid::Uuid) -> Option<Viewport> {
    #[cfg(feature = "hydrate")]
    {
        let storage = web_sys::window()?.local_storage().ok()??;
        let text = storage
            .get_item(&super::device::storage_key(project))
            .ok()??;
        Some(Viewport::from_stored(&text))
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = project;
        None
    }
}

fn store_viewport(project: uuid::Uuid, viewport: Viewport) {
    #[cfg(feature = "hydrate")]
    if let Some(Ok(Some(storage))) = web_sys::window().map(|w| w.local_storage()) {
        let _ = storage.set_item(&super::device::storage_key(project), &viewport.to_stored());
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (project, viewport);
}

/// Keeps `room` at `el`'s inner size while it lives (a `ResizeObserver`:
/// the pane changes size with the window and with the splitters).
fn observe_size(el: leptos::web_sys::HtmlDivElement, room: RwSignal<(f64, f64)>) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        use wasm_bindgen::prelude::Closure;
        let target = el.clone();
        let measure = move || {
            room.set((
                f64::from(target.client_width()),
                f64::from(target.client_height()),
            ));
        };
        measure();
        let callback = Closure::<dyn Fn()>::new(measure);
        if let Ok(observer) = web_sys::ResizeObserver::new(callback.as_ref().unchecked_ref()) {
            observer.observe(&el);
        }
        // The observer and its callback live as long as the element: the
        // page's, so this is one small closure per visit.
        callback.forget();
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (el, room);
}

fn web_origin() -> Option<String> {
    #[cfg(feature = "hydrate")]
    {
        web_sys::window()?.location().origin().ok()
    }
    #[cfg(not(feature = "hydrate"))]
    None
}

/// The sandbox log, following the tail unless paused.
#[component]
fn LogConsole(errors: RwSignal<Vec<RuntimeError>>) -> impl IntoView {
    let ws = expect_context::<Workspace>();
    let paused = RwSignal::new(false);
    let list: NodeRef<leptos::html::Div> = NodeRef::new();
    Effect::new(move |_| {
        ws.logs.track();
        if !paused.get()
            && let Some(el) = list.get()
        {
            el.set_scroll_top(el.scroll_height());
        }
    });
    view! {
        <section class="console" aria-label="Sandbox log">
            <div class="pane-title">
                <span>"Console"</span>
                <span class="muted small">{move || format!("{} lines", ws.logs.with(|l| l.len()))}</span>
                <button type="button" class="button ghost small" data-testid="log-pause"
                    aria-pressed=move || paused.get().to_string()
                    on:click=move |_| paused.update(|p| *p = !*p)>
                    {move || if paused.get() { "Follow" } else { "Pause" }}
                </button>
            </div>
            <Show when=move || errors.with(|e| !e.is_empty())>
                <ul class="app-errors" aria-label="The app's errors" data-testid="app-errors">
                    <For
                        each=move || errors.get()
                        key=|e| (e.key(), e.count)
                        children=move |e| {
                            let key = e.key();
                            let prompt = e.prompt();
                            view! {
                                <li class="app-error" data-testid="app-error" data-kind=e.kind.clone()>
                                    <span class="app-error-text">
                                        <strong>{e.message.clone()}</strong>
                                        {(!e.source.is_empty()).then(|| view! {
                                            " " <code data-testid="app-error-source">{e.source.clone()}</code>
                                        })}
                                        {(e.count > 1).then(|| view! {
                                            " " <span class="muted small" data-testid="app-error-count">{format!("×{}", e.count)}</span>
                                        })}
                                    </span>
                                    <button type="button" class="button small" data-testid="app-error-fix"
                                        disabled=move || ws.busy()
                                        on:click=move |_| ws.send_message(prompt.clone())>"Fix this error"</button>
                                    <button type="button" class="button ghost small" aria-label="Dismiss"
                                        data-testid="app-error-dismiss"
                                        on:click=move |_| errors.update(|all| all.retain(|x| x.key() != key))>"×"</button>
                                </li>
                            }
                        }
                    />
                </ul>
            </Show>
            <div class="log-lines" node_ref=list data-testid="sandbox-log" role="log">
                <For
                    each=move || ws.logs.get()
                    key=|l| l.key
                    children=|l| {
                        let class = log_class(l.stream, &l.text);
                        view! { <div class=class>{l.text}</div> }
                    }
                />
            </div>
        </section>
    }
    .into_any()
}

/// The CSS class of a console line. Tools write warnings to stderr too
/// (`npm warn deprecated …`): those are yellow, not red like failures.
fn log_class(stream: LogStream, text: &str) -> &'static str {
    match stream {
        LogStream::Stdout => "log stdout",
        LogStream::System => "log system",
        LogStream::Stderr if is_warning(text) => "log warn",
        LogStream::Stderr => "log stderr",
    }
}

fn is_warning(text: &str) -> bool {
    let lower = text.trim_start().to_ascii_lowercase();
    ["npm warn", "warn ", "warning", "(!) ", "[warn]"]
        .iter()
        .any(|p| lower.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }

    #[test]
    fn npm_warnings_are_not_failures() {
        assert_eq!(
            log_class(
                LogStream::Stderr,
                "npm warn deprecated inflight@1.0.6: leaks"
            ),
            "log warn"
        );
        assert_eq!(
            log_class(LogStream::Stderr, "npm WARN config production"),
            "log warn"
        );
        assert_eq!(
            log_class(LogStream::Stderr, "npm error code ERESOLVE"),
            "log stderr"
        );
        assert_eq!(
            log_class(LogStream::Stderr, "Error: Cannot find module 'x'"),
            "log stderr"
        );
        assert_eq!(
            log_class(LogStream::Stdout, "warning: stdout stays plain"),
            "log stdout"
        );
    }
}
