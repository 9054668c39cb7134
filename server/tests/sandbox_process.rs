//! The process sandbox against a real Vite + React app with a real
//! `npm install`, and the preview proxy in front of it.

mod common;

use std::time::Duration;

use common::{sandbox_pids, spawn, wait_until};
use futures::SinkExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Long enough for a cold `npm install` on a slow machine.
const INSTALL: Duration = Duration::from_secs(240);

#[tokio::test]
async fn preview_runs_the_app_for_its_owner_only() {
    let app = spawn().await;
    let owner = app.user("sandboxowner").await;
    let project = owner.project("Fixture").await;
    let pid = project["id"].as_str().unwrap().to_string();
    let id = Uuid::parse_str(&pid).unwrap();
    let preview = format!("/preview/{pid}/");

    // Before there are files there is nothing to run.
    let res = owner.preview(&preview).await;
    assert_eq!(res.status(), 503);
    assert!(res.text().await.unwrap().contains("No app yet"));

    owner.upload_fixture(&pid).await;

    // The first request starts the sandbox in the background and says so.
    let res = owner
        .http
        .get(format!("{}/", owner.preview_origin(&pid)))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    let page = res.text().await.unwrap();
    assert!(page.contains("http-equiv=\"refresh\""), "{page}");

    let ready = wait_until(INSTALL, || async {
        owner.preview(&preview).await.status() == 200
    })
    .await;
    assert!(
        ready,
        "preview never came up: {:?}",
        app.server.state.sandboxes.status(id)
    );

    // The page, a transformed module and the app's text all come through
    // minicode, on the project's own preview host.
    let res = owner.preview(&preview).await;
    assert_eq!(
        res.url().host_str(),
        Some(format!("{pid}.preview.localhost").as_str())
    );
    let html = res.text().await.unwrap();
    assert!(html.contains("<div id=\"root\"></div>"), "{html}");
    // minicode's error bridge is inlined in the page, first in its head,
    // before the app's scripts (issue 19).
    let head = html.find("<head>").expect("a head") + "<head>".len();
    assert!(
        html[head..].starts_with("<script>// minicode's bridge"),
        "first in the head: {html}"
    );
    let bridge = html
        .find("minicode:runtime-error")
        .expect("the bridge is in the page");
    assert!(
        bridge < html.find("/src/main.tsx").unwrap(),
        "before the app's scripts: {html}"
    );
    // A page the browser has is a 304 without a body, bridge or not.
    let page_url = format!("{}/", owner.preview_origin(&pid));
    let first = owner.http.get(&page_url).send().await.unwrap();
    let etag = first.headers()["etag"].clone();
    let again = owner
        .http
        .get(&page_url)
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert!(again.bytes().await.unwrap().is_empty());
    assert!(
        html.contains("\"/@vite/client\""),
        "Vite serves at the preview host's root: {html}"
    );
    let module = owner.preview(&format!("/preview/{pid}/src/App.tsx")).await;
    assert_eq!(module.status(), 200);
    assert!(
        module
            .text()
            .await
            .unwrap()
            .contains("Hello from the fixture app")
    );

    // The events clients replay tell the same story.
    let frames = app.logged_events(id).await;
    let kinds: Vec<&str> = frames.iter().map(|f| f.kind).collect();
    assert!(kinds.contains(&"deps_installed"), "{kinds:?}");
    let started = frames
        .iter()
        .find(|f| f.kind == "server_started")
        .expect("server_started");
    let started: Value = serde_json::from_str(started.json()).unwrap();
    assert_eq!(started["payload"]["url"], preview);
    assert!(kinds.contains(&"sandbox_log"));

    // Another user, or nobody, gets a 404 that says nothing.
    let intruder = app.user("sandboxintruder").await;
    for client in [&intruder, &app.client()] {
        let res = client.preview(&preview).await;
        assert_eq!(res.status(), 404);
        assert!(!res.text().await.unwrap().contains("fixture"));
        assert_eq!(
            client
                .preview(&format!("/preview/{pid}/src/App.tsx"))
                .await
                .status(),
            404
        );
        // Straight to the preview host, without the owner's pass: 404 too.
        let direct = client
            .http
            .get(format!("{}/src/App.tsx", owner.preview_origin(&pid)))
            .send()
            .await
            .unwrap();
        assert_eq!(direct.status(), 404);
    }

    // Hot reload: Vite's WebSocket works through the proxy, and an edit made
    // through the files API reaches it.
    let mut socket = common::hmr::open(&owner, &pid, app.server.addr).await;

    let res = owner
        .put(
            &format!("/api/projects/{pid}/files/src/App.tsx"),
            &json!({"content": "export default function App() {\n  return <h1>Edited live</h1>;\n}\n"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    common::hmr::expect_update(&mut socket, "App.tsx").await;
    let module = owner
        .preview(&format!("/preview/{pid}/src/App.tsx"))
        .await
        .text()
        .await
        .unwrap();
    assert!(module.contains("Edited live"));
    let _ = socket.send(tungstenite::Message::Close(None)).await;

    // Without the owner's pass the HMR socket does not open.
    let request = common::hmr::request(&owner, &pid, false).await;
    assert!(
        common::hmr::connect(app.server.addr, request)
            .await
            .is_err()
    );

    // Stop: nothing the sandbox started is left.
    assert!(!sandbox_pids(&pid).is_empty(), "the dev server runs");
    app.server.state.sandboxes.stop(id).await;
    assert!(
        wait_until(Duration::from_secs(5), || async {
            sandbox_pids(&pid).is_empty()
        })
        .await,
        "{:?}",
        sandbox_pids(&pid)
    );
    app.stop().await;
}

#[tokio::test]
async fn a_crashed_dev_server_gets_an_error_page_then_restarts() {
    let app = spawn().await;
    let owner = app.user("crashowner").await;
    let project = owner.project("Crashy").await;
    let pid = project["id"].as_str().unwrap().to_string();
    let id = Uuid::parse_str(&pid).unwrap();
    owner.upload_fixture(&pid).await;
    let url = app
        .server
        .state
        .sandboxes
        .ensure_running(id, &CancellationToken::new())
        .await
        .expect("starts");
    assert_eq!(url, format!("/preview/{pid}/"));
    assert_eq!(owner.preview(&url).await.status(), 200);

    // Kill the dev server behind minicode's back.
    for p in sandbox_pids(&pid) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(p),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    assert!(
        wait_until(Duration::from_secs(10), || async {
            app.server.state.sandboxes.status(id).phase == minicode_server::sandbox::Phase::Crashed
        })
        .await
    );
    let frames = app.logged_events(id).await;
    let crash = frames
        .iter()
        .rev()
        .find(|f| f.kind == "error")
        .expect("an error event");
    let crash: Value = serde_json::from_str(crash.json()).unwrap();
    assert_eq!(crash["payload"]["code"], "SANDBOX_CRASHED");
    assert!(
        crash["payload"]["logTail"]
            .as_array()
            .is_some_and(|t| !t.is_empty())
    );

    let res = owner
        .http
        .get(format!("{}/", owner.preview_origin(&pid)))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    assert!(res.text().await.unwrap().contains("The app stopped"));
    assert!(
        wait_until(Duration::from_secs(60), || async {
            owner.preview(&url).await.status() == 200
        })
        .await,
        "restarted"
    );
    app.stop().await;
}

/// A generation run's later phase (install, then start) keeps or restarts
/// the dev server cleanly; see `common::later_phase_keeps_or_restarts`.
#[tokio::test]
async fn a_later_phase_keeps_the_dev_server_or_restarts_it_cleanly() {
    let app = spawn().await;
    common::later_phase_keeps_or_restarts(&app, |pid| {
        sandbox_pids(pid).iter().map(i32::to_string).collect()
    })
    .await;
    app.stop().await;
}

#[tokio::test]
async fn shutdown_leaves_no_process_behind() {
    let app = spawn().await;
    let owner = app.user("shutdownowner").await;
    let project = owner.project("Short lived").await;
    let pid = project["id"].as_str().unwrap().to_string();
    owner.upload_fixture(&pid).await;
    app.server
        .state
        .sandboxes
        .ensure_running(Uuid::parse_str(&pid).unwrap(), &CancellationToken::new())
        .await
        .expect("starts");
    assert!(!sandbox_pids(&pid).is_empty());
    app.stop().await;
    assert!(
        sandbox_pids(&pid).is_empty(),
        "processes outlived the server: {:?}",
        sandbox_pids(&pid)
    );
}

#[tokio::test]
async fn install_failures_are_clear_errors_with_the_log() {
    let app = spawn().await;
    let owner = app.user("brokenowner").await;
    let project = owner.project("Broken").await;
    let pid = project["id"].as_str().unwrap().to_string();
    let broken = json!({"name": "broken", "dependencies": {"this-package-does-not-exist-minicode-test": "^1.0.0"}});
    let res = owner
        .put(
            &format!("/api/projects/{pid}/files/package.json"),
            &json!({"content": broken.to_string()}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let err = app
        .server
        .state
        .sandboxes
        .ensure_running(Uuid::parse_str(&pid).unwrap(), &CancellationToken::new())
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(message.contains("npm install"), "{message}");
    let tail = err.log_tail().join("\n");
    assert!(
        tail.contains("404") || tail.contains("E404") || tail.contains("not found"),
        "{tail}"
    );
    app.stop().await;
}

/// Opens a WebSocket to a preview host: TCP to minicode's listener, the
/// preview host's name in the request (no DNS for `*.localhost` here).
#[tokio::test]
async fn a_hostile_app_reaches_nothing_outside_its_workspace() {
    let app = spawn().await;
    common::hostile_app_reaches_nothing(&app).await;
    app.stop().await;
}

/// The unisolated mode copies the store entry into the workspace; once the
/// copy is gone (the idle clean-up), the next start copies it again.
#[tokio::test]
async fn the_unsafe_mode_copies_modules_back_when_they_are_gone() {
    let app = common::spawn_with(&["--sandbox", "process-unsafe"]).await;
    let owner = app.user("unsafeowner").await;
    let pid = common::running_fixture(&app, &owner, "Unsafe").await;
    let id = Uuid::parse_str(&pid).unwrap();
    let sandboxes = &app.server.state.sandboxes;
    let modules = app.server.state.workspaces.dir(id).join("node_modules");
    assert!(modules.join("vite/package.json").is_file(), "a copy");
    sandboxes.stop(id).await;
    std::fs::remove_dir_all(&modules).unwrap();
    sandboxes
        .ensure_running(id, &CancellationToken::new())
        .await
        .expect("starts again");
    assert!(modules.join("vite/package.json").is_file(), "copied back");
    assert_eq!(
        owner.preview(&format!("/preview/{pid}/")).await.status(),
        200
    );
    app.stop().await;
}

/// Issue 18 (7): the editor's type checker gets the declarations of the
/// installed dependencies (`@types/react`, `vite/client`…) from the module
/// store, for the owner only, revalidated by an ETag; before the first
/// install there are none, and says so.
#[tokio::test]
async fn the_editor_gets_the_declarations_of_the_installed_dependencies() {
    let app = spawn().await;
    let owner = app.user("typesowner").await;
    let stranger = app.user("typesstranger").await;
    let pid = owner.project("Types").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let id = Uuid::parse_str(&pid).unwrap();
    let url = minicode::paths::project_types(id);

    let before: Value = owner.get(&url).await.json().await.unwrap();
    assert_eq!(before["data"]["installed"], false, "{before}");
    assert_eq!(before["data"]["files"], json!([]));

    owner.upload_fixture(&pid).await;
    app.server
        .state
        .sandboxes
        .install(id, &CancellationToken::new())
        .await
        .expect("the fixture installs");
    let res = owner.get(&url).await;
    assert_eq!(res.status(), 200);
    let etag = res.headers()["etag"].to_str().unwrap().to_string();
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["data"]["installed"], true);
    let files = body["data"]["files"].as_array().unwrap();
    let paths: Vec<&str> = files.iter().map(|f| f["path"].as_str().unwrap()).collect();
    for wanted in [
        "node_modules/react/package.json",
        "node_modules/@types/react/index.d.ts",
        "node_modules/@types/react/jsx-runtime.d.ts",
        "node_modules/@types/react-dom/client.d.ts",
        "node_modules/vite/client.d.ts",
        "node_modules/csstype/index.d.ts",
    ] {
        assert!(paths.contains(&wanted), "{wanted} missing from {paths:?}");
    }
    assert!(
        paths.iter().all(|p| p.starts_with("node_modules/")
            && !p.contains("..")
            && (p.ends_with("package.json") || p.contains(".d."))),
        "{paths:?}"
    );
    assert!(
        !paths
            .iter()
            .any(|p| p.starts_with("node_modules/typescript/")),
        "TypeScript's own libraries are the editor's"
    );

    // Unchanged modules: a 304.
    let again = owner
        .http
        .get(owner.url(&url))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);

    // Not the stranger's project.
    assert_eq!(stranger.get(&url).await.status(), 404);
    app.stop().await;
}
