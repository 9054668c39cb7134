//! The right pane: the running app in an iframe and the sandbox's log.

use leptos::prelude::*;
use minicode::protocol::LogStream;

use super::app_errors::{AppErrors, AutoFixSwitch, BridgeSinks, RuntimeError, listen};
use super::device::{CUSTOM_MAX, CUSTOM_MIN, Device, Viewport, clamp_custom};
use super::pick::{Picked, PickedPanel};
use super::web_origin;
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
    // Select mode, and the element it picked.
    let selecting = RwSignal::new(false);
    let picked = RwSignal::new(None::<Picked>);
    Effect::new(move |_| {
        listen(BridgeSinks {
            frame,
            errors,
            picked,
            selecting,
        })
    });
    // The page in the frame hears whether to select (again after a reload).
    let tell_frame = move || post_to_frame(frame, selecting.get_untracked());
    Effect::new(move |_| {
        selecting.track();
        tell_frame();
    });
    // A production build that failed joins the app's errors: the same
    // "Fix this error", the same automatic fixing.
    Effect::new(move |_| {
        if let Some(failure) = ws.build_failure.get() {
            errors.update(|list| RuntimeError::add(list, RuntimeError::from_build(&failure)));
        }
    });
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
                <button type="button" class="button ghost small" data-testid="preview-select"
                    title="Pick an element of the app (Escape to stop)"
                    aria-pressed=move || selecting.get().to_string()
                    disabled=move || !has_app()
                    on:click=move |_| selecting.update(|s| *s = !*s)>"Select"</button>
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
                            style=frame_style on:load=move |_| tell_frame()
                            sandbox="allow-scripts allow-same-origin allow-forms allow-modals allow-popups"></iframe>
                    </div>
                </Show>
            </div>
            <PickedPanel picked=picked/>
            <LogConsole errors=errors/>
        </section>
    }
    .into_any()
}

/// Tells the page in the frame to start or stop Select mode (its bridge
/// listens to its parent only).
fn post_to_frame(frame: NodeRef<leptos::html::Iframe>, selecting: bool) {
    #[cfg(feature = "hydrate")]
    if let Some(window) = frame
        .try_get_untracked()
        .flatten()
        .and_then(|iframe| iframe.content_window())
    {
        let message = serde_json::json!({"type": "minicode:select", "on": selecting}).to_string();
        let _ = window.post_message(&message.into(), "*");
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (frame, selecting);
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

/// The sandbox log, following the tail unless paused.
#[component]
fn LogConsole(errors: RwSignal<Vec<RuntimeError>>) -> impl IntoView {
    let ws = expect_context::<Workspace>();
    let paused = RwSignal::new(false);
    let auto = RwSignal::new(false);
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
                <AutoFixSwitch auto=auto/>
                <button type="button" class="button ghost small" data-testid="log-pause"
                    aria-pressed=move || paused.get().to_string()
                    on:click=move |_| paused.update(|p| *p = !*p)>
                    {move || if paused.get() { "Follow" } else { "Pause" }}
                </button>
            </div>
            <AppErrors errors=errors auto=auto/>
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
