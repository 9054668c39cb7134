//! The project's files as a folder tree, with drag-and-drop upload.

use std::collections::{BTreeMap, HashSet};

use leptos::prelude::*;

use super::workspace::{FileMeta, Workspace};

/// A folder of the tree built from flat paths.
#[derive(Debug, Default, PartialEq)]
pub struct Folder {
    pub folders: BTreeMap<String, Folder>,
    /// (name, full path)
    pub files: Vec<(String, String)>,
}

/// Flat workspace paths → nested folders (names sorted, folders first when rendered).
pub fn build_tree<'a>(paths: impl IntoIterator<Item = &'a String>) -> Folder {
    let mut root = Folder::default();
    for path in paths {
        let mut folder = &mut root;
        let mut parts: Vec<&str> = path.split('/').collect();
        let name = parts.pop().unwrap_or_default();
        for part in parts {
            folder = folder.folders.entry(part.to_string()).or_default();
        }
        folder.files.push((name.to_string(), path.clone()));
    }
    root
}

fn render_folder(
    ws: Workspace,
    folder: &Folder,
    prefix: &str,
    files: &BTreeMap<String, FileMeta>,
    collapsed: RwSignal<HashSet<String>>,
) -> AnyView {
    let folders = folder
        .folders
        .iter()
        .map(|(name, sub)| {
            let dir = format!("{prefix}{name}");
            let dir_for_toggle = dir.clone();
            let dir_for_open = dir.clone();
            let is_open = Memo::new(move |_| !collapsed.with(|c| c.contains(&dir_for_open)));
            let children = render_folder(ws, sub, &format!("{dir}/"), files, collapsed);
            view! {
                <li class="tree-folder" role="treeitem" aria-expanded=move || is_open.get().to_string()
                    data-drop-dir=dir.clone()>
                    <button type="button" class="tree-row folder" data-testid="tree-folder" data-path=dir.clone()
                        on:click=move |_| collapsed.update(|c| {
                            if !c.remove(&dir_for_toggle) { c.insert(dir_for_toggle.clone()); }
                        })>
                        <span class="twisty" aria-hidden="true">{move || if is_open.get() { "▾" } else { "▸" }}</span>
                        {name.clone()}
                    </button>
                    <ul role="group" class:hidden=move || !is_open.get()>{children}</ul>
                </li>
            }
        })
        .collect_view();
    let file_rows = folder
        .files
        .iter()
        .map(|(name, path)| {
            let meta = files.get(path).cloned().unwrap_or_default();
            let path_for_click = path.clone();
            let path_for_class = path.clone();
            let selected = Memo::new(move |_| ws.selected.with(|s| s.as_deref() == Some(path_for_class.as_str())));
            let dirty = move || ws.dirty.get() && selected.get();
            view! {
                <li role="treeitem" aria-selected=move || selected.get().to_string()>
                    <button type="button" class="tree-row file" class:selected=move || selected.get()
                        class:streaming=meta.streaming
                        data-testid="tree-file" data-path=path.clone()
                        title=format!("{path} ({} bytes)", meta.size)
                        on:click=move |_| ws.open(path_for_click.clone())>
                        <span class="file-name">{name.clone()}</span>
                        {meta.streaming.then(|| view! { <span class="dot streaming" title="being written" aria-label="being written"></span> })}
                        <Show when=dirty>
                            <span class="dot dirty" title="unsaved changes" aria-label="unsaved changes"></span>
                        </Show>
                    </button>
                </li>
            }
        })
        .collect_view();
    view! { {folders}{file_rows} }.into_any()
}

/// The folder a drag is over: the innermost folder holding the element
/// under the pointer (a folder's row or any of its files), `None` outside
/// every folder.
#[cfg(feature = "hydrate")]
fn folder_under(e: &web_sys::DragEvent) -> Option<String> {
    use wasm_bindgen::JsCast;
    e.target()?
        .dyn_into::<web_sys::Element>()
        .ok()?
        .closest("[data-drop-dir]")
        .ok()??
        .get_attribute("data-drop-dir")
}

/// Uploads dropped or picked files into `dir` (multipart, `dir` then `file` parts).
#[cfg(feature = "hydrate")]
fn upload(ws: Workspace, dir: String, list: web_sys::FileList, error: RwSignal<Option<String>>) {
    let Ok(form) = web_sys::FormData::new() else {
        return;
    };
    let _ = form.append_with_str("dir", &dir);
    let mut count = 0;
    for i in 0..list.length() {
        if let Some(file) = list.get(i) {
            let _ = form.append_with_blob_and_filename("file", &file, &file.name());
            count += 1;
        }
    }
    if count == 0 {
        return;
    }
    leptos::task::spawn_local(async move {
        match crate::client::upload(ws.project, form).await {
            Ok(_) => error.set(None),
            Err(e) => error.set(Some(e.error)),
        }
    });
}

#[component]
pub fn FileTree() -> impl IntoView {
    let ws = expect_context::<Workspace>();
    let collapsed = RwSignal::new(HashSet::<String>::new());
    // The folder under the pointer while dragging (followed on every
    // `dragover`, so it is never a folder the pointer has left); uploads land
    // in `public/` outside every folder.
    let drop_dir = RwSignal::new(None::<String>);
    let dragging = RwSignal::new(false);
    let upload_error = RwSignal::new(None::<String>);
    let picker: NodeRef<leptos::html::Input> = NodeRef::new();

    view! {
        <nav class=move || if dragging.get() { "file-tree drag-over" } else { "file-tree" }
            aria-label="Files" data-testid="file-tree"
            on:dragover=move |e| {
                e.prevent_default();
                dragging.set(true);
                #[cfg(feature = "hydrate")]
                {
                    let dir = folder_under(&e);
                    if drop_dir.get_untracked() != dir {
                        drop_dir.set(dir);
                    }
                }
            }
            on:dragleave=move |_| dragging.set(false)
            on:drop=move |e| {
                e.prevent_default();
                dragging.set(false);
                drop_dir.set(None);
                #[cfg(feature = "hydrate")]
                if let Some(list) = e.data_transfer().and_then(|d| d.files()) {
                    let dir = folder_under(&e).unwrap_or_else(|| "public".into());
                    upload(ws, dir, list, upload_error);
                }
            }>
            <div class="pane-title">
                <span>"Files"</span>
                <span class="muted small" data-testid="file-count">{move || ws.files.with(|f| f.len())}</span>
                <label class="button ghost small upload-button" title="Upload files (or drop them on the tree)">
                    "Upload"
                    <input type="file" multiple class="sr-only" node_ref=picker data-testid="upload-input"
                        on:change=move |_| {
                            // New files land next to the open file, else in `public/`.
                            #[cfg(feature = "hydrate")]
                            if let Some(input) = picker.get()
                                && let Some(list) = input.files()
                            {
                                let dir = ws
                                    .selected
                                    .get_untracked()
                                    .and_then(|p| p.rsplit_once('/').map(|(d, _)| d.to_string()))
                                    .unwrap_or_else(|| "public".into());
                                upload(ws, dir, list, upload_error);
                                input.set_value("");
                            }
                        }/>
                </label>
            </div>
            {move || upload_error.get().map(|e| view! { <p class="form-error small" role="alert">"Not uploaded: " {e}</p> })}
            <Show when=move || ws.files.with(|f| f.is_empty())>
                <p class="muted small pad-s">"No files yet: they appear here as the agent writes them. Drop files here to upload them."</p>
            </Show>
            <ul class="tree" role="tree">
                {move || ws.files.with(|files| {
                    let tree = build_tree(files.keys());
                    render_folder(ws, &tree, "", files, collapsed)
                })}
            </ul>
            <Show when=move || dragging.get()>
                <p class="drop-hint">{move || format!("Drop to upload into {}/", drop_dir.get().unwrap_or_else(|| "public".into()))}</p>
            </Show>
        </nav>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_nests_paths() {
        let paths: Vec<String> = ["index.html", "src/App.tsx", "src/components/Nav.tsx"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let tree = build_tree(&paths);
        assert_eq!(tree.files, vec![("index.html".into(), "index.html".into())]);
        let src = &tree.folders["src"];
        assert_eq!(src.files[0].1, "src/App.tsx");
        assert_eq!(
            src.folders["components"].files[0].1,
            "src/components/Nav.tsx"
        );
    }
}
