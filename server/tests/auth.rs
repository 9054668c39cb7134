//! Accounts, sessions, API tokens, CSRF and rate limits over real HTTP.

mod common;

use common::{error_code, spawn, spawn_with};
use serde_json::{Value, json};

#[tokio::test]
async fn health_reports_db_and_sandbox() {
    let app = spawn().await;
    let res = app.bare_client().get("/health").await;
    assert_eq!(res.status(), 200);
    assert!(res.headers().contains_key("x-request-id"));
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["db"], "ok");
    assert_eq!(body["sandbox"], "process");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    app.stop().await;
}

#[tokio::test]
async fn register_me_logout_login_roundtrip() {
    let app = spawn().await;
    let client = app.client();
    let res = client
        .post(
            "/api/auth/register",
            &json!({"username": "Ada", "password": "password123"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.starts_with("minicode_session="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(
        !cookie.contains("Secure"),
        "plain-http dev server must not set Secure: {cookie}"
    );
    let user: Value = res.json().await.unwrap();
    assert_eq!(
        user["data"]["username"], "ada",
        "usernames are stored lower-case"
    );
    assert!(user["data"].get("passwordHash").is_none() && !user.to_string().contains("argon2"));

    let me: Value = client.get("/api/auth/me").await.json().await.unwrap();
    assert_eq!(me["data"]["username"], "ada");

    assert_eq!(
        client.post("/api/auth/logout", &json!({})).await.status(),
        204
    );
    assert_eq!(
        error_code(client.get("/api/auth/me").await, 401).await,
        "UNAUTHORIZED"
    );

    let res = client
        .post(
            "/api/auth/login",
            &json!({"username": "ADA", "password": "password123"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(client.get("/api/auth/me").await.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn secure_cookie_when_public_url_is_https() {
    let app = spawn_with(&["--public-url", "https://minicode.example"]).await;
    // Writes must now come from the public origin.
    let client = app.bare_client();
    let res = client
        .http
        .post(client.url("/api/auth/register"))
        .header("origin", "https://minicode.example")
        .json(&json!({"username": "sec", "password": "password123"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert!(cookie.starts_with("__Host-minicode_session="), "{cookie}");
    // A planted unprefixed cookie is no session; the real one is.
    let secret = cookie
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_string();
    let me = |cookie: String| {
        let client = &client;
        async move {
            client
                .http
                .get(client.url("/api/auth/me"))
                .header("cookie", cookie)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(me(format!("minicode_session={secret}")).await, 401);
    assert_eq!(me(format!("__Host-minicode_session={secret}")).await, 200);
    app.stop().await;
}

#[tokio::test]
async fn login_rotates_the_session() {
    let app = spawn().await;
    let client = app.client();
    let res = client
        .post(
            "/api/auth/register",
            &json!({"username": "rotor", "password": "password123"}),
        )
        .await;
    let first = session_of(&res);
    // Signing in again from the same browser replaces the session.
    let res = client
        .post(
            "/api/auth/login",
            &json!({"username": "rotor", "password": "password123"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let second = session_of(&res);
    assert_ne!(first, second, "each login issues a new session id");
    assert_eq!(me_with(&app, &first).await, 401, "the old session ended");
    assert_eq!(me_with(&app, &second).await, 200);
    app.stop().await;
}

fn session_of(res: &reqwest::Response) -> String {
    res.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .trim_start_matches("minicode_session=")
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

async fn me_with(app: &common::TestApp, session: &str) -> u16 {
    let client = app.bare_client();
    client
        .http
        .get(client.url("/api/auth/me"))
        .header("cookie", format!("minicode_session={session}"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn session_planted_before_login_is_ended() {
    let app = spawn().await;
    app.user("victim").await;
    // The attacker's own session id, planted in the victim's browser.
    let attacker = app.user("attacker").await;
    let planted = attacker_cookie(&attacker).await;
    let client = app.bare_client();
    let res = client
        .http
        .post(client.url("/api/auth/login"))
        .header("origin", &app.url)
        .header("cookie", format!("minicode_session={planted}"))
        .json(&json!({"username": "victim", "password": "password123"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        me_with(&app, &planted).await,
        401,
        "the pre-login session no longer works"
    );
    app.stop().await;
}

/// Logs the client in again and returns the raw session value it was given.
async fn attacker_cookie(client: &common::Client) -> String {
    let res = client
        .post(
            "/api/auth/login",
            &json!({"username": "attacker", "password": "password123"}),
        )
        .await;
    session_of(&res)
}

#[tokio::test]
async fn registration_is_validated() {
    let app = spawn().await;
    let client = app.client();
    for (body, code) in [
        (
            json!({"username": "ab", "password": "password123"}),
            "VALIDATION_FAILED",
        ),
        (
            json!({"username": "has space", "password": "password123"}),
            "VALIDATION_FAILED",
        ),
        (
            json!({"username": "x".repeat(33), "password": "password123"}),
            "VALIDATION_FAILED",
        ),
        (
            json!({"username": "shortpw", "password": "short"}),
            "VALIDATION_FAILED",
        ),
        (
            json!({"username": "longpw", "password": "p".repeat(257)}),
            "VALIDATION_FAILED",
        ),
        (
            json!({"username": 5, "password": "password123"}),
            "VALIDATION_FAILED",
        ),
        (json!({"password": "password123"}), "VALIDATION_FAILED"),
    ] {
        let res = client.post("/api/auth/register", &body).await;
        assert_eq!(error_code(res, 422).await, code, "{body}");
    }
    app.user("taken").await;
    let res = client
        .post(
            "/api/auth/register",
            &json!({"username": "TAKEN", "password": "password123"}),
        )
        .await;
    assert_eq!(error_code(res, 409).await, "CONFLICT");
    app.stop().await;
}

#[tokio::test]
async fn wrong_password_and_unknown_user_look_the_same() {
    let app = spawn().await;
    app.user("known").await;
    let client = app.client();
    let a = client
        .post(
            "/api/auth/login",
            &json!({"username": "known", "password": "wrong-password"}),
        )
        .await;
    let a_body: Value = a.json().await.unwrap();
    let b = client
        .post(
            "/api/auth/login",
            &json!({"username": "nobody", "password": "wrong-password"}),
        )
        .await;
    assert_eq!(b.status(), 401);
    let b_body: Value = b.json().await.unwrap();
    assert_eq!(a_body, b_body);
    assert_eq!(a_body["code"], "UNAUTHORIZED");
    app.stop().await;
}

#[tokio::test]
async fn login_is_rate_limited() {
    let app = spawn_with(&["--auth-rate-per-minute", "3"]).await;
    let client = app.client();
    for _ in 0..3 {
        let res = client
            .post(
                "/api/auth/login",
                &json!({"username": "nobody", "password": "password123"}),
            )
            .await;
        assert_eq!(res.status(), 401);
    }
    let res = client
        .post(
            "/api/auth/login",
            &json!({"username": "nobody", "password": "password123"}),
        )
        .await;
    let retry_after: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    assert_eq!(error_code(res, 429).await, "RATE_LIMITED");
    app.stop().await;
}

#[tokio::test]
async fn api_tokens_are_shown_once_and_work_as_bearer() {
    let app = spawn().await;
    let client = app.user("tokener").await;
    let res = client
        .post(
            "/api/auth/tokens",
            &json!({"name": "ci", "password": "password123"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    let secret = created["data"]["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("mc_") && secret.len() > 40);
    let id = created["data"]["token"]["id"].as_str().unwrap().to_string();

    let list: Value = client.get("/api/auth/tokens").await.json().await.unwrap();
    assert_eq!(list["total"], 1);
    assert!(
        !list.to_string().contains(&secret),
        "the secret is never listed"
    );
    assert_eq!(list["data"][0]["name"], "ci");

    // A bearer client needs no cookie and no Origin, even for writes.
    let bearer = app.bare_client();
    let res = bearer
        .http
        .post(bearer.url("/api/projects"))
        .bearer_auth(&secret)
        .json(&json!({"name": "via token"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let me: Value = bearer
        .http
        .get(bearer.url("/api/auth/me"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["data"]["username"], "tokener");
    let used: Value = client.get("/api/auth/tokens").await.json().await.unwrap();
    assert!(used["data"][0]["lastUsedAt"].is_string());

    // Someone else cannot revoke it; its owner can, and then it stops working.
    let other = app.user("other").await;
    assert_eq!(
        error_code(other.delete(&format!("/api/auth/tokens/{id}")).await, 404).await,
        "NOT_FOUND"
    );
    assert_eq!(
        client
            .delete(&format!("/api/auth/tokens/{id}"))
            .await
            .status(),
        204
    );
    let res = bearer
        .http
        .get(bearer.url("/api/auth/me"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    app.stop().await;
}

#[tokio::test]
async fn invalid_bearer_token_is_401_not_a_cookie_fallback() {
    let app = spawn().await;
    let client = app.user("mixed").await;
    let res = client
        .http
        .get(client.url("/api/auth/me"))
        .bearer_auth("mc_not-a-real-token")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    app.stop().await;
}

#[tokio::test]
async fn cookie_writes_need_a_same_origin_proof() {
    let app = spawn().await;
    let client = app.user("csrf").await;
    // Cross-site Origin: refused, and nothing is created.
    let res = client
        .http
        .post(client.url("/api/projects"))
        .header("origin", "https://evil.example")
        .json(&json!({"name": "forged"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res, 403).await, "CSRF_REJECTED");
    // Cookie but no Origin, Referer or Sec-Fetch-Site: refused too.
    let session = cookie_value(&app, "csrf2").await;
    let bare = app.bare_client();
    let res = bare
        .http
        .post(bare.url("/api/projects"))
        .header("cookie", format!("minicode_session={session}"))
        .json(&json!({"name": "forged"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res, 403).await, "CSRF_REJECTED");
    // Sec-Fetch-Site: same-origin is enough.
    let res = bare
        .http
        .post(bare.url("/api/projects"))
        .header("cookie", format!("minicode_session={session}"))
        .header("sec-fetch-site", "same-origin")
        .json(&json!({"name": "fine"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let list: Value = client.get("/api/projects").await.json().await.unwrap();
    assert_eq!(list["total"], 0, "the forged write created nothing");
    app.stop().await;
}

async fn cookie_value(app: &common::TestApp, username: &str) -> String {
    let res = app
        .client()
        .post(
            "/api/auth/register",
            &json!({"username": username, "password": "password123"}),
        )
        .await;
    session_of(&res)
}

#[tokio::test]
async fn security_headers_are_set() {
    let app = spawn().await;
    let res = app.bare_client().get("/health").await;
    let h = res.headers();
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["x-frame-options"], "SAMEORIGIN");
    assert!(
        h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'self'")
    );
    assert_eq!(h["referrer-policy"], "same-origin");
    app.stop().await;
}

#[tokio::test]
async fn cors_allows_only_configured_origins() {
    let app = spawn_with(&["--cors-origins", "https://tools.example"]).await;
    let client = app.bare_client();
    let preflight = |origin: &'static str| {
        client
            .http
            .request(reqwest::Method::OPTIONS, client.url("/api/projects"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .send()
    };
    let ok = preflight("https://tools.example").await.unwrap();
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://tools.example"
    );
    assert_eq!(ok.headers()["access-control-allow-credentials"], "true");
    let no = preflight("https://evil.example").await.unwrap();
    assert!(!no.headers().contains_key("access-control-allow-origin"));
    app.stop().await;
}

/// Without a sandbox, generated apps can read the database: the server
/// says so in /health and takes one account only.
#[tokio::test]
async fn the_unsafe_sandbox_takes_one_account_only() {
    let app = spawn_with(&["--sandbox", "process-unsafe"]).await;
    let body: Value = app.bare_client().get("/health").await.json().await.unwrap();
    assert_eq!(body["sandbox"], "process-unsafe");
    let register = |name: &'static str| {
        let client = app.client();
        async move {
            client
                .post(
                    "/api/auth/register",
                    &json!({"username": name, "password": "password123"}),
                )
                .await
        }
    };
    assert_eq!(register("owner").await.status(), 201);
    let refused = register("stranger").await;
    assert_eq!(error_code(refused, 403).await, "REGISTRATION_CLOSED");
    // The owner still signs in.
    let res = app
        .client()
        .post(
            "/api/auth/login",
            &json!({"username": "owner", "password": "password123"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    app.stop().await;
}
