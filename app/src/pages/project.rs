//! `/project/:id`: the workspace — conversation, files and editor, preview —
//! in three resizable panes, live over the project's WebSocket.

use leptos::either::Either;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Redirect;
use leptos_router::hooks::use_params_map;
use minicode::Project;
use uuid::Uuid;

use crate::api::{current_user, get_project};
use crate::components::chat::ChatPane;
use crate::components::checkpoints::CheckpointsPanel;
use crate::components::code_editor::EditorPane;
use crate::components::file_tree::FileTree;
use crate::components::preview::PreviewPane;
use crate::components::project_settings::{ModelPicker, SettingsPanel};
use crate::components::publish::PublishPanel;
use crate::components::workspace::Workspace;
use crate::components::{TopBar, ws};
use crate::pages::NotFound;

#[component]
pub fn ProjectPage() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| {
        params
            .read()
            .get("id")
            .and_then(|s| Uuid::parse_str(&s).ok())
    });
    let user = Resource::new(|| (), |_| current_user());
    let project = Resource::new(
        move || id.get(),
        |id| async move {
            match id {
                Some(id) => get_project(id).await.map(Some),
                None => Ok(None),
            }
        },
    );

    view! {
        <Suspense fallback=|| view! { <p class="muted pad">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let user = match user.await {
                    Ok(Some(user)) => user,
                    _ => return Either::Left(view! { <Redirect path="/"/> }.into_any()),
                };
                match project.await {
                    Ok(Some(project)) => Either::Right(view! {
                        <TopBar user/>
                        <WorkspaceView project/>
                    }.into_any()),
                    _ => Either::Left(view! { <TopBar user/><NotFound/> }.into_any()),
                }
            })}
        </Suspense>
    }
}

/// Which tab the left pane shows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum LeftTab {
    Chat,
    Checkpoints,
    Publish,
    Settings,
}

/// Side panes are sized in percent of the workspace and the centre takes the
/// rest; none may shrink below these, so 1024 px still fits all three.
const MIN_SIDE_PX: f64 = 240.0;
const MIN_CENTRE_PX: f64 = 320.0;

#[component]
fn WorkspaceView(project: Project) -> impl IntoView {
    let ws = Workspace::new(project.id, project.model.clone());
    provide_context(ws);
    let project = RwSignal::new(project);
    // The picker changes the project; the prompt box reads the workspace's copy.
    Effect::new(move |_| {
        let model = project.with(|p| p.model.clone());
        if ws.project_model.with_untracked(|m| *m != model) {
            ws.project_model.set(model);
        }
    });
    let tab = RwSignal::new(LeftTab::Chat);
    // "Ask in chat" shows the chat.
    Effect::new(move |_| {
        if ws.chat_draft.with(|(n, _)| *n > 0) {
            tab.set(LeftTab::Chat);
        }
    });
    let left = RwSignal::new(28.0_f64);
    let right = RwSignal::new(34.0_f64);
    let panes: NodeRef<leptos::html::Div> = NodeRef::new();

    // In the browser: the chat history first (the log lacks user messages),
    // then the socket, whose replay rebuilds the rest.
    let owner = Owner::current();
    Effect::new(move |_| {
        let owner = owner.clone();
        leptos::task::spawn_local(ws.load_models());
        leptos::task::spawn_local(async move {
            ws.load_history().await;
            ws.connect(owner);
        });
    });
    on_cleanup(ws::disconnect);

    // Pane sizes are this browser's preference: restored on load as they
    // were (the grid's minimums still hold in a narrower window, and the next
    // drag clamps again), and stored when a drag ends or a key moves a
    // splitter, not on every pointer move.
    Effect::new(move |_| {
        if let Some((l, r)) = stored_panes() {
            left.set(l);
            right.set(r);
        }
    });
    let store = Callback::new(move |()| store_panes(left.get_untracked(), right.get_untracked()));

    let columns = move || {
        format!(
            "grid-template-columns: minmax({MIN_SIDE_PX}px, {:.2}%) 6px minmax({MIN_CENTRE_PX}px, 1fr) 6px minmax({MIN_SIDE_PX}px, {:.2}%)",
            left.get(),
            right.get()
        )
    };

    let tab_button = move |which: LeftTab, label: &'static str, testid: &'static str| {
        view! {
            <button type="button" role="tab" class:active=move || tab.get() == which
                aria-selected=move || (tab.get() == which).to_string()
                data-testid=testid on:click=move |_| tab.set(which)>{label}</button>
        }
    };

    view! {
        <Title text=move || project.with(|p| p.name.clone())/>
        <div class="workspace" data-testid="workspace" data-project-id=project.with_untracked(|p| p.id.to_string())>
            <header class="ws-header">
                <nav class="crumbs"><a href="/dashboard">"Projects"</a>" / "</nav>
                <h1 data-testid="project-title">{move || project.with(|p| p.name.clone())}</h1>
                <span class=move || format!("conn-pill {}", ws.conn.with(|c| c.key()))
                    data-testid="conn-status" data-state=move || ws.conn.with(|c| c.key())
                    role="status">{move || ws.conn.with(|c| c.label())}</span>
                <span class="grow"></span>
                <ModelPicker project/>
            </header>
            <div class="panes" node_ref=panes style=columns>
                <aside class="pane pane-left">
                    <div class="tabs" role="tablist" aria-label="Left pane">
                        {tab_button(LeftTab::Chat, "Chat", "tab-chat")}
                        {tab_button(LeftTab::Checkpoints, "Checkpoints", "tab-checkpoints")}
                        {tab_button(LeftTab::Publish, "Publish", "tab-publish")}
                        {tab_button(LeftTab::Settings, "Settings", "tab-settings")}
                    </div>
                    <div class="tab-body" class:hidden=move || tab.get() != LeftTab::Chat><ChatPane/></div>
                    <div class="tab-body scroll" class:hidden=move || tab.get() != LeftTab::Checkpoints>
                        <Show when=move || tab.get() == LeftTab::Checkpoints><CheckpointsPanel/></Show>
                    </div>
                    <div class="tab-body scroll" class:hidden=move || tab.get() != LeftTab::Publish>
                        <Show when=move || tab.get() == LeftTab::Publish><PublishPanel/></Show>
                    </div>
                    <div class="tab-body scroll" class:hidden=move || tab.get() != LeftTab::Settings>
                        <SettingsPanel project/>
                    </div>
                </aside>
                <Splitter panes side=Side::Left width=left other=right on_change_done=store/>
                <section class="pane pane-centre">
                    <FileTree/>
                    <EditorPane/>
                </section>
                <Splitter panes side=Side::Right width=right other=left on_change_done=store/>
                <aside class="pane pane-right">
                    <PreviewPane/>
                </aside>
            </div>
        </div>
    }
    // Erased: the workspace's view types are otherwise too deep for release builds.
    .into_any()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Left,
    Right,
}

/// Where the pane sizes are kept (`"<left %>,<right %>"`).
#[cfg(feature = "hydrate")]
const PANES_KEY: &str = "minicode.panes";

#[cfg(feature = "hydrate")]
fn local_storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

/// The stored pane sizes, if there are any and they make sense.
#[cfg(feature = "hydrate")]
fn stored_panes() -> Option<(f64, f64)> {
    let raw = local_storage()?.get_item(PANES_KEY).ok()??;
    let (l, r) = raw.split_once(',')?;
    let (l, r) = (l.parse::<f64>().ok()?, r.parse::<f64>().ok()?);
    (l.is_finite() && r.is_finite() && l > 0.0 && r > 0.0 && l + r < 95.0).then_some((l, r))
}

#[cfg(feature = "hydrate")]
fn store_panes(left: f64, right: f64) {
    if let Some(storage) = local_storage() {
        let _ = storage.set_item(PANES_KEY, &format!("{left:.2},{right:.2}"));
    }
}

// The server renders the defaults; effects only run in the browser.
#[cfg(not(feature = "hydrate"))]
fn stored_panes() -> Option<(f64, f64)> {
    None
}

#[cfg(not(feature = "hydrate"))]
fn store_panes(_left: f64, _right: f64) {}

/// Most a side pane may take, in percent, leaving the others their minimum.
fn clamp_width(percent: f64, other: f64, total_px: f64) -> f64 {
    if total_px <= 0.0 {
        return percent;
    }
    let min = MIN_SIDE_PX / total_px * 100.0;
    let max = 100.0 - other - MIN_CENTRE_PX / total_px * 100.0;
    percent.min(max).max(min)
}

/// A drag handle between two panes (pointer or arrow keys).
#[component]
fn Splitter(
    panes: NodeRef<leptos::html::Div>,
    side: Side,
    width: RwSignal<f64>,
    /// The other side pane's width: the centre keeps its minimum between them.
    other: RwSignal<f64>,
    /// Called once a drag or a key press has settled the new width.
    on_change_done: Callback<()>,
) -> impl IntoView {
    // (pointer x at the start, width at the start, workspace width in px)
    let drag = RwSignal::new(None::<(f64, f64, f64)>);
    let end_drag = move || {
        if drag.get_untracked().is_some() {
            drag.set(None);
            on_change_done.run(());
        }
    };
    let total = move || {
        panes
            .get_untracked()
            .map(|el| f64::from(el.client_width()))
            .unwrap_or(0.0)
    };
    let set_width = move |percent: f64, total_px: f64| {
        width.set(clamp_width(percent, other.get_untracked(), total_px));
    };
    let label = match side {
        Side::Left => "Resize the conversation pane",
        Side::Right => "Resize the preview pane",
    };
    view! {
        <div class="splitter" role="separator" aria-orientation="vertical" aria-label=label tabindex="0"
            aria-valuenow=move || format!("{:.0}", width.get())
            data-testid=match side { Side::Left => "splitter-left", Side::Right => "splitter-right" }
            class:dragging=move || drag.get().is_some()
            on:pointerdown=move |e| {
                e.prevent_default();
                #[cfg(feature = "hydrate")]
                {
                    use wasm_bindgen::JsCast;
                    if let Some(target) = e.target().and_then(|t| t.dyn_into::<web_sys::Element>().ok()) {
                        let _ = target.set_pointer_capture(e.pointer_id());
                    }
                }
                drag.set(Some((f64::from(e.client_x()), width.get_untracked(), total())));
            }
            on:pointermove=move |e| {
                if let Some((x0, w0, total_px)) = drag.get_untracked() && total_px > 0.0 {
                    let dx = (f64::from(e.client_x()) - x0) / total_px * 100.0;
                    let w = match side { Side::Left => w0 + dx, Side::Right => w0 - dx };
                    set_width(w, total_px);
                }
            }
            on:pointerup=move |_| end_drag()
            on:pointercancel=move |_| end_drag()
            on:keydown=move |e| {
                let step = match (e.key().as_str(), side) {
                    ("ArrowLeft", Side::Left) | ("ArrowRight", Side::Right) => -2.0,
                    ("ArrowRight", Side::Left) | ("ArrowLeft", Side::Right) => 2.0,
                    _ => return,
                };
                e.prevent_default();
                set_width(width.get_untracked() + step, total());
                on_change_done.run(());
            }>
        </div>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::clamp_width;

    #[test]
    fn panes_keep_their_minimum() {
        // 1024 px: a side pane cannot squeeze the centre below its minimum.
        let w = clamp_width(80.0, 24.0, 1024.0);
        assert!(w <= 100.0 - 24.0 - 320.0 / 1024.0 * 100.0 + 1e-9);
        assert!(clamp_width(1.0, 24.0, 1024.0) >= 240.0 / 1024.0 * 100.0 - 1e-9);
    }
}
