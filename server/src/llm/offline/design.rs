//! Phase design: the JSON the phase designer answers with. Phase 1 is the
//! fixed scaffold, phase 2 (the last) the sections the description asks
//! for; a later phase only restyles.

use minicode::protocol::PlannedFile;
use serde_json::json;

use super::describe::Blueprint;

/// Fixed paths of the scaffold, with what each is for.
fn scaffold_files(bp: &Blueprint) -> Vec<PlannedFile> {
    let file = |path: &str, purpose: String| PlannedFile {
        path: path.into(),
        purpose,
    };
    vec![
        file(
            "package.json",
            "Scripts (`dev: vite`) and dependencies: React 19, Vite 7, TypeScript".into(),
        ),
        file(
            "index.html",
            format!(
                "The HTML page titled “{}” that loads src/main.tsx",
                bp.title
            ),
        ),
        file(
            "vite.config.ts",
            "Vite configuration: React's automatic JSX runtime through esbuild".into(),
        ),
        file(
            "tsconfig.json",
            "Strict TypeScript settings for React".into(),
        ),
        file(
            "src/main.tsx",
            "Mounts <App /> into #root and loads the styles".into(),
        ),
        file(
            "src/App.tsx",
            format!("The page shell: the “{}” heading and the tagline", bp.title),
        ),
        file(
            "src/styles.css",
            "Base styles and the theme's CSS variables (--bg, --fg, --accent)".into(),
        ),
    ]
}

fn feature_files(bp: &Blueprint) -> Vec<PlannedFile> {
    let mut files = vec![PlannedFile {
        path: "src/data.ts".into(),
        purpose: "Starting content of the sections, written from the description".into(),
    }];
    for feature in &bp.features {
        let mut label = feature.label().to_string();
        if let Some(first) = label.get_mut(0..1) {
            first.make_ascii_uppercase();
        }
        files.push(PlannedFile {
            path: feature.path(),
            purpose: label,
        });
    }
    files.push(PlannedFile {
        path: "src/App.tsx".into(),
        purpose: "Renders the heading and the new sections".into(),
    });
    files.push(PlannedFile {
        path: "src/styles.css".into(),
        purpose: "Adds the styles of the sections".into(),
    });
    files
}

/// The JSON the phase designer answers with (see `prompts/phase_designer.md`).
pub(super) fn design_phase(description: &str, phase_number: u32) -> String {
    let bp = Blueprint::from_description(description);
    let (name, goal, files, last) = match phase_number {
        0 | 1 => (
            "Scaffold".to_string(),
            format!(
                "A runnable Vite + React + TypeScript app titled “{}”: the page shell, base styles and theme variables.",
                bp.title
            ),
            scaffold_files(&bp),
            false,
        ),
        2 => (
            "Features".to_string(),
            format!("Build {} and show them on the page.", bp.feature_list()),
            feature_files(&bp),
            true,
        ),
        _ => (
            "Polish".to_string(),
            "Refresh the styles of every section.".to_string(),
            vec![PlannedFile {
                path: "src/styles.css".into(),
                purpose: "Base and section styles".into(),
            }],
            true,
        ),
    };
    let design = json!({
        "name": name,
        "goal": goal,
        "files": files,
        "lastPhase": last,
    });
    serde_json::to_string_pretty(&design).unwrap_or_else(|_| design.to_string())
}

#[cfg(test)]
mod tests {
    use crate::llm::offline::test_support::{TODO_CLUB, design};

    #[tokio::test]
    async fn designs_two_phases_as_json() {
        let first = design(TODO_CLUB, 1).await;
        assert_eq!(first.name, "Scaffold");
        assert!(!first.last_phase);
        let paths: Vec<&str> = first.files.iter().map(|f| f.path.as_str()).collect();
        for p in [
            "package.json",
            "index.html",
            "vite.config.ts",
            "tsconfig.json",
            "src/main.tsx",
            "src/App.tsx",
            "src/styles.css",
        ] {
            assert!(paths.contains(&p), "{p} planned");
        }
        let second = design(TODO_CLUB, 2).await;
        assert!(second.last_phase, "phase 2 is the last");
        let paths: Vec<&str> = second.files.iter().map(|f| f.path.as_str()).collect();
        assert!(paths.contains(&"src/components/TodoList.tsx"));
        assert!(paths.contains(&"src/data.ts"));
        assert!(paths.contains(&"src/App.tsx"));
        assert!(second.files.iter().all(|f| !f.purpose.is_empty()));
        // Landing fallback when no keyword matches.
        let landing = design("something for my bakery", 2).await;
        let paths: Vec<&str> = landing.files.iter().map(|f| f.path.as_str()).collect();
        assert!(paths.contains(&"src/components/Features.tsx"));
        assert!(design("x", 3).await.last_phase);
    }
}
