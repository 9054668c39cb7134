//! `/api/projects` over real HTTP: CRUD, pagination and bad input.

mod common;

use common::{error_code, spawn};
use serde_json::{Value, json};

#[tokio::test]
async fn crud_roundtrip() {
    let app = spawn().await;
    let client = app.user("crud").await;
    let res = client
        .post(
            "/api/projects",
            &json!({"name": "  Todo  ", "description": "A todo app"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    let project = &created["data"];
    assert_eq!(project["name"], "Todo", "names are trimmed");
    assert_eq!(project["description"], "A todo app");
    assert!(project["model"].is_null());
    let id = project["id"].as_str().unwrap();

    let got: Value = client
        .get(&format!("/api/projects/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["data"], *project);

    let res = client
        .patch(
            &format!("/api/projects/{id}"),
            &json!({"name": "Todo 2", "model": "openrouter:openai/gpt-4o"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let patched: Value = res.json().await.unwrap();
    assert_eq!(patched["data"]["name"], "Todo 2");
    assert_eq!(
        patched["data"]["description"], "A todo app",
        "absent fields are kept"
    );
    assert_eq!(patched["data"]["model"], "openrouter:openai/gpt-4o");
    let reset: Value = client
        .patch(&format!("/api/projects/{id}"), &json!({"model": null}))
        .await
        .json()
        .await
        .unwrap();
    assert!(reset["data"]["model"].is_null());

    assert_eq!(
        client.delete(&format!("/api/projects/{id}")).await.status(),
        204
    );
    assert_eq!(
        error_code(client.get(&format!("/api/projects/{id}")).await, 404).await,
        "NOT_FOUND"
    );
    assert_eq!(
        error_code(client.delete(&format!("/api/projects/{id}")).await, 404).await,
        "NOT_FOUND"
    );
    app.stop().await;
}

#[tokio::test]
async fn list_is_newest_first_and_paginated() {
    let app = spawn().await;
    let client = app.user("pager").await;
    for i in 0..7 {
        client.project(&format!("p{i}")).await;
        // Distinct creation times.
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    let page: Value = client
        .get("/api/projects?limit=3&offset=0")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 7);
    let names: Vec<&str> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["p6", "p5", "p4"]);
    let last: Value = client
        .get("/api/projects?limit=3&offset=6")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(last["data"].as_array().unwrap().len(), 1);
    assert_eq!(last["data"][0]["name"], "p0");
    let beyond: Value = client
        .get("/api/projects?offset=100")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(beyond["data"].as_array().unwrap().len(), 0);
    assert_eq!(beyond["total"], 7);
    app.stop().await;
}

#[tokio::test]
async fn bad_pagination_is_a_clear_4xx() {
    let app = spawn().await;
    let client = app.user("badpage").await;
    assert_eq!(
        error_code(client.get("/api/projects?limit=0").await, 422).await,
        "VALIDATION_FAILED"
    );
    assert_eq!(
        error_code(client.get("/api/projects?limit=101").await, 422).await,
        "VALIDATION_FAILED"
    );
    assert_eq!(
        error_code(client.get("/api/projects?limit=-1").await, 422).await,
        "VALIDATION_FAILED"
    );
    assert_eq!(
        error_code(client.get("/api/projects?offset=-5").await, 422).await,
        "VALIDATION_FAILED"
    );
    assert_eq!(
        error_code(client.get("/api/chats?limit=-1").await, 422).await,
        "VALIDATION_FAILED"
    );
    assert_eq!(
        error_code(client.get("/api/projects?limit=abc").await, 400).await,
        "BAD_REQUEST"
    );
    assert_eq!(
        error_code(
            client
                .get("/api/projects?offset=99999999999999999999")
                .await,
            400
        )
        .await,
        "BAD_REQUEST"
    );
    app.stop().await;
}

#[tokio::test]
async fn bad_bodies_are_clear_4xx_and_change_nothing() {
    let app = spawn().await;
    let client = app.user("badbody").await;
    let cases: Vec<(reqwest::Response, u16, &str)> = vec![
        (
            client
                .post_raw("/api/projects", "application/json", "{not json")
                .await,
            400,
            "BAD_REQUEST",
        ),
        (
            client.post_raw("/api/projects", "text/plain", "{}").await,
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        (
            client.post("/api/projects", &json!({"name": 42})).await,
            422,
            "VALIDATION_FAILED",
        ),
        (
            client
                .post("/api/projects", &json!({"description": "no name"}))
                .await,
            422,
            "VALIDATION_FAILED",
        ),
        (
            client.post("/api/projects", &json!({"name": ""})).await,
            422,
            "VALIDATION_FAILED",
        ),
        (
            client.post("/api/projects", &json!({"name": "   "})).await,
            422,
            "VALIDATION_FAILED",
        ),
        (
            client
                .post("/api/projects", &json!({"name": "x".repeat(121)}))
                .await,
            422,
            "VALIDATION_FAILED",
        ),
        (
            client
                .post(
                    "/api/projects",
                    &json!({"name": "ok", "description": "d".repeat(4001)}),
                )
                .await,
            422,
            "VALIDATION_FAILED",
        ),
        (
            client
                .post(
                    "/api/projects",
                    &json!({"name": "ok", "model": "has space"}),
                )
                .await,
            422,
            "VALIDATION_FAILED",
        ),
        (
            client
                .post(
                    "/api/projects",
                    &json!({"name": "ok", "model": "nosuchprovider:gpt"}),
                )
                .await,
            422,
            "VALIDATION_FAILED",
        ),
        (
            client.post("/api/projects", &json!([1, 2])).await,
            422,
            "VALIDATION_FAILED",
        ),
    ];
    for (res, status, code) in cases {
        assert_eq!(error_code(res, status).await, code);
    }
    // 2 MiB is over the 1 MiB default body limit.
    let huge = format!("{{\"name\":\"{}\"}}", "x".repeat(2 * 1024 * 1024));
    let res = client
        .post_raw("/api/projects", "application/json", huge)
        .await;
    assert_eq!(error_code(res, 413).await, "PAYLOAD_TOO_LARGE");

    let list: Value = client.get("/api/projects").await.json().await.unwrap();
    assert_eq!(list["total"], 0, "no bad request created anything");

    // A bad PATCH leaves the project as it was.
    let project = client.project("keep").await;
    let id = project["id"].as_str().unwrap();
    let res = client
        .patch(&format!("/api/projects/{id}"), &json!({"name": ""}))
        .await;
    assert_eq!(error_code(res, 422).await, "VALIDATION_FAILED");
    let res = client
        .patch(&format!("/api/projects/{id}"), &json!({"name": ["x"]}))
        .await;
    assert_eq!(error_code(res, 422).await, "VALIDATION_FAILED");
    let got: Value = client
        .get(&format!("/api/projects/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["data"]["name"], "keep");
    app.stop().await;
}

#[tokio::test]
async fn unknown_and_malformed_ids_are_404() {
    let app = spawn().await;
    let client = app.user("ids").await;
    for path in [
        "/api/projects/00000000-0000-0000-0000-000000000000",
        "/api/projects/not-a-uuid",
        "/api/projects/%2e%2e",
    ] {
        assert_eq!(
            error_code(client.get(path).await, 404).await,
            "NOT_FOUND",
            "{path}"
        );
    }
    assert_eq!(
        error_code(client.get("/api/nothing-here").await, 404).await,
        "NOT_FOUND"
    );
    assert_eq!(
        error_code(client.put("/api/projects", &json!({})).await, 405).await,
        "METHOD_NOT_ALLOWED"
    );
    app.stop().await;
}

#[tokio::test]
async fn signed_out_calls_are_401() {
    let app = spawn().await;
    let client = app.client();
    assert_eq!(
        error_code(client.get("/api/projects").await, 401).await,
        "UNAUTHORIZED"
    );
    assert_eq!(
        error_code(
            client.post("/api/projects", &json!({"name": "x"})).await,
            401
        )
        .await,
        "UNAUTHORIZED"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_over_long_description_or_prompt_is_refused_whole_and_stores_nothing() {
    let app = spawn().await;
    let client = app.user("wordy").await;
    let long = "d".repeat(minicode::MAX_DESCRIPTION_CHARS + 100);
    let sentence = "Your description is 4,100 characters; the limit is 4,000.";
    let refused = |res: reqwest::Response| async move {
        assert_eq!(res.status(), 422);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["code"], "VALIDATION_FAILED");
        assert_eq!(body["error"], sentence);
    };

    // Create: no project.
    refused(
        client
            .post(
                "/api/projects",
                &json!({"name": "Wordy", "description": long}),
            )
            .await,
    )
    .await;
    let list: Value = client.get("/api/projects").await.json().await.unwrap();
    assert_eq!(list["total"], 0);

    // Update: the description stays as it was.
    let project = client.project("Wordy").await;
    let pid = project["id"].as_str().unwrap();
    refused(
        client
            .patch(
                &format!("/api/projects/{pid}"),
                &json!({"description": long}),
            )
            .await,
    )
    .await;
    let got: Value = client
        .get(&format!("/api/projects/{pid}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["data"]["description"], project["description"]);

    // Generate: no run, and the description is not taken over either.
    refused(
        client
            .post(
                &format!("/api/projects/{pid}/generate"),
                &json!({"description": long}),
            )
            .await,
    )
    .await;
    let state: Value = client
        .get(&format!("/api/projects/{pid}/state"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(state["data"]["runId"], Value::Null, "{state}");
    let got: Value = client
        .get(&format!("/api/projects/{pid}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["data"]["description"], project["description"]);
    app.stop().await;
}
