//! Implementation: every planned file of the generated app, written in the
//! heredoc format the SCOF parser reads. The fixed scaffold files are built
//! here; each section's component is a template from `templates/`, and all
//! text taken from the description goes into `src/data.ts` as JSON literals.

use minicode::protocol::Phase;
use serde_json::{Value, json};

use super::describe::{Blueprint, Feature, KEYWORDS, clean, is_light, title_case};

/// `src/App.tsx` → `EOF_SRC_APP_TSX`: one marker per path, so markers are
/// unique within an answer.
fn marker_for(path: &str, content: &str) -> String {
    let mut marker = format!(
        "EOF_{}",
        path.chars()
            .map(|c| if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            })
            .collect::<String>()
    );
    while content.lines().any(|l| l == marker) {
        marker.push('_');
    }
    marker
}

/// `accent`: a colour taken from the user's images, used as the theme's
/// `--accent`.
pub(super) fn implement(
    description: &str,
    phase: &Phase,
    existing: &[String],
    accent: Option<&str>,
) -> String {
    let bp = Blueprint::from_description(description);
    // Sections whose component is written now or exists already get rendered.
    let present: Vec<Feature> = bp
        .features
        .iter()
        .copied()
        .filter(|f| {
            let path = f.path();
            phase.files.iter().any(|p| p.path == path) || existing.contains(&path)
        })
        .collect();
    let mut out = format!(
        "Phase {} ({}): writing {} file{}.\n\n```bash\n",
        phase.number,
        phase.name,
        phase.files.len(),
        if phase.files.len() == 1 { "" } else { "s" }
    );
    for file in &phase.files {
        let mut content = file_content(&bp, &file.path, &file.purpose, &present);
        if let Some(colour) = accent.filter(|_| file.path == "src/styles.css") {
            content = with_accent(&content, colour);
        }
        if !content.ends_with('\n') {
            content.push('\n');
        }
        let marker = marker_for(&file.path, &content);
        // A shell comment: prose the parser ignores, never a command.
        out.push_str(&format!("# {} — {}\n", file.path, clean(&file.purpose)));
        out.push_str(&format!(
            "cat > {} << '{marker}'\n{content}{marker}\n\n",
            file.path
        ));
    }
    out.push_str("```\n");
    out
}

const FIXTURE_DEPENDENCIES: &str = r#"  "dependencies": {
    "react": "^19.1.0",
    "react-dom": "^19.1.0"
  },
  "devDependencies": {
    "@types/react": "^19.1.0",
    "@types/react-dom": "^19.1.0",
    "typescript": "^5.8.0",
    "vite": "^7.0.0"
  }"#;

/// An npm package name from the title ("Book Club Todos" → `book-club-todos`).
fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out
        .trim_end_matches('-')
        .chars()
        .take(50)
        .collect::<String>();
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() {
        "minicode-app".into()
    } else {
        out
    }
}

/// The stylesheet with `--accent` (and a readable `--accent-fg`) set to
/// `colour`.
fn with_accent(css: &str, colour: &str) -> String {
    let fg = if is_light(colour) {
        "#111111"
    } else {
        "#ffffff"
    };
    css.lines()
        .map(|line| {
            let trimmed = line.trim_start();
            let indent = &line[..line.len() - trimmed.len()];
            if trimmed.starts_with("--accent:") {
                format!("{indent}--accent: {colour};")
            } else if trimmed.starts_with("--accent-fg:") {
                format!("{indent}--accent-fg: {fg};")
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

fn html_text(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Text safe inside JSX: braces and angle brackets become entities.
pub(super) fn jsx_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '{' => out.push_str("&#123;"),
            '}' => out.push_str("&#125;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn file_content(bp: &Blueprint, path: &str, purpose: &str, present: &[Feature]) -> String {
    if let Some(feature) = bp.features.iter().find(|f| f.path() == path) {
        return feature.template().to_string();
    }
    match path {
        "package.json" => format!(
            "{{\n  \"name\": \"{}\",\n  \"private\": true,\n  \"version\": \"0.0.0\",\n  \"type\": \"module\",\n  \"scripts\": {{\n    \"dev\": \"vite\",\n    \"build\": \"tsc --noEmit && vite build\",\n    \"preview\": \"vite preview\"\n  }},\n{FIXTURE_DEPENDENCIES}\n}}\n",
            slug(&bp.title)
        ),
        "index.html" => format!(
            "<!doctype html>\n<html lang=\"en\">\n  <head>\n    <meta charset=\"UTF-8\" />\n    <meta name=\"viewport\" content=\"width=device-width, initial-scale=1.0\" />\n    <title>{}</title>\n  </head>\n  <body>\n    <div id=\"root\"></div>\n    <script type=\"module\" src=\"/src/main.tsx\"></script>\n  </body>\n</html>\n",
            html_text(&bp.title)
        ),
        // No `base`: minicode passes `--base` on the command line.
        "vite.config.ts" => "import { defineConfig } from 'vite';\n\n// React's automatic JSX runtime without @vitejs/plugin-react.\nexport default defineConfig({\n  esbuild: { jsx: 'automatic' },\n});\n".into(),
        "tsconfig.json" => "{\n  \"compilerOptions\": {\n    \"target\": \"ES2022\",\n    \"lib\": [\"ES2022\", \"DOM\", \"DOM.Iterable\"],\n    \"module\": \"ESNext\",\n    \"moduleResolution\": \"bundler\",\n    \"jsx\": \"react-jsx\",\n    \"strict\": true,\n    \"noEmit\": true,\n    \"skipLibCheck\": true,\n    \"types\": [\"vite/client\"]\n  },\n  \"include\": [\"src\"]\n}\n".into(),
        "src/main.tsx" => "import { StrictMode } from 'react';\nimport { createRoot } from 'react-dom/client';\nimport App from './App';\nimport './styles.css';\n\ncreateRoot(document.getElementById('root')!).render(\n  <StrictMode>\n    <App />\n  </StrictMode>,\n);\n".into(),
        "src/App.tsx" => app_tsx(bp, present),
        "src/styles.css" => {
            let mut css = include_str!("templates/base.css").to_string();
            if !present.is_empty() {
                css.push_str(include_str!("templates/sections.css"));
            }
            css
        }
        "src/data.ts" => data_ts(bp),
        _ => fallback_file(bp, path, purpose),
    }
}

fn app_tsx(bp: &Blueprint, present: &[Feature]) -> String {
    let mut out = String::new();
    for f in present {
        out.push_str(&format!(
            "import {0} from './components/{0}';\n",
            f.component()
        ));
    }
    if !present.is_empty() {
        out.push('\n');
    }
    out.push_str(&format!(
        "export default function App() {{\n  return (\n    <div className=\"app\">\n      <header className=\"hero\">\n        <h1>{}</h1>\n        <p className=\"tagline\">{}</p>\n      </header>\n      <main>\n",
        jsx_text(&bp.title),
        jsx_text(&bp.tagline)
    ));
    if present.is_empty() {
        out.push_str(&format!(
            "        <section className=\"card\">\n          <h2>Coming next</h2>\n          <p className=\"muted\">\n            This is the first version of {}. The next phase adds {}.\n          </p>\n        </section>\n",
            jsx_text(&bp.title),
            jsx_text(&bp.feature_list())
        ));
    } else {
        for f in present {
            out.push_str(&format!("        <{} />\n", f.component()));
        }
    }
    out.push_str("      </main>\n    </div>\n  );\n}\n");
    out
}

/// A JS literal for any JSON value (JSON is valid TypeScript).
fn lit(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

/// Content words for filler text (not the words that picked the sections),
/// topped up with `defaults` when the description has few.
fn pick_words(bp: &Blueprint, n: usize, defaults: &[&str]) -> Vec<String> {
    let is_keyword = |w: &str| {
        KEYWORDS
            .iter()
            .any(|(_, k, _)| w == *k || w.strip_suffix('s') == Some(*k))
    };
    let mut out: Vec<String> = Vec::new();
    let own = bp
        .words
        .iter()
        .map(String::as_str)
        .filter(|w| !is_keyword(w));
    for w in own.chain(defaults.iter().copied()) {
        let w = title_case(w);
        if !out.contains(&w) {
            out.push(w);
        }
        if out.len() == n {
            break;
        }
    }
    out
}

/// `src/data.ts`: the user-facing text of every section, as JSON literals
/// (so quotes or braces in the description cannot break the code).
fn data_ts(bp: &Blueprint) -> String {
    let title = &bp.title;
    let topic = &bp.topic;
    let mut out = format!(
        "// Starting content of {}'s sections. Edit freely.\n",
        title.replace('\n', " ")
    );
    for feature in &bp.features {
        let (name, value, type_decl): (&str, Value, Option<&str>) = match feature {
            Feature::Todo => (
                "todo",
                json!({
                    "heading": "To do",
                    "placeholder": format!("Add something for {title}…"),
                    "items": [
                        {"id": 1, "text": format!("Set up {title}"), "done": true},
                        {"id": 2, "text": format!("Plan the next steps for the {topic}"), "done": false},
                        {"id": 3, "text": format!("Share {title} with everyone"), "done": false},
                    ],
                }),
                None,
            ),
            Feature::Notes => (
                "notes",
                json!({
                    "heading": "Notes",
                    "placeholder": format!("Write a note about the {topic}…"),
                    "items": [
                        {"id": 2, "text": format!("Ideas for the {topic}")},
                        {"id": 1, "text": format!("Welcome to {title}. Notes stay in this browser.")},
                    ],
                }),
                None,
            ),
            Feature::Timer => (
                "timer",
                json!({
                    "heading": "Timer",
                    "minutes": 25,
                    "presets": [5, 15, 25, 50],
                    "label": format!("Focus time for the {topic}"),
                    "doneMessage": "Time's up! Take a break.",
                }),
                None,
            ),
            Feature::Counter => (
                "counter",
                json!({
                    "heading": "Counter",
                    "label": format!("Counting for the {topic}"),
                    "step": 1,
                }),
                None,
            ),
            Feature::Weather => {
                let place = owner_place(bp);
                (
                    "weather",
                    json!({
                        "heading": format!("Weather in {place}"),
                        "place": place,
                        "note": "Sample forecast: connect a weather API to show live data.",
                        "days": [
                            {"day": "Mon", "summary": "Sunny", "icon": "☀️", "high": 24, "low": 14},
                            {"day": "Tue", "summary": "Partly cloudy", "icon": "⛅", "high": 22, "low": 13},
                            {"day": "Wed", "summary": "Showers", "icon": "🌦️", "high": 18, "low": 11},
                            {"day": "Thu", "summary": "Rain", "icon": "🌧️", "high": 16, "low": 10},
                            {"day": "Fri", "summary": "Cloudy", "icon": "☁️", "high": 19, "low": 12},
                            {"day": "Sat", "summary": "Sunny", "icon": "☀️", "high": 25, "low": 15},
                            {"day": "Sun", "summary": "Windy", "icon": "🌬️", "high": 21, "low": 13},
                        ],
                    }),
                    None,
                )
            }
            Feature::Gallery => {
                let names = pick_words(
                    bp,
                    6,
                    &[
                        "Morning", "Harbour", "Forest", "Studio", "Summit", "Evening",
                    ],
                );
                let items: Vec<Value> = names
                    .iter()
                    .enumerate()
                    .map(|(i, n)| {
                        json!({
                            "title": n,
                            "caption": format!("{n} — from the {topic} collection."),
                            "hue": (i * 57 + 200) % 360,
                        })
                    })
                    .collect();
                (
                    "gallery",
                    json!({"heading": "Gallery", "items": items}),
                    None,
                )
            }
            Feature::Pricing => (
                "pricing",
                json!({
                    "heading": "Pricing",
                    "plans": [
                        {"name": "Starter", "monthly": 0, "featured": false, "cta": "Start free",
                         "features": [format!("Try {title}"), "1 member", "Community support"]},
                        {"name": "Pro", "monthly": 12, "featured": true, "cta": "Choose Pro",
                         "features": [format!("Everything for the {topic}"), "10 members", "Email support"]},
                        {"name": "Team", "monthly": 39, "featured": false, "cta": "Contact sales",
                         "features": ["Unlimited members", "Shared workspaces", "Priority support"]},
                    ],
                }),
                None,
            ),
            Feature::Table => {
                let categories = pick_words(bp, 3, &["General", "Special", "Other"]);
                let names = ["Aurora", "Birch", "Cedar", "Dune", "Ember", "Fjord"];
                let statuses = ["Active", "Planned", "Done"];
                let rows: Vec<Value> = names
                    .iter()
                    .enumerate()
                    .map(|(i, n)| {
                        json!({
                            "name": n,
                            "category": categories[i % categories.len()],
                            "status": statuses[(i * 2) % statuses.len()],
                            "count": (i * 7 + 3) % 20 + 1,
                        })
                    })
                    .collect();
                (
                    "table",
                    json!({
                        "heading": title,
                        "columns": [
                            {"key": "name", "label": "Name"},
                            {"key": "category", "label": "Category"},
                            {"key": "status", "label": "Status"},
                            {"key": "count", "label": "Count"},
                        ],
                        "rows": rows,
                    }),
                    Some(
                        "export type TableRow = { name: string; category: string; status: string; count: number };\n\nexport const table: {\n  heading: string;\n  columns: { key: keyof TableRow; label: string }[];\n  rows: TableRow[];\n}",
                    ),
                )
            }
            Feature::Contact => (
                "contact",
                json!({
                    "heading": "Get in touch",
                    "intro": format!("Questions about {title}? Send a message."),
                    "thanks": "Your message was noted (this demo has no server, so it stays in your browser).",
                    "button": "Send message",
                }),
                None,
            ),
            Feature::Features => {
                let names = pick_words(bp, 3, &["Simple", "Fast", "Yours"]);
                let icons = ["✨", "⚡", "🎯"];
                let items: Vec<Value> = names
                    .iter()
                    .zip(icons)
                    .map(|(n, icon)| {
                        json!({
                            "icon": icon,
                            "title": n,
                            "text": format!("{n}, made for the {topic}."),
                        })
                    })
                    .collect();
                (
                    "features",
                    json!({"heading": format!("Why {title}"), "items": items}),
                    None,
                )
            }
            Feature::Faq => (
                "faq",
                json!({
                    "heading": "Questions",
                    "items": [
                        {"question": format!("What is {title}?"), "answer": bp.tagline},
                        {"question": "Who is it for?", "answer": format!("It is made for the {topic}.")},
                        {"question": "How do I change this page?", "answer": "Ask in the chat, or edit the files in the editor: the preview updates at once."},
                    ],
                }),
                None,
            ),
        };
        out.push('\n');
        match type_decl {
            Some(decl) => out.push_str(&format!("{decl} = {};\n", lit(&value))),
            None => out.push_str(&format!("export const {name} = {};\n", lit(&value))),
        }
    }
    out
}

/// The place a weather app is for: "for Paris" → "Paris".
fn owner_place(bp: &Blueprint) -> String {
    let topic = bp.topic.trim();
    if topic.is_empty() || topic == bp.title.to_lowercase() {
        "your city".into()
    } else {
        title_case(topic)
    }
}

/// A planned file the templates do not know (a design from another model):
/// something valid for its type that states its purpose.
fn fallback_file(bp: &Blueprint, path: &str, purpose: &str) -> String {
    let purpose = clean(purpose);
    let stem = path
        .rsplit('/')
        .next()
        .unwrap_or(path)
        .split('.')
        .next()
        .unwrap_or("Section");
    let extension = path.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    match extension {
        "tsx" | "jsx" => {
            let name = pascal(stem).unwrap_or_else(|| "Section".into());
            section_component(&name, &title_case(&stem.replace(['-', '_'], " ")), &purpose)
        }
        "ts" | "js" | "mjs" => format!(
            "// {}\nexport const info = {};\n",
            purpose.replace('\n', " "),
            serde_json::to_string(&json!({"app": bp.title, "purpose": purpose}))
                .unwrap_or_else(|_| "{}".into())
        ),
        "css" => include_str!("templates/base.css").to_string(),
        "json" => "{}\n".into(),
        "md" => format!("# {}\n\n{purpose}\n", bp.title),
        "html" => format!("<!doctype html>\n<p>{}</p>\n", html_text(&purpose)),
        _ => format!("{purpose}\n"),
    }
}

/// "our history" → `OurHistory`; None when nothing usable is left.
pub(super) fn pascal(text: &str) -> Option<String> {
    let name: String = text
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(4)
        .map(|w| {
            let mut chars = w.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect();
    let name = name
        .trim_start_matches(|c: char| c.is_ascii_digit())
        .to_string();
    (!name.is_empty()).then_some(name)
}

pub(super) fn section_component(name: &str, heading: &str, text: &str) -> String {
    let id = slug(heading);
    format!(
        "export default function {name}() {{\n  return (\n    <section className=\"card\" id=\"{id}\">\n      <h2>{}</h2>\n      <p className=\"muted\">{}</p>\n    </section>\n  );\n}}\n",
        jsx_text(heading),
        jsx_text(text)
    )
}

/// The component templates sit here, with the rest of the generated app's
/// files, rather than with [`Feature`] in `describe.rs`.
impl Feature {
    /// The component's source; all user-derived text lives in `src/data.ts`,
    /// so the templates need no escaping.
    fn template(self) -> &'static str {
        match self {
            Feature::Todo => include_str!("templates/TodoList.tsx"),
            Feature::Notes => include_str!("templates/Notes.tsx"),
            Feature::Timer => include_str!("templates/Timer.tsx"),
            Feature::Counter => include_str!("templates/Counter.tsx"),
            Feature::Weather => include_str!("templates/Weather.tsx"),
            Feature::Gallery => include_str!("templates/Gallery.tsx"),
            Feature::Pricing => include_str!("templates/PricingTable.tsx"),
            Feature::Table => include_str!("templates/DataTable.tsx"),
            Feature::Contact => include_str!("templates/ContactForm.tsx"),
            Feature::Features => include_str!("templates/Features.tsx"),
            Feature::Faq => include_str!("templates/Faq.tsx"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::offline::test_support::{TODO_CLUB, design, implement_files, phase_of};

    #[tokio::test]
    async fn implemented_phases_are_complete_and_parseable() {
        let phase1 = phase_of(design(TODO_CLUB, 1).await, 1);
        let files = implement_files(TODO_CLUB, &phase1, &[]).await;
        let planned: Vec<&str> = phase1.files.iter().map(|f| f.path.as_str()).collect();
        let written: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(written, planned, "every planned file, in order");
        let file = |name: &str| {
            files
                .iter()
                .find(|(p, _)| p == name)
                .map(|(_, c)| c.clone())
                .unwrap()
        };

        // Same dependencies as the fixture, so the shared npm cache is warm.
        let fixture: Value = serde_json::from_str(include_str!(
            "../../../tests/fixtures/vite-app/package.json"
        ))
        .unwrap();
        let package: Value = serde_json::from_str(&file("package.json")).unwrap();
        assert_eq!(package["dependencies"], fixture["dependencies"]);
        assert_eq!(package["devDependencies"], fixture["devDependencies"]);
        assert_eq!(package["scripts"]["dev"], "vite");
        assert_eq!(package["name"], "book-club-todos");
        let vite = file("vite.config.ts");
        assert!(vite.contains("jsx: 'automatic'"));
        assert!(!vite.contains("base"), "minicode passes --base");
        assert!(!vite.contains("from '@vitejs/plugin-react'"));
        let app = file("src/App.tsx");
        assert!(app.contains("<h1>Book Club Todos</h1>"), "{app}");
        assert!(!app.contains("<footer"), "the chat adds the footer");
        assert!(file("src/styles.css").contains("--accent:"));
        assert!(file("index.html").contains("<title>Book Club Todos</title>"));
        assert!(file("src/main.tsx").contains("import './styles.css';"));

        let existing: Vec<String> = written.iter().map(|s| s.to_string()).collect();
        let phase2 = phase_of(design(TODO_CLUB, 2).await, 2);
        let files = implement_files(TODO_CLUB, &phase2, &existing).await;
        assert_eq!(files.len(), phase2.files.len());
        let app = &files.iter().find(|(p, _)| p == "src/App.tsx").unwrap().1;
        assert!(app.contains("import TodoList from './components/TodoList';"));
        assert!(app.contains("<TodoList />"));
        assert!(app.contains("<h1>Book Club Todos</h1>"));
        let data = &files.iter().find(|(p, _)| p == "src/data.ts").unwrap().1;
        assert!(data.contains("export const todo = "));
        assert!(
            data.contains("book club"),
            "content reuses the user's words"
        );
    }

    #[tokio::test]
    async fn every_template_is_written_and_text_is_escaped() {
        let description = "a \"Fancy {App} <b>\" with todos, notes, a timer, a counter";
        let more = "weather, a gallery, pricing, an inventory table, a contact form";
        for d in [description, more, "something nice"] {
            let phase2 = phase_of(design(d, 2).await, 2);
            let files = implement_files(d, &phase2, &[]).await;
            assert_eq!(files.len(), phase2.files.len());
            for (path, content) in &files {
                assert!(!content.is_empty(), "{path}");
            }
        }
        let bp = Blueprint::from_description(description);
        let app = app_tsx(&bp, &[]);
        assert!(
            app.contains("<h1>Fancy &#123;App&#125; &lt;b&gt;</h1>"),
            "{app}"
        );
        let data = data_ts(&Blueprint::from_description(more));
        assert!(data.contains("export const table: {"));
        assert!(data.contains("export const weather = "));
    }
}
