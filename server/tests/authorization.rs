//! The authorization matrix: every project, chat and message route, called by
//! another user with the first user's ids, is a 404 that reveals nothing.

mod common;

use common::spawn;
use serde_json::{Value, json};

#[tokio::test]
async fn foreign_ids_are_404_on_every_route() {
    let app = spawn().await;
    let owner = app.user("owner").await;
    let intruder = app.user("intruder").await;

    let project = owner.project("Secret Project").await;
    let pid = project["id"].as_str().unwrap().to_string();
    let chat: Value = owner
        .post(
            &format!("/api/projects/{pid}/chats"),
            &json!({"title": "Secret Chat"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let cid = chat["data"]["id"].as_str().unwrap().to_string();

    let body = json!({"name": "hijacked", "title": "hijacked", "projectId": pid});
    let routes: Vec<(&str, String)> = vec![
        ("GET", format!("/api/projects/{pid}")),
        ("PATCH", format!("/api/projects/{pid}")),
        ("DELETE", format!("/api/projects/{pid}")),
        ("GET", format!("/api/projects/{pid}/chats")),
        ("POST", format!("/api/projects/{pid}/chats")),
        ("GET", format!("/api/chats?projectId={pid}")),
        ("POST", "/api/chats".to_string()),
        ("GET", format!("/api/chats/{cid}")),
        ("PATCH", format!("/api/chats/{cid}")),
        ("DELETE", format!("/api/chats/{cid}")),
        ("GET", format!("/api/chats/{cid}/messages")),
    ];
    for (method, path) in &routes {
        let res = match *method {
            "GET" => intruder.get(path).await,
            "POST" => intruder.post(path, &body).await,
            "PATCH" => intruder.patch(path, &body).await,
            "DELETE" => intruder.delete(path).await,
            _ => unreachable!(),
        };
        assert_eq!(res.status(), 404, "{method} {path}");
        let text = res.text().await.unwrap();
        assert!(!text.contains("Secret"), "{method} {path} leaked: {text}");
        let parsed: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed["code"], "NOT_FOUND");
    }

    // The intruder's own lists do not show the owner's things.
    let theirs: Value = intruder.get("/api/projects").await.json().await.unwrap();
    assert_eq!(theirs["total"], 0);
    let chats: Value = intruder.get("/api/chats").await.json().await.unwrap();
    assert_eq!(chats["total"], 0);

    // And the owner's data is untouched.
    let got: Value = owner
        .get(&format!("/api/projects/{pid}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["data"]["name"], "Secret Project");
    let got: Value = owner
        .get(&format!("/api/chats/{cid}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["data"]["title"], "Secret Chat");
    app.stop().await;
}
