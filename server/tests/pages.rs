//! Server-rendered pages: content, redirects and 404s.

mod common;

use common::{Client, spawn};
use serde_json::Value;

/// Calls a server function the way the hydrated page does (a form body,
/// answered in JSON).
async fn server_fn(client: &Client, name: &str, form: &[(&str, &str)]) -> reqwest::Response {
    client
        .http
        .post(client.url(&format!("/fn/{name}")))
        .header("accept", "application/json")
        .form(form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn home_page_renders_with_forms() {
    let app = spawn().await;
    let res = app.client().get("/").await;
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = res.text().await.unwrap();
    assert!(html.contains("Describe an app"), "{html}");
    assert!(html.contains("name=\"username\"") && html.contains("name=\"password\""));
    assert!(
        html.contains("/pkg/minicode"),
        "hydration scripts are referenced"
    );
    app.stop().await;
}

#[tokio::test]
async fn protected_pages_redirect_signed_out_visitors() {
    let app = spawn().await;
    let client = app.client();
    for path in [
        "/dashboard",
        "/account",
        "/admin",
        "/project/00000000-0000-0000-0000-000000000000",
    ] {
        let res = client.get(path).await;
        assert_eq!(res.status(), 303, "{path}");
        assert_eq!(res.headers()["location"], "/");
    }
    app.stop().await;
}

#[tokio::test]
async fn dashboard_lists_the_users_projects() {
    let app = spawn().await;
    let client = app.user("pages").await;
    client.project("Recipe Box").await;
    let res = client.get("/dashboard").await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("Recipe Box"), "{html}");
    assert!(html.contains("pages"), "the user name is shown");
    app.stop().await;
}

#[tokio::test]
async fn project_page_is_owner_only() {
    let app = spawn().await;
    let owner = app.user("pageowner").await;
    let project = owner.project("Hidden Garden").await;
    let id = project["id"].as_str().unwrap();

    let res = owner.get(&format!("/project/{id}")).await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("Hidden Garden") && html.contains("Hidden Garden description"));

    let other = app.user("pageother").await;
    let res = other.get(&format!("/project/{id}")).await;
    assert_eq!(res.status(), 404);
    let html = res.text().await.unwrap();
    assert!(!html.contains("Hidden Garden"), "{html}");
    assert!(html.contains("Nothing here"));
    app.stop().await;
}

#[tokio::test]
async fn unknown_pages_are_404() {
    let app = spawn().await;
    let res = app.client().get("/no/such/page").await;
    assert_eq!(res.status(), 404);
    app.stop().await;
}

/// The server functions left are reads for rendering; a refusal is a 4xx
/// with the API's error body, not a 500 the browser reports as a server
/// failure. Every change goes through REST: the old mutations are gone.
#[tokio::test]
async fn server_functions_are_reads_answering_with_their_status() {
    let app = spawn().await;
    let anyone = app.client();
    let res = server_fn(
        &anyone,
        "list_projects",
        &[("limit", "12"), ("offset", "0")],
    )
    .await;
    assert_eq!(res.status(), 401);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "UNAUTHORIZED", "{body}");

    let user = app.user("reader").await;
    let res = server_fn(&user, "current_user", &[]).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["username"], "reader", "{body}");
    let res = server_fn(
        &user,
        "get_project",
        &[("id", "00000000-0000-0000-0000-000000000000")],
    )
    .await;
    assert_eq!(res.status(), 404);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "NOT_FOUND", "{body}");

    for gone in [
        "login",
        "register",
        "logout",
        "create_project",
        "rename_project",
        "delete_project",
        "list_files",
    ] {
        let res = server_fn(
            &user,
            gone,
            &[("id", "00000000-0000-0000-0000-000000000000")],
        )
        .await;
        assert_eq!(res.status(), 404, "/fn/{gone}");
    }
    app.stop().await;
}
