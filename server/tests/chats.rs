//! Chats and messages (seed 003's contract), scoped to projects.

mod common;

use common::{error_code, spawn};
use serde_json::{Value, json};

#[tokio::test]
async fn chat_crud_on_both_routes() {
    let app = spawn().await;
    let client = app.user("chatter").await;
    let project = client.project("p").await;
    let pid = project["id"].as_str().unwrap();

    let res = client
        .post(&format!("/api/projects/{pid}/chats"), &json!({}))
        .await;
    assert_eq!(res.status(), 201);
    let first: Value = res.json().await.unwrap();
    assert_eq!(first["data"]["title"], "New chat");
    assert_eq!(first["data"]["projectId"], pid);

    let res = client
        .post("/api/chats", &json!({"projectId": pid, "title": "Design"}))
        .await;
    assert_eq!(res.status(), 201);
    let second: Value = res.json().await.unwrap();
    let cid = second["data"]["id"].as_str().unwrap();

    let list: Value = client
        .get(&format!("/api/projects/{pid}/chats"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["total"], 2);
    assert_eq!(list["data"][0]["title"], "Design", "newest first");
    let all: Value = client.get("/api/chats?limit=1").await.json().await.unwrap();
    assert_eq!(all["total"], 2);
    assert_eq!(all["data"].as_array().unwrap().len(), 1);
    let filtered: Value = client
        .get(&format!("/api/chats?projectId={pid}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(filtered["total"], 2);

    let got: Value = client
        .get(&format!("/api/chats/{cid}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["data"]["title"], "Design");
    let patched: Value = client
        .patch(&format!("/api/chats/{cid}"), &json!({"title": "Renamed"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(patched["data"]["title"], "Renamed");

    let messages: Value = client
        .get(&format!("/api/chats/{cid}/messages"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(messages, json!({"data": [], "total": 0}));

    assert_eq!(
        client.delete(&format!("/api/chats/{cid}")).await.status(),
        204
    );
    assert_eq!(
        error_code(client.get(&format!("/api/chats/{cid}")).await, 404).await,
        "NOT_FOUND"
    );

    // Deleting the project removes its chats.
    let remaining = first["data"]["id"].as_str().unwrap();
    assert_eq!(
        client
            .delete(&format!("/api/projects/{pid}"))
            .await
            .status(),
        204
    );
    assert_eq!(
        error_code(client.get(&format!("/api/chats/{remaining}")).await, 404).await,
        "NOT_FOUND"
    );
    app.stop().await;
}

#[tokio::test]
async fn chat_input_is_validated() {
    let app = spawn().await;
    let client = app.user("chatval").await;
    let project = client.project("p").await;
    let pid = project["id"].as_str().unwrap();
    assert_eq!(
        error_code(client.post("/api/chats", &json!({})).await, 422).await,
        "VALIDATION_FAILED"
    );
    assert_eq!(
        error_code(
            client
                .post("/api/chats", &json!({"projectId": "nope"}))
                .await,
            422
        )
        .await,
        "VALIDATION_FAILED"
    );
    assert_eq!(
        error_code(
            client
                .post(
                    &format!("/api/projects/{pid}/chats"),
                    &json!({"title": "t".repeat(121)})
                )
                .await,
            422
        )
        .await,
        "VALIDATION_FAILED"
    );
    assert_eq!(
        error_code(client.get("/api/chats?projectId=nope").await, 404).await,
        "NOT_FOUND"
    );
    let chat: Value = client
        .post(
            &format!("/api/projects/{pid}/chats"),
            &json!({"title": "ok"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let cid = chat["data"]["id"].as_str().unwrap();
    assert_eq!(
        error_code(
            client
                .patch(&format!("/api/chats/{cid}"), &json!({"title": ""}))
                .await,
            422
        )
        .await,
        "VALIDATION_FAILED"
    );
    assert_eq!(
        error_code(
            client
                .get(&format!("/api/chats/{cid}/messages?limit=0"))
                .await,
            422
        )
        .await,
        "VALIDATION_FAILED"
    );
    app.stop().await;
}
