//! The files API: tree, read, write, delete, uploads, versions, hostile
//! paths, limits, owner-only access, and recovery of a cleaned-up workspace.

mod common;

use std::time::Duration;

use common::{error_code, spawn, spawn_with};
use serde_json::{Value, json};
use uuid::Uuid;

#[tokio::test]
async fn write_read_list_delete_with_versions() {
    let app = spawn().await;
    let client = app.user("filer").await;
    let pid = client.project("files").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let id = Uuid::parse_str(&pid).unwrap();

    let content = "line one\n\n\tindented\r\nlast";
    let res = client
        .put(
            &format!("/api/projects/{pid}/files/src/App.tsx"),
            &json!({"content": content}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let saved: Value = res.json().await.unwrap();
    assert_eq!(saved["data"]["version"], 1);

    let res = client
        .put(
            &format!("/api/projects/{pid}/files/src/App.tsx"),
            &json!({"content": "v2"}),
        )
        .await;
    let saved: Value = res.json().await.unwrap();
    assert_eq!(saved["data"]["version"], 2, "every change is a new version");
    client
        .put(
            &format!("/api/projects/{pid}/files/README.md"),
            &json!({"content": content}),
        )
        .await;

    let got: Value = client
        .get(&format!("/api/projects/{pid}/files/README.md"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["data"]["content"], content, "bytes are kept exactly");
    assert_eq!(got["data"]["encoding"], "utf8");

    let tree: Value = client
        .get(&format!("/api/projects/{pid}/files"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(tree["total"], 2);
    assert_eq!(tree["data"][0]["path"], "README.md");
    assert_eq!(tree["data"][1], json!({"path": "src/App.tsx", "size": 2}));
    // The workspace on disk mirrors the newest versions.
    let on_disk =
        std::fs::read_to_string(app.server.state.workspaces.dir(id).join("src/App.tsx")).unwrap();
    assert_eq!(on_disk, "v2");

    assert_eq!(
        client
            .delete(&format!("/api/projects/{pid}/files/README.md"))
            .await
            .status(),
        204
    );
    assert_eq!(
        error_code(
            client
                .get(&format!("/api/projects/{pid}/files/README.md"))
                .await,
            404
        )
        .await,
        "NOT_FOUND"
    );
    assert_eq!(
        error_code(
            client
                .delete(&format!("/api/projects/{pid}/files/README.md"))
                .await,
            404
        )
        .await,
        "NOT_FOUND"
    );
    assert!(
        !app.server
            .state
            .workspaces
            .dir(id)
            .join("README.md")
            .exists()
    );

    // Editors hear about every change.
    let frames = app.logged_events(id).await;
    let kinds: Vec<&str> = frames.iter().map(|f| f.kind).collect();
    assert_eq!(kinds, ["file_end", "file_end", "file_end", "file_deleted"]);
    app.stop().await;
}

#[tokio::test]
async fn hostile_paths_are_refused_and_nothing_escapes() {
    let app = spawn().await;
    let client = app.user("hostile").await;
    let pid = client.project("hostile").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let outside = app.dir.path().join("outside.txt");
    for path in [
        "..%2Foutside.txt",
        "src%2F..%2F..%2Foutside.txt",
        "%2Fetc%2Fpasswd",
        "a%00b",
        "C:%5CWindows%5Cx",
        "src%5C..%5Cx",
        "node_modules/react/index.js",
        ".git/config",
    ] {
        let res = client
            .put(
                &format!("/api/projects/{pid}/files/{path}"),
                &json!({"content": "pwned"}),
            )
            .await;
        let status = res.status().as_u16();
        assert!(status == 422 || status == 404, "{path}: {status}");
    }
    assert!(!outside.exists());
    assert!(
        !std::path::Path::new("/etc/passwd").exists()
            || std::fs::read_to_string("/etc/passwd").unwrap() != "pwned"
    );
    let tree: Value = client
        .get(&format!("/api/projects/{pid}/files"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(tree["total"], 0, "no hostile write landed: {tree}");
    app.stop().await;
}

#[tokio::test]
async fn uploads_land_in_public_and_bad_uploads_lose_nothing() {
    let app = spawn().await;
    let client = app.user("uploader").await;
    let pid = client.project("upload").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let csv = "name,score\nada,10\nbob,7\n";
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::text(csv).file_name("scores.csv"),
        )
        .part(
            "file",
            reqwest::multipart::Part::bytes(vec![0u8, 159, 146, 150]).file_name("../../evil.bin"),
        );
    let res = client
        .http
        .post(client.url(&format!("/api/projects/{pid}/files")))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    let paths: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        ["public/scores.csv", "public/evil.bin"],
        "only the file name of an upload counts"
    );

    let got: Value = client
        .get(&format!("/api/projects/{pid}/files/public/scores.csv"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["data"]["content"], csv);
    let bin: Value = client
        .get(&format!("/api/projects/{pid}/files/public/evil.bin"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(bin["data"]["encoding"], "base64");
    assert_eq!(bin["data"]["content"], "AJ+Slg==");

    // A chosen folder, and a folder that tries to escape.
    let form = reqwest::multipart::Form::new()
        .text("dir", "src/data")
        .part(
            "file",
            reqwest::multipart::Part::text("[]").file_name("items.json"),
        );
    let res = client
        .http
        .post(client.url(&format!("/api/projects/{pid}/files")))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let form = reqwest::multipart::Form::new().text("dir", "../..").part(
        "file",
        reqwest::multipart::Part::text("x").file_name("x.txt"),
    );
    let res = client
        .http
        .post(client.url(&format!("/api/projects/{pid}/files")))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res, 422).await, "VALIDATION_FAILED");
    let empty = reqwest::multipart::Form::new().text("dir", "public");
    let res = client
        .http
        .post(client.url(&format!("/api/projects/{pid}/files")))
        .multipart(empty)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res, 422).await, "VALIDATION_FAILED");

    let tree: Value = client
        .get(&format!("/api/projects/{pid}/files"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(tree["total"], 3);
    app.stop().await;
}

#[tokio::test]
async fn size_and_count_limits_are_enforced() {
    let app = spawn_with(&[
        "--max-file-bytes",
        "100",
        "--max-files",
        "2",
        "--upload-limit",
        "1000",
    ])
    .await;
    let client = app.user("limits").await;
    let pid = client.project("limits").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let res = client
        .put(
            &format!("/api/projects/{pid}/files/big.txt"),
            &json!({"content": "x".repeat(101)}),
        )
        .await;
    assert_eq!(error_code(res, 413).await, "PAYLOAD_TOO_LARGE");
    for name in ["a.txt", "b.txt"] {
        let res = client
            .put(
                &format!("/api/projects/{pid}/files/{name}"),
                &json!({"content": "ok"}),
            )
            .await;
        assert_eq!(res.status(), 200);
    }
    let res = client
        .put(
            &format!("/api/projects/{pid}/files/c.txt"),
            &json!({"content": "ok"}),
        )
        .await;
    assert_eq!(error_code(res, 422).await, "VALIDATION_FAILED");
    // Changing an existing file is still fine at the limit.
    let res = client
        .put(
            &format!("/api/projects/{pid}/files/a.txt"),
            &json!({"content": "changed"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(vec![b'x'; 5000]).file_name("huge.csv"),
    );
    let res = client
        .http
        .post(client.url(&format!("/api/projects/{pid}/files")))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res, 413).await, "PAYLOAD_TOO_LARGE");
    app.stop().await;
}

#[tokio::test]
async fn files_are_owner_only() {
    let app = spawn().await;
    let owner = app.user("fileowner").await;
    let intruder = app.user("fileintruder").await;
    let pid = owner.project("mine").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    owner
        .put(
            &format!("/api/projects/{pid}/files/secret.txt"),
            &json!({"content": "Secret Sauce"}),
        )
        .await;
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::text("x").file_name("x.txt"),
    );
    let responses = vec![
        intruder.get(&format!("/api/projects/{pid}/files")).await,
        intruder
            .get(&format!("/api/projects/{pid}/files/secret.txt"))
            .await,
        intruder
            .put(
                &format!("/api/projects/{pid}/files/secret.txt"),
                &json!({"content": "owned"}),
            )
            .await,
        intruder
            .delete(&format!("/api/projects/{pid}/files/secret.txt"))
            .await,
        intruder
            .http
            .post(intruder.url(&format!("/api/projects/{pid}/files")))
            .multipart(form)
            .send()
            .await
            .unwrap(),
    ];
    for res in responses {
        assert_eq!(res.status(), 404);
        assert!(!res.text().await.unwrap().contains("Secret"));
    }
    let got: Value = owner
        .get(&format!("/api/projects/{pid}/files/secret.txt"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["data"]["content"], "Secret Sauce");
    app.stop().await;
}

#[tokio::test]
async fn cleaned_up_workspaces_come_back_from_the_database() {
    let app = spawn().await;
    let client = app.user("cleanup").await;
    let pid = client.project("stale").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let id = Uuid::parse_str(&pid).unwrap();
    client
        .put(
            &format!("/api/projects/{pid}/files/src/keep.ts"),
            &json!({"content": "export const kept = 1;\n"}),
        )
        .await;
    let state = &app.server.state;
    assert!(state.workspaces.exists(id));

    // Nothing removed while recently active…
    let removed =
        minicode_server::maintenance::remove_stale_workspaces(state, Duration::from_secs(3600))
            .await
            .unwrap();
    assert_eq!(removed, 0);
    // …removed once idle for longer than the limit.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let removed =
        minicode_server::maintenance::remove_stale_workspaces(state, Duration::from_millis(1))
            .await
            .unwrap();
    assert_eq!(removed, 1);
    assert!(!state.workspaces.exists(id));

    // The files are still there through the API, and the workspace is rebuilt exactly.
    let tree: Value = client
        .get(&format!("/api/projects/{pid}/files"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(tree["total"], 1);
    assert_eq!(
        minicode_server::files::restore_workspace(state, id)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        std::fs::read_to_string(state.workspaces.dir(id).join("src/keep.ts")).unwrap(),
        "export const kept = 1;\n"
    );
    app.stop().await;
}

#[tokio::test]
async fn deleting_a_project_removes_its_workspace() {
    let app = spawn().await;
    let client = app.user("deleter").await;
    let pid = client.project("gone").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let id = Uuid::parse_str(&pid).unwrap();
    client
        .put(
            &format!("/api/projects/{pid}/files/a.txt"),
            &json!({"content": "a"}),
        )
        .await;
    assert!(app.server.state.workspaces.exists(id));
    assert_eq!(
        client
            .delete(&format!("/api/projects/{pid}"))
            .await
            .status(),
        204
    );
    assert!(!app.server.state.workspaces.exists(id));
    app.stop().await;
}

#[tokio::test]
async fn an_editor_save_may_exceed_the_json_body_limit_up_to_the_file_limit() {
    // The general JSON limit is 1 MiB; a project file may be 5 MiB.
    let app = spawn_with(&["--body-limit", "1048576"]).await;
    let client = app.user("bigsave").await;
    let pid = client.project("big").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let content = "const row = 1;\n".repeat(2 * 1024 * 1024 / 15);
    let url = format!("/api/projects/{pid}/files/src/big.ts");
    let res = client.put(&url, &json!({"content": content})).await;
    assert_eq!(res.status(), 200);
    let stored = || async {
        let back: Value = client.get(&url).await.json().await.unwrap();
        back["data"]["content"].as_str().unwrap().to_string()
    };
    assert!(stored().await == content, "the whole file is stored");
    // Past the file limit it is still refused, and nothing changes.
    let res = client
        .put(&url, &json!({"content": "x".repeat(5 * 1024 * 1024 + 1)}))
        .await;
    assert_eq!(error_code(res, 413).await, "PAYLOAD_TOO_LARGE");
    assert!(stored().await == content, "the old content is kept");
    app.stop().await;
}

/// What the project's own code (a postinstall script) can plant in its
/// workspace: links to the server's files or to a device, a FIFO, a file
/// larger than the limit. The server refuses to go through a link or read
/// more than the limit, for the API and the chat agent's tools alike.
#[tokio::test]
async fn links_planted_in_the_workspace_are_never_followed() {
    use minicode_server::agent::chat::tools;

    let app = spawn().await;
    let client = app.user("planted").await;
    let pid = client.project("planted").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let id = Uuid::parse_str(&pid).unwrap();
    let put = |path: &str| {
        let url = format!("/api/projects/{pid}/files/{path}");
        let client = &client;
        async move { client.put(&url, &json!({"content": "pwned"})).await }
    };
    assert_eq!(put("src/App.tsx").await.status(), 200);
    let victim = app.dir.path().join("victim.txt");
    std::fs::write(&victim, "the server's own file").unwrap();
    let workspace = app.server.state.workspaces.dir(id);
    std::fs::remove_file(workspace.join("src/App.tsx")).unwrap();
    std::os::unix::fs::symlink(&victim, workspace.join("src/App.tsx")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", workspace.join("zero.txt")).unwrap();
    std::os::unix::fs::symlink(app.dir.path(), workspace.join("up")).unwrap();
    let fifo = workspace.join("src/pipe.txt");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
    let limit = app.server.state.workspaces.limits.max_file_bytes;
    std::fs::File::create(workspace.join("huge.txt"))
        .unwrap()
        .set_len(limit as u64 + 1)
        .unwrap();

    for path in ["src/App.tsx", "zero.txt", "up/victim.txt"] {
        let res = put(path).await;
        let status = res.status().as_u16();
        let body = res.text().await.unwrap();
        assert_eq!(status, 422, "{path}: {body}");
        assert!(body.contains("symbolic link"), "{path}: {body}");
    }
    assert_eq!(
        std::fs::read_to_string(&victim).unwrap(),
        "the server's own file"
    );

    let state = &app.server.state;
    for path in ["src/App.tsx", "zero.txt", "up/victim.txt"] {
        let read = tokio::time::timeout(
            Duration::from_secs(5),
            tools::run(state, id, "Read", &json!({"path": path})),
        )
        .await
        .expect("Read does not hang on /dev/zero");
        assert!(!read.ok, "{path}: {read:?}");
        assert!(read.content.contains("symbolic link"), "{read:?}");
        let write = tools::run(state, id, "Write", &json!({"path": path, "content": "x"})).await;
        assert!(!write.ok, "{path}: {write:?}");
    }
    let read = tokio::time::timeout(
        Duration::from_secs(5),
        tools::run(state, id, "Read", &json!({"path": "src/pipe.txt"})),
    )
    .await;
    if read.is_err() {
        // Let the stuck reader see the end of the pipe, so the test can end.
        let _ = rustix::fs::open(
            &fifo,
            rustix::fs::OFlags::WRONLY | rustix::fs::OFlags::NONBLOCK,
            rustix::fs::Mode::empty(),
        );
    }
    let read = read.expect("Read does not hang on a FIFO");
    assert!(
        !read.ok && read.content.contains("not a regular file"),
        "{read:?}"
    );
    let read = tools::run(state, id, "Read", &json!({"path": "huge.txt"})).await;
    assert!(
        !read.ok && read.content.contains("largest file"),
        "{read:?}"
    );

    let grep = tools::run(state, id, "Grep", &json!({"pattern": "own file"})).await;
    assert_eq!(grep.content, "No matches.", "{grep:?}");
    let grep = tools::run(state, id, "Grep", &json!({"pattern": "own", "path": "up"})).await;
    assert!(!grep.ok && grep.content.contains("not allowed"), "{grep:?}");
    let glob = tools::run(state, id, "Glob", &json!({"pattern": "**/*"})).await;
    assert_eq!(glob.content, "huge.txt", "only regular files: {glob:?}");
    assert_eq!(
        std::fs::read_to_string(&victim).unwrap(),
        "the server's own file"
    );
    app.stop().await;
}

/// A thread swaps the workspace's `src` between a real folder and a link to
/// a folder outside, as fast as it can, while the editor's save route and
/// the chat agent's Write, Read and Grep run: nothing lands outside and
/// nothing is read from there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_swapped_for_a_link_never_redirects_a_save_or_a_read() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use minicode_server::agent::chat::tools;
    use rustix::fs::{RenameFlags, renameat_with};

    let app = spawn().await;
    let client = app.user("swapper").await;
    let pid = client.project("swapped").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let id = Uuid::parse_str(&pid).unwrap();
    let url = format!("/api/projects/{pid}/files/src/x.txt");
    assert_eq!(
        client
            .put(&url, &json!({"content": "inside"}))
            .await
            .status(),
        200
    );
    let outside = app.dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("x.txt"), "secret").unwrap();
    let workspace = app.server.state.workspaces.dir(id);
    std::os::unix::fs::symlink(&outside, workspace.join("src_alt")).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let swaps = Arc::new(AtomicUsize::new(0));
    let swapper = std::thread::spawn({
        let (stop, swaps) = (stop.clone(), swaps.clone());
        let root = std::fs::File::open(&workspace).unwrap();
        move || {
            // RENAME_EXCHANGE: `src` is always there, a folder or a link.
            while !stop.load(Ordering::Relaxed) && swaps.load(Ordering::Relaxed) < 5_000_000 {
                if renameat_with(&root, "src", &root, "src_alt", RenameFlags::EXCHANGE).is_err() {
                    break;
                }
                swaps.fetch_add(1, Ordering::Relaxed);
            }
        }
    });

    let state = &app.server.state;
    let deadline = std::time::Instant::now() + Duration::from_millis(2000);
    let mut rounds = 0;
    while std::time::Instant::now() < deadline && rounds < 10_000 {
        rounds += 1;
        let _ = client.put(&url, &json!({"content": "saved"})).await;
        let _ = tools::run(
            state,
            id,
            "Write",
            &json!({"path": "src/y.txt", "content": "written"}),
        )
        .await;
        let read = tools::run(state, id, "Read", &json!({"path": "src/x.txt"})).await;
        assert!(!read.content.contains("secret"), "{read:?}");
        let grep = tools::run(state, id, "Grep", &json!({"pattern": "secret"})).await;
        assert!(!grep.content.contains("secret"), "{grep:?}");
    }
    stop.store(true, Ordering::Relaxed);
    swapper.join().unwrap();

    let names: Vec<String> = std::fs::read_dir(&outside)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["x.txt"], "after {rounds} rounds");
    assert_eq!(
        std::fs::read_to_string(outside.join("x.txt")).unwrap(),
        "secret"
    );
    assert!(swaps.load(Ordering::Relaxed) > 100, "the swap ran");
    app.stop().await;
}

/// The paths of a project's live files, from `GET /files`.
async fn listed(client: &common::Client, pid: &str) -> Vec<String> {
    let tree: Value = client
        .get(&format!("/api/projects/{pid}/files"))
        .await
        .json()
        .await
        .unwrap();
    tree["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect()
}

/// Asserts a 409 `CONFLICT` whose sentence is `sentence`.
async fn assert_clash(res: reqwest::Response, sentence: &str) {
    assert_eq!(res.status(), 409);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "CONFLICT", "{body}");
    assert_eq!(body["error"], sentence, "{body}");
}

#[tokio::test]
async fn a_file_and_a_folder_of_the_same_name_are_refused_and_nothing_is_stored() {
    let app = spawn().await;
    let client = app.user("clasher").await;
    let pid = client.project("clash").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let id = Uuid::parse_str(&pid).unwrap();
    let put = |path: &str, content: &str| {
        let (client, url, body) = (
            &client,
            format!("/api/projects/{pid}/files/{path}"),
            json!({ "content": content }),
        );
        async move { client.put(&url, &body).await }
    };

    // File, then a file inside it.
    assert_eq!(put("src/app", "a file").await.status(), 200);
    assert_clash(
        put("src/app/x.txt", "inside").await,
        "src/app is a file, so it cannot hold src/app/x.txt",
    )
    .await;
    // Folder, then a file in its place.
    assert_eq!(put("conf/inner.txt", "inner").await.status(), 200);
    assert_clash(
        put("conf", "flat").await,
        "conf is a folder (it holds conf/inner.txt), so it cannot be a file",
    )
    .await;

    // Nothing of the refused writes is listed, readable, on disk or announced.
    assert_eq!(listed(&client, &pid).await, ["conf/inner.txt", "src/app"]);
    for refused in ["src/app/x.txt", "conf"] {
        let res = client
            .get(&format!("/api/projects/{pid}/files/{refused}"))
            .await;
        assert_eq!(error_code(res, 404).await, "NOT_FOUND", "{refused}");
    }
    let dir = app.server.state.workspaces.dir(id);
    assert_eq!(
        std::fs::read_to_string(dir.join("src/app")).unwrap(),
        "a file"
    );
    assert!(dir.join("conf").is_dir());
    let announced: Vec<String> = app
        .logged_events(id)
        .await
        .iter()
        .filter(|f| f.kind == "file_end")
        .map(|f| f.json().to_string())
        .collect();
    assert_eq!(announced.len(), 2, "{announced:?}");
    // A refused write takes no version: the next save of conf/inner.txt is 2.
    let res = put("conf/inner.txt", "v2").await;
    assert_eq!(res.json::<Value>().await.unwrap()["data"]["version"], 2);

    // The export holds no clash.
    let res = client.get(&format!("/api/projects/{pid}/export.zip")).await;
    assert_eq!(res.status(), 200);
    let bytes = res.bytes().await.unwrap();
    let zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut names: Vec<String> = zip
        .file_names()
        .filter(|n| !n.ends_with('/'))
        .map(|n| n.split_once('/').unwrap().1.to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["conf/inner.txt", "src/app"]);

    // Once the file is deleted, its name is free to become a folder.
    assert_eq!(
        client
            .delete(&format!("/api/projects/{pid}/files/src/app"))
            .await
            .status(),
        204
    );
    assert_eq!(put("src/app/x.txt", "now fine").await.status(), 200);
    assert_eq!(
        std::fs::read_to_string(dir.join("src/app/x.txt")).unwrap(),
        "now fine"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_upload_with_a_clash_is_refused_whole() {
    let app = spawn().await;
    let client = app.user("upclash").await;
    let pid = client.project("upclash").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let id = Uuid::parse_str(&pid).unwrap();
    let upload = |form: reqwest::multipart::Form| {
        let client = &client;
        let url = client.url(&format!("/api/projects/{pid}/files"));
        async move { client.http.post(url).multipart(form).send().await.unwrap() }
    };
    let part = |text: &str, name: &str| {
        reqwest::multipart::Part::text(text.to_string()).file_name(name.to_string())
    };
    assert_eq!(
        upload(reqwest::multipart::Form::new().part("file", part("x", "data")))
            .await
            .status(),
        201
    );

    // One good file and one inside the existing file `public/data`.
    let form = reqwest::multipart::Form::new()
        .part("file", part("fine", "ok.txt"))
        .text("dir", "public/data")
        .part("file", part("inside", "rows.csv"));
    assert_clash(
        upload(form).await,
        "public/data is a file, so it cannot hold public/data/rows.csv",
    )
    .await;
    // Two entries of one batch that clash with each other.
    let form = reqwest::multipart::Form::new()
        .text("dir", "src")
        .part("file", part("a file", "lib"))
        .text("dir", "src/lib")
        .part("file", part("inside", "util.ts"));
    assert_clash(
        upload(form).await,
        "src/lib is a file, so it cannot hold src/lib/util.ts",
    )
    .await;

    assert_eq!(listed(&client, &pid).await, ["public/data"]);
    let dir = app.server.state.workspaces.dir(id);
    assert!(!dir.join("public/ok.txt").exists());
    assert!(!dir.join("src").exists());
    app.stop().await;
}

/// Issue 19 (2): a change made on an element picked in the preview is
/// written into its JSX at the reported place, with an undo point named
/// after it; a place that no longer holds that element, a value that is
/// not plain, and a stranger all change nothing.
#[tokio::test]
async fn a_visual_edit_writes_the_source_and_can_be_undone() {
    let app = spawn().await;
    let client = app.user("pointer").await;
    let stranger = app.user("pointerstranger").await;
    let pid = client.project("Visual").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let id = Uuid::parse_str(&pid).unwrap();
    let original = "export default function App() {\n  return (\n    <main>\n      <h1 className=\"title\">Hello</h1>\n    </main>\n  );\n}\n";
    let file = format!("/api/projects/{pid}/files/src/App.tsx");
    assert_eq!(
        client
            .put(&file, &json!({ "content": original }))
            .await
            .status(),
        200
    );
    let url = minicode::paths::project_visual_edit(id);
    let colour = json!({
        "path": "src/App.tsx", "line": 4, "column": 7, "tag": "h1",
        "change": {"kind": "style", "property": "color", "value": "#ff0000"}
    });

    // Refused: wrong place, hostile value, stranger — nothing is stored.
    let wrong_place = json!({
        "path": "src/App.tsx", "line": 3, "column": 5, "tag": "h1",
        "change": {"kind": "style", "property": "color", "value": "#ff0000"}
    });
    let hostile = json!({
        "path": "src/App.tsx", "line": 4, "column": 7, "tag": "h1",
        "change": {"kind": "style", "property": "color", "value": "red}} onClick={steal"}
    });
    let outside = json!({
        "path": "../../etc/passwd", "line": 1, "column": 1, "tag": "h1",
        "change": {"kind": "text", "from": "x", "to": "y"}
    });
    for (body, status) in [(&wrong_place, 422), (&hostile, 422), (&outside, 422)] {
        assert_eq!(client.post(&url, body).await.status(), status, "{body}");
    }
    assert_eq!(stranger.post(&url, &colour).await.status(), 404);
    async fn stored(client: &common::Client, file: &str) -> String {
        let body: Value = client.get(file).await.json().await.unwrap();
        body["data"]["content"].as_str().unwrap().to_string()
    }
    assert_eq!(stored(&client, &file).await, original);

    // The colour, then the text: both land in the source.
    assert_eq!(client.post(&url, &colour).await.status(), 200);
    let text = json!({
        "path": "src/App.tsx", "line": 4, "column": 7, "tag": "h1",
        "change": {"kind": "text", "from": "Hello", "to": "Hi there"}
    });
    assert_eq!(client.post(&url, &text).await.status(), 200);
    assert_eq!(
        stored(&client, &file).await,
        original.replace(
            "<h1 className=\"title\">Hello</h1>",
            "<h1 className=\"title\" style={{ color: \"#ff0000\" }}>Hi there</h1>"
        )
    );

    // Each is an undo point named after it; the first one takes both back.
    let list: Value = client
        .get(&format!("/api/projects/{pid}/checkpoints"))
        .await
        .json()
        .await
        .unwrap();
    let messages: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["message"].as_str().unwrap())
        .collect();
    assert_eq!(
        &messages[..2],
        [
            "Before: change the <h1> text to \u{201c}Hi there\u{201d}",
            "Before: change the <h1> color to #ff0000"
        ]
    );
    let first = list["data"][1]["id"].as_str().unwrap();
    let res = client
        .post(
            &format!("/api/projects/{pid}/checkpoints/{first}/restore"),
            &json!({}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(stored(&client, &file).await, original);
    app.stop().await;
}
