//! The right pane: the running app in an iframe and the sandbox's log.

use leptos::prelude::*;
use minicode::protocol::LogStream;

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
            <div class="preview-frame-wrap">
                <Show when=has_app fallback=|| view! {
                    <p class="muted pad-s preview-empty" data-testid="preview-empty">"The preview appears here once the app is generated."</p>
                }>
                    // `/preview/<id>/` redirects to the project's own preview
                    // host (another origin, which never gets minicode's
                    // cookie). The sandbox keeps what an app needs (scripts,
                    // its own origin's storage, forms, dialogs, new tabs) and
                    // withholds the rest (top navigation, downloads without a
                    // click, pointer lock…).
                    <iframe node_ref=frame src=src.clone() title="App preview" data-testid="preview-frame"
                        sandbox="allow-scripts allow-same-origin allow-forms allow-modals allow-popups"></iframe>
                </Show>
            </div>
            <LogConsole/>
        </section>
    }
    .into_any()
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
fn LogConsole() -> impl IntoView {
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
