//! The route templates in the wire crate (`minicode::paths`) against the
//! real router: every builder's URL, requested with the method a client uses
//! by a signed-in admin, reaches a handler. A path the router does not know
//! answers the API's own 404 ("no such API endpoint") or, outside `/api`,
//! the pages' 404; a handler's 404 names what it did not find ("chat not
//! found"), which still proves the route. Calls that would start model work
//! (a chat message, "fix this error") use an id that does not exist.

mod common;

use common::{Client, TestApp, spawn};
use minicode::paths;
use minicode::{
    Credentials, Data, GenerateBody, NewApiToken, NewChat, NewInvite, NewProject, PageQuery,
    ProjectPatch, RunStarted, TokenScope,
};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

/// What a call must not be: the router's answer for an unknown path.
async fn routed(label: &str, res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    let text = res.text().await.unwrap_or_default();
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    assert_ne!(
        body["error"], "no such API endpoint",
        "{label}: the router does not know this path"
    );
    assert_ne!(
        status, 405,
        "{label}: the path is routed, but not for this method: {text}"
    );
    assert!(
        status != 404
            || body["error"]
                .as_str()
                .is_some_and(|e| e.ends_with("not found")),
        "{label}: {status} {text}"
    );
    (status, body)
}

async fn call(client: &Client, method: Method, url: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = client.http.request(method.clone(), client.url(url));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let res = request.send().await.unwrap();
    routed(&format!("{method} {url}"), res).await
}

async fn expect(
    client: &Client,
    method: Method,
    url: &str,
    body: Option<Value>,
    status: u16,
) -> Value {
    let (got, answer) = call(client, method.clone(), url, body).await;
    assert_eq!(got, status, "{method} {url}: {answer}");
    answer
}

fn to_json(value: impl serde::Serialize) -> Option<Value> {
    Some(serde_json::to_value(value).unwrap())
}

async fn socket(app: &TestApp, path: &str, token: &str) {
    let url = format!(
        "{}{path}?token={token}",
        app.url.replace("http://", "ws://")
    );
    let (_socket, response) = tokio_tungstenite::connect_async(url)
        .await
        .unwrap_or_else(|e| panic!("{path}: no WebSocket: {e}"));
    assert_eq!(response.status().as_u16(), 101, "{path}");
}

#[tokio::test]
async fn every_path_builder_reaches_a_handler() {
    let app = spawn().await;
    // The first account is the admin.
    let admin = app.user("pathadmin").await;
    let other = app.user("pathother").await;
    let me: Value = admin.get(paths::AUTH_ME).await.json().await.unwrap();
    assert_eq!(me["data"]["isAdmin"], true, "{me}");
    let other_id: Uuid = {
        let me: Value = other.get(paths::AUTH_ME).await.json().await.unwrap();
        me["data"]["id"].as_str().unwrap().parse().unwrap()
    };
    let nobody = Uuid::new_v4();
    let get = Method::GET;
    let post = Method::POST;

    expect(&admin, get.clone(), paths::HEALTH, None, 200).await;

    // Accounts. Signing in and out happens in a browser of its own.
    let fresh = app.client();
    expect(&fresh, get.clone(), paths::AUTH_REGISTRATION, None, 200).await;
    let credentials = Credentials {
        username: "pathnew".into(),
        password: "password123".into(),
        invite: None,
    };
    expect(
        &fresh,
        post.clone(),
        paths::AUTH_REGISTER,
        to_json(&credentials),
        201,
    )
    .await;
    expect(&fresh, post.clone(), paths::AUTH_LOGOUT, None, 204).await;
    expect(
        &fresh,
        post.clone(),
        paths::AUTH_LOGIN,
        to_json(&credentials),
        200,
    )
    .await;
    expect(
        &fresh,
        post.clone(),
        paths::AUTH_LOGOUT_EVERYWHERE,
        None,
        204,
    )
    .await;
    expect(&admin, get.clone(), paths::AUTH_ME, None, 200).await;
    let wrong = json!({"currentPassword": "not-the-password", "newPassword": "password456"});
    call(&admin, post.clone(), paths::AUTH_PASSWORD, Some(wrong)).await;
    expect(
        &admin,
        get.clone(),
        &paths::first(paths::AUTH_TOKENS, 100),
        None,
        200,
    )
    .await;
    let new_token = NewApiToken {
        name: "paths".into(),
        scope: TokenScope::Full,
        expires_in_days: None,
        password: "password123".into(),
    };
    let created = expect(
        &admin,
        post.clone(),
        paths::AUTH_TOKENS,
        to_json(&new_token),
        201,
    )
    .await;
    let secret = created["data"]["secret"].as_str().unwrap().to_string();
    let token_id: Uuid = created["data"]["token"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();

    // Administration.
    expect(&admin, get.clone(), paths::ADMIN_SETTINGS, None, 200).await;
    expect(
        &admin,
        get.clone(),
        &paths::first(paths::ADMIN_USERS, 100),
        None,
        200,
    )
    .await;
    expect(
        &admin,
        Method::PATCH,
        &paths::admin_user(other_id),
        Some(json!({})),
        200,
    )
    .await;
    expect(
        &admin,
        post.clone(),
        &paths::admin_user_password(other_id),
        None,
        200,
    )
    .await;
    expect(
        &admin,
        Method::PUT,
        &paths::admin_user_quota(other_id),
        Some(json!({})),
        200,
    )
    .await;
    expect(&admin, get.clone(), paths::ADMIN_USAGE, None, 200).await;
    expect(
        &admin,
        get.clone(),
        &paths::first(paths::ADMIN_INVITES, 100),
        None,
        200,
    )
    .await;
    call(
        &admin,
        post.clone(),
        paths::ADMIN_INVITES,
        to_json(NewInvite::default()),
    )
    .await;
    call(&admin, Method::DELETE, &paths::admin_invite(nobody), None).await;

    // Projects.
    expect(
        &admin,
        get.clone(),
        &paths::first(paths::PROJECTS, 12),
        None,
        200,
    )
    .await;
    let new = NewProject {
        name: "Paths".into(),
        description: "every route".into(),
        model: None,
    };
    let project = expect(&admin, post.clone(), paths::PROJECTS, to_json(&new), 201).await;
    let id: Uuid = project["data"]["id"].as_str().unwrap().parse().unwrap();
    expect(&admin, get.clone(), &paths::project(id), None, 200).await;
    let patch = ProjectPatch {
        name: Some("Paths renamed".into()),
        ..Default::default()
    };
    expect(
        &admin,
        Method::PATCH,
        &paths::project(id),
        to_json(&patch),
        200,
    )
    .await;

    // Files.
    let file = paths::project_file(id, "public/a file#1.txt");
    expect(
        &admin,
        Method::PUT,
        &file,
        Some(json!({"content": "hello"})),
        200,
    )
    .await;
    let read = expect(&admin, get.clone(), &file, None, 200).await;
    assert_eq!(read["data"]["path"], "public/a file#1.txt", "{read}");
    expect(&admin, get.clone(), &paths::project_files(id), None, 200).await;
    expect(&admin, Method::DELETE, &file, None, 204).await;

    // Chats.
    let body = NewChat {
        title: Some("Paths".into()),
        project_id: None,
    };
    let chat = expect(
        &admin,
        post.clone(),
        &paths::project_chats(id),
        to_json(&body),
        201,
    )
    .await;
    let chat_id: Uuid = chat["data"]["id"].as_str().unwrap().parse().unwrap();
    expect(
        &admin,
        get.clone(),
        &paths::first(&paths::project_chats(id), 1),
        None,
        200,
    )
    .await;
    expect(&admin, get.clone(), paths::CHATS, None, 200).await;
    let body = NewChat {
        title: None,
        project_id: Some(id),
    };
    expect(&admin, post.clone(), paths::CHATS, to_json(&body), 201).await;
    expect(&admin, get.clone(), &paths::chat(chat_id), None, 200).await;
    expect(
        &admin,
        Method::PATCH,
        &paths::chat(chat_id),
        Some(json!({"title": "t"})),
        200,
    )
    .await;
    let page = PageQuery {
        limit: 100,
        offset: 0,
    };
    expect(
        &admin,
        get.clone(),
        &paths::paged(&paths::chat_messages(chat_id), page),
        None,
        200,
    )
    .await;
    call(
        &admin,
        post.clone(),
        &paths::chat_messages(nobody),
        Some(json!({"content": "hi"})),
    )
    .await;
    call(&admin, post.clone(), &paths::chat_fix_error(nobody), None).await;

    // Checkpoints (none yet: a checkpoint id that does not exist).
    expect(
        &admin,
        get.clone(),
        &paths::first(&paths::project_checkpoints(id), 100),
        None,
        200,
    )
    .await;
    call(
        &admin,
        get.clone(),
        &paths::project_checkpoint(id, nobody),
        None,
    )
    .await;
    call(
        &admin,
        post.clone(),
        &paths::project_checkpoint_restore(id, nobody),
        None,
    )
    .await;

    // Git history, and clone over smart HTTP: these answer git clients,
    // which sign in with HTTP Basic (the session cookie counts for nothing).
    expect(
        &admin,
        get.clone(),
        &paths::first(&paths::project_history(id), 100),
        None,
        200,
    )
    .await;
    expect(
        &admin,
        get.clone(),
        &paths::git_info_refs(id, "git-upload-pack"),
        None,
        401,
    )
    .await;
    expect(&admin, post.clone(), &paths::git_upload_pack(id), None, 401).await;
    expect(
        &admin,
        post.clone(),
        &paths::git_receive_pack(id),
        None,
        403,
    )
    .await;

    // The agent, the sandbox, the export; usage.
    expect(&admin, get.clone(), paths::MODELS, None, 200).await;
    expect(&admin, get.clone(), &paths::project_state(id), None, 200).await;
    expect(&admin, get.clone(), &paths::project_sandbox(id), None, 200).await;
    expect(&admin, get.clone(), &paths::project_types(id), None, 200).await;
    call(&admin, post.clone(), &paths::project_visual_edit(id), None).await;
    call(&admin, post.clone(), &paths::project_images(id), None).await;
    expect(
        &admin,
        get.clone(),
        &paths::project_deployments(id),
        None,
        200,
    )
    .await;
    call(
        &admin,
        post.clone(),
        &paths::project_deployment_activate(id, nobody),
        None,
    )
    .await;
    call(&admin, Method::PATCH, &paths::project_site(id), None).await;
    call(&admin, Method::DELETE, &paths::project_site(id), None).await;
    call(&admin, get.clone(), &paths::project_site_open(id), None).await;
    call(&admin, get.clone(), &paths::project_image(id, nobody), None).await;
    call(
        &admin,
        post.clone(),
        &paths::project_sandbox_restart(id),
        None,
    )
    .await;
    expect(&admin, get.clone(), &paths::project_export(id), None, 200).await;
    // Git credentials and a project's remote.
    expect(&admin, get.clone(), paths::GIT_CREDENTIALS, None, 200).await;
    let credential = expect(
        &admin,
        post.clone(),
        paths::GIT_CREDENTIALS,
        Some(json!({"host": "example.invalid", "username": "me", "token": "t0ken"})),
        201,
    )
    .await;
    let credential: Uuid = credential["data"]["id"].as_str().unwrap().parse().unwrap();
    expect(
        &admin,
        Method::DELETE,
        &paths::git_credential(credential),
        None,
        204,
    )
    .await;
    expect(&admin, get.clone(), &paths::project_remote(id), None, 404).await;
    expect(
        &admin,
        Method::PUT,
        &paths::project_remote(id),
        to_json(minicode::RemoteUrl {
            url: "https://example.invalid/x.git".into(),
        }),
        200,
    )
    .await;
    expect(
        &admin,
        Method::DELETE,
        &paths::project_remote(id),
        None,
        204,
    )
    .await;
    expect(
        &admin,
        post.clone(),
        &paths::project_remote_push(id),
        to_json(minicode::PushBody { force: false }),
        404,
    )
    .await;
    // Imports: routed (no zip: refused; a URL that is not https: refused).
    call(&admin, post.clone(), paths::PROJECTS_IMPORT, None).await;
    expect(
        &admin,
        post.clone(),
        paths::PROJECTS_IMPORT_GIT,
        to_json(minicode::GitImport {
            url: "ssh://example.invalid/x.git".into(),
            name: None,
        }),
        422,
    )
    .await;
    expect(&admin, get.clone(), paths::USAGE, None, 200).await;
    let generate = GenerateBody {
        description: "A todo list".into(),
        images: Vec::new(),
    };
    let started = expect(
        &admin,
        post.clone(),
        &paths::project_generate(id),
        to_json(&generate),
        202,
    )
    .await;
    let started: Data<RunStarted> = serde_json::from_value(started).expect("a RunStarted");
    assert!(!started.data.run_id.is_nil());
    expect(&admin, post.clone(), &paths::project_stop(id), None, 200).await;

    // The sockets and the preview entry.
    socket(&app, &paths::project_ws(id), &secret).await;
    socket(&app, &paths::chat_ws(chat_id), &secret).await;
    let res = admin.get(&paths::preview(id)).await;
    assert_ne!(res.status().as_u16(), 404, "{}", paths::preview(id));

    // Deletions last.
    expect(&admin, Method::DELETE, &paths::chat(chat_id), None, 204).await;
    expect(&admin, Method::DELETE, &paths::project(id), None, 204).await;
    expect(
        &admin,
        Method::DELETE,
        &paths::auth_token(token_id),
        None,
        204,
    )
    .await;
    expect(
        &admin,
        Method::DELETE,
        &paths::admin_user(other_id),
        None,
        204,
    )
    .await;
    call(
        &admin,
        Method::DELETE,
        paths::AUTH_ME,
        Some(json!({"password": "wrong"})),
    )
    .await;
    app.stop().await;
}

/// The router's own 404, which [`routed`] tells from a handler's.
#[tokio::test]
async fn an_unknown_path_is_told_apart() {
    let app = spawn().await;
    let admin = app.user("pathprobe").await;
    let res = admin.get("/api/projects/x/nothing-here").await;
    assert_eq!(res.status(), 404);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "no such API endpoint");
    app.stop().await;
}
