//! Thin bindings to Monaco through `public/editor.js` (`window.minicodeEditor`).
//!
//! Monaco is large, so it is loaded only on the project page: the host
//! element's effect adds `/editor.js`, which loads Monaco's AMD loader from
//! `/monaco/vs` (served by minicode itself). Calls go through `js_sys::Reflect`
//! rather than `extern` blocks: nothing here exists on the server, and until
//! the editor is ready every call is a harmless no-op.

/// Monaco's language id for a file name.
#[cfg_attr(
    not(any(feature = "hydrate", test)),
    expect(dead_code, reason = "only the browser's editor shows files")
)]
pub fn language_for(path: &str) -> &'static str {
    let ext = path
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "js" | "jsx" | "mjs" | "cjs" => "javascript",
        "ts" | "tsx" | "mts" | "cts" => "typescript",
        "json" => "json",
        "css" => "css",
        "scss" => "scss",
        "less" => "less",
        "html" | "htm" => "html",
        "md" | "markdown" => "markdown",
        "svg" | "xml" => "xml",
        "yml" | "yaml" => "yaml",
        "sh" => "shell",
        "py" => "python",
        "rs" => "rust",
        "toml" | "ini" => "ini",
        _ => "plaintext",
    }
}

/// Replaces the editor's text (no-op when unchanged, not reported as a user edit).
pub fn set_value(text: &str) {
    #[cfg(feature = "hydrate")]
    bridge::call("setValue", &[text.into()]);
    #[cfg(not(feature = "hydrate"))]
    let _ = text;
}

/// Appends a streamed chunk at the end.
pub fn append_value(chunk: &str) {
    #[cfg(feature = "hydrate")]
    bridge::call("appendValue", &[chunk.into()]);
    #[cfg(not(feature = "hydrate"))]
    let _ = chunk;
}

/// The editor's text, or `None` before it is ready.
pub fn get_value() -> Option<String> {
    #[cfg(feature = "hydrate")]
    {
        if !ready() {
            return None;
        }
        bridge::call("getValue", &[]).and_then(|v| v.as_string())
    }
    #[cfg(not(feature = "hydrate"))]
    None
}

/// Shows `path` in the editor: each file has its own Monaco model, named by
/// its path, so the type checker sees the project as files.
pub fn show(path: &str) {
    #[cfg(feature = "hydrate")]
    bridge::call("show", &[path.into(), language_for(path).into()]);
    #[cfg(not(feature = "hydrate"))]
    let _ = path;
}

/// The stored text of a file, for the checker (imports of it resolve); the
/// shown file is left alone.
pub fn sync_file(path: &str, text: &str) {
    #[cfg(feature = "hydrate")]
    bridge::call("syncFile", &[path.into(), text.into()]);
    #[cfg(not(feature = "hydrate"))]
    let _ = (path, text);
}

/// Puts the cursor on `line` of the shown file and scrolls it into view.
pub fn reveal_line(line: u32) {
    #[cfg(feature = "hydrate")]
    bridge::call("revealLine", &[line.into()]);
    #[cfg(not(feature = "hydrate"))]
    let _ = line;
}

/// A deleted file leaves the checker.
pub fn drop_file(path: &str) {
    #[cfg(feature = "hydrate")]
    bridge::call("dropFile", &[path.into()]);
    #[cfg(not(feature = "hydrate"))]
    let _ = path;
}

/// Loads the installed dependencies' declarations (`GET
/// /api/projects/:id/types`) in the background; semantic checks start once
/// they are there.
pub fn load_types(project: uuid::Uuid) {
    #[cfg(feature = "hydrate")]
    bridge::call(
        "loadTypes",
        &[minicode::paths::project_types(project).into()],
    );
    #[cfg(not(feature = "hydrate"))]
    let _ = project;
}

pub fn set_read_only(read_only: bool) {
    #[cfg(feature = "hydrate")]
    bridge::call("setReadOnly", &[read_only.into()]);
    #[cfg(not(feature = "hydrate"))]
    let _ = read_only;
}

/// True once Monaco is loaded and the editor exists.
#[cfg(feature = "hydrate")]
fn ready() -> bool {
    bridge::call("ready", &[]).and_then(|v| v.as_bool()) == Some(true)
}

pub fn dispose() {
    #[cfg(feature = "hydrate")]
    bridge::call("dispose", &[]);
}

#[cfg(feature = "hydrate")]
pub use bridge::create;

#[cfg(feature = "hydrate")]
mod bridge {
    use js_sys::{Array, Function, Promise, Reflect};
    use wasm_bindgen::prelude::Closure;
    use wasm_bindgen::{JsCast, JsValue};
    use wasm_bindgen_futures::JsFuture;

    fn object() -> Option<JsValue> {
        let window = web_sys::window()?;
        let bridge = Reflect::get(&window, &"minicodeEditor".into()).ok()?;
        (!bridge.is_undefined()).then_some(bridge)
    }

    pub fn call(method: &str, args: &[JsValue]) -> Option<JsValue> {
        let bridge = object()?;
        let f: Function = Reflect::get(&bridge, &method.into())
            .ok()?
            .dyn_into()
            .ok()?;
        f.apply(&bridge, &args.iter().collect::<Array>()).ok()
    }

    /// Adds a script tag once and waits for it to load.
    async fn load_script(src: &str) -> Result<(), String> {
        let document = web_sys::window()
            .and_then(|w| w.document())
            .ok_or("no document")?;
        let selector = format!("script[src=\"{src}\"]");
        if document.query_selector(&selector).ok().flatten().is_some() && object().is_some() {
            return Ok(());
        }
        let script: web_sys::HtmlScriptElement = document
            .create_element("script")
            .map_err(|_| "cannot create a script")?
            .dyn_into()
            .map_err(|_| "not a script element")?;
        script.set_src(src);
        let loaded = Promise::new(&mut |resolve, reject| {
            script.set_onload(Some(&resolve));
            script.set_onerror(Some(&reject));
        });
        document
            .head()
            .ok_or("no head")?
            .append_child(&script)
            .map_err(|_| "cannot add a script")?;
        JsFuture::from(loaded)
            .await
            .map(|_| ())
            .map_err(|_| format!("{src} could not be loaded"))
    }

    /// Loads Monaco and creates the editor in `host`; `on_change` hears user
    /// edits, `on_save` Ctrl+S inside the editor.
    pub async fn create(
        host: web_sys::HtmlElement,
        on_change: impl Fn() + 'static,
        on_save: impl Fn() + 'static,
    ) -> Result<(), String> {
        load_script("/editor.js").await?;
        let promise = call("create", &[host.into()])
            .and_then(|p| p.dyn_into::<Promise>().ok())
            .ok_or("the editor bridge is missing")?;
        JsFuture::from(promise)
            .await
            .map_err(|_| "the editor could not be loaded".to_string())?;
        // Ownership of the callbacks passes to JS; they live as long as the page.
        let change = Closure::<dyn Fn()>::new(on_change).into_js_value();
        let save = Closure::<dyn Fn()>::new(on_save).into_js_value();
        call("onChange", &[change]);
        call("onSave", &[save]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::language_for;

    #[test]
    fn languages_by_extension() {
        assert_eq!(language_for("src/App.tsx"), "typescript");
        assert_eq!(language_for("src/main.JSX"), "javascript");
        assert_eq!(language_for("index.html"), "html");
        assert_eq!(language_for("Makefile"), "plaintext");
    }
}
