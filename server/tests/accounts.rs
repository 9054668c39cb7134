//! Accounts an operator can run in public: registration modes and invites,
//! the admin's powers, password change, sign out everywhere, account
//! deletion, and API tokens with a scope and an expiry. Over real HTTP and
//! WebSocket, on SQLite (and PostgreSQL when the suite is pointed at one).

mod common;

use std::time::Duration;

use common::{Client, TestApp, error_code, spawn_with};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const PASSWORD: &str = "password123";

async fn register(
    app: &TestApp,
    username: &str,
    invite: Option<&str>,
) -> (Client, reqwest::Response) {
    let client = app.client();
    let mut body = json!({"username": username, "password": PASSWORD});
    if let Some(code) = invite {
        body["invite"] = json!(code);
    }
    let res = client.post("/api/auth/register", &body).await;
    (client, res)
}

async fn users_named(app: &TestApp, username: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE username = $1")
        .bind(username)
        .fetch_one(app.server.state.db.pool())
        .await
        .unwrap()
}

async fn login(app: &TestApp, username: &str, password: &str) -> (Client, reqwest::Response) {
    let client = app.client();
    let res = client
        .post(
            "/api/auth/login",
            &json!({"username": username, "password": password}),
        )
        .await;
    (client, res)
}

async fn token(client: &Client, scope: &str) -> String {
    let res = client
        .post(
            "/api/auth/tokens",
            &json!({"name": scope, "scope": scope, "password": PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    body["data"]["secret"].as_str().unwrap().to_string()
}

async fn bearer_get(app: &TestApp, token: &str, path: &str) -> reqwest::Response {
    app.bare_client()
        .http
        .get(app.bare_client().url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn delete_with(client: &Client, path: &str, body: &Value) -> reqwest::Response {
    client
        .http
        .delete(client.url(path))
        .json(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn by_invite_the_first_account_is_the_admin_and_others_need_an_invitation() {
    let app = spawn_with(&["--registration", "invite"]).await;
    let anyone = app.bare_client();
    let form: Value = anyone
        .get("/api/auth/registration")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        form["data"],
        json!({"mode": "invite", "firstAccount": true, "accepting": true})
    );

    let (admin, res) = register(&app, "founder", None).await;
    assert_eq!(res.status(), 201);
    let me: Value = res.json().await.unwrap();
    assert_eq!(
        me["data"]["isAdmin"], true,
        "the first account is the admin"
    );
    let form: Value = anyone
        .get("/api/auth/registration")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(form["data"]["firstAccount"], false);

    // No invitation, a made-up one: refused, and nothing is created.
    let (_, res) = register(&app, "stranger", None).await;
    assert_eq!(error_code(res, 403).await, "REGISTRATION_CLOSED");
    let (_, res) = register(&app, "stranger", Some("not-a-real-code")).await;
    assert_eq!(error_code(res, 403).await, "REGISTRATION_CLOSED");
    assert_eq!(
        users_named(&app, "stranger").await,
        0,
        "a refused sign-up stores nothing"
    );

    // An invitation works once.
    let res = admin
        .post("/api/admin/invites", &json!({"note": "for Grace"}))
        .await;
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    let code = created["data"]["code"].as_str().unwrap().to_string();
    assert_eq!(created["data"]["path"], format!("/?invite={code}"));
    let (guest, res) = register(&app, "grace", Some(&code)).await;
    assert_eq!(res.status(), 201);
    let me: Value = res.json().await.unwrap();
    assert_eq!(me["data"]["isAdmin"], false);
    assert_eq!(guest.get("/api/auth/me").await.status(), 200);
    let (_, res) = register(&app, "grace2", Some(&code)).await;
    assert_eq!(error_code(res, 403).await, "REGISTRATION_CLOSED");
    assert_eq!(users_named(&app, "grace2").await, 0);

    // A taken username with a good invitation leaves the invitation unused.
    let spare: Value = admin
        .post("/api/admin/invites", &json!({}))
        .await
        .json()
        .await
        .unwrap();
    let spare_code = spare["data"]["code"].as_str().unwrap().to_string();
    let (_, res) = register(&app, "grace", Some(&spare_code)).await;
    assert_eq!(error_code(res, 409).await, "CONFLICT");
    let (_, res) = register(&app, "hopper", Some(&spare_code)).await;
    assert_eq!(
        res.status(),
        201,
        "the invitation survived the failed attempt"
    );

    let list: Value = admin.get("/api/admin/invites").await.json().await.unwrap();
    assert_eq!(list["total"], 2);
    assert!(!list.to_string().contains(&code), "codes are never listed");
    let used_by: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["usedBy"].as_str())
        .collect();
    assert!(used_by.contains(&"grace") && used_by.contains(&"hopper"));

    // A withdrawn invitation no longer works; a used one cannot be withdrawn.
    let withdrawn: Value = admin
        .post("/api/admin/invites", &json!({"expiresInDays": 1}))
        .await
        .json()
        .await
        .unwrap();
    let id = withdrawn["data"]["invite"]["id"].as_str().unwrap();
    assert_eq!(
        admin
            .delete(&format!("/api/admin/invites/{id}"))
            .await
            .status(),
        204
    );
    let (_, res) = register(&app, "late", withdrawn["data"]["code"].as_str()).await;
    assert_eq!(error_code(res, 403).await, "REGISTRATION_CLOSED");
    let used_id = created["data"]["invite"]["id"].as_str().unwrap();
    assert_eq!(
        error_code(
            admin.delete(&format!("/api/admin/invites/{used_id}")).await,
            404
        )
        .await,
        "NOT_FOUND"
    );

    // An expired invitation does not work either.
    let expiring: Value = admin
        .post("/api/admin/invites", &json!({}))
        .await
        .json()
        .await
        .unwrap();
    sqlx::query("UPDATE invites SET expires_at = 1 WHERE id = $1")
        .bind(expiring["data"]["invite"]["id"].as_str().unwrap())
        .execute(app.server.state.db.pool())
        .await
        .unwrap();
    let (_, res) = register(&app, "tooslow", expiring["data"]["code"].as_str()).await;
    assert_eq!(error_code(res, 403).await, "REGISTRATION_CLOSED");

    // Bad input to the admin is a clear error.
    for bad in [
        json!({"expiresInDays": 0}),
        json!({"expiresInDays": 31}),
        json!({"note": "x".repeat(201)}),
    ] {
        assert_eq!(
            error_code(admin.post("/api/admin/invites", &bad).await, 422).await,
            "VALIDATION_FAILED"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn closed_and_open_registration() {
    let app = spawn_with(&["--registration", "closed"]).await;
    let (admin, res) = register(&app, "owner", None).await;
    assert_eq!(res.status(), 201, "the first account is always allowed");
    let (_, res) = register(&app, "second", None).await;
    assert_eq!(error_code(res, 403).await, "REGISTRATION_CLOSED");
    let form: Value = app
        .bare_client()
        .get("/api/auth/registration")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(form["data"]["accepting"], false);
    // Invitations cannot open a closed server.
    assert_eq!(
        error_code(admin.post("/api/admin/invites", &json!({})).await, 409).await,
        "CONFLICT"
    );
    app.stop().await;

    let app = spawn_with(&["--registration", "open"]).await;
    let (first, _) = register(&app, "first", None).await;
    let (second, res) = register(&app, "second", None).await;
    assert_eq!(res.status(), 201);
    let me: Value = second.get("/api/auth/me").await.json().await.unwrap();
    assert_eq!(
        me["data"]["isAdmin"], false,
        "only the first account is the admin"
    );
    let me: Value = first.get("/api/auth/me").await.json().await.unwrap();
    assert_eq!(me["data"]["isAdmin"], true);
    app.stop().await;
}

#[tokio::test]
async fn only_admins_reach_the_admin_routes() {
    let app = spawn_with(&["--registration", "open"]).await;
    let (admin, _) = register(&app, "boss", None).await;
    let (user, _) = register(&app, "worker", None).await;
    for path in [
        "/api/admin/users",
        "/api/admin/invites",
        "/api/admin/settings",
    ] {
        assert_eq!(
            error_code(user.get(path).await, 403).await,
            "FORBIDDEN",
            "{path}"
        );
        assert_eq!(app.bare_client().get(path).await.status(), 401, "{path}");
        assert_eq!(admin.get(path).await.status(), 200, "{path}");
    }
    let users: Value = admin.get("/api/admin/users").await.json().await.unwrap();
    let me = &users["data"][0];
    let worker_id = users["data"][1]["id"].as_str().unwrap().to_string();
    assert_eq!(
        error_code(
            user.patch(
                &format!("/api/admin/users/{worker_id}"),
                &json!({"isAdmin": true})
            )
            .await,
            403
        )
        .await,
        "FORBIDDEN",
        "a user cannot make themselves admin"
    );
    let settings: Value = admin.get("/api/admin/settings").await.json().await.unwrap();
    assert_eq!(settings["data"]["registration"], "open");
    assert_eq!(settings["data"]["users"], 2);
    // An admin cannot lock themselves out from the admin page.
    let my_id = me["id"].as_str().unwrap();
    assert_eq!(
        error_code(
            admin
                .patch(
                    &format!("/api/admin/users/{my_id}"),
                    &json!({"disabled": true})
                )
                .await,
            409
        )
        .await,
        "CONFLICT"
    );
    assert_eq!(
        error_code(
            admin
                .patch(
                    &format!("/api/admin/users/{my_id}"),
                    &json!({"isAdmin": false})
                )
                .await,
            409
        )
        .await,
        "CONFLICT"
    );
    // Promoting works, and the new admin sees the admin routes.
    let res = admin
        .patch(
            &format!("/api/admin/users/{worker_id}"),
            &json!({"isAdmin": true}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(user.get("/api/admin/users").await.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn a_disabled_user_is_out_until_enabled_again() {
    let app = spawn_with(&["--registration", "open"]).await;
    let (admin, _) = register(&app, "admin", None).await;
    let (user, _) = register(&app, "mallory", None).await;
    let project = user.project("Mine").await;
    let secret = token(&user, "full").await;
    let users: Value = admin.get("/api/admin/users").await.json().await.unwrap();
    let id = users["data"][1]["id"].as_str().unwrap().to_string();
    assert_eq!(users["data"][1]["projects"], 1);

    let res = admin
        .patch(
            &format!("/api/admin/users/{id}"),
            &json!({"disabled": true}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert!(body["data"]["disabledAt"].is_string());

    assert_eq!(
        user.get("/api/auth/me").await.status(),
        401,
        "the session ended"
    );
    assert_eq!(
        bearer_get(&app, &secret, "/api/auth/me").await.status(),
        401,
        "tokens stop"
    );
    let (_, res) = login(&app, "mallory", PASSWORD).await;
    assert_eq!(error_code(res, 403).await, "FORBIDDEN");
    let (_, res) = login(&app, "mallory", "wrong-password").await;
    assert_eq!(
        error_code(res, 401).await,
        "UNAUTHORIZED",
        "no hint without the password"
    );

    let res = admin
        .patch(
            &format!("/api/admin/users/{id}"),
            &json!({"disabled": false}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let (again, res) = login(&app, "mallory", PASSWORD).await;
    assert_eq!(res.status(), 200);
    let pid = project["id"].as_str().unwrap();
    assert_eq!(
        again.get(&format!("/api/projects/{pid}")).await.status(),
        200,
        "nothing was lost"
    );
    assert_eq!(
        bearer_get(&app, &secret, "/api/auth/me").await.status(),
        200
    );
    app.stop().await;
}

#[tokio::test]
async fn changing_the_password_ends_other_sessions() {
    let app = spawn_with(&["--registration", "open"]).await;
    let (here, _) = register(&app, "changer", None).await;
    let (elsewhere, res) = login(&app, "changer", PASSWORD).await;
    assert_eq!(res.status(), 200);

    // Wrong current password, too short a new one: refused, nothing changes.
    let res = here
        .post(
            "/api/auth/password",
            &json!({"currentPassword": "not-it-at-all", "newPassword": "a-new-password"}),
        )
        .await;
    assert_eq!(error_code(res, 403).await, "FORBIDDEN");
    let res = here
        .post(
            "/api/auth/password",
            &json!({"currentPassword": PASSWORD, "newPassword": "short"}),
        )
        .await;
    assert_eq!(error_code(res, 422).await, "VALIDATION_FAILED");
    assert_eq!(elsewhere.get("/api/auth/me").await.status(), 200);
    assert_eq!(login(&app, "changer", PASSWORD).await.1.status(), 200);

    let res = here
        .post(
            "/api/auth/password",
            &json!({"currentPassword": PASSWORD, "newPassword": "a-new-password"}),
        )
        .await;
    assert_eq!(res.status(), 204);
    assert!(
        res.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age="),
        "the browser that changed it gets a fresh session"
    );
    assert_eq!(here.get("/api/auth/me").await.status(), 200);
    assert_eq!(elsewhere.get("/api/auth/me").await.status(), 401);
    assert_eq!(login(&app, "changer", PASSWORD).await.1.status(), 401);
    assert_eq!(
        login(&app, "changer", "a-new-password").await.1.status(),
        200
    );
    app.stop().await;
}

#[tokio::test]
async fn signing_out_everywhere_ends_every_session() {
    let app = spawn_with(&["--registration", "open"]).await;
    let (one, _) = register(&app, "traveller", None).await;
    let (two, _) = login(&app, "traveller", PASSWORD).await;
    let (bystander, _) = register(&app, "bystander", None).await;
    let res = one.post("/api/auth/logout-everywhere", &json!({})).await;
    assert_eq!(res.status(), 204);
    assert!(
        res.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_eq!(one.get("/api/auth/me").await.status(), 401);
    assert_eq!(two.get("/api/auth/me").await.status(), 401);
    assert_eq!(
        bystander.get("/api/auth/me").await.status(),
        200,
        "only the caller's sessions"
    );
    app.stop().await;
}

#[tokio::test]
async fn deleting_the_account_removes_everything_and_needs_the_password() {
    let app = spawn_with(&["--registration", "open"]).await;
    let (admin, _) = register(&app, "admin", None).await;
    let (user, _) = register(&app, "leaver", None).await;
    let project = user.project("Gone soon").await;
    let pid = project["id"].as_str().unwrap().to_string();
    let res = user
        .put(
            &format!("/api/projects/{pid}/files/src/main.ts"),
            &json!({"content": "export {}"}),
        )
        .await;
    assert!(res.status().is_success(), "{}", res.status());
    let secret = token(&user, "full").await;
    let workspace = app.server.state.workspaces.dir(pid.parse().unwrap());
    let me: Value = user.get("/api/auth/me").await.json().await.unwrap();
    let user_id = me["data"]["id"].as_str().unwrap().to_string();
    assert!(workspace.exists(), "the project has files on disk");

    let res = delete_with(
        &user,
        "/api/auth/me",
        &json!({"password": "wrong-password"}),
    )
    .await;
    assert_eq!(error_code(res, 403).await, "FORBIDDEN");
    assert_eq!(
        user.get(&format!("/api/projects/{pid}")).await.status(),
        200,
        "nothing lost"
    );

    let res = delete_with(&user, "/api/auth/me", &json!({"password": PASSWORD})).await;
    assert_eq!(res.status(), 204);
    assert_eq!(user.get("/api/auth/me").await.status(), 401);
    assert_eq!(
        bearer_get(&app, &secret, "/api/auth/me").await.status(),
        401
    );
    assert_eq!(login(&app, "leaver", PASSWORD).await.1.status(), 401);
    let checks = [
        ("projects", "id", pid.clone()),
        ("generated_files", "project_id", pid.clone()),
        ("current_files", "project_id", pid.clone()),
        ("api_tokens", "user_id", user_id.clone()),
        ("sessions", "user_id", user_id.clone()),
    ];
    for (table, column, id) in checks {
        let rows: i64 =
            sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table} WHERE {column} = $1"))
                .bind(id)
                .fetch_one(app.server.state.db.pool())
                .await
                .unwrap();
        assert_eq!(rows, 0, "{table}");
    }
    assert_eq!(users_named(&app, "leaver").await, 0);
    assert!(!workspace.exists(), "its files left the disk");
    // The name is free again.
    assert_eq!(register(&app, "leaver", None).await.1.status(), 201);

    // The only admin cannot leave a server with users behind.
    let res = delete_with(&admin, "/api/auth/me", &json!({"password": PASSWORD})).await;
    assert_eq!(error_code(res, 409).await, "CONFLICT");
    assert_eq!(admin.get("/api/auth/me").await.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn admins_see_everyones_usage_and_set_limits_per_user() {
    let app = spawn_with(&["--registration", "open"]).await;
    let (admin, _) = register(&app, "admin", None).await;
    let (user, _) = register(&app, "limited", None).await;
    let users: Value = admin.get("/api/admin/users").await.json().await.unwrap();
    let id = users["data"][1]["id"].as_str().unwrap().to_string();
    let path = format!("/api/admin/users/{id}/quota");

    assert_eq!(
        error_code(user.get("/api/admin/usage").await, 403).await,
        "FORBIDDEN"
    );
    assert_eq!(
        error_code(user.put(&path, &json!({"projects": 100})).await, 403).await,
        "FORBIDDEN",
        "nobody raises their own limits"
    );
    let res = admin.put(&path, &json!({"projects": -1})).await;
    assert_eq!(error_code(res, 422).await, "VALIDATION_FAILED");

    let res = admin.put(&path, &json!({"projects": 1})).await;
    assert_eq!(res.status(), 200);
    let limits: Value = res.json().await.unwrap();
    assert_eq!(limits["data"]["projects"], 1);
    user.project("The one").await;
    let res = user
        .post("/api/projects", &json!({"name": "One too many"}))
        .await;
    assert_eq!(error_code(res, 429).await, "QUOTA_EXCEEDED");

    let usage: Value = admin.get("/api/admin/usage").await.json().await.unwrap();
    let rows = usage["data"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    let limited = rows.iter().find(|r| r["username"] == "limited").unwrap();
    assert_eq!(limited["overrides"]["projects"], 1);
    assert_eq!(limited["limits"]["projects"], 1);
    let settings: Value = admin.get("/api/admin/settings").await.json().await.unwrap();
    assert!(
        settings["data"]["quotaDefaults"]["projects"]
            .as_u64()
            .unwrap()
            > 1
    );
    app.stop().await;
}

#[tokio::test]
async fn an_admin_resets_a_lost_password() {
    let app = spawn_with(&["--registration", "open"]).await;
    let (admin, _) = register(&app, "admin", None).await;
    let (user, _) = register(&app, "forgetful", None).await;
    let users: Value = admin.get("/api/admin/users").await.json().await.unwrap();
    let id = users["data"][1]["id"].as_str().unwrap().to_string();
    let my_id = users["data"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(
        error_code(
            user.post(&format!("/api/admin/users/{id}/password"), &json!({}))
                .await,
            403
        )
        .await,
        "FORBIDDEN"
    );
    assert_eq!(
        error_code(
            admin
                .post(&format!("/api/admin/users/{my_id}/password"), &json!({}))
                .await,
            409
        )
        .await,
        "CONFLICT"
    );
    let res = admin
        .post(&format!("/api/admin/users/{id}/password"), &json!({}))
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let fresh = body["data"]["password"].as_str().unwrap().to_string();
    assert!(fresh.len() >= 16);
    assert_eq!(
        user.get("/api/auth/me").await.status(),
        401,
        "their sessions ended"
    );
    assert_eq!(login(&app, "forgetful", PASSWORD).await.1.status(), 401);
    assert_eq!(login(&app, "forgetful", &fresh).await.1.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn an_admin_can_delete_a_user_with_their_data() {
    let app = spawn_with(&["--registration", "open"]).await;
    let (admin, _) = register(&app, "admin", None).await;
    let (user, _) = register(&app, "spammer", None).await;
    user.project("Spam").await;
    let users: Value = admin.get("/api/admin/users").await.json().await.unwrap();
    let id = users["data"][1]["id"].as_str().unwrap().to_string();
    assert_eq!(
        admin
            .delete(&format!("/api/admin/users/{id}"))
            .await
            .status(),
        204
    );
    assert_eq!(user.get("/api/auth/me").await.status(), 401);
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM projects")
        .fetch_one(app.server.state.db.pool())
        .await
        .unwrap();
    assert_eq!(left, 0);
    assert_eq!(
        error_code(admin.delete(&format!("/api/admin/users/{id}")).await, 404).await,
        "NOT_FOUND"
    );
    app.stop().await;
}

#[tokio::test]
async fn tokens_need_the_password_and_have_a_scope_and_an_expiry() {
    let app = spawn_with(&["--registration", "open"]).await;
    let (user, _) = register(&app, "scoper", None).await;
    let project = user.project("Scoped").await;
    let pid = project["id"].as_str().unwrap().to_string();

    // Minting needs the password again; lifetimes are bounded.
    let res = user.post("/api/auth/tokens", &json!({"name": "x"})).await;
    assert_eq!(error_code(res, 422).await, "VALIDATION_FAILED");
    let res = user
        .post(
            "/api/auth/tokens",
            &json!({"name": "x", "password": "wrong-password"}),
        )
        .await;
    assert_eq!(error_code(res, 403).await, "FORBIDDEN");
    for days in [0, 366] {
        let res = user
            .post(
                "/api/auth/tokens",
                &json!({"name": "x", "password": PASSWORD, "expiresInDays": days}),
            )
            .await;
        assert_eq!(error_code(res, 422).await, "VALIDATION_FAILED");
    }
    let listed: Value = user.get("/api/auth/tokens").await.json().await.unwrap();
    assert_eq!(listed["total"], 0, "refused requests minted nothing");

    // A read-only token reads and does nothing else.
    let read = token(&user, "read").await;
    assert_eq!(
        bearer_get(&app, &read, &format!("/api/projects/{pid}"))
            .await
            .status(),
        200
    );
    let bare = app.bare_client();
    let res = bare
        .http
        .post(bare.url("/api/projects"))
        .bearer_auth(&read)
        .json(&json!({"name": "nope"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res, 403).await, "FORBIDDEN");
    let res = bare
        .http
        .delete(bare.url(&format!("/api/projects/{pid}")))
        .bearer_auth(&read)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res, 403).await, "FORBIDDEN");
    let res = bare
        .http
        .post(bare.url("/api/auth/tokens"))
        .bearer_auth(&read)
        .json(&json!({"name": "escalate", "scope": "full", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(res, 403).await,
        "FORBIDDEN",
        "a read token cannot mint a full one"
    );
    assert_eq!(
        user.get(&format!("/api/projects/{pid}")).await.status(),
        200,
        "still there"
    );

    // On the WebSocket it may watch, not command.
    let url = format!(
        "{}/ws/{pid}?token={read}",
        app.url.replace("http://", "ws://")
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("ws connects");
    let hello = next_text(&mut socket).await;
    assert_eq!(hello["type"], "connection_established");
    socket
        .send(Message::Text(
            json!({"type": "generate", "payload": {"description": "a todo app"}})
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
    let answer = next_text(&mut socket).await;
    assert_eq!(answer["type"], "error", "{answer}");
    assert_eq!(answer["payload"]["code"], "FORBIDDEN", "{answer}");
    let runs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM agent_runs WHERE project_id = $1")
        .bind(&pid)
        .fetch_one(app.server.state.db.pool())
        .await
        .unwrap();
    assert_eq!(runs, 0, "no generation started");

    // Tokens are listed with their scope and expiry, and stop at it.
    let full = token(&user, "full").await;
    let listed: Value = user.get("/api/auth/tokens").await.json().await.unwrap();
    let scopes: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["scope"].as_str().unwrap())
        .collect();
    assert!(scopes.contains(&"read") && scopes.contains(&"full"));
    assert!(listed["data"][0]["expiresAt"].is_string());
    assert_eq!(bearer_get(&app, &full, "/api/auth/me").await.status(), 200);
    sqlx::query("UPDATE api_tokens SET expires_at = 1")
        .execute(app.server.state.db.pool())
        .await
        .unwrap();
    assert_eq!(
        bearer_get(&app, &full, "/api/auth/me").await.status(),
        401,
        "expired"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_socket_stops_taking_commands_once_its_token_is_revoked() {
    let app = spawn_with(&["--registration", "open"]).await;
    let (user, _) = register(&app, "revoker", None).await;
    let pid = user.project("Watched").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let secret = token(&user, "full").await;
    let url = format!(
        "{}/ws/{pid}?token={secret}",
        app.url.replace("http://", "ws://")
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("ws connects");
    assert_eq!(
        next_text(&mut socket).await["type"],
        "connection_established"
    );
    let listed: Value = user.get("/api/auth/tokens").await.json().await.unwrap();
    let id = listed["data"][0]["id"].as_str().unwrap();
    assert_eq!(
        user.delete(&format!("/api/auth/tokens/{id}"))
            .await
            .status(),
        204
    );
    socket
        .send(Message::Text(
            json!({"type": "generate", "payload": {"description": "a todo app"}})
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
    let answer = next_text(&mut socket).await;
    assert_eq!(answer["type"], "error", "{answer}");
    assert_eq!(answer["payload"]["code"], "UNAUTHORIZED", "{answer}");
    let runs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM agent_runs WHERE project_id = $1")
        .bind(&pid)
        .fetch_one(app.server.state.db.pool())
        .await
        .unwrap();
    assert_eq!(runs, 0, "the revoked token started nothing");
    app.stop().await;
}

async fn next_text(
    socket: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> Value {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a frame within 10 s")
            .expect("socket open")
            .expect("frame");
        if let Message::Text(text) = frame {
            return serde_json::from_str(text.as_str()).unwrap();
        }
    }
}
