//! The centre pane's editor: Monaco showing the open file, with save (Ctrl+S
//! and a debounced autosave) and the keep-mine / take-theirs choice when the
//! agent (or another tab, or an API client) changes a file the user is editing.

use std::time::Duration;

use leptos::prelude::*;

use super::editor;
use super::workspace::Workspace;

/// Quiet time after the last keystroke before autosave.
const AUTOSAVE_AFTER: Duration = Duration::from_millis(1500);

#[component]
pub fn EditorPane() -> impl IntoView {
    let ws = expect_context::<Workspace>();
    let host: NodeRef<leptos::html::Div> = NodeRef::new();
    let load_error = RwSignal::new(None::<String>);

    // Monaco loads once the host exists (in the browser only).
    Effect::new(move |_| {
        let Some(el) = host.get() else { return };
        #[cfg(feature = "hydrate")]
        {
            use wasm_bindgen::JsCast;
            let el: web_sys::HtmlElement = el.unchecked_into();
            leptos::task::spawn_local(async move {
                let created = editor::create(el, move || ws.edited(), move || ws.save()).await;
                match created {
                    Ok(()) => {
                        ws.editor_ready.set(true);
                        if let Some(path) = ws.selected.get_untracked() {
                            editor::show(&path);
                            editor::set_value(&ws.content(&path).unwrap_or_default());
                        }
                        ws.sync_editor();
                    }
                    Err(e) => load_error.set(Some(e)),
                }
            });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = el;
    });
    on_cleanup(editor::dispose);

    // Debounced autosave: fires when no edit happened for a while.
    Effect::new(move |_| {
        let edits = ws.edits.get();
        if edits == 0 {
            return;
        }
        set_timeout(
            move || {
                if ws.edits.get_untracked() == edits
                    && ws.dirty.get_untracked()
                    && ws.conflict.get_untracked().is_none()
                {
                    ws.save();
                }
            },
            AUTOSAVE_AFTER,
        );
    });

    // A file the agent is still writing is read-only until it is complete.
    let streaming = Memo::new(move |_| {
        ws.selected.with(|s| {
            s.as_ref()
                .is_some_and(|p| ws.files.with(|f| f.get(p).is_some_and(|m| m.streaming)))
        })
    });
    Effect::new(move |_| {
        if ws.editor_ready.get() {
            editor::set_read_only(streaming.get());
        }
    });

    let status = move || {
        if streaming.get() {
            "Being written…"
        } else if ws.saving.get() {
            "Saving…"
        } else if ws.dirty.get() {
            "Unsaved"
        } else if ws.selected.with(Option::is_some) {
            "Saved"
        } else {
            ""
        }
    };

    view! {
        <section class="editor-pane" aria-label="Editor"
            on:keydown=move |e| {
                if e.key().eq_ignore_ascii_case("s") && (e.ctrl_key() || e.meta_key()) {
                    e.prevent_default();
                    ws.save();
                }
            }>
            <div class="pane-title editor-title">
                <code data-testid="open-file">{move || ws.selected.get().unwrap_or_else(|| "No file open".into())}</code>
                <span class="muted small" data-testid="save-state">{status}</span>
                <button type="button" class="button small" data-testid="save"
                    disabled=move || !ws.dirty.get() || ws.saving.get()
                    on:click=move |_| ws.save()>"Save"</button>
            </div>
            {move || ws.save_error.get().map(|e| view! { <p class="form-error small" role="alert">"Not saved: " {e}</p> })}
            {move || ws.conflict.get().map(|c| view! {
                <div class="conflict" role="alert" data-testid="conflict">
                    <span><code>{c.path}</code> " was changed (by the agent, another tab or an API client) while you were editing it."</span>
                    <button type="button" class="button small" data-testid="keep-mine"
                        on:click=move |_| ws.resolve(true)>"Keep mine"</button>
                    <button type="button" class="button small primary" data-testid="take-theirs"
                        on:click=move |_| ws.resolve(false)>"Take theirs"</button>
                </div>
            })}
            {move || load_error.get().map(|e| view! { <p class="form-error small" role="alert">{e}</p> })}
            <Show when=move || !ws.editor_ready.get() && load_error.get().is_none()>
                <p class="muted small pad-s">"Loading the editor…"</p>
            </Show>
            <div class="monaco-host" node_ref=host data-testid="editor"
                data-path=move || ws.selected.get().unwrap_or_default()
                data-ready=move || ws.editor_ready.get().to_string()></div>
        </section>
    }
    .into_any()
}
