//! Previews on their own host: what a generated app could try against its
//! user, through the browser, and why none of it works.

mod common;

use std::time::Duration;

use common::{error_code, spawn};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

#[tokio::test]
async fn the_preview_host_never_holds_the_session_and_the_builder_never_holds_the_pass() {
    let app = spawn().await;
    let owner = app.user("hostowner").await;
    let pid = common::running_fixture(&app, &owner, "Own host").await;
    let res = owner.preview(&format!("/preview/{pid}/")).await;
    assert_eq!(res.status(), 200);
    let origin = owner.preview_origin(&pid);
    assert!(res.url().as_str().starts_with(&origin), "{}", res.url());
    // The CSP lets only minicode frame the preview.
    let csp = res.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors http://localhost:"), "{csp}");

    let preview_cookies = owner.cookies_for(&origin).unwrap_or_default();
    assert!(
        preview_cookies.contains("minicode_preview="),
        "{preview_cookies}"
    );
    assert!(
        !preview_cookies.contains("minicode_session"),
        "the session cookie reached the preview host: {preview_cookies}"
    );
    let builder_cookies = owner.cookies_for(&app.url).unwrap();
    assert!(builder_cookies.contains("minicode_session="));
    assert!(!builder_cookies.contains("minicode_preview"));

    // The preview host serves the app, never minicode: its /api is the app's.
    let res = owner
        .http
        .get(format!("{origin}/api/projects"))
        .send()
        .await
        .unwrap();
    let body = res.text().await.unwrap();
    assert!(
        !body.contains("Own host"),
        "minicode's API on the preview host: {body}"
    );
    app.stop().await;
}

#[tokio::test]
async fn minicode_refuses_what_a_preview_sends_with_the_users_cookie() {
    let app = spawn().await;
    let owner = app.user("csrfowner").await;
    let pid = owner.project("Target").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let origin = owner.preview_origin(&pid);
    // The browser would attach the session cookie (the preview is the same
    // *site* on localhost); the Origin says who is asking.
    let from_preview = |req: reqwest::RequestBuilder| req.header("origin", origin.as_str());
    let res = from_preview(owner.http.post(owner.url("/api/auth/tokens")))
        .json(&json!({"name": "stolen"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res, 403).await, "CSRF_REJECTED");
    let res = from_preview(
        owner
            .http
            .delete(owner.url(&format!("/api/projects/{pid}"))),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(error_code(res, 403).await, "CSRF_REJECTED");
    assert_eq!(
        owner.get(&format!("/api/projects/{pid}")).await.status(),
        200,
        "the project is still there"
    );

    // Nor may it drive the project's WebSocket.
    let url = format!("{}/ws/{pid}", app.url.replace("http://", "ws://"));
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("origin", origin.parse().unwrap());
    request.headers_mut().insert(
        "cookie",
        owner.cookies_for(&app.url).unwrap().parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let close = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(message)) = socket.next().await {
            if let tungstenite::Message::Close(frame) = message {
                return frame.map(|f| u16::from(f.code));
            }
        }
        None
    })
    .await
    .unwrap();
    assert_eq!(close, Some(4403));
    app.stop().await;
}

#[tokio::test]
async fn tickets_and_passes_open_one_project_for_its_owner_only() {
    let app = spawn().await;
    let owner = app.user("ticketowner").await;
    let first = owner.project("First").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let second = owner.project("Second").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let res = owner
        .get(&format!("/preview/{first}/src/main.tsx?x=1"))
        .await;
    assert_eq!(res.status(), 303);
    let location = res.headers()["location"].to_str().unwrap().to_string();
    let first_origin = owner.preview_origin(&first);
    assert!(
        location.starts_with(&format!("{first_origin}/__minicode/enter?ticket=")),
        "{location}"
    );
    assert!(
        location.contains("next=/src/main.tsx%3Fx%3D1"),
        "{location}"
    );
    assert_eq!(res.headers()["referrer-policy"], "no-referrer");

    // Entering sets the host's own cookie: host-only, secure, partitioned.
    let res = app.bare_client().http.get(&location).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/src/main.tsx?x=1");
    let set = res.headers()["set-cookie"].to_str().unwrap();
    assert!(set.starts_with("__Host-minicode_preview="), "{set}");
    for attribute in [
        "; Path=/",
        "; HttpOnly",
        "; Secure",
        "; Partitioned",
        "SameSite=None",
    ] {
        assert!(set.contains(attribute), "{attribute}: {set}");
    }
    assert!(!set.to_ascii_lowercase().contains("domain="), "{set}");

    // The ticket is for the first project's host only.
    let stranger = app.bare_client();
    let second_origin = owner.preview_origin(&second);
    let elsewhere = location.replacen(&first_origin, &second_origin, 1);
    let res = stranger.http.get(&elsewhere).send().await.unwrap();
    assert_eq!(res.status(), 404);
    // A forged one opens nothing.
    let forged = location.replacen("ticket=t.", "ticket=t.0", 1);
    let res = stranger.http.get(&forged).send().await.unwrap();
    assert_eq!(res.status(), 404);
    // Only a path on the host itself is a place to go next.
    for next in ["//evil.example/", "https://evil.example/"] {
        let fresh = owner.get(&format!("/preview/{first}/")).await;
        let enter = fresh.headers()["location"].to_str().unwrap();
        let redirect = enter.replacen("next=/", &format!("next={}", next.replace('/', "%2F")), 1);
        let res = stranger.http.get(&redirect).send().await.unwrap();
        assert_eq!(res.status(), 303, "{redirect}");
        assert_eq!(res.headers()["location"], "/", "{next}");
    }

    // The pass cookie of one project does not open another's host.
    let res = owner.preview(&format!("/preview/{first}/")).await;
    assert!(res.url().as_str().starts_with(&first_origin));
    let pass = owner.cookies_for(&first_origin).unwrap();
    let res = stranger
        .http
        .get(format!("{second_origin}/"))
        .header("cookie", pass.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);

    // Once the project is gone, its pass opens nothing either.
    assert!(
        owner
            .delete(&format!("/api/projects/{first}"))
            .await
            .status()
            .is_success()
    );
    let res = stranger
        .http
        .get(format!("{first_origin}/"))
        .header("cookie", pass)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    app.stop().await;
}

/// A generated `vite.config.ts` answers with headers that would take over
/// minicode's origin if they reached it on that origin: only an allow-list
/// passes.
#[tokio::test]
async fn the_dev_servers_hostile_headers_never_reach_the_browser() {
    let app = spawn().await;
    let owner = app.user("headerowner").await;
    let pid = owner.project("Headers").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    owner.upload_fixture(&pid).await;
    let hostile = r#"import { defineConfig } from 'vite';

export default defineConfig({
  esbuild: { jsx: 'automatic' },
  server: {
    headers: {
      'Set-Cookie': 'minicode_session=planted; Path=/',
      'Service-Worker-Allowed': '/',
      'Clear-Site-Data': '"*"',
      'X-Frame-Options': 'DENY',
      'Refresh': '0; url=https://evil.example/',
    },
  },
});
"#;
    let res = owner
        .put(
            &format!("/api/projects/{pid}/files/vite.config.ts"),
            &json!({"content": hostile}),
        )
        .await;
    assert_eq!(res.status(), 200);
    app.server
        .state
        .sandboxes
        .ensure_running(Uuid::parse_str(&pid).unwrap(), &CancellationToken::new())
        .await
        .expect("starts");
    // Vite answers once it is up (the start above waits for it already).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let res = loop {
        let answer = owner.preview(&format!("/preview/{pid}/src/App.tsx")).await;
        if answer.status() == 200 || std::time::Instant::now() > deadline {
            break answer;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(res.status(), 200);
    let headers = res.headers();
    for dropped in [
        "set-cookie",
        "service-worker-allowed",
        "clear-site-data",
        "x-frame-options",
        "refresh",
    ] {
        assert!(
            !headers.contains_key(dropped),
            "{dropped} passed: {headers:?}"
        );
    }
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .contains("javascript")
    );
    // The session is untouched.
    let me: Value = owner.get("/api/auth/me").await.json().await.unwrap();
    assert_eq!(me["data"]["username"], "headerowner", "{me}");
    assert!(!owner.cookies_for(&app.url).unwrap().contains("planted"));
    app.stop().await;
}
