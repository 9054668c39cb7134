//! The docker sandbox against a real Docker engine: the Vite + React fixture
//! installed and served from a container behind minicode's preview proxy,
//! the container's limits and isolation, cleanup on stop, delete and
//! shutdown, orphan reaping, and commands that fail, time out or are
//! cancelled.
//!
//! Skipped unless `MINICODE_TEST_DOCKER=1`: they need an engine and the
//! sandbox image (`scripts/docker-start` provides both).

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{spawn_with, wait_until};
use minicode_server::events::EventBus;
use minicode_server::sandbox::SandboxError;
use minicode_server::sandbox::backend::{Backend, CommandSpec, ProjectEnv};
use minicode_server::sandbox::docker::{
    DockerBackend, DockerLimits, LABEL_INSTANCE, LABEL_PROJECT, SANDBOX_UID, instance_id,
};
use minicode_server::sandbox::logs::{LogBuffer, LogSink};
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Long enough for a cold `npm install` in a container on a slow machine.
const INSTALL: Duration = Duration::from_secs(300);
const IMAGE: &str = "minicode-sandbox:latest";
const SECRET: &str = "sk-minicode-docker-test-secret-4242";

fn enabled(test: &str) -> bool {
    let on = std::env::var("MINICODE_TEST_DOCKER").is_ok_and(|v| v == "1");
    if !on {
        eprintln!("skipping {test}: set MINICODE_TEST_DOCKER=1 (and run scripts/docker-start)");
    }
    on
}

/// `docker …` through the CLI: the tests check the engine independently of
/// the code under test. Returns stdout; panics on failure.
fn docker(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("docker CLI");
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Ids of containers (running or not) with `label=value`.
fn containers_with(label: &str, value: &str) -> Vec<String> {
    docker(&[
        "ps",
        "-aq",
        "--no-trunc",
        "--filter",
        &format!("label={label}={value}"),
    ])
    .lines()
    .map(str::to_string)
    .collect()
}

async fn no_container_within(project: &str, limit: Duration) -> bool {
    wait_until(limit, || async {
        containers_with(LABEL_PROJECT, project).is_empty()
    })
    .await
}

async fn docker_app(extra: &[&str]) -> common::TestApp {
    let mut args = vec!["--sandbox", "docker", "--docker-image", IMAGE];
    args.extend_from_slice(extra);
    spawn_with(&args).await
}

#[tokio::test]
async fn preview_runs_in_a_locked_down_container_for_its_owner_only() {
    if !enabled("preview_runs_in_a_locked_down_container_for_its_owner_only") {
        return;
    }
    let app = docker_app(&[
        "--sandbox-memory-mb",
        "1536",
        "--sandbox-pids",
        "300",
        "--sandbox-cpus",
        "1.5",
        "--openai-api-key",
        SECRET,
    ])
    .await;
    assert_eq!(app.server.state.sandboxes.kind().as_str(), "docker");
    let owner = app.user("dockerowner").await;
    let project = owner.project("Docker fixture").await;
    let pid = project["id"].as_str().unwrap().to_string();
    let id = Uuid::parse_str(&pid).unwrap();
    let preview = format!("/preview/{pid}/");
    owner.upload_fixture(&pid).await;

    // The first request starts the sandbox in the background.
    let res = owner.preview(&preview).await;
    assert_eq!(res.status(), 503);
    let ready = wait_until(INSTALL, || async {
        owner.preview(&preview).await.status() == 200
    })
    .await;
    assert!(
        ready,
        "preview never came up: {:?}",
        app.server.state.sandboxes.status(id)
    );
    let html = owner.preview(&preview).await.text().await.unwrap();
    assert!(html.contains("<div id=\"root\"></div>"), "{html}");
    assert!(html.contains("\"/@vite/client\""), "{html}");
    let module = owner.preview(&format!("/preview/{pid}/src/App.tsx")).await;
    assert_eq!(module.status(), 200);
    assert!(
        module
            .text()
            .await
            .unwrap()
            .contains("Hello from the fixture app")
    );

    // Nobody else sees it.
    let intruder = app.user("dockerintruder").await;
    for client in [&intruder, &app.client()] {
        assert_eq!(client.preview(&preview).await.status(), 404);
    }

    // Exactly one container, ours, with the configured limits.
    let ids = containers_with(LABEL_PROJECT, &pid);
    assert_eq!(ids.len(), 1, "{ids:?}");
    let inspect: Value = serde_json::from_str(&docker(&["inspect", &ids[0]])).unwrap();
    let c = &inspect[0];
    let host = &c["HostConfig"];
    assert_eq!(host["Memory"], 1536_i64 * 1024 * 1024, "{host}");
    assert_eq!(host["MemorySwap"], host["Memory"], "no swap on top");
    assert_eq!(host["NanoCpus"], 1_500_000_000_i64);
    assert_eq!(host["PidsLimit"], 300);
    assert_eq!(host["Privileged"], false);
    assert_eq!(host["ReadonlyRootfs"], true);
    assert_eq!(host["CapDrop"], serde_json::json!(["ALL"]));
    assert!(
        host["SecurityOpt"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o == "no-new-privileges"),
        "{host}"
    );
    // No network at all: nothing published, the bridge's socket is the only way in.
    assert_eq!(host["NetworkMode"], "none", "{host}");
    assert!(
        host["PortBindings"]
            .as_object()
            .is_none_or(|b| b.is_empty()),
        "{host}"
    );
    assert_eq!(
        c["Config"]["Labels"][LABEL_INSTANCE]
            .as_str()
            .unwrap()
            .len(),
        12
    );

    // Not root inside, and only the workspace, its modules (read-only) with
    // Vite's folders, the bridge's socket folder and minicode's tools
    // (read-only) are mounted: not the npm cache.
    let uid = docker(&["exec", &ids[0], "id", "-u"]);
    assert_ne!(uid.trim(), "0", "the sandbox runs as root");
    let mounts: Vec<&str> = c["Mounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["Destination"].as_str().unwrap())
        .collect();
    let mut sorted = mounts.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            "/opt/minicode",
            "/run/minicode",
            "/workspace",
            "/workspace/node_modules",
            "/workspace/node_modules/.vite",
            "/workspace/node_modules/.vite-temp"
        ],
        "{mounts:?}"
    );
    for m in c["Mounts"].as_array().unwrap() {
        let read_only = ["/workspace/node_modules", "/opt/minicode"]
            .contains(&m["Destination"].as_str().unwrap());
        assert_eq!(m["RW"], !read_only, "{m}");
    }

    // The server's secrets are not in the container's environment, neither
    // in its configuration nor in what a running command sees.
    let config_env = c["Config"]["Env"].to_string();
    assert!(!config_env.contains(SECRET), "{config_env}");
    assert!(!config_env.contains("OPENAI_API_KEY"));
    let env = docker(&["exec", &ids[0], "env"]);
    assert!(
        env.contains(&format!("MINICODE_SANDBOX_PROJECT={pid}")),
        "{env}"
    );
    assert!(!env.contains(SECRET), "{env}");
    assert!(
        !env.contains("CARGO"),
        "the server's environment leaked: {env}"
    );

    // The app's modules are the store's, read-only: npm wrote nothing into
    // the workspace, and the app cannot change a module another project uses.
    let workspace = app.server.state.workspaces.dir(id);
    assert!(
        !workspace.join("node_modules/.package-lock.json").is_file(),
        "npm ran in the store, not in the workspace"
    );
    let server_uid = nix::unistd::getuid().as_raw();
    let expected_owner = if server_uid == 0 {
        SANDBOX_UID
    } else {
        server_uid
    };
    assert_eq!(uid.trim(), expected_owner.to_string());
    let tamper = docker(&[
        "exec",
        &ids[0],
        "sh",
        "-c",
        "echo pwned > /workspace/node_modules/vite/package.json && echo WROTE || echo refused",
    ]);
    assert!(tamper.contains("refused"), "{tamper}");
    // What the app writes in its workspace is still the server's to change.
    docker(&[
        "exec",
        &ids[0],
        "sh",
        "-c",
        "echo app > /workspace/made-by-app.txt",
    ]);
    let made = workspace.join("made-by-app.txt");
    assert_eq!(
        std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&made).unwrap()),
        expected_owner
    );
    std::fs::OpenOptions::new()
        .append(true)
        .open(&made)
        .expect("the server can still write the app's files");

    // Stop leaves no container.
    app.server.state.sandboxes.stop(id).await;
    assert!(
        no_container_within(&pid, Duration::from_secs(10)).await,
        "{:?}",
        containers_with(LABEL_PROJECT, &pid)
    );
    // The next request brings it back in a new container; shutdown removes it.
    assert!(
        wait_until(Duration::from_secs(120), || async {
            owner.preview(&preview).await.status() == 200
        })
        .await,
        "restarts on demand: {:?}",
        app.server.state.sandboxes.status(id)
    );
    assert_eq!(containers_with(LABEL_PROJECT, &pid).len(), 1);
    app.stop().await;
    assert!(
        containers_with(LABEL_PROJECT, &pid).is_empty(),
        "a container outlived the server"
    );
}

/// A generation run's later phase (install, then start) keeps or restarts
/// the dev server cleanly; see `common::later_phase_keeps_or_restarts`.
#[tokio::test]
async fn a_later_phase_keeps_the_dev_server_or_restarts_it_cleanly() {
    if !enabled("a_later_phase_keeps_the_dev_server_or_restarts_it_cleanly") {
        return;
    }
    let app = docker_app(&[]).await;
    common::later_phase_keeps_or_restarts(&app, |pid| containers_with(LABEL_PROJECT, pid)).await;
    app.stop().await;
}

#[tokio::test]
async fn delete_and_shutdown_leave_no_container() {
    if !enabled("delete_and_shutdown_leave_no_container") {
        return;
    }
    // A cache of its own: with the shared one, a module snapshot left by an
    // earlier run would be linked in and no command would run at all.
    let cache = tempfile::tempdir().unwrap();
    let app = docker_app(&["--sandbox-cache-dir", &cache.path().display().to_string()]).await;
    let owner = app.user("dockerdeleter").await;
    // Two running apps: each has its container (and the store's install
    // container is gone once the install is done).
    let mut ids = Vec::new();
    for name in ["Deleted", "Left running"] {
        let project = owner.project(name).await;
        let pid = project["id"].as_str().unwrap().to_string();
        owner.upload_fixture(&pid).await;
        app.server
            .state
            .sandboxes
            .ensure_running(Uuid::parse_str(&pid).unwrap(), &CancellationToken::new())
            .await
            .expect("the app starts");
        assert_eq!(containers_with(LABEL_PROJECT, &pid).len(), 1);
        ids.push(pid);
    }
    // Deleting the project removes its container.
    let res = owner.delete(&format!("/api/projects/{}", ids[0])).await;
    assert!(res.status().is_success(), "{}", res.status());
    assert!(no_container_within(&ids[0], Duration::from_secs(10)).await);
    assert_eq!(containers_with(LABEL_PROJECT, &ids[1]).len(), 1);
    // Shutting down removes the others.
    app.stop().await;
    assert!(
        containers_with(LABEL_PROJECT, &ids[1]).is_empty(),
        "a container outlived the server"
    );
}

#[tokio::test]
async fn a_hostile_app_reaches_nothing_outside_its_container() {
    if !enabled("a_hostile_app_reaches_nothing_outside_its_container") {
        return;
    }
    let app = docker_app(&[]).await;
    common::hostile_app_reaches_nothing(&app).await;
    app.stop().await;
}

#[tokio::test]
async fn orphans_of_this_instance_are_reaped_at_startup() {
    if !enabled("orphans_of_this_instance_are_reaped_at_startup") {
        return;
    }
    let app = docker_app(&[]).await;
    let instance = instance_id(&app.dir.path().join("data"));
    let own_project = Uuid::new_v4().to_string();
    let other_project = Uuid::new_v4().to_string();
    // What a crashed minicode leaves: a labelled container, still running.
    let orphan = docker(&[
        "run",
        "-d",
        "--label",
        &format!("{LABEL_INSTANCE}={instance}"),
        "--label",
        &format!("{LABEL_PROJECT}={own_project}"),
        "--entrypoint",
        "sleep",
        IMAGE,
        "infinity",
    ]);
    // Another minicode's container on the same engine must survive.
    let foreign = docker(&[
        "run",
        "-d",
        "--label",
        &format!("{LABEL_INSTANCE}=someoneelse"),
        "--label",
        &format!("{LABEL_PROJECT}={other_project}"),
        "--entrypoint",
        "sleep",
        IMAGE,
        "infinity",
    ]);
    assert_eq!(containers_with(LABEL_PROJECT, &own_project).len(), 1);

    let app = app.restart().await;
    assert!(
        containers_with(LABEL_PROJECT, &own_project).is_empty(),
        "the orphan {} survived the restart",
        orphan.trim()
    );
    assert_eq!(
        containers_with(LABEL_PROJECT, &other_project),
        vec![foreign.trim().to_string()],
        "another instance's container was reaped"
    );
    docker(&["rm", "-f", foreign.trim()]);
    app.stop().await;
}

#[tokio::test]
async fn commands_stream_their_output_and_failures_timeouts_and_cancels_kill_them() {
    if !enabled("commands_stream_their_output_and_failures_timeouts_and_cancels_kill_them") {
        return;
    }
    let app = docker_app(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let instance = format!("t{}", &Uuid::new_v4().simple().to_string()[..11]);
    let backend = DockerBackend::connect(
        IMAGE,
        instance.clone(),
        &dir.path().join("state"),
        &dir.path().join("npm"),
        DockerLimits {
            memory_mb: 256,
            cpus: 1.0,
            pids: 64,
            node_heap_mb: 128,
        },
        Vec::new(),
    )
    .await
    .expect("engine and image");
    let project = ProjectEnv {
        id: Uuid::new_v4(),
        workspace: dir.path().join("ws"),
        port: free_port(),
        modules: None,
    };
    let buffer = LogBuffer::default();
    let events: EventBus = app.server.state.events.clone();
    let logs = LogSink::spawn(project.id, buffer.clone(), events);
    let sh = |script: &str| CommandSpec {
        label: script.into(),
        program: "sh".into(),
        args: vec!["-c".into(), script.into()],
        env: vec![("APP_VAR".into(), "visible".into())],
    };
    let never = CancellationToken::new;

    // Output, line by line from both streams, and files written as the server's.
    backend
        .run(
            &project,
            sh("echo out-line; echo err-line >&2; printf 'no newline'; echo $APP_VAR > made.txt"),
            logs.clone(),
            Duration::from_secs(30),
            never(),
        )
        .await
        .expect("runs");
    assert!(
        wait_until(Duration::from_secs(3), || async {
            buffer.tail(50).iter().any(|l| l.contains("no newline"))
        })
        .await
    );
    let out = buffer.tail(50).join("\n");
    assert!(
        out.contains("out-line") && out.contains("err-line"),
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string(project.workspace.join("made.txt"))
            .unwrap()
            .trim(),
        "visible"
    );

    // A failing command reports its exit code.
    let err = backend
        .run(
            &project,
            sh("exit 3"),
            logs.clone(),
            Duration::from_secs(30),
            never(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, SandboxError::CommandFailed { code: 3, .. }),
        "{err}"
    );

    // A timeout kills the command and the children it forked.
    let container = backend.container_name(project.id);
    let started = Instant::now();
    let err = backend
        .run(
            &project,
            sh("sleep 300 & sleep 301"),
            logs.clone(),
            Duration::from_millis(800),
            never(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, SandboxError::Timeout { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(8));
    assert!(
        sleepers(&container).is_empty(),
        "{:?}",
        sleepers(&container)
    );

    // So does a cancel.
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(800)).await;
        trigger.cancel();
    });
    let err = backend
        .run(
            &project,
            sh("sleep 302 & sleep 303"),
            logs.clone(),
            Duration::from_secs(60),
            cancel,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, SandboxError::Cancelled), "{err}");
    assert!(sleepers(&container).is_empty());

    // A long-running server: its exit is reported when the container goes.
    let mut running = backend
        .spawn_server(&project, sh("sleep 304"), logs)
        .await
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || async {
            !sleepers(&container).is_empty()
        })
        .await,
        "the server runs"
    );
    backend.destroy(project.id).await;
    tokio::time::timeout(
        Duration::from_secs(10),
        running.exited.wait_for(Option::is_some),
    )
    .await
    .expect("the exit is reported")
    .unwrap();
    assert!(containers_with(LABEL_INSTANCE, &instance).is_empty());
    app.stop().await;
}

/// The `sleep N` processes (N ≥ 300) running in a container (which must exist).
fn sleepers(container: &str) -> Vec<String> {
    docker(&["top", container, "-o", "pid,args"])
        .lines()
        .filter(|l| l.contains("sleep 30"))
        .map(str::to_string)
        .collect()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
