//! Browser calls to the REST API (`/api/…`), for the workspace's live parts.
//!
//! The workspace talks to the same REST routes as any other client instead
//! of growing a server function per route: one contract, already tested.
//! Requests carry the session cookie; the browser adds `Origin`, which the
//! server's CSRF guard checks. On the server these return an error: they are
//! only called from event handlers and effects, which run in the browser.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A failed call, as a sentence for people (the API's `error` field when there is one).
pub type HttpResult<T> = Result<T, String>;

/// `GET url`, decoding the JSON answer.
pub async fn get<T: DeserializeOwned>(url: &str) -> HttpResult<T> {
    let text = call("GET", url, None).await?;
    serde_json::from_str(&text).map_err(|e| format!("unexpected answer from {url}: {e}"))
}

/// `method url` with a JSON body, decoding the JSON answer.
pub async fn send<B: Serialize, T: DeserializeOwned>(
    method: &str,
    url: &str,
    body: &B,
) -> HttpResult<T> {
    let body = serde_json::to_string(body).map_err(|e| e.to_string())?;
    let text = call(method, url, Some(body)).await?;
    serde_json::from_str(&text).map_err(|e| format!("unexpected answer from {url}: {e}"))
}

/// A call whose answer has no body worth reading (204, 202).
pub async fn send_empty(method: &str, url: &str) -> HttpResult<()> {
    call(method, url, None).await.map(|_| ())
}

/// `method url` with a JSON body and an answer with none worth reading (204).
pub async fn send_only<B: Serialize>(method: &str, url: &str, body: &B) -> HttpResult<()> {
    let body = serde_json::to_string(body).map_err(|e| e.to_string())?;
    call(method, url, Some(body)).await.map(|_| ())
}

/// Percent-encodes each segment of a workspace path for use in a URL.
pub fn encode_path(path: &str) -> String {
    path.split('/')
        .map(encode_segment)
        .collect::<Vec<_>>()
        .join("/")
}

fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The API's error sentence from an error body, or a generic one.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
fn error_sentence(status: u16, body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_string))
        .unwrap_or_else(|| format!("the server answered {status}"))
}

#[cfg(feature = "hydrate")]
async fn call(method: &str, url: &str, body: Option<String>) -> HttpResult<String> {
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    init.set_credentials(web_sys::RequestCredentials::SameOrigin);
    let headers = web_sys::Headers::new().map_err(|_| "no fetch in this browser".to_string())?;
    let _ = headers.set("Accept", "application/json");
    if let Some(body) = body {
        let _ = headers.set("Content-Type", "application/json");
        init.set_body(&wasm_bindgen::JsValue::from_str(&body));
    }
    init.set_headers(&headers);
    fetch(url, &init).await
}

/// Sends a multipart form (file uploads).
#[cfg(feature = "hydrate")]
pub async fn post_form(url: &str, form: &web_sys::FormData) -> HttpResult<String> {
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_credentials(web_sys::RequestCredentials::SameOrigin);
    init.set_body(form);
    fetch(url, &init).await
}

#[cfg(feature = "hydrate")]
async fn fetch(url: &str, init: &web_sys::RequestInit) -> HttpResult<String> {
    use wasm_bindgen::JsCast;
    use wasm_bindgen_futures::JsFuture;

    let window = web_sys::window().ok_or("no window")?;
    let response = JsFuture::from(window.fetch_with_str_and_init(url, init))
        .await
        .map_err(|_| "the server cannot be reached".to_string())?;
    let response: web_sys::Response = response
        .dyn_into()
        .map_err(|_| "not a fetch response".to_string())?;
    let text = match response.text() {
        Ok(p) => JsFuture::from(p)
            .await
            .ok()
            .and_then(|v| v.as_string())
            .unwrap_or_default(),
        Err(_) => String::new(),
    };
    if response.ok() {
        Ok(text)
    } else {
        Err(error_sentence(response.status(), &text))
    }
}

#[cfg(not(feature = "hydrate"))]
async fn call(method: &str, url: &str, body: Option<String>) -> HttpResult<String> {
    let _ = (method, body);
    Err(format!("{url} is only called from the browser"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_encoded_per_segment() {
        assert_eq!(encode_path("src/App.tsx"), "src/App.tsx");
        assert_eq!(
            encode_path("public/my photo#1.png"),
            "public/my%20photo%231.png"
        );
    }

    #[test]
    fn error_sentence_prefers_the_api_error() {
        assert_eq!(
            error_sentence(409, r#"{"error":"busy","code":"BUSY","status":409}"#),
            "busy"
        );
        assert_eq!(error_sentence(502, "<html>"), "the server answered 502");
    }
}
