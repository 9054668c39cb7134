//! Images attached to a build prompt or a chat message: screenshots and
//! mock-ups chosen with "Add image", pasted into the prompt or dropped on its
//! form. Each is checked here before anything is uploaded (its type read from
//! its first bytes, its size, how many there are), so a refusal is a sentence
//! next to the prompt and the typed text stays. In the workspace an image is
//! uploaded as soon as it is chosen; on the dashboard the project does not
//! exist yet, so the files wait for [`Attachments::upload_all`].

use leptos::prelude::*;
use minicode::{
    ApiError, IMAGE_TYPES, ImageRef, MAX_IMAGE_BYTES, MAX_IMAGES_PER_MESSAGE, ModelInfo,
};
use uuid::Uuid;

/// Where an attached image is on its way to the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// Kept in the browser until the project exists (the dashboard).
    #[cfg_attr(
        not(feature = "hydrate"),
        expect(dead_code, reason = "files are chosen in the browser")
    )]
    Waiting,
    Uploading,
    /// Stored: its id goes with the message.
    Ready(ImageRef),
    /// The server's sentence.
    Failed(String),
}

impl Status {
    /// For `data-state` and the styles.
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Waiting => "waiting",
            Status::Uploading => "uploading",
            Status::Ready(_) => "ready",
            Status::Failed(_) => "failed",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment {
    pub key: u64,
    pub name: String,
    /// The thumbnail's source: an object URL of the file in this page.
    pub url: String,
    pub status: Status,
}

/// The media type of an image from its first bytes (12 are enough), if it
/// is one the server takes: a file's name or its stated type can lie.
#[cfg_attr(
    all(not(feature = "hydrate"), not(test)),
    expect(dead_code, reason = "files are checked in the browser")
)]
pub fn sniff(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if head.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("image/jpeg")
    } else if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

/// Megabytes as people read them ("6.3 MB"); the limit is 5 MiB, shown as "5 MB".
fn megabytes(bytes: f64) -> String {
    let mb = bytes / (1024.0 * 1024.0);
    if mb.fract() == 0.0 {
        format!("{mb:.0} MB")
    } else {
        format!("{mb:.1} MB")
    }
}

/// Whether the file `name` (`size` bytes, `media_type` as sniffed) may join
/// `attached` images: its media type, or the sentence that says why not.
#[cfg_attr(
    all(not(feature = "hydrate"), not(test)),
    expect(dead_code, reason = "files are checked in the browser")
)]
pub fn check(
    name: &str,
    attached: usize,
    size: f64,
    media_type: Option<&'static str>,
) -> Result<&'static str, String> {
    if attached >= MAX_IMAGES_PER_MESSAGE {
        return Err(format!(
            "A message can carry at most {MAX_IMAGES_PER_MESSAGE} images; \u{201c}{name}\u{201d} was not added."
        ));
    }
    let media_type = media_type
        .filter(|t| IMAGE_TYPES.contains(t))
        .ok_or_else(|| format!("\u{201c}{name}\u{201d} is not a PNG, JPEG or WebP image."))?;
    if size > MAX_IMAGE_BYTES as f64 {
        return Err(format!(
            "\u{201c}{name}\u{201d} is {}; an image can be at most {}.",
            megabytes(size),
            megabytes(MAX_IMAGE_BYTES as f64)
        ));
    }
    Ok(media_type)
}

/// Why images cannot go to the model `chosen` (`None`: the server's
/// default), if they cannot. A model the list does not know is taken as
/// text-only: better said now than refused after sending.
pub fn model_refusal(models: &[ModelInfo], chosen: Option<&str>) -> Option<String> {
    let model = match chosen {
        Some(id) => models.iter().find(|m| m.id == id),
        None => models.iter().find(|m| m.default),
    };
    if model.is_some_and(|m| m.images) {
        return None;
    }
    let label = match (model, chosen) {
        (Some(m), _) => m.label.clone(),
        (None, Some(id)) => id.to_string(),
        (None, None) => "The default model".to_string(),
    };
    Some(format!(
        "{label} does not accept images. Remove them, or choose a model that does in the \
         model menu at the top of the workspace."
    ))
}

/// The images attached to one prompt box, and what the page knows of them.
/// `Copy`: every part is a handle into the page's reactive arena.
#[derive(Clone, Copy)]
pub struct Attachments {
    /// Where images go as soon as they are chosen; `None` keeps them until
    /// [`Attachments::upload_all`].
    project: Option<Uuid>,
    pub items: RwSignal<Vec<Attachment>>,
    /// Why the last files chosen were not all added, one sentence each.
    pub refused: RwSignal<Vec<String>>,
    /// How deep a drag of files is over the form (enter and leave also fire
    /// for its children): above 0 it is highlighted.
    drag: RwSignal<i32>,
    /// The key of the latest attachment.
    #[cfg_attr(
        not(feature = "hydrate"),
        expect(dead_code, reason = "files are chosen in the browser")
    )]
    next: StoredValue<u64>,
    /// The files themselves, which stay in this thread.
    #[cfg(feature = "hydrate")]
    files: StoredValue<std::collections::HashMap<u64, (web_sys::File, &'static str)>, LocalStorage>,
}

impl Attachments {
    pub fn new(project: Option<Uuid>) -> Self {
        let attach = Self {
            project,
            items: RwSignal::new(Vec::new()),
            refused: RwSignal::new(Vec::new()),
            drag: RwSignal::new(0),
            next: StoredValue::new(0),
            #[cfg(feature = "hydrate")]
            files: StoredValue::new_local(Default::default()),
        };
        // The object URLs keep their files alive until revoked.
        on_cleanup(move || {
            if let Some(items) = attach.items.try_get_untracked() {
                items.iter().for_each(|a| revoke(&a.url));
            }
        });
        attach
    }

    pub fn is_empty(&self) -> bool {
        self.items.with(Vec::is_empty)
    }

    /// Sending now would leave an image behind: one is still uploading, or
    /// (in the workspace) failed and is waiting to be removed. On the
    /// dashboard a failed upload is tried again with the next Build.
    pub fn blocked(&self) -> bool {
        self.items.with(|items| {
            items.iter().any(|a| match a.status {
                Status::Uploading => true,
                Status::Failed(_) => self.project.is_some(),
                Status::Waiting | Status::Ready(_) => false,
            })
        })
    }

    /// The stored images, in the order they were attached.
    pub fn ready(&self) -> Vec<ImageRef> {
        self.items.with_untracked(|items| {
            items
                .iter()
                .filter_map(|a| match &a.status {
                    Status::Ready(image) => Some(image.clone()),
                    _ => None,
                })
                .collect()
        })
    }

    pub fn dropping(&self) -> bool {
        self.drag.get() > 0
    }

    pub fn remove(&self, key: u64) {
        self.items.update(|items| {
            if let Some(at) = items.iter().position(|a| a.key == key) {
                revoke(&items.remove(at).url);
            }
        });
        self.forget(key);
        self.refused.set(Vec::new());
    }

    /// Empties the box (after sending).
    pub fn clear(&self) {
        let gone = self.items.try_update(std::mem::take).unwrap_or_default();
        for a in gone {
            revoke(&a.url);
            self.forget(a.key);
        }
        self.refused.set(Vec::new());
    }

    fn set_status(&self, key: u64, status: Status) {
        self.items.try_update(|items| {
            if let Some(a) = items.iter_mut().find(|a| a.key == key) {
                a.status = status;
            }
        });
    }

    fn forget(&self, key: u64) {
        #[cfg(feature = "hydrate")]
        self.files.try_update_value(|files| files.remove(&key));
        #[cfg(not(feature = "hydrate"))]
        let _ = key;
    }

    /// Uploads every image not stored yet to `project` (the dashboard, once
    /// it made the project); all of them stored, or the first refusal.
    pub async fn upload_all(self, project: Uuid) -> Result<Vec<ImageRef>, ApiError> {
        let keys: Vec<u64> = self.items.with_untracked(|items| {
            items
                .iter()
                .filter(|a| !matches!(a.status, Status::Ready(_)))
                .map(|a| a.key)
                .collect()
        });
        for key in keys {
            self.upload(key, project).await?;
        }
        Ok(self.ready())
    }

    /// Uploads one attached file; its status follows.
    async fn upload(self, key: u64, project: Uuid) -> Result<ImageRef, ApiError> {
        self.set_status(key, Status::Uploading);
        let result = self.send(key, project).await;
        self.set_status(
            key,
            match &result {
                Ok(image) => Status::Ready(image.clone()),
                Err(e) => Status::Failed(e.error.clone()),
            },
        );
        result
    }

    #[cfg(feature = "hydrate")]
    async fn send(self, key: u64, project: Uuid) -> Result<ImageRef, ApiError> {
        let file = self
            .files
            .try_with_value(|files| files.get(&key).cloned())
            .flatten();
        let Some((file, media_type)) = file else {
            return Err(ApiError::new(
                minicode::ErrorCode::NotFound,
                "the image was removed",
            ));
        };
        crate::client::upload_image(project, &file, media_type).await
    }

    #[cfg(not(feature = "hydrate"))]
    async fn send(self, key: u64, project: Uuid) -> Result<ImageRef, ApiError> {
        let _ = (key, project);
        Err(ApiError::new(
            minicode::ErrorCode::Internal,
            "images are only uploaded from the browser",
        ))
    }
}

/// Lets the browser free an object URL's file.
fn revoke(url: &str) {
    #[cfg(feature = "hydrate")]
    if !url.is_empty() {
        let _ = web_sys::Url::revoke_object_url(url);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = url;
}

/// Choosing, pasting and dropping: only in the browser.
#[cfg(feature = "hydrate")]
impl Attachments {
    /// Checks each file in turn and attaches those that pass.
    pub fn add(&self, files: Vec<web_sys::File>) {
        if files.is_empty() {
            return;
        }
        self.refused.set(Vec::new());
        let this = *self;
        leptos::task::spawn_local(async move {
            let mut refused = Vec::new();
            for file in files {
                let name = file.name();
                let head = first_bytes(&file).await;
                let Some(attached) = this.items.try_with_untracked(Vec::len) else {
                    return;
                };
                match check(&name, attached, file.size(), sniff(&head)) {
                    Ok(media_type) => this.attach(file, name, media_type),
                    Err(why) => refused.push(why),
                }
            }
            this.refused.try_set(refused);
        });
    }

    fn attach(&self, file: web_sys::File, name: String, media_type: &'static str) {
        let key = self.next.try_update_value(|n| {
            *n += 1;
            *n
        });
        let Some(key) = key else { return };
        let url = web_sys::Url::create_object_url_with_blob(&file).unwrap_or_default();
        self.files.update_value(|files| {
            files.insert(key, (file, media_type));
        });
        let status = match self.project {
            Some(_) => Status::Uploading,
            None => Status::Waiting,
        };
        self.items.update(|items| {
            items.push(Attachment {
                key,
                name,
                url,
                status,
            })
        });
        if let Some(project) = self.project {
            let this = *self;
            leptos::task::spawn_local(async move {
                let _ = this.upload(key, project).await;
            });
        }
    }

    fn add_list(&self, list: Option<web_sys::FileList>) {
        let Some(list) = list else { return };
        self.add((0..list.length()).filter_map(|i| list.get(i)).collect());
    }
}

/// The first bytes of a file, enough to tell its type (empty if unreadable).
#[cfg(feature = "hydrate")]
async fn first_bytes(file: &web_sys::File) -> Vec<u8> {
    let Ok(head) = file.slice_with_i32_and_i32(0, 16) else {
        return Vec::new();
    };
    match wasm_bindgen_futures::JsFuture::from(head.array_buffer()).await {
        Ok(buffer) => js_sys::Uint8Array::new(&buffer).to_vec(),
        Err(_) => Vec::new(),
    }
}

/// Whether a drag carries files (not text or a link from the page).
#[cfg(feature = "hydrate")]
fn carries_files(e: &leptos::ev::DragEvent) -> bool {
    e.data_transfer()
        .is_some_and(|dt| dt.types().includes(&"Files".into(), 0))
}

/// The form's and the prompt's event handlers.
impl Attachments {
    /// A paste into the prompt: images on the clipboard are attached; text
    /// is pasted as usual.
    pub fn on_paste(&self, e: &leptos::ev::ClipboardEvent) {
        #[cfg(feature = "hydrate")]
        self.add_list(e.clipboard_data().and_then(|data| data.files()));
        #[cfg(not(feature = "hydrate"))]
        let _ = e;
    }

    pub fn on_drag_enter(&self, e: &leptos::ev::DragEvent) {
        #[cfg(feature = "hydrate")]
        if carries_files(e) {
            e.prevent_default();
            self.drag.update(|n| *n += 1);
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = e;
    }

    /// Files may be dropped here (the browser would open them otherwise).
    pub fn on_drag_over(&self, e: &leptos::ev::DragEvent) {
        #[cfg(feature = "hydrate")]
        if carries_files(e) {
            e.prevent_default();
            if let Some(dt) = e.data_transfer() {
                dt.set_drop_effect("copy");
            }
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = e;
    }

    pub fn on_drag_leave(&self, e: &leptos::ev::DragEvent) {
        #[cfg(feature = "hydrate")]
        if carries_files(e) {
            self.drag.update(|n| *n = (*n - 1).max(0));
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = e;
    }

    pub fn on_drop(&self, e: &leptos::ev::DragEvent) {
        self.drag.set(0);
        #[cfg(feature = "hydrate")]
        if carries_files(e) {
            e.prevent_default();
            self.add_list(e.data_transfer().and_then(|dt| dt.files()));
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = e;
    }
}

/// "Add image" and the file input it opens.
#[component]
pub fn AttachButton(attach: Attachments) -> impl IntoView {
    let input: NodeRef<leptos::html::Input> = NodeRef::new();
    let pick = move || {
        #[cfg(feature = "hydrate")]
        if let Some(el) = input.get_untracked() {
            attach.add_list(el.files());
            // The same file chosen again is a change again.
            el.set_value("");
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = attach;
    };
    view! {
        <button type="button" class="button ghost small" data-testid="attach-button"
            title=format!(
                "Attach a screenshot or mock-up (PNG, JPEG or WebP, up to {}); you can also paste or drop one",
                megabytes(MAX_IMAGE_BYTES as f64)
            )
            on:click=move |_| {
                if let Some(el) = input.get_untracked() {
                    el.click();
                }
            }>"Add image"</button>
        <input type="file" hidden multiple accept=IMAGE_TYPES.join(",") data-testid="attach-input"
            node_ref=input on:change=move |_| pick()/>
    }
}

/// The thumbnails, each with its state and a remove button; why a file was
/// not added; and `note`, why the model cannot take them, while there are any.
#[component]
pub fn AttachmentList(
    attach: Attachments,
    #[prop(into)] note: Signal<Option<String>>,
) -> impl IntoView {
    let failed = move || {
        attach.items.with(|items| {
            items
                .iter()
                .filter_map(|a| match &a.status {
                    Status::Failed(why) => Some(format!(
                        "\u{201c}{}\u{201d} was not uploaded: {why}",
                        a.name
                    )),
                    _ => None,
                })
                .collect::<Vec<_>>()
        })
    };
    view! {
        <Show when=move || !attach.is_empty()>
            <ul class="attachments" aria-label="Attached images">
                <For
                    each=move || attach.items.get()
                    key=|a| (a.key, a.status.as_str())
                    children=move |a| {
                        let key = a.key;
                        let state = a.status.as_str();
                        let label = format!("Remove {}", a.name);
                        view! {
                            <li class=format!("attachment {state}") data-testid="attachment"
                                data-state=state title=a.name.clone()>
                                <img src=a.url alt=a.name.clone()/>
                                {(a.status == Status::Uploading).then(|| view! {
                                    <span class="attachment-state">"Uploading…"</span>
                                })}
                                <button type="button" class="attachment-remove" data-testid="attachment-remove"
                                    aria-label=label.clone() title=label
                                    on:click=move |_| attach.remove(key)>"×"</button>
                            </li>
                        }
                    }
                />
            </ul>
        </Show>
        {move || {
            attach.refused.get().into_iter().chain(failed()).map(|why| view! {
                <p class="form-error small" role="alert" data-testid="attach-error">{why}</p>
            }).collect_view()
        }}
        {move || (!attach.is_empty()).then(|| note.get()).flatten().map(|note| view! {
            <p class="attach-note small" role="status" data-testid="attach-model-note">{note}</p>
        })}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(id: &str, images: bool, default: bool) -> ModelInfo {
        ModelInfo {
            id: id.into(),
            label: format!("Label of {id}"),
            provider: "openrouter".into(),
            offline: false,
            default,
            images,
        }
    }

    #[test]
    fn the_type_is_read_from_the_first_bytes() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), Some("image/png"));
        assert_eq!(
            sniff(&[0xff, 0xd8, 0xff, 0xe0, 0, 0x10]),
            Some("image/jpeg")
        );
        assert_eq!(sniff(b"RIFF\x24\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(sniff(b"GIF89a\x01\0\x01\0"), None);
        assert_eq!(sniff(b"RIFF\x24\0\0\0WAVEfmt "), None);
        assert_eq!(sniff(b"hello, world"), None);
        assert_eq!(sniff(b""), None);
    }

    #[test]
    fn each_refusal_is_a_sentence_naming_the_file() {
        assert_eq!(
            check("a.png", 0, 1000.0, Some("image/png")),
            Ok("image/png")
        );
        assert_eq!(
            check("notes.png", 0, 10.0, None),
            Err("\u{201c}notes.png\u{201d} is not a PNG, JPEG or WebP image.".into())
        );
        let big = (MAX_IMAGE_BYTES + 400_000) as f64;
        assert_eq!(
            check("big.jpg", 1, big, Some("image/jpeg")),
            Err("\u{201c}big.jpg\u{201d} is 5.4 MB; an image can be at most 5 MB.".into())
        );
        assert!(check("edge.webp", 0, MAX_IMAGE_BYTES as f64, Some("image/webp")).is_ok());
        let full = check("fifth.png", MAX_IMAGES_PER_MESSAGE, 10.0, Some("image/png"));
        assert_eq!(
            full,
            Err(
                "A message can carry at most 4 images; \u{201c}fifth.png\u{201d} was not added."
                    .into()
            )
        );
    }

    #[test]
    fn a_text_only_model_is_named_before_sending() {
        let models = [
            model("offline:builtin", true, true),
            model("openrouter:qwen/qwen3-coder", false, false),
        ];
        assert_eq!(model_refusal(&models, None), None);
        assert_eq!(model_refusal(&models, Some("offline:builtin")), None);
        assert_eq!(
            model_refusal(&models, Some("openrouter:qwen/qwen3-coder")).as_deref(),
            Some(
                "Label of openrouter:qwen/qwen3-coder does not accept images. \
                 Remove them, or choose a model that does in the model menu at the top of the workspace."
            )
        );
        // Unknown to the list: taken as text-only, named by its id.
        let unknown = model_refusal(&models, Some("anthropic:gone")).unwrap_or_default();
        assert!(
            unknown.starts_with("anthropic:gone does not accept images"),
            "{unknown}"
        );
        let text_default = [model("openrouter:x", false, true)];
        assert!(model_refusal(&text_default, None).is_some());
    }
}
