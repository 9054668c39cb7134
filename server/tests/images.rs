//! Images attached to a build prompt or a chat message, end to end: the
//! upload is checked and stripped of metadata, only its owner reads it, it
//! reaches a model in that provider's own wire format (a local server
//! speaking OpenAI's or Anthropic's streaming API), a text-only model
//! refuses it before anything is stored, and the offline generator takes
//! its colour.

mod common;

use std::io::Cursor;
use std::time::{Duration, Instant};

use base64::Engine;
use common::fake_llm::{FakeLlm, Reply, anthropic_sse, openai_text};
use common::{Client, TestApp, error_code, spawn, spawn_with};
use serde_json::{Value, json};

/// A solid-colour PNG.
fn png(rgb: [u8; 3], side: u32) -> Vec<u8> {
    let image = image::RgbImage::from_pixel(side, side, image::Rgb(rgb));
    let mut out = Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(image)
        .write_to(&mut out, image::ImageFormat::Png)
        .unwrap();
    out.into_inner()
}

/// A PNG chunk with its CRC.
fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut out = (data.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in kind.iter().chain(data) {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    out.extend_from_slice(&(!crc).to_be_bytes());
    out
}

/// `png` with a GPS text chunk after IHDR.
fn png_with_gps(rgb: [u8; 3]) -> Vec<u8> {
    let plain = png(rgb, 16);
    let mut out = plain[..33].to_vec();
    out.extend(chunk(b"tEXt", b"GPS\0lat=48.8584,lon=2.2945"));
    out.extend_from_slice(&plain[33..]);
    out
}

async fn upload(client: &Client, pid: &str, media_type: &str, bytes: Vec<u8>) -> reqwest::Response {
    client
        .post_raw(&format!("/api/projects/{pid}/images"), media_type, bytes)
        .await
}

/// Uploads `bytes` as a PNG and returns the image's id.
async fn uploaded(client: &Client, pid: &str, bytes: Vec<u8>) -> String {
    let res = upload(client, pid, "image/png", bytes).await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    body["data"]["id"].as_str().unwrap().to_string()
}

async fn chat_of(client: &Client, pid: &str) -> String {
    let chat: Value = client
        .post(&format!("/api/projects/{pid}/chats"), &json!({}))
        .await
        .json()
        .await
        .unwrap();
    chat["data"]["id"].as_str().unwrap().to_string()
}

async fn messages(client: &Client, chat: &str) -> Vec<Value> {
    let body: Value = client
        .get(&format!("/api/chats/{chat}/messages?limit=100"))
        .await
        .json()
        .await
        .unwrap();
    body["data"].as_array().unwrap().clone()
}

/// Waits until the chat has a completed assistant reply.
async fn replied(client: &Client, chat: &str) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let all = messages(client, chat).await;
        if all
            .iter()
            .any(|m| m["role"] == "assistant" && m["pending"] != true)
        {
            return all;
        }
        assert!(Instant::now() < deadline, "no reply: {all:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn uploads_are_checked_stripped_and_only_their_owner_reads_them() {
    let app = spawn().await;
    let owner = app.user("imgowner").await;
    let stranger = app.user("imgstranger").await;
    let pid = owner.project("Pictures").await["id"]
        .as_str()
        .unwrap()
        .to_string();

    let res = upload(&owner, &pid, "image/png", png_with_gps([217, 72, 43])).await;
    assert_eq!(res.status(), 201);
    let image: Value = res.json().await.unwrap();
    let image = &image["data"];
    assert_eq!(image["mediaType"], "image/png");
    assert_eq!(
        (image["width"].as_u64(), image["height"].as_u64()),
        (Some(16), Some(16))
    );
    let id = image["id"].as_str().unwrap();

    // The stored bytes have no GPS position, and are served as an inert image.
    let res = owner.get(&format!("/api/projects/{pid}/images/{id}")).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "image/png");
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    let stored = res.bytes().await.unwrap();
    assert_eq!(stored.len() as u64, image["size"].as_u64().unwrap());
    assert!(!String::from_utf8_lossy(&stored).contains("GPS"));
    assert_eq!(stored.as_ref(), png([217, 72, 43], 16).as_slice());

    // A stranger can neither read it nor upload to the project.
    let res = stranger
        .get(&format!("/api/projects/{pid}/images/{id}"))
        .await;
    assert_eq!(error_code(res, 404).await, "NOT_FOUND");
    let res = upload(&stranger, &pid, "image/png", png([1, 2, 3], 4)).await;
    assert_eq!(error_code(res, 404).await, "NOT_FOUND");

    // Bad input gets a clear error.
    let res = upload(&owner, &pid, "image/gif", b"GIF89a\x01\x00".to_vec()).await;
    assert_eq!(error_code(res, 415).await, "UNSUPPORTED_MEDIA_TYPE");
    let res = upload(&owner, &pid, "image/png", b"<svg onload=alert(1)>".to_vec()).await;
    assert_eq!(error_code(res, 415).await, "UNSUPPORTED_MEDIA_TYPE");
    let cut = png([5, 5, 5], 32);
    let res = upload(&owner, &pid, "image/png", cut[..cut.len() - 30].to_vec()).await;
    assert_eq!(error_code(res, 422).await, "VALIDATION_FAILED");
    let mut big = png([5, 5, 5], 8);
    big.resize(minicode::MAX_IMAGE_BYTES + 10, 0);
    let res = upload(&owner, &pid, "image/png", big).await;
    assert_eq!(error_code(res, 413).await, "PAYLOAD_TOO_LARGE");

    // A refused upload stored nothing: the first image is still the only one
    // a message can carry, and an unknown id is refused.
    let chat = chat_of(&owner, &pid).await;
    let res = owner
        .post(
            &format!("/api/chats/{chat}/messages"),
            &json!({"content": "hi", "images": [uuid::Uuid::new_v4()]}),
        )
        .await;
    assert_eq!(error_code(res, 422).await, "VALIDATION_FAILED");
    assert!(messages(&owner, &chat).await.is_empty(), "nothing stored");
    app.stop().await;
}

async fn vision_app(fake: &FakeLlm, provider: &str) -> TestApp {
    match provider {
        "anthropic" => {
            spawn_with(&[
                "--anthropic-api-key",
                "test-key",
                "--anthropic-base-url",
                &fake.url,
                "--model",
                "anthropic:claude-sonnet-4-5",
                "--llm-max-retries",
                "0",
            ])
            .await
        }
        _ => {
            spawn_with(&[
                "--openrouter-api-key",
                "test-key",
                "--openrouter-base-url",
                &format!("{}/v1", fake.url),
                "--model",
                "openrouter:openai/gpt-5",
                "--llm-max-retries",
                "0",
            ])
            .await
        }
    }
}

fn anthropic_text(text: &str) -> Reply {
    Reply::sse(
        &anthropic_sse(&[
            json!({"type": "message_start", "message": {"usage": {"input_tokens": 10, "output_tokens": 0}}}),
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}),
            json!({"type": "content_block_stop", "index": 0}),
            json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 5}}),
            json!({"type": "message_stop"}),
        ]),
        50,
    )
}

/// The image a chat message carries reaches the model as the provider's
/// own image part, with the stored (stripped) bytes.
async fn image_reaches(provider: &str) {
    let fake = FakeLlm::start().await;
    let app = vision_app(&fake, provider).await;
    let client = app.user("imguser").await;
    let pid = client.project("Vision").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let chat = chat_of(&client, &pid).await;
    let id = uploaded(&client, &pid, png_with_gps([37, 99, 235])).await;
    fake.push(match provider {
        "anthropic" => anthropic_text("I see a blue square."),
        _ => openai_text("I see a blue square.", "stop"),
    });
    let res = client
        .post(
            &format!("/api/chats/{chat}/messages"),
            &json!({"content": "What is in this picture?", "images": [id]}),
        )
        .await;
    assert_eq!(res.status(), 202, "{}", res.text().await.unwrap());
    let all = replied(&client, &chat).await;
    // The history shows the image with the user's message.
    let user = all.iter().find(|m| m["role"] == "user").unwrap();
    assert_eq!(user["images"][0]["id"], id.as_str());
    assert_eq!(user["images"][0]["mediaType"], "image/png");

    let stored = png([37, 99, 235], 16);
    let encoded = base64::engine::general_purpose::STANDARD.encode(&stored);
    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    let body = &requests[0].body;
    let last = body["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["role"], "user");
    match provider {
        "anthropic" => {
            assert_eq!(last["content"][0]["type"], "image");
            assert_eq!(
                last["content"][0]["source"],
                json!({"type": "base64", "media_type": "image/png", "data": encoded})
            );
            assert_eq!(last["content"][1]["type"], "text");
            assert_eq!(last["content"][1]["text"], "What is in this picture?");
        }
        _ => {
            assert_eq!(
                last["content"][0],
                json!({"type": "text", "text": "What is in this picture?"})
            );
            assert_eq!(last["content"][1]["type"], "image_url");
            assert_eq!(
                last["content"][1]["image_url"]["url"],
                format!("data:image/png;base64,{encoded}")
            );
        }
    }

    // An image is sent once: sending it again is refused, nothing stored.
    let before = messages(&client, &chat).await.len();
    let res = client
        .post(
            &format!("/api/chats/{chat}/messages"),
            &json!({"content": "again", "images": [id]}),
        )
        .await;
    assert_eq!(error_code(res, 422).await, "VALIDATION_FAILED");
    assert_eq!(messages(&client, &chat).await.len(), before);
    assert_eq!(fake.requests().len(), 1, "the model was not called");
    app.stop().await;
}

#[tokio::test]
async fn an_image_reaches_an_openai_compatible_model_as_an_image_url_part() {
    image_reaches("openrouter").await;
}

#[tokio::test]
async fn an_image_reaches_an_anthropic_model_as_an_image_block() {
    image_reaches("anthropic").await;
}

#[tokio::test]
async fn a_text_only_model_refuses_images_before_anything_is_stored() {
    let fake = FakeLlm::start().await;
    let app = spawn_with(&[
        "--openrouter-api-key",
        "test-key",
        "--openrouter-base-url",
        &format!("{}/v1", fake.url),
        "--model",
        "openrouter:qwen/qwen3-coder",
        "--llm-max-retries",
        "0",
    ])
    .await;
    let client = app.user("imguser").await;
    // The model list says which models see images.
    let models: Value = client.get("/api/models").await.json().await.unwrap();
    let sees = |id: &str| {
        models["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == id)
            .map(|m| m["images"].as_bool().unwrap())
    };
    assert_eq!(sees("openrouter:qwen/qwen3-coder"), Some(false));
    assert_eq!(sees("openrouter:anthropic/claude-sonnet-4.5"), Some(true));
    assert_eq!(sees("offline:builtin"), Some(true));

    let pid = client.project("Text only").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let chat = chat_of(&client, &pid).await;
    let id = uploaded(&client, &pid, png([9, 9, 9], 8)).await;
    let res = client
        .post(
            &format!("/api/chats/{chat}/messages"),
            &json!({"content": "look", "images": [id]}),
        )
        .await;
    assert_eq!(res.status(), 422);
    let body: Value = res.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("does not accept images"),
        "{body}"
    );
    let res = client
        .post(
            &format!("/api/projects/{pid}/generate"),
            &json!({"description": "A todo app like this", "images": [id]}),
        )
        .await;
    assert_eq!(error_code(res, 422).await, "VALIDATION_FAILED");
    assert!(messages(&client, &chat).await.is_empty());
    let state: Value = client
        .get(&format!("/api/projects/{pid}/state"))
        .await
        .json()
        .await
        .unwrap();
    assert!(state["data"]["runId"].is_null(), "no run: {state}");
    assert!(fake.requests().is_empty(), "the model was never called");

    // The refused image is still unsent: with a model that sees images it
    // goes through.
    let res = client
        .patch(
            &format!("/api/projects/{pid}"),
            &json!({"model": "openrouter:openai/gpt-5"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    fake.push(openai_text("Got it.", "stop"));
    let res = client
        .post(
            &format!("/api/chats/{chat}/messages"),
            &json!({"content": "look", "images": [id]}),
        )
        .await;
    assert_eq!(res.status(), 202);
    replied(&client, &chat).await;
    app.stop().await;
}

async fn file(client: &Client, pid: &str, path: &str) -> Option<String> {
    let res = client
        .get(&format!("/api/projects/{pid}/files/{path}"))
        .await;
    if res.status() != 200 {
        return None;
    }
    let body: Value = res.json().await.unwrap();
    body["data"]["content"].as_str().map(str::to_string)
}

#[tokio::test]
async fn the_offline_generator_takes_the_colour_of_the_prompts_image() {
    let app = spawn_with(&["--offline-chars-per-sec", "0"]).await;
    let client = app.user("imguser").await;
    let pid = client.project("Mock-up").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let id = uploaded(&client, &pid, png([217, 72, 43], 64)).await;
    let res = client
        .post(
            &format!("/api/projects/{pid}/generate"),
            &json!({"description": "A habit tracker that looks like this mock-up", "images": [id]}),
        )
        .await;
    assert_eq!(res.status(), 202, "{}", res.text().await.unwrap());
    let ended = client.run_ended(&pid, Duration::from_secs(120)).await;
    assert_eq!(ended["state"], "complete", "{ended}");
    let css = file(&client, &pid, "src/styles.css").await.unwrap();
    assert!(css.contains("--accent: #d9482b;"), "{css}");
    // The log says what was asked, images and all, for every page to show.
    let events = app
        .logged_events(uuid::Uuid::parse_str(&pid).unwrap())
        .await;
    let started = events
        .iter()
        .find(|e| e.kind == "run_started")
        .expect("a run_started event");
    let started: Value = serde_json::from_str(started.json()).unwrap();
    assert_eq!(
        started["payload"]["description"],
        "A habit tracker that looks like this mock-up"
    );
    assert_eq!(started["payload"]["images"][0]["id"], id.as_str());
    assert!(css.contains("--accent-fg: #ffffff;"), "{css}");

    // In chat, "make it look like this" with a blue image changes the accent.
    let chat = chat_of(&client, &pid).await;
    let blue = uploaded(&client, &pid, png([37, 99, 235], 32)).await;
    let res = client
        .post(
            &format!("/api/chats/{chat}/messages"),
            &json!({"content": "make it look like this", "images": [blue]}),
        )
        .await;
    assert_eq!(res.status(), 202);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let css = file(&client, &pid, "src/styles.css").await.unwrap();
        if css.contains("--accent: #2563eb;") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the accent did not change: {css}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    app.stop().await;
}
