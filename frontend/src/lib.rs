//! The WASM entry point: hydrates the HTML the server rendered.

use wasm_bindgen::JsValue;

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
    // A flag end-to-end tests (and curious users) can wait on: from here on,
    // buttons have their handlers.
    if let Some(window) = web_sys::window() {
        let _ = js_sys::Reflect::set(
            &window,
            &JsValue::from_str("__minicodeHydrated"),
            &JsValue::TRUE,
        );
    }
}
