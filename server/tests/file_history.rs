//! The newest version of each file comes from `current_files`, so finding it
//! costs the same at the 10th and the 10,000th version: the query plans use
//! keys and never walk `generated_files`, `current_files` always equals what
//! the history says (through saves, deletes, re-creations, restores and the
//! migration's back-fill of an existing history).

mod common;

use common::{spawn, spawn_prepared};
use minicode_server::checkpoints::{self, Kind};
use minicode_server::db::Backend;
use minicode_server::files::{self, Source, sql};
use minicode_server::state::AppState;
use minicode_server::workspace::RelPath;
use serde_json::json;
use sqlx::Row;
use uuid::Uuid;

fn rel(path: &str) -> RelPath {
    RelPath::parse(path).unwrap()
}

async fn new_project(app: &common::TestApp, user: &str) -> (common::Client, Uuid) {
    let client = app.user(user).await;
    let pid = client.project("history").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    (client, Uuid::parse_str(&pid).unwrap())
}

/// `(path, version id, version, size, deleted)` of every path.
type Row5 = (String, String, i64, i64, i64);

/// The newest version of every path as the history says, with the
/// correlated MAX the code used before `current_files`.
async fn from_history(pool: &sqlx::AnyPool, project: Uuid) -> Vec<Row5> {
    sqlx::query_as(
        "SELECT g.path, g.id, g.version, g.size, g.deleted FROM generated_files g \
         WHERE g.project_id = $1 AND g.version = \
           (SELECT MAX(v.version) FROM generated_files v WHERE v.project_id = g.project_id AND v.path = g.path) \
         ORDER BY g.path",
    )
    .bind(project.to_string())
    .fetch_all(pool)
    .await
    .unwrap()
}

async fn current(pool: &sqlx::AnyPool, project: Uuid) -> Vec<Row5> {
    sqlx::query_as(
        "SELECT path, file_id, version, size, deleted FROM current_files \
         WHERE project_id = $1 ORDER BY path",
    )
    .bind(project.to_string())
    .fetch_all(pool)
    .await
    .unwrap()
}

/// `current_files` and the listing agree with the history, row for row.
async fn assert_consistent(state: &AppState, project: Uuid, step: &str) {
    let pool = state.db.pool();
    let history = from_history(pool, project).await;
    assert_eq!(current(pool, project).await, history, "{step}");
    let live: Vec<(String, u64)> = history
        .iter()
        .filter(|r| r.4 == 0)
        .map(|r| (r.0.clone(), r.3 as u64))
        .collect();
    let listed: Vec<(String, u64)> = files::list_latest(state, project)
        .await
        .unwrap()
        .into_iter()
        .map(|f| (f.path, f.size))
        .collect();
    assert_eq!(listed, live, "{step}: the listing");
}

async fn content(state: &AppState, project: Uuid, path: &str) -> (String, i64) {
    let file = files::read(state, project, &rel(path)).await.unwrap();
    (file.content, file.version)
}

#[tokio::test]
async fn latest_version_queries_use_keys_and_never_walk_the_history() {
    let app = spawn().await;
    let (_client, project) = new_project(&app, "planner").await;
    let state = &app.server.state;
    // A history worth walking: 4 paths × 150 versions, one path deleted.
    for i in 0..150 {
        let writes = ["a.ts", "b.ts", "src/c.ts", "src/d.ts"]
            .iter()
            .map(|p| (rel(p), format!("{p} {i}").into_bytes()))
            .collect();
        files::save(state, project, writes, Source::User, None)
            .await
            .unwrap();
    }
    files::delete(state, project, &rel("b.ts"), Source::User)
        .await
        .unwrap();

    let postgres = state.db.backend() == Backend::Postgres;
    let mut conn = state.db.pool().acquire().await.unwrap();
    if postgres {
        // With statistics, and with sequential scans priced out, so the plan
        // shows whether an index *can* answer (a small table is otherwise
        // read whole because that is cheaper).
        sqlx::query("ANALYZE").execute(&mut *conn).await.unwrap();
        sqlx::query("SET enable_seqscan = off")
            .execute(&mut *conn)
            .await
            .unwrap();
    }
    for (name, text, types) in sql::ALL {
        let plan = plan_of(&mut conn, postgres, text, types, project).await;
        check(postgres, name, &plan);
    }
    // The check catches what the issue measured: the old listing walked
    // every version of the project (with a MAX per row).
    let old = plan_of(&mut conn, postgres, OLD_LISTING, "t", project).await;
    let caught = std::panic::catch_unwind(|| check(postgres, "old listing", &old));
    assert!(
        caught.is_err(),
        "the old listing passed the check: {old:#?}"
    );
    app.stop().await;
}

/// The listing before `current_files`.
const OLD_LISTING: &str = "SELECT g.path, g.size FROM generated_files g \
     WHERE g.project_id = $1 AND g.deleted = 0 AND g.version = \
       (SELECT MAX(v.version) FROM generated_files v WHERE v.project_id = g.project_id AND v.path = g.path) \
     ORDER BY g.path";

/// The plan of `text` with parameters of `types` bound (`t` text, `b`
/// bytes, `i` integer), one line per row.
async fn plan_of(
    conn: &mut sqlx::AnyConnection,
    postgres: bool,
    text: &str,
    types: &str,
    project: Uuid,
) -> Vec<String> {
    let explain = if postgres {
        format!("EXPLAIN (COSTS OFF) {text}")
    } else {
        format!("EXPLAIN QUERY PLAN {text}")
    };
    let mut query = sqlx::query(&explain);
    for kind in types.chars() {
        query = match kind {
            't' => query.bind(project.to_string()),
            'b' => query.bind(b"x".to_vec()),
            'i' => query.bind(1_i64),
            other => panic!("unknown parameter type {other}"),
        };
    }
    let rows = query.fetch_all(&mut *conn).await.unwrap();
    rows.iter()
        .map(|row| {
            if postgres {
                row.try_get::<String, _>(0).unwrap()
            } else {
                row.try_get::<String, _>("detail").unwrap()
            }
        })
        .collect()
}

fn check(postgres: bool, name: &str, plan: &[String]) {
    if postgres {
        check_postgres_plan(name, plan);
    } else {
        check_sqlite_plan(name, plan);
    }
}

/// Every table access is a search by key: `current_files` by its primary
/// key from `project_id` on, `generated_files` only by `id`; no full scan
/// and no sort.
fn check_sqlite_plan(name: &str, plan: &[String]) {
    let shown = plan.join("\n");
    let mut used_current = false;
    for line in plan {
        assert!(!line.starts_with("SCAN"), "{name} scans:\n{shown}");
        assert!(!line.contains("TEMP B-TREE"), "{name} sorts:\n{shown}");
        let table = line.split_whitespace().nth(1).unwrap_or_default();
        if line.starts_with("SEARCH") {
            match table {
                "generated_files" | "g" => assert!(
                    line.ends_with("(id=?)"),
                    "{name} reads generated_files other than by id:\n{shown}"
                ),
                "current_files" | "c" => {
                    assert!(
                        line.contains("sqlite_autoindex_current_files_1 (project_id=?"),
                        "{name} does not use current_files' key:\n{shown}"
                    );
                    used_current = true;
                }
                other => panic!("{name} reads {other}:\n{shown}"),
            }
        }
    }
    // The upsert's plan is empty (a primary-key write); every read uses the key.
    assert!(
        used_current || name == "set_current",
        "{name} does not read current_files:\n{shown}"
    );
}

/// The same on PostgreSQL: index scans with a condition on the key, never a
/// sequential or bitmap scan of either table.
fn check_postgres_plan(name: &str, plan: &[String]) {
    let shown = plan.join("\n");
    let mut used_current = false;
    for (i, line) in plan.iter().enumerate() {
        let line = line.trim_start().trim_start_matches("->").trim();
        assert!(!line.contains("Seq Scan"), "{name} scans:\n{shown}");
        assert!(!line.contains("Bitmap"), "{name} scans a bitmap:\n{shown}");
        if line.starts_with("Insert on") {
            continue;
        }
        let next = plan.get(i + 1).map(String::as_str).unwrap_or_default();
        if line.contains(" on generated_files") {
            assert!(
                line.contains("using generated_files_pkey") && next.contains("Index Cond: (id = "),
                "{name} reads generated_files other than by id:\n{shown}"
            );
        }
        if line.contains(" on current_files") {
            assert!(
                line.contains("using current_files_pkey") && next.contains("project_id = "),
                "{name} does not use current_files' key:\n{shown}"
            );
            used_current = true;
        }
    }
    assert!(
        used_current || name == "set_current",
        "{name} does not read current_files:\n{shown}"
    );
}

#[tokio::test]
async fn current_files_follows_every_kind_of_change() {
    let app = spawn().await;
    let (client, project) = new_project(&app, "changer").await;
    let state = &app.server.state;
    assert_consistent(state, project, "empty").await;

    files::save(
        state,
        project,
        vec![
            (rel("a.txt"), b"a1".to_vec()),
            (rel("b.txt"), b"b1".to_vec()),
        ],
        Source::Generation,
        None,
    )
    .await
    .unwrap();
    let first = checkpoints::create(state, project, Kind::Phase, "first")
        .await
        .unwrap();
    for i in 2..=40 {
        files::save(
            state,
            project,
            vec![(rel("a.txt"), format!("a{i}").into_bytes())],
            Source::Chat,
            None,
        )
        .await
        .unwrap();
    }
    assert_eq!(content(state, project, "a.txt").await, ("a40".into(), 40));
    assert_consistent(state, project, "40 versions").await;

    // Deleted through the API, then re-created: numbering goes on.
    let res = client
        .delete(&format!("/api/projects/{project}/files/b.txt"))
        .await;
    assert_eq!(res.status(), 204);
    assert!(files::read(state, project, &rel("b.txt")).await.is_err());
    assert_consistent(state, project, "deleted").await;
    let res = client
        .delete(&format!("/api/projects/{project}/files/b.txt"))
        .await;
    assert_eq!(res.status(), 404, "a deleted file cannot be deleted again");
    let res = client
        .put(
            &format!("/api/projects/{project}/files/b.txt"),
            &json!({"content": "b again"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        content(state, project, "b.txt").await,
        ("b again".into(), 3)
    );
    assert_consistent(state, project, "re-created").await;

    // A file where a folder must be is still refused, from current_files.
    let refused = files::save(
        state,
        project,
        vec![(rel("a.txt/inner.txt"), b"x".to_vec())],
        Source::User,
        None,
    )
    .await;
    assert!(refused.is_err(), "a.txt is a file");
    files::apply(
        state,
        project,
        vec![(rel("c/d.txt"), b"d".to_vec())],
        vec![rel("a.txt")],
        Source::Upload,
        None,
    )
    .await
    .unwrap();
    assert_consistent(state, project, "one change writes and deletes").await;

    // Restore: a.txt comes back as a new version with its first bytes, b.txt
    // gets its first bytes back, c/d.txt goes.
    let restored = checkpoints::restore(state, project, first, "changer")
        .await
        .unwrap();
    assert_eq!(restored.changed_files, ["a.txt", "b.txt", "c/d.txt"]);
    assert_eq!(content(state, project, "a.txt").await, ("a1".into(), 42));
    assert_eq!(content(state, project, "b.txt").await, ("b1".into(), 4));
    assert!(files::read(state, project, &rel("c/d.txt")).await.is_err());
    assert_consistent(state, project, "restored").await;
    // The checkpoint taken now records the restored versions.
    let manifest = files::manifest(state, project).await.unwrap();
    let current = current(state.db.pool(), project).await;
    let live_ids: Vec<String> = current
        .iter()
        .filter(|r| r.4 == 0)
        .map(|r| r.1.clone())
        .collect();
    let manifest_ids: Vec<String> = manifest.values().map(Uuid::to_string).collect();
    assert_eq!(manifest_ids, live_ids);
    assert_eq!(
        files::snapshot(state, project)
            .await
            .unwrap()
            .into_iter()
            .map(|(path, _, bytes)| (path, bytes))
            .collect::<Vec<_>>(),
        vec![
            ("a.txt".into(), b"a1".to_vec()),
            ("b.txt".into(), b"b1".to_vec())
        ]
    );
    app.stop().await;
}

/// Migrations 0001–0005 only: the schema before `current_files`.
async fn old_schema(url: &str) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    let backend = if url.starts_with("sqlite:") {
        "sqlite"
    } else {
        "postgres"
    };
    let all = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../migrations")
        .join(backend);
    let old = tempfile::tempdir().unwrap();
    let mut copied = 0;
    for entry in std::fs::read_dir(&all).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().to_string();
        if name.as_str() < "0006" {
            std::fs::copy(entry.path(), old.path().join(&name)).unwrap();
            copied += 1;
        }
    }
    assert_eq!(copied, 5);
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    sqlx::migrate::Migrator::new(old.path())
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();
    pool
}

/// Inserts versions the way the old code stored them.
async fn old_version(pool: &sqlx::AnyPool, project: Uuid, path: &str, version: i64, body: &str) {
    let deleted = body.is_empty();
    sqlx::query(
        "INSERT INTO generated_files (id, project_id, path, version, content, sha256, size, deleted, source, run_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'user', NULL, 0)",
    )
    .bind(Uuid::new_v4().to_string())
    .bind(project.to_string())
    .bind(path)
    .bind(version)
    .bind(body.as_bytes().to_vec())
    .bind(if deleted { "" } else { "hash" })
    .bind(body.len() as i64)
    .bind(i64::from(deleted))
    .execute(pool)
    .await
    .unwrap();
}

#[tokio::test]
async fn the_migration_back_fills_an_existing_history() {
    let (one, two) = (Uuid::new_v4(), Uuid::new_v4());
    let app = spawn_prepared(&[], |url| async move {
        let pool = old_schema(&url).await;
        let user = Uuid::new_v4().to_string();
        sqlx::query(
            "INSERT INTO users (id, username, password_hash, created_at) VALUES ($1, 'old', 'x', 0)",
        )
        .bind(&user)
        .execute(&pool)
        .await
        .unwrap();
        for project in [one, two] {
            sqlx::query(
                "INSERT INTO projects (id, user_id, name, description, model, created_at, updated_at, last_active_at) \
                 VALUES ($1, $2, 'old', 'old', NULL, 0, 0, 0)",
            )
            .bind(project.to_string())
            .bind(&user)
            .execute(&pool)
            .await
            .unwrap();
        }
        // Project one: a long history, a deleted path and a re-created one.
        for v in 1..=60 {
            old_version(&pool, one, "a.txt", v, &"a".repeat(v as usize)).await;
        }
        old_version(&pool, one, "gone.txt", 1, "gone").await;
        old_version(&pool, one, "gone.txt", 2, "").await;
        old_version(&pool, one, "back.txt", 1, "back 1").await;
        old_version(&pool, one, "back.txt", 2, "").await;
        old_version(&pool, one, "back.txt", 3, "back 3").await;
        // Project two shares a path name, not its versions.
        old_version(&pool, two, "a.txt", 1, "other").await;
        pool.close().await;
    })
    .await;
    let state = &app.server.state;
    let pool = state.db.pool();

    let back_filled = current(pool, one).await;
    assert_eq!(back_filled, from_history(pool, one).await);
    let shape: Vec<(&str, i64, i64, i64)> = back_filled
        .iter()
        .map(|r| (r.0.as_str(), r.2, r.3, r.4))
        .collect();
    assert_eq!(
        shape,
        [
            ("a.txt", 60, 60, 0),
            ("back.txt", 3, 6, 0),
            ("gone.txt", 2, 0, 1)
        ]
    );
    assert_eq!(current(pool, two).await, from_history(pool, two).await);
    assert_eq!(current(pool, two).await.len(), 1);

    // The server carries on from the back-filled rows.
    assert_eq!(content(state, one, "a.txt").await, ("a".repeat(60), 60));
    assert_eq!(content(state, one, "back.txt").await, ("back 3".into(), 3));
    assert!(files::read(state, one, &rel("gone.txt")).await.is_err());
    let saved = files::save(
        state,
        one,
        vec![
            (rel("a.txt"), b"new".to_vec()),
            (rel("gone.txt"), b"again".to_vec()),
        ],
        Source::User,
        None,
    )
    .await
    .unwrap();
    let versions: Vec<i64> = saved.iter().map(|s| s.version).collect();
    assert_eq!(versions, [61, 3]);
    assert_consistent(state, one, "after the first save").await;
    assert_eq!(content(state, two, "a.txt").await, ("other".into(), 1));
    app.stop().await;
}
