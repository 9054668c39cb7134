//! Publishing end to end: a real `vite build` of the fixture app in the
//! process sandbox, the deployment served from its own host (`*.apps.localhost`,
//! reached on 127.0.0.1), redeploy, rollback, a failed build that keeps the
//! live site, visibility (private lets in the owner only), unpublish, and
//! build output that links out of the sandbox.

mod common;

use common::{Client, TestApp, spawn};
use serde_json::{Value, json};

async fn publish(client: &Client, pid: &str) -> Value {
    let res = client
        .post(&format!("/api/projects/{pid}/deployments"), &json!({}))
        .await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    body["data"].clone()
}

async fn publishing(client: &Client, pid: &str) -> Value {
    let res = client
        .get(&format!("/api/projects/{pid}/deployments"))
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    body["data"].clone()
}

async fn put(client: &Client, pid: &str, path: &str, content: &str) {
    let res = client
        .put(
            &format!("/api/projects/{pid}/files/{path}"),
            &json!({"content": content}),
        )
        .await;
    assert_eq!(res.status(), 200, "PUT {path}");
}

/// GETs `url` (a site's) as a browser would, following redirects.
async fn visit(client: &Client, url: &str, accept: &str) -> reqwest::Response {
    let mut url = reqwest::Url::parse(url).unwrap();
    let mut res = client
        .http
        .get(url.clone())
        .header("accept", accept)
        .send()
        .await
        .unwrap();
    for _ in 0..4 {
        if !res.status().is_redirection() {
            break;
        }
        let location = res.headers()["location"].to_str().unwrap().to_string();
        url = url.join(&location).unwrap();
        res = client
            .http
            .get(url.clone())
            .header("accept", accept)
            .send()
            .await
            .unwrap();
    }
    res
}

const HTML: &str = "text/html,application/xhtml+xml";

/// The page's script, as the build named it (`/assets/index-<hash>.js`).
fn script_of(html: &str) -> String {
    let start = html.find("/assets/").expect("an asset in the page");
    let end = start + html[start..].find('"').unwrap();
    html[start..end].to_string()
}

/// The site's page and script text.
async fn served(client: &Client, site: &str) -> (reqwest::header::HeaderMap, String, String) {
    let res = visit(client, &format!("{site}/"), HTML).await;
    assert_eq!(res.status(), 200);
    let headers = res.headers().clone();
    let html = res.text().await.unwrap();
    let script = visit(client, &format!("{site}{}", script_of(&html)), "*/*").await;
    assert_eq!(script.status(), 200);
    (headers, html, script.text().await.unwrap())
}

async fn fixture_project(app: &TestApp, owner: &Client) -> String {
    let _ = app;
    let pid = owner.project("Fixture Site").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    owner.upload_fixture(&pid).await;
    pid
}

#[tokio::test]
async fn publishing_keeps_the_preview_running() {
    let app = spawn().await;
    let owner = app.user("previewkeeper").await;
    let pid = common::running_fixture(&app, &owner, "Kept preview").await;
    let project = uuid::Uuid::parse_str(&pid).unwrap();
    let before = app.server.state.sandboxes.upstream(project);
    assert!(before.is_some(), "the dev server runs");
    let deployment = publish(&owner, &pid).await;
    assert_eq!(deployment["status"], "ready", "{deployment}");
    // The build ran next to the dev server and left it alone.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(app.server.state.sandboxes.upstream(project), before);
    let events = app.logged_events(project).await;
    assert!(
        !events.iter().any(|e| e.json().contains("SANDBOX_CRASHED")),
        "no crash reported"
    );
    let res = owner.preview(&format!("/preview/{pid}/")).await;
    assert_eq!(res.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn publish_redeploy_roll_back_fail_hide_and_unpublish() {
    let app = spawn().await;
    let owner = app.user("siteowner").await;
    let stranger = app.user("sitestranger").await;
    let anyone = app.bare_client();
    let pid = fixture_project(&app, &owner).await;

    // Strangers can neither see nor publish the project's deployments.
    let res = stranger
        .get(&format!("/api/projects/{pid}/deployments"))
        .await;
    assert_eq!(res.status(), 404);
    let res = stranger
        .post(&format!("/api/projects/{pid}/deployments"), &json!({}))
        .await;
    assert_eq!(res.status(), 404);

    // The first publish builds the app and serves it at an unlisted address.
    let first = publish(&owner, &pid).await;
    assert_eq!(first["status"], "ready", "{first}");
    assert_eq!(first["number"], 1);
    assert_eq!(first["live"], true);
    assert!(first["files"].as_u64().unwrap() >= 2, "{first}");
    let site = publishing(&owner, &pid).await["site"].clone();
    assert_eq!(site["visibility"], "unlisted");
    assert_eq!(site["slug"].as_str().unwrap().len(), 26);
    let url = site["url"].as_str().unwrap().to_string();
    assert!(
        url.starts_with("http://") && url.contains(".apps.localhost:"),
        "{url}"
    );

    let (headers, html, script) = served(&anyone, &url).await;
    assert!(html.contains("<div id=\"root\">"), "{html}");
    assert!(script.contains("Hello from the fixture app"));
    assert_eq!(
        headers["cache-control"], "no-cache",
        "index.html is revalidated"
    );
    let asset = visit(&anyone, &format!("{url}{}", script_of(&html)), "*/*").await;
    assert_eq!(
        asset.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(
        asset.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    // A deep link is the app's route: index.html; a missing asset is 404.
    let deep = visit(&anyone, &format!("{url}/habits/42?tab=week"), HTML).await;
    assert_eq!(deep.status(), 200);
    assert_eq!(deep.text().await.unwrap(), html);
    let missing = visit(&anyone, &format!("{url}/assets/missing-1234.js"), "*/*").await;
    assert_eq!(missing.status(), 404);
    // The site host takes no writes and reaches nothing of minicode's.
    let api = visit(&anyone, &format!("{url}/api/projects"), "application/json").await;
    assert_eq!(
        api.text().await.unwrap(),
        html,
        "the app's route, not the API"
    );
    let post = anyone
        .http
        .post(format!("{url}/api/projects"))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 405);

    // A redeploy serves the new build; a rollback the old one.
    put(
        &owner,
        &pid,
        "src/App.tsx",
        "export default function App() {\n  return <h1>Version two</h1>;\n}\n",
    )
    .await;
    let second = publish(&owner, &pid).await;
    assert_eq!(
        (second["number"].as_u64(), second["status"].as_str()),
        (Some(2), Some("ready"))
    );
    let (_, _, script) = served(&anyone, &url).await;
    assert!(script.contains("Version two"));
    let first_id = first["id"].as_str().unwrap();
    let res = owner
        .post(
            &format!("/api/projects/{pid}/deployments/{first_id}/activate"),
            &json!({}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let (_, _, script) = served(&anyone, &url).await;
    assert!(script.contains("Hello from the fixture app"));

    // A build that fails is kept with its log, changes nothing served, and
    // is announced like any error of the app.
    put(
        &owner,
        &pid,
        "src/App.tsx",
        "export default function App( {\n  return <h1>Broken</h1>;\n}\n",
    )
    .await;
    let failed = publish(&owner, &pid).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["live"], false);
    assert!(
        failed["error"].as_str().unwrap().contains("build failed"),
        "{failed}"
    );
    let log = failed["logTail"].as_array().unwrap();
    assert!(
        log.iter().any(|l| l.as_str().unwrap().contains("App.tsx")),
        "the log names the file: {log:?}"
    );
    let (_, _, script) = served(&anyone, &url).await;
    assert!(
        script.contains("Hello from the fixture app"),
        "the live site stays"
    );
    let events = app
        .logged_events(uuid::Uuid::parse_str(&pid).unwrap())
        .await;
    assert!(
        events
            .iter()
            .any(|e| e.kind == "error" && e.json().contains("BUILD_FAILED")),
        "a BUILD_FAILED error event"
    );
    let all = publishing(&owner, &pid).await;
    let numbers: Vec<u64> = all["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["number"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, vec![3, 2, 1], "newest first");
    // A failed deployment cannot be made live.
    let failed_id = failed["id"].as_str().unwrap();
    let res = owner
        .post(
            &format!("/api/projects/{pid}/deployments/{failed_id}/activate"),
            &json!({}),
        )
        .await;
    assert_eq!(res.status(), 422);

    // Private: a new address, 404 to everyone but the owner, who enters
    // through minicode with a ticket; the site never gets minicode's cookie.
    let res = owner
        .patch(
            &format!("/api/projects/{pid}/site"),
            &json!({"visibility": "private"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let private: Value = res.json().await.unwrap();
    let private_url = private["data"]["url"].as_str().unwrap().to_string();
    assert!(
        private["data"]["slug"]
            .as_str()
            .unwrap()
            .starts_with("fixture-site-")
    );
    assert_ne!(private_url, url);
    assert_eq!(
        visit(&anyone, &format!("{url}/"), HTML).await.status(),
        404,
        "the old address is gone"
    );
    assert_eq!(
        visit(&anyone, &format!("{private_url}/"), HTML)
            .await
            .status(),
        404
    );
    assert_eq!(
        visit(&stranger, &format!("{private_url}/"), HTML)
            .await
            .status(),
        404
    );
    let res = stranger
        .get(&format!("/api/projects/{pid}/site/open"))
        .await;
    assert_eq!(res.status(), 404);
    assert_eq!(
        visit(&owner, &format!("{private_url}/"), HTML)
            .await
            .status(),
        404,
        "not without the ticket"
    );
    let entered = visit(
        &owner,
        &owner.url(&format!("/api/projects/{pid}/site/open")),
        HTML,
    )
    .await;
    assert_eq!(entered.status(), 200);
    assert!(entered.text().await.unwrap().contains("<div id=\"root\">"));
    let cookies = owner
        .cookies_for(&format!("{private_url}/"))
        .unwrap_or_default();
    assert!(cookies.contains("minicode_site"), "{cookies}");
    assert!(!cookies.contains("minicode_session"), "{cookies}");
    // A forged or expired ticket opens nothing.
    let forged = visit(
        &anyone,
        &format!("{private_url}/__minicode/enter?ticket=abc.def"),
        HTML,
    )
    .await;
    assert_eq!(forged.status(), 404);
    assert_eq!(
        visit(&anyone, &format!("{private_url}/"), HTML)
            .await
            .status(),
        404
    );

    // Unpublished: 404 for everyone, the owner too; deployments are kept.
    let res = owner.delete(&format!("/api/projects/{pid}/site")).await;
    assert_eq!(res.status(), 204);
    assert_eq!(
        visit(&owner, &format!("{private_url}/"), HTML)
            .await
            .status(),
        404
    );
    assert_eq!(
        publishing(&owner, &pid).await["deployments"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    app.stop().await;
}

#[tokio::test]
async fn build_output_that_links_out_of_the_sandbox_is_never_read() {
    let app = spawn().await;
    let owner = app.user("linkowner").await;
    let anyone = app.bare_client();
    let pid = fixture_project(&app, &owner).await;
    // A hostile config: after the build, links in the output point at the
    // host's files and at the project's own package.json.
    put(
        &owner,
        &pid,
        "vite.config.ts",
        "import { defineConfig } from 'vite';\nimport fs from 'node:fs';\nimport path from 'node:path';\n\nexport default defineConfig({\n  esbuild: { jsx: 'automatic' },\n  plugins: [{\n    name: 'leak',\n    writeBundle(options) {\n      fs.symlinkSync('/etc/passwd', path.join(options.dir, 'passwd.txt'));\n      fs.symlinkSync('/etc', path.join(options.dir, 'etc'));\n      fs.writeFileSync(path.join(options.dir, 'plain.txt'), 'plain file');\n    },\n  }],\n});\n",
    )
    .await;
    let deployment = publish(&owner, &pid).await;
    assert_eq!(deployment["status"], "ready", "{deployment}");
    let url = publishing(&owner, &pid).await["site"]["url"]
        .as_str()
        .unwrap()
        .to_string();
    let plain = visit(&anyone, &format!("{url}/plain.txt"), "*/*").await;
    assert_eq!(plain.status(), 200);
    assert_eq!(plain.text().await.unwrap(), "plain file");
    let index = visit(&anyone, &format!("{url}/"), HTML)
        .await
        .text()
        .await
        .unwrap();
    let res = visit(&anyone, &format!("{url}/passwd.txt"), "*/*").await;
    assert_eq!(res.status(), 404);
    assert!(
        !res.text().await.unwrap().contains("root:"),
        "the link was followed"
    );
    // A path under the linked folder is no file: the app's route (its page).
    for route in ["/etc/passwd", "/etc/hostname"] {
        let res = visit(&anyone, &format!("{url}{route}"), "*/*").await;
        let body = res.text().await.unwrap();
        assert!(!body.contains("root:"), "{route} leaked");
        assert_eq!(body, index, "{route}");
    }
    app.stop().await;
}
