//! The chat agent's five tools. They are confined to the project's
//! workspace (every path goes through `RelPath` and `resolve`), there is no
//! shell, and every change goes through the files service, so it is stored
//! as a new version, announced to open editors, and seen by the dev server.

use std::path::Path;

use minicode::protocol::ServerEvent;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::files::{self, Source};
use crate::llm::ToolSpec;
use crate::state::AppState;
use crate::workspace::{RelPath, paths};

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
async fn workspace(state: &AppState, project: Uuid) -> Result<std::path::PathBuf, ToolOutcome> {
    let dir = state.workspaces.dir(project);
    if !dir.is_dir() {
        files::restore_workspace(state, project)
            .await
            .map_err(|e| {
                ToolOutcome::err(format!(
                    "the project's files are unavailable: {}",
                    minicode::ApiError::from(e).error
                ))
            })?;
    }
    Ok(dir)
}

async fn read_text(state: &AppState, project: Uuid, path: &RelPath) -> Result<String, ToolOutcome> {
    let root = workspace(state, project).await?;
    let full = paths::resolve(&root, path)
        .map_err(|e| ToolOutcome::err(format!("`{path}` is not allowed: {e}")))?;
    let bytes = match tokio::fs::read(&full).await {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ToolOutcome::err(format!("`{path}` does not exist")));
        }
        Err(_) if full.is_dir() => {
            return Err(ToolOutcome::err(format!(
                "`{path}` is a folder; use Glob to list it"
            )));
        }
        Err(e) => return Err(ToolOutcome::err(format!("could not read `{path}`: {e}"))),
    };
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
        vec![(path.clone(), content.clone().into_bytes())],
        Source::Chat,
        None,
    )
    .await
    .map_err(|e| {
        ToolOutcome::err(format!(
            "could not save `{path}`: {}",
            minicode::ApiError::from(e).error
        ))
    })?;
    crate::agent::publish(
        state,
        project,
        ServerEvent::FileEnd {
            path: path.to_string(),
            content,
            incomplete: false,
        },
    )
    .await;
    Ok(())
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

/// Every text file of the workspace an agent may look at: .gitignore'd
/// files, installed packages and build output are left out.
fn walk(
    root: &Path,
    under: &Path,
    glob: Option<&str>,
) -> Result<Vec<(String, std::path::PathBuf)>, String> {
    let mut builder = ignore::WalkBuilder::new(under);
    builder
        .hidden(false)
        .git_ignore(true)
        .git_exclude(false)
        .git_global(false)
        .require_git(false)
        .parents(true);
    if let Some(glob) = glob {
        let mut overrides = ignore::overrides::OverrideBuilder::new(root);
        overrides
            .add(glob)
            .map_err(|e| format!("invalid glob `{glob}`: {e}"))?;
        builder.overrides(
            overrides
                .build()
                .map_err(|e| format!("invalid glob `{glob}`: {e}"))?,
        );
    }
    builder.filter_entry(|entry| {
        let name = entry.file_name().to_string_lossy();
        !(entry.file_type().is_some_and(|t| t.is_dir())
            && matches!(
                name.as_ref(),
                "node_modules" | ".git" | "dist" | "build" | ".vite"
            ))
    });
    let mut out = Vec::new();
    for entry in builder.build().flatten() {
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        let name = entry.file_name().to_string_lossy();
        if name.contains(".minicode-tmp-") {
            continue;
        }
        let rel = entry
            .path()
            .strip_prefix(root)
            .unwrap_or(entry.path())
            .to_string_lossy()
            .replace('\\', "/");
        out.push((rel, entry.path().to_path_buf()));
    }
    out.sort();
    Ok(out)
}

async fn glob(state: &AppState, project: Uuid, a: GlobArgs) -> ToolOutcome {
    let root = match workspace(state, project).await {
        Ok(r) => r,
        Err(e) => return e,
    };
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
    let result = tokio::task::spawn_blocking(move || walk(&root, &root, None)).await;
    let files = match result {
        Ok(Ok(files)) => files,
        Ok(Err(e)) => return ToolOutcome::err(e),
        Err(e) => return ToolOutcome::err(e.to_string()),
    };
    let matched: Vec<String> = files
        .into_iter()
        .map(|(rel, _)| rel)
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
    let root = match workspace(state, project).await {
        Ok(r) => r,
        Err(e) => return e,
    };
    let regex = match regex::RegexBuilder::new(&a.pattern)
        .size_limit(1 << 20)
        .build()
    {
        Ok(r) => r,
        Err(e) => return ToolOutcome::err(format!("invalid regular expression: {e}")),
    };
    let under = match a.path.as_deref().filter(|p| !p.is_empty() && *p != ".") {
        Some(raw) => {
            let rel = match path_of(raw, false) {
                Ok(p) => p,
                Err(e) => return e,
            };
            match paths::resolve(&root, &rel) {
                Ok(full) if full.exists() => full,
                Ok(_) => return ToolOutcome::err(format!("`{raw}` does not exist")),
                Err(e) => return ToolOutcome::err(format!("`{raw}` is not allowed: {e}")),
            }
        }
        None => root.clone(),
    };
    let glob = a.glob.clone();
    let result = tokio::task::spawn_blocking(move || -> Result<(Vec<String>, usize), String> {
        let files = walk(&root, &under, glob.as_deref())?;
        let mut hits = Vec::new();
        let mut total = 0;
        for (rel, full) in files {
            let Ok(text) = std::fs::read_to_string(&full) else {
                continue;
            };
            for (i, line) in text.lines().enumerate() {
                if regex.is_match(line) {
                    total += 1;
                    if hits.len() < MAX_RESULTS {
                        hits.push(format!("{rel}:{}:{}", i + 1, clip(line)));
                    }
                }
            }
        }
        Ok((hits, total))
    })
    .await;
    match result {
        Ok(Ok((_, 0))) => ToolOutcome::ok(format!("no match for /{}/", a.pattern), "No matches."),
        Ok(Ok((hits, total))) => {
            let mut content = hits.join("\n");
            if total > hits.len() {
                content.push_str(&format!("\n… {} more matches", total - hits.len()));
            }
            ToolOutcome::ok(format!("{total} match(es) for /{}/", a.pattern), content)
        }
        Ok(Err(e)) => ToolOutcome::err(e),
        Err(e) => ToolOutcome::err(e.to_string()),
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
