//! New projects from outside: the zip export imported back is the same
//! project, byte for byte (and exports to the same zip); bad zips (not a
//! zip, a path that leaves the folder, a link, a bomb) are refused with a
//! 4xx and create nothing; a git repository is imported from a local bare
//! repository when the operator allows file remotes, and a `file://` URL is
//! refused when not.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use base64::Engine;
use common::{Client, spawn_with};
use serde_json::{Value, json};

/// Every byte value, then some: a file that is not UTF-8.
fn binary() -> Vec<u8> {
    (0..=255u8).cycle().take(3000).collect()
}

fn project_files() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (
            "index.html",
            b"<!doctype html>\n<div id=\"root\"></div>\n".to_vec(),
        ),
        ("public/img/logo.bin", binary()),
        (
            "src/components/deep/Button.tsx",
            "export const Button = () => <button>Ça marche</button>;\n".into(),
        ),
        ("src/empty.txt", Vec::new()),
        // Incompressible and larger than the JSON body limit: the zip's
        // request is held to the upload limit instead.
        ("public/noise.bin", noise(1_500_000)),
    ]
}

/// `len` bytes that do not compress (a xorshift sequence).
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

async fn put_bytes(client: &Client, pid: &str, path: &str, bytes: &[u8]) {
    let content = base64::engine::general_purpose::STANDARD.encode(bytes);
    let res = client
        .put(
            &format!("/api/projects/{pid}/files/{path}"),
            &json!({"content": content, "encoding": "base64"}),
        )
        .await;
    assert_eq!(res.status(), 200, "save {path}");
}

/// Every live file of a project, read through the API.
async fn files_of(client: &Client, pid: &str) -> BTreeMap<String, Vec<u8>> {
    let tree: Value = client
        .get(&format!("/api/projects/{pid}/files"))
        .await
        .json()
        .await
        .unwrap();
    let mut out = BTreeMap::new();
    for entry in tree["data"].as_array().unwrap() {
        let path = entry["path"].as_str().unwrap();
        let res = client
            .get(&format!("/api/projects/{pid}/files/{path}"))
            .await;
        assert_eq!(res.status(), 200, "{path}");
        let file: Value = res.json().await.unwrap();
        let content = file["data"]["content"].as_str().unwrap();
        let bytes = if file["data"]["encoding"] == "base64" {
            base64::engine::general_purpose::STANDARD
                .decode(content)
                .unwrap()
        } else {
            content.as_bytes().to_vec()
        };
        out.insert(path.to_string(), bytes);
    }
    out
}

async fn export(client: &Client, pid: &str) -> Vec<u8> {
    let res = client.get(&format!("/api/projects/{pid}/export.zip")).await;
    assert_eq!(res.status(), 200);
    res.bytes().await.unwrap().to_vec()
}

async fn import_zip(client: &Client, bytes: Vec<u8>, name: Option<&str>) -> reqwest::Response {
    let mut form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(bytes).file_name("upload.zip"),
    );
    if let Some(name) = name {
        form = form.text("name", name.to_string());
    }
    client
        .http
        .post(client.url("/api/projects/import"))
        .multipart(form)
        .send()
        .await
        .unwrap()
}

async fn project_count(client: &Client) -> u64 {
    let page: Value = client
        .get("/api/projects?limit=100")
        .await
        .json()
        .await
        .unwrap();
    page["total"].as_u64().unwrap()
}

fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, content) in entries {
        zip.start_file(*name, options).unwrap();
        zip.write_all(content).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

#[tokio::test]
async fn an_exported_zip_imports_as_the_same_project() {
    let app = spawn_with(&[]).await;
    let client = app.user("importer").await;
    let pid = client.project("Round Trip").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    for (path, bytes) in project_files() {
        put_bytes(&client, &pid, path, &bytes).await;
    }
    let original = files_of(&client, &pid).await;
    assert_eq!(original.len(), 5);
    let zip = export(&client, &pid).await;

    let res = import_zip(&client, zip.clone(), None).await;
    assert_eq!(res.status(), 201);
    let imported: Value = res.json().await.unwrap();
    // Named after the export's folder, so it exports under the same one.
    assert_eq!(imported["data"]["name"], "round-trip");
    let copy = imported["data"]["id"].as_str().unwrap().to_string();
    assert_ne!(copy, pid);
    assert_eq!(files_of(&client, &copy).await, original);
    assert_eq!(export(&client, &copy).await, zip, "the export round-trips");

    // Its history starts with the import.
    let history: Value = client
        .get(&format!("/api/projects/{copy}/history"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(history["total"], 1, "{history}");
    assert!(
        history["data"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("Import from a zip"),
        "{history}"
    );

    // A name given wins; files at the zip's top level are taken as they are.
    let res = import_zip(
        &client,
        zip_of(&[("a.txt", b"a"), ("src/b.ts", b"b")]),
        Some("Mine"),
    )
    .await;
    assert_eq!(res.status(), 201);
    let mine: Value = res.json().await.unwrap();
    assert_eq!(mine["data"]["name"], "Mine");
    let files = files_of(&client, mine["data"]["id"].as_str().unwrap()).await;
    assert_eq!(files.keys().collect::<Vec<_>>(), ["a.txt", "src/b.ts"]);
    app.stop().await;
}

#[tokio::test]
async fn bad_zips_are_refused_and_create_nothing() {
    let app = spawn_with(&[
        "--max-file-bytes",
        "100000",
        "--import-max-bytes",
        "150000",
        "--max-files",
        "5",
    ])
    .await;
    let client = app.user("refused").await;
    let before = project_count(&client).await;

    let mut link = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    link.add_symlink(
        "app/secret",
        "/etc/passwd",
        zip::write::SimpleFileOptions::default(),
    )
    .unwrap();
    let link = link.finish().unwrap().into_inner();
    // Compresses to almost nothing; unpacked it is over the file limit.
    let bomb = vec![0u8; 10_000_000];
    let half = vec![7u8; 80_000];
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("not a zip", b"PK but not really".to_vec(), 422),
        ("leaves the folder", zip_of(&[("../evil.txt", b"x")]), 422),
        ("absolute", zip_of(&[("/etc/cron.d/x", b"x")]), 422),
        (
            "reserved folder",
            zip_of(&[("node_modules/x.js", b"x"), ("a.txt", b"a")]),
            422,
        ),
        ("a link", link, 422),
        ("a bomb", zip_of(&[("app/zeros", &bomb)]), 413),
        (
            "too much in all",
            zip_of(&[("a", &half), ("b", &half)]),
            413,
        ),
        (
            "too many files",
            zip_of(&[
                ("1", b""),
                ("2", b""),
                ("3", b""),
                ("4", b""),
                ("5", b""),
                ("6", b""),
            ]),
            422,
        ),
        ("a clash", zip_of(&[("x/a", b"1"), ("x/a/b", b"2")]), 422),
        ("empty", zip_of(&[]), 422),
    ];
    for (what, bytes, status) in cases {
        let res = import_zip(&client, bytes, None).await;
        let code = res.status().as_u16();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        assert_eq!(code, status, "{what}: {body}");
        assert!(
            body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{what}: {body}"
        );
    }
    // No `file` part at all.
    let res = client
        .http
        .post(client.url("/api/projects/import"))
        .multipart(reqwest::multipart::Form::new().text("name", "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    assert_eq!(project_count(&client).await, before, "nothing was created");
    app.stop().await;
}

/// A bare repository `origin.git` holding [`project_files`] (and a link,
/// which is not imported), made from a scratch clone.
fn bare_repository(root: &Path) -> std::path::PathBuf {
    let bare = root.join("origin.git");
    common::git(
        root,
        "tester",
        &[
            "init",
            "--quiet",
            "--bare",
            "--initial-branch=main",
            "origin.git",
        ],
    );
    let work = root.join("work");
    common::git(root, "tester", &["clone", "--quiet", "origin.git", "work"]);
    for (path, bytes) in project_files() {
        let file = work.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, bytes).unwrap();
    }
    std::os::unix::fs::symlink("/etc/passwd", work.join("link")).unwrap();
    common::git(&work, "tester", &["add", "-A"]);
    common::git(&work, "tester", &["commit", "--quiet", "-m", "first"]);
    common::git(&work, "tester", &["push", "--quiet", "origin", "HEAD:main"]);
    bare
}

#[tokio::test]
async fn a_git_repository_imports_with_its_files() {
    let app = spawn_with(&["--git-allow-file-remotes"]).await;
    let client = app.user("cloner").await;
    let root = tempfile::tempdir().unwrap();
    let bare = bare_repository(root.path());
    let url = format!("file://{}", bare.display());

    let res = client
        .post("/api/projects/import/git", &json!({"url": url}))
        .await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let project: Value = res.json().await.unwrap();
    assert_eq!(project["data"]["name"], "origin");
    let pid = project["data"]["id"].as_str().unwrap();
    let expected: BTreeMap<String, Vec<u8>> = project_files()
        .into_iter()
        .map(|(p, b)| (p.to_string(), b))
        .collect();
    assert_eq!(files_of(&client, pid).await, expected, "links are left out");

    // Not a repository: a 400 with git's reason, and no project.
    let before = project_count(&client).await;
    let missing = format!("file://{}/nothing.git", root.path().display());
    let res = client
        .post("/api/projects/import/git", &json!({"url": missing}))
        .await;
    assert_eq!(res.status(), 400);
    assert_eq!(project_count(&client).await, before);
    app.stop().await;
}

/// Security: by default a stranger cannot make the server read its own
/// folders through a `file://` (or any non-https) URL.
#[tokio::test]
async fn file_urls_are_refused_by_default() {
    let app = spawn_with(&[]).await;
    let client = app.user("stranger").await;
    let root = tempfile::tempdir().unwrap();
    let bare = bare_repository(root.path());
    let before = project_count(&client).await;
    for url in [
        format!("file://{}", bare.display()),
        bare.display().to_string(),
        "ext::sh -c id".to_string(),
        "ssh://git@localhost/x.git".to_string(),
        "https://user:pw@example.invalid/x.git".to_string(),
    ] {
        let res = client
            .post("/api/projects/import/git", &json!({"url": url}))
            .await;
        let status = res.status().as_u16();
        let body: Value = res.json().await.unwrap();
        assert_eq!(status, 422, "{url}: {body}");
        assert_eq!(body["code"], "VALIDATION_FAILED", "{url}: {body}");
    }
    assert_eq!(project_count(&client).await, before);
    app.stop().await;
}
