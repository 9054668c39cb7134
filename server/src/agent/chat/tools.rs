//! The chat agent's five tools. They are confined to the project's
//! workspace: every path is a `RelPath`, and every file is reached through
//! the workspace's `WorkspaceDir`, which never follows a symbolic link and
//! reads at most the file size limit (the project's own code can change the
//! folder at any time). There is no shell, and every change goes through the
//! files service, so it is stored as a new version, announced to open
//! editors, and seen by the dev server.

use ignore::Match;
use ignore::gitignore::{Gitignore, GitignoreBuilder};
use ignore::overrides::{Override, OverrideBuilder};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::files::{self, Source};
use crate::llm::ToolSpec;
use crate::state::AppState;
use crate::workspace::{RelPath, WorkspaceDir, WorkspaceError};

/// Lines `Read` returns when no limit is given.
const DEFAULT_READ_LINES: usize = 2000;
/// Most matches `Grep` and `Glob` return.
const MAX_RESULTS: usize = 200;
/// Longest line `Read` and `Grep` show.
const MAX_LINE_CHARS: usize = 500;

/// The outcome of one tool call.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolOutcome {
    pub ok: bool,
    /// A line for the UI ("read src/App.tsx (42 lines)").
    pub summary: String,
    /// What the model sees.
    pub content: String,
    /// True when the call changed a file.
    pub changed_files: bool,
}

impl ToolOutcome {
    fn ok(summary: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            ok: true,
            summary: summary.into(),
            content: content.into(),
            changed_files: false,
        }
    }

    fn err(message: impl Into<String>) -> Self {
        let message = message.into();
        Self {
            ok: false,
            summary: message.clone(),
            content: message,
            changed_files: false,
        }
    }
}

/// The tool definitions offered to the model.
pub fn specs() -> Vec<ToolSpec> {
    vec![
        ToolSpec {
            name: "Read".into(),
            description: "Read a file of the project. Lines come numbered (`     1\\tcode`); the numbers are not part of the file. Use offset/limit for long files.".into(),
            input_schema: json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "Path relative to the project root, e.g. src/App.tsx"},
                    "offset": {"type": "integer", "minimum": 1, "description": "First line to read (1-based)"},
                    "limit": {"type": "integer", "minimum": 1, "description": "How many lines to read"}
                },
                "required": ["path"]
            }),
        },
        ToolSpec {
            name: "Write".into(),
            description: "Create a file or replace its whole content.".into(),
            input_schema: json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string"},
                    "content": {"type": "string", "description": "The complete new content"}
                },
                "required": ["path", "content"]
            }),
        },
        ToolSpec {
            name: "Edit".into(),
            description: "Replace an exact piece of text in a file. `old_string` must appear exactly once (include enough surrounding lines), unless `replace_all` is true. Read the file first.".into(),
            input_schema: json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string"},
                    "old_string": {"type": "string"},
                    "new_string": {"type": "string"},
                    "replace_all": {"type": "boolean", "default": false}
                },
                "required": ["path", "old_string", "new_string"]
            }),
        },
        ToolSpec {
            name: "Glob".into(),
            description: "List project files matching a glob pattern such as `src/**/*.tsx` (ignores node_modules and .gitignore'd files).".into(),
            input_schema: json!({
                "type": "object",
                "properties": {"pattern": {"type": "string"}},
                "required": ["pattern"]
            }),
        },
        ToolSpec {
            name: "Grep".into(),
            description: "Search file contents with a regular expression. Returns `path:line:text` for each matching line.".into(),
            input_schema: json!({
                "type": "object",
                "properties": {
                    "pattern": {"type": "string", "description": "A regular expression (Rust syntax)"},
                    "path": {"type": "string", "description": "A folder or file to search in (default: the whole project)"},
                    "glob": {"type": "string", "description": "Only search files matching this glob, e.g. *.css"}
                },
                "required": ["pattern"]
            }),
        },
    ]
}

#[derive(Deserialize)]
struct ReadArgs {
    path: String,
    offset: Option<usize>,
    limit: Option<usize>,
}

#[derive(Deserialize)]
struct WriteArgs {
    path: String,
    content: String,
}

#[derive(Deserialize)]
struct EditArgs {
    path: String,
    old_string: String,
    new_string: String,
    #[serde(default)]
    replace_all: bool,
}

#[derive(Deserialize)]
struct GlobArgs {
    pattern: String,
}

#[derive(Deserialize)]
struct GrepArgs {
    pattern: String,
    path: Option<String>,
    glob: Option<String>,
}

fn args<T: for<'de> Deserialize<'de>>(tool: &str, value: &Value) -> Result<T, ToolOutcome> {
    if let Value::String(raw) = value {
        // The assembler keeps arguments that were not valid JSON as a string.
        let start: String = raw.chars().take(80).collect();
        return Err(ToolOutcome::err(format!(
            "the {tool} arguments were not valid JSON: `{start}`"
        )));
    }
    serde_json::from_value(value.clone())
        .map_err(|e| ToolOutcome::err(format!("invalid {tool} arguments: {e}")))
}

/// Runs one tool call against the project.
#[tracing::instrument(name = "chat.tool", skip_all, fields(project_id = %project, tool = name))]
pub async fn run(state: &AppState, project: Uuid, name: &str, input: &Value) -> ToolOutcome {
    let outcome = match name {
        "Read" => match args::<ReadArgs>(name, input) {
            Ok(a) => read(state, project, a).await,
            Err(e) => e,
        },
        "Write" => match args::<WriteArgs>(name, input) {
            Ok(a) => write(state, project, a).await,
            Err(e) => e,
        },
        "Edit" => match args::<EditArgs>(name, input) {
            Ok(a) => edit(state, project, a).await,
            Err(e) => e,
        },
        "Glob" => match args::<GlobArgs>(name, input) {
            Ok(a) => glob(state, project, a).await,
            Err(e) => e,
        },
        "Grep" => match args::<GrepArgs>(name, input) {
            Ok(a) => grep(state, project, a).await,
            Err(e) => e,
        },
        other => ToolOutcome::err(format!(
            "there is no tool named `{other}`; use Read, Write, Edit, Glob or Grep"
        )),
    };
    tracing::debug!(ok = outcome.ok, summary = %outcome.summary, "tool ran");
    outcome
}

fn path_of(raw: &str, writable: bool) -> Result<RelPath, ToolOutcome> {
    let parsed = if writable {
        RelPath::parse_writable(raw)
    } else {
        RelPath::parse(raw)
    };
    parsed.map_err(|e| ToolOutcome::err(format!("`{raw}` is not allowed: {e}")))
}

/// The workspace folder, rebuilt from the database if it was cleaned up.
async fn workspace(state: &AppState, project: Uuid) -> Result<(), ToolOutcome> {
    files::ensure_workspace(state, project)
        .await
        .map(drop)
        .map_err(|e| {
            ToolOutcome::err(format!(
                "the project's files are unavailable: {}",
                minicode::ApiError::from(e).error
            ))
        })
}

/// Runs `work` on the opened workspace, off the async threads.
async fn with_workspace<T: Send + 'static>(
    state: &AppState,
    project: Uuid,
    work: impl FnOnce(WorkspaceDir) -> Result<T, String> + Send + 'static,
) -> Result<T, ToolOutcome> {
    workspace(state, project).await?;
    let workspaces = state.workspaces.clone();
    let result = tokio::task::spawn_blocking(move || {
        let dir = workspaces
            .open(project)
            .map_err(|e| format!("the project's files are unavailable: {e}"))?;
        work(dir)
    })
    .await;
    match result {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(ToolOutcome::err(e)),
        Err(e) => Err(ToolOutcome::err(e.to_string())),
    }
}

async fn read_text(state: &AppState, project: Uuid, path: &RelPath) -> Result<String, ToolOutcome> {
    workspace(state, project).await?;
    let bytes = state
        .workspaces
        .read(project, path)
        .await
        .map_err(|e| match e {
            WorkspaceError::NotFound(_) => ToolOutcome::err(format!("`{path}` does not exist")),
            WorkspaceError::IsDirectory(_) => {
                ToolOutcome::err(format!("`{path}` is a folder; use Glob to list it"))
            }
            WorkspaceError::Path(e) => ToolOutcome::err(format!("`{path}` is not allowed: {e}")),
            e => ToolOutcome::err(format!("could not read `{path}`: {e}")),
        })?;
    String::from_utf8(bytes).map_err(|_| ToolOutcome::err(format!("`{path}` is a binary file")))
}

fn clip(line: &str) -> String {
    if line.chars().count() > MAX_LINE_CHARS {
        line.chars().take(MAX_LINE_CHARS).collect::<String>() + "…"
    } else {
        line.to_string()
    }
}

async fn read(state: &AppState, project: Uuid, a: ReadArgs) -> ToolOutcome {
    let path = match path_of(&a.path, false) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let text = match read_text(state, project, &path).await {
        Ok(t) => t,
        Err(e) => return e,
    };
    let offset = a.offset.unwrap_or(1).max(1);
    let limit = a.limit.unwrap_or(DEFAULT_READ_LINES).max(1);
    let total = text.lines().count();
    if total > 0 && offset > total {
        return ToolOutcome::err(format!(
            "`{path}` has {total} lines; offset {offset} is past the end"
        ));
    }
    let mut out = String::new();
    let mut shown = 0;
    for (i, line) in text.lines().enumerate().skip(offset - 1).take(limit) {
        out.push_str(&format!("{:>6}\t{}\n", i + 1, clip(line)));
        shown += 1;
    }
    if text.is_empty() {
        out.push_str("(empty file)\n");
    } else if offset - 1 + shown < total {
        out.push_str(&format!(
            "… {} more lines; read on with offset {}\n",
            total - (offset - 1 + shown),
            offset + shown
        ));
    }
    ToolOutcome::ok(format!("read {path} ({shown} of {total} lines)"), out)
}

async fn save(
    state: &AppState,
    project: Uuid,
    path: &RelPath,
    content: String,
) -> Result<(), ToolOutcome> {
    files::save(
        state,
        project,
        vec![(path.clone(), content.into_bytes())],
        Source::Chat,
        None,
    )
    .await
    .map_err(|e| {
        let e = minicode::ApiError::from(e);
        // A file/folder clash: nothing was stored; the model can pick another path.
        let hint = if e.code == minicode::ErrorCode::Conflict {
            "; nothing was written, choose another path"
        } else {
            ""
        };
        ToolOutcome::err(format!("could not save `{path}`: {}{hint}", e.error))
    })
    .map(drop)
}

async fn write(state: &AppState, project: Uuid, a: WriteArgs) -> ToolOutcome {
    let path = match path_of(&a.path, true) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let bytes = a.content.len();
    if let Err(e) = save(state, project, &path, a.content).await {
        return e;
    }
    let mut outcome = ToolOutcome::ok(
        format!("wrote {path} ({bytes} bytes)"),
        format!("Wrote {bytes} bytes to {path}"),
    );
    outcome.changed_files = true;
    outcome
}

/// Exact replacement; a missing or ambiguous match is an error the model sees.
pub fn apply_edit(
    text: &str,
    old: &str,
    new: &str,
    replace_all: bool,
) -> Result<(String, usize), String> {
    if old.is_empty() {
        return Err("old_string is empty; to create or replace a whole file use Write".into());
    }
    if old == new {
        return Err("old_string and new_string are the same; nothing would change".into());
    }
    let count = text.matches(old).count();
    match count {
        0 => Err("old_string was not found in the file; Read it again and copy the text exactly (without line numbers)".into()),
        1 => Ok((text.replacen(old, new, 1), 1)),
        n if replace_all => Ok((text.replace(old, new), n)),
        n => Err(format!("old_string matches {n} places; include more surrounding text to make it unique, or set replace_all")),
    }
}

async fn edit(state: &AppState, project: Uuid, a: EditArgs) -> ToolOutcome {
    let path = match path_of(&a.path, true) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let text = match read_text(state, project, &path).await {
        Ok(t) => t,
        Err(e) => return e,
    };
    let (updated, count) = match apply_edit(&text, &a.old_string, &a.new_string, a.replace_all) {
        Ok(r) => r,
        Err(message) => return ToolOutcome::err(format!("{path}: {message}")),
    };
    if let Err(e) = save(state, project, &path, updated).await {
        return e;
    }
    let mut outcome = ToolOutcome::ok(
        format!(
            "edited {path} ({count} replacement{})",
            if count == 1 { "" } else { "s" }
        ),
        format!("Edited {path}: replaced {count} occurrence(s)"),
    );
    outcome.changed_files = true;
    outcome
}

/// Every file of the workspace an agent may look at: links are not
/// followed, installed packages and build output are left out (by
/// `WorkspaceDir::walk`), and so are .gitignore'd files.
fn project_files(dir: &WorkspaceDir, max_bytes: usize) -> Result<Vec<RelPath>, String> {
    let files: Vec<RelPath> = dir
        .walk()
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|f| f.path)
        .collect();
    let ignores = Gitignores::read(dir, &files, max_bytes);
    Ok(files.into_iter().filter(|p| !ignores.ignores(p)).collect())
}

/// The project's .gitignore files, each with the folder it applies to,
/// deepest first: the nearest one decides, as in git.
struct Gitignores(Vec<(String, Gitignore)>);

impl Gitignores {
    /// Reads every .gitignore among `files` (through the capability, bounded),
    /// shallowest first so that one in an ignored folder is left out.
    fn read(dir: &WorkspaceDir, files: &[RelPath], max_bytes: usize) -> Self {
        let mut found: Vec<&RelPath> = files
            .iter()
            .filter(|p| p.file_name() == ".gitignore")
            .collect();
        found.sort_by_key(|p| p.as_str().matches('/').count());
        let mut ignores = Gitignores(Vec::new());
        for path in found {
            if ignores.ignores(path) {
                continue;
            }
            let Ok(bytes) = dir.read_bounded(path, max_bytes) else {
                continue;
            };
            let folder = path
                .as_str()
                .rsplit_once('/')
                .map_or("", |(folder, _)| folder);
            // Matched against paths relative to `folder`: the root is only a label.
            let mut builder = GitignoreBuilder::new(".");
            for line in String::from_utf8_lossy(&bytes).lines() {
                let _ = builder.add_line(None, line);
            }
            if let Ok(gitignore) = builder.build() {
                ignores.0.insert(0, (folder.to_string(), gitignore));
            }
        }
        ignores
    }

    fn ignores(&self, path: &RelPath) -> bool {
        for (folder, gitignore) in &self.0 {
            let relative = if folder.is_empty() {
                path.as_str()
            } else {
                match path
                    .as_str()
                    .strip_prefix(folder.as_str())
                    .and_then(|rest| rest.strip_prefix('/'))
                {
                    Some(rest) => rest,
                    None => continue,
                }
            };
            match gitignore.matched_path_or_any_parents(relative, false) {
                Match::Ignore(_) => return true,
                Match::Whitelist(_) => return false,
                Match::None => {}
            }
        }
        false
    }
}

/// Grep's `glob` argument, in gitignore syntax: a pattern without `/`
/// matches a file name in any folder.
fn file_filter(glob: &str) -> Result<Override, String> {
    let mut builder = OverrideBuilder::new(".");
    builder
        .add(glob)
        .map_err(|e| format!("invalid glob `{glob}`: {e}"))?;
    builder
        .build()
        .map_err(|e| format!("invalid glob `{glob}`: {e}"))
}

/// Whether `path` is `under` or inside it.
fn is_under(path: &RelPath, under: Option<&RelPath>) -> bool {
    under.is_none_or(|u| {
        path.as_str()
            .strip_prefix(u.as_str())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

async fn glob(state: &AppState, project: Uuid, a: GlobArgs) -> ToolOutcome {
    let pattern = a.pattern.trim_start_matches("./").to_string();
    if pattern.starts_with('/') || pattern.split('/').any(|p| p == "..") {
        return ToolOutcome::err(format!(
            "`{}` is not allowed: patterns are relative to the project",
            a.pattern
        ));
    }
    let matcher = match globset::GlobBuilder::new(&pattern)
        .literal_separator(true)
        .build()
    {
        Ok(g) => g.compile_matcher(),
        Err(e) => return ToolOutcome::err(format!("invalid glob `{}`: {e}", a.pattern)),
    };
    let max_bytes = state.workspaces.limits.max_file_bytes;
    let files =
        match with_workspace(state, project, move |dir| project_files(&dir, max_bytes)).await {
            Ok(files) => files,
            Err(e) => return e,
        };
    let matched: Vec<String> = files
        .into_iter()
        .map(|path| path.to_string())
        .filter(|rel| matcher.is_match(rel))
        .collect();
    if matched.is_empty() {
        return ToolOutcome::ok(format!("no file matches {}", a.pattern), "No files match.");
    }
    let shown: Vec<&String> = matched.iter().take(MAX_RESULTS).collect();
    let mut content = shown
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    if matched.len() > MAX_RESULTS {
        content.push_str(&format!("\n… and {} more", matched.len() - MAX_RESULTS));
    }
    ToolOutcome::ok(
        format!("{} file(s) match {}", matched.len(), a.pattern),
        content,
    )
}

async fn grep(state: &AppState, project: Uuid, a: GrepArgs) -> ToolOutcome {
    let regex = match regex::RegexBuilder::new(&a.pattern)
        .size_limit(1 << 20)
        .build()
    {
        Ok(r) => r,
        Err(e) => return ToolOutcome::err(format!("invalid regular expression: {e}")),
    };
    let under = match a.path.as_deref().filter(|p| !p.is_empty() && *p != ".") {
        Some(raw) => match path_of(raw, false) {
            Ok(p) => Some((raw.to_string(), p)),
            Err(e) => return e,
        },
        None => None,
    };
    let filter = match a.glob.as_deref().map(file_filter).transpose() {
        Ok(f) => f,
        Err(e) => return ToolOutcome::err(e),
    };
    let max_bytes = state.workspaces.limits.max_file_bytes;
    let result = with_workspace(state, project, move |dir| {
        if let Some((raw, path)) = &under {
            match dir.contains(path) {
                Ok(true) => {}
                Ok(false) => return Err(format!("`{raw}` does not exist")),
                Err(e) => return Err(format!("`{raw}` is not allowed: {e}")),
            }
        }
        let under = under.map(|(_, path)| path);
        let mut hits = Vec::new();
        let mut total = 0;
        for path in project_files(&dir, max_bytes)? {
            if !is_under(&path, under.as_ref())
                || filter
                    .as_ref()
                    .is_some_and(|f| f.matched(path.as_str(), false).is_ignore())
            {
                continue;
            }
            // Bounded, and never through a link: a file swapped meanwhile is skipped.
            let Ok(bytes) = dir.read_bounded(&path, max_bytes) else {
                continue;
            };
            let Ok(text) = String::from_utf8(bytes) else {
                continue;
            };
            for (i, line) in text.lines().enumerate() {
                if regex.is_match(line) {
                    total += 1;
                    if hits.len() < MAX_RESULTS {
                        hits.push(format!("{path}:{}:{}", i + 1, clip(line)));
                    }
                }
            }
        }
        Ok((hits, total))
    })
    .await;
    match result {
        Ok((_, 0)) => ToolOutcome::ok(format!("no match for /{}/", a.pattern), "No matches."),
        Ok((hits, total)) => {
            let mut content = hits.join("\n");
            if total > hits.len() {
                content.push_str(&format!("\n… {} more matches", total - hits.len()));
            }
            ToolOutcome::ok(format!("{total} match(es) for /{}/", a.pattern), content)
        }
        Err(e) => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_semantics() {
        let text = "a one\nb two\na one\n";
        assert_eq!(
            apply_edit("x = 1;", "1", "2", false).unwrap(),
            ("x = 2;".to_string(), 1)
        );
        assert!(
            apply_edit(text, "zzz", "y", false)
                .unwrap_err()
                .contains("not found")
        );
        assert!(
            apply_edit(text, "a one", "y", false)
                .unwrap_err()
                .contains("matches 2 places")
        );
        assert_eq!(
            apply_edit(text, "a one", "y", true).unwrap(),
            ("y\nb two\ny\n".to_string(), 2)
        );
        assert!(apply_edit(text, "", "y", false).is_err());
        assert!(apply_edit(text, "b two", "b two", false).is_err());
    }

    /// Glob and Grep see what git would track: .gitignore files apply to
    /// their folder, the nearest one decides, and links are not followed.
    #[test]
    fn project_files_leave_out_ignored_files_and_links() {
        let root = tempfile::tempdir().unwrap();
        let write = |path: &str, content: &str| {
            let full = root.path().join(path);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(full, content).unwrap();
        };
        write(".gitignore", "*.log\ncoverage/\n");
        write("src/App.tsx", "app");
        write("src/debug.log", "x");
        write("coverage/index.html", "x");
        write("coverage/.gitignore", "!*.log\n");
        write("coverage/keep.log", "x");
        write("logs/.gitignore", "!keep.log\n");
        write("logs/keep.log", "x");
        write("logs/drop.log", "x");
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.ts"), "s").unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("linked")).unwrap();

        let dir = WorkspaceDir::open(root.path()).unwrap();
        let files: Vec<String> = project_files(&dir, 1024)
            .unwrap()
            .iter()
            .map(|p| p.to_string())
            .collect();
        assert_eq!(
            files,
            [
                ".gitignore",
                "logs/.gitignore",
                "logs/keep.log",
                "src/App.tsx"
            ]
        );
        let filter = file_filter("*.tsx").unwrap();
        assert!(!filter.matched("src/App.tsx", false).is_ignore());
        assert!(filter.matched("src/debug.log", false).is_ignore());
        let src = RelPath::parse("src").unwrap();
        assert!(is_under(
            &RelPath::parse("src/App.tsx").unwrap(),
            Some(&src)
        ));
        assert!(!is_under(&RelPath::parse("srcx/a.ts").unwrap(), Some(&src)));
        assert!(is_under(&src, Some(&src)));
    }

    #[test]
    fn every_tool_has_an_object_schema() {
        let specs = specs();
        let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["Read", "Write", "Edit", "Glob", "Grep"]);
        for spec in specs {
            assert_eq!(spec.input_schema["type"], "object");
        }
    }
}
