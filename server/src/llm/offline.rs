//! The built-in `offline` provider: a deterministic, template-driven
//! generator that lets the whole product run with no API key.
//!
//! It is **not a model**. It reads [`ChatRequest::purpose`] instead of the
//! prompt and answers from templates:
//!
//! * [`Purpose::DesignPhase`]: a JSON phase design. Phase 1 is the Vite 7 +
//!   React 19 + TypeScript scaffold, phase 2 (the last) adds the sections
//!   picked from keywords of the description (todo list, notes, timer,
//!   counter, weather, gallery, pricing, data table, contact form; a landing
//!   page with features and an FAQ when nothing matches).
//! * [`Purpose::Implement`]: every planned file in the heredoc format the
//!   SCOF parser reads, one unique marker per file.
//! * [`Purpose::Chat`]: a small tool-using agent that understands a handful
//!   of requests (title, dark/light theme, footer, accent colour, new
//!   section). It reads the files it needs, then edits them, then
//!   summarises; anything else gets an explanation of how to configure a
//!   real model.
//!
//! Answers stream in small chunks paced to `chars_per_sec`, so the UI, the
//! parser and the agent loop see the same kind of traffic as with a hosted
//! model. It reports no usage: it spends no model tokens, and estimates
//! shown as tokens would read as real usage (and count against budgets).

use std::collections::{HashMap, VecDeque};
use std::sync::LazyLock;
use std::time::Duration;

use minicode::Usage;
use minicode::protocol::{Phase, PlannedFile};
use regex::Regex;
use serde_json::{Value, json};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{
    ChatRequest, EventStream, FinishReason, LlmError, LlmMessage, Provider, Purpose, StreamEvent,
};

/// The offline generator. `chars_per_sec` paces the stream (0: no pauses).
pub struct Offline {
    chars_per_sec: u32,
}

impl Offline {
    pub fn new(chars_per_sec: u32) -> Self {
        Self { chars_per_sec }
    }
}

impl Provider for Offline {
    fn name(&self) -> &str {
        "offline"
    }

    fn stream(&self, request: ChatRequest, cancel: CancellationToken) -> EventStream {
        let answer = answer(&request);
        let usage = Usage::default();
        pace(
            script(answer, usage, self.chars_per_sec),
            self.chars_per_sec,
            cancel,
        )
    }
}

// ---------------------------------------------------------------------------
// Answers and streaming
// ---------------------------------------------------------------------------

/// A complete answer, before it is cut into stream events.
#[derive(Debug, Default)]
struct Answer {
    text: String,
    /// (id, tool name, arguments).
    calls: Vec<(String, String, Value)>,
}

impl Answer {
    fn text(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            calls: Vec::new(),
        }
    }
}

fn answer(request: &ChatRequest) -> Answer {
    match &request.purpose {
        Purpose::DesignPhase {
            description,
            phase_number,
            ..
        } => Answer::text(design_phase(description, *phase_number)),
        Purpose::Implement {
            description,
            phase,
            files,
        } => Answer::text(implement(description, phase, files)),
        Purpose::Chat => chat(&request.messages),
    }
}

/// A small deterministic PRNG (xorshift) so chunk sizes vary like a real
/// stream but the same request always streams the same way.
struct Rng(u64);

impl Rng {
    fn seeded(text: &str) -> Self {
        Rng(fnv(text) | 1)
    }

    fn between(&mut self, min: usize, max: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        min + (self.0 % (max - min + 1) as u64) as usize
    }
}

fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Cuts `text` into pieces of `min..=max` bytes, on character boundaries.
fn split_chunks(text: &str, min: usize, max: usize, rng: &mut Rng) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut end = rng.between(min, max).min(rest.len());
        while !rest.is_char_boundary(end) {
            end += 1;
        }
        out.push(rest[..end].to_string());
        rest = &rest[end..];
    }
    out
}

/// The events of an answer: text chunks, then each tool call with its
/// arguments in several fragments, then `Finish`.
fn script(answer: Answer, usage: Usage, chars_per_sec: u32) -> Vec<StreamEvent> {
    let mut rng = Rng::seeded(&answer.text);
    // Paced streams look like a model (a few tokens per chunk); unpaced ones
    // still come in pieces so consumers exercise their streaming paths.
    let (min, max) = if chars_per_sec == 0 {
        (64, 256)
    } else {
        (8, 40)
    };
    let mut events: Vec<StreamEvent> = split_chunks(&answer.text, min, max, &mut rng)
        .into_iter()
        .map(StreamEvent::Text)
        .collect();
    let reason = if answer.calls.is_empty() {
        FinishReason::Stop
    } else {
        FinishReason::ToolCalls
    };
    for (index, (id, name, args)) in answer.calls.into_iter().enumerate() {
        events.push(StreamEvent::ToolCallStart { index, id, name });
        // Arguments always come in several fragments, as hosted APIs send them.
        for fragment in split_chunks(&args.to_string(), 8, 40, &mut rng) {
            events.push(StreamEvent::ToolCallArgs { index, fragment });
        }
    }
    events.push(StreamEvent::Finish { reason, usage });
    events
}

fn event_chars(event: &StreamEvent) -> u64 {
    match event {
        StreamEvent::Text(t) => t.chars().count() as u64,
        StreamEvent::ToolCallArgs { fragment, .. } => fragment.chars().count() as u64,
        _ => 0,
    }
}

struct Pacer {
    events: VecDeque<StreamEvent>,
    cancel: CancellationToken,
    chars_per_sec: u32,
    /// When the first event was asked for; each chunk is due when the
    /// characters before and in it would have been produced at the pace.
    start: Option<Instant>,
    sent_chars: u64,
    sent_events: u64,
    done: bool,
}

/// Streams `events` at `chars_per_sec`. Cancelling ends the stream with
/// `Err(Cancelled)`, also in the middle of a pause; dropping the stream
/// drops the pending pause, so nothing keeps running.
fn pace(events: Vec<StreamEvent>, chars_per_sec: u32, cancel: CancellationToken) -> EventStream {
    let pacer = Pacer {
        events: events.into(),
        cancel,
        chars_per_sec,
        start: None,
        sent_chars: 0,
        sent_events: 0,
        done: false,
    };
    Box::pin(futures::stream::unfold(pacer, |mut p| async move {
        if p.done {
            return None;
        }
        if p.cancel.is_cancelled() {
            p.done = true;
            return Some((Err(LlmError::Cancelled), p));
        }
        let event = p.events.pop_front()?;
        let cost = event_chars(&event);
        if p.chars_per_sec > 0 && cost > 0 {
            let start = *p.start.get_or_insert_with(Instant::now);
            p.sent_chars += cost;
            let due =
                start + Duration::from_secs_f64(p.sent_chars as f64 / f64::from(p.chars_per_sec));
            let cancel = p.cancel.clone();
            tokio::select! {
                biased;
                () = cancel.cancelled() => {
                    p.done = true;
                    return Some((Err(LlmError::Cancelled), p));
                }
                () = tokio::time::sleep_until(due) => {}
            }
        } else if p.sent_events % 16 == 15 {
            // Always-ready streams would otherwise hog the worker thread.
            tokio::task::yield_now().await;
        }
        p.sent_events += 1;
        Some((Ok(event), p))
    }))
}

// ---------------------------------------------------------------------------
// Reading the description
// ---------------------------------------------------------------------------

/// A section the generator knows how to build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Feature {
    Todo,
    Notes,
    Timer,
    Counter,
    Weather,
    Gallery,
    Pricing,
    Table,
    Contact,
    /// Fallback landing page: feature cards…
    Features,
    /// …and an FAQ.
    Faq,
}

/// Keywords that pick a feature, each with the noun it gives the title.
const KEYWORDS: &[(Feature, &str, Option<&str>)] = &[
    (Feature::Todo, "todo", Some("Todos")),
    (Feature::Todo, "to-do", Some("Todos")),
    (Feature::Todo, "to do", Some("Todos")),
    (Feature::Todo, "task", Some("Tasks")),
    (Feature::Todo, "checklist", Some("Checklist")),
    (Feature::Todo, "chore", Some("Chores")),
    (Feature::Todo, "errand", Some("Errands")),
    (Feature::Todo, "grocery", Some("Groceries")),
    (Feature::Todo, "groceries", Some("Groceries")),
    (Feature::Todo, "shopping list", Some("Shopping List")),
    (Feature::Todo, "packing list", Some("Packing List")),
    (Feature::Todo, "reading list", Some("Reading List")),
    (Feature::Todo, "bucket list", Some("Bucket List")),
    (Feature::Todo, "habit", Some("Habits")),
    (Feature::Notes, "note", Some("Notes")),
    (Feature::Notes, "notebook", Some("Notebook")),
    (Feature::Notes, "journal", Some("Journal")),
    (Feature::Notes, "diary", Some("Diary")),
    (Feature::Notes, "memo", Some("Memos")),
    (Feature::Timer, "timer", Some("Timer")),
    (Feature::Timer, "pomodoro", Some("Pomodoro")),
    (Feature::Timer, "stopwatch", Some("Stopwatch")),
    (Feature::Timer, "countdown", Some("Countdown")),
    (Feature::Counter, "counter", Some("Counter")),
    (Feature::Counter, "tally", Some("Tally")),
    (Feature::Counter, "clicker", Some("Clicker")),
    (Feature::Weather, "weather", Some("Weather")),
    (Feature::Weather, "forecast", Some("Forecast")),
    (Feature::Gallery, "gallery", Some("Gallery")),
    (Feature::Gallery, "portfolio", Some("Portfolio")),
    (Feature::Gallery, "photo", Some("Photos")),
    (Feature::Gallery, "picture", Some("Pictures")),
    (Feature::Gallery, "image", Some("Gallery")),
    (Feature::Gallery, "artwork", Some("Artwork")),
    (Feature::Pricing, "pricing", Some("Pricing")),
    (Feature::Pricing, "price", Some("Pricing")),
    (Feature::Pricing, "plans", Some("Plans")),
    (Feature::Pricing, "subscription", Some("Plans")),
    (Feature::Pricing, "tier", Some("Plans")),
    (Feature::Table, "table", None),
    (Feature::Table, "spreadsheet", None),
    (Feature::Table, "inventory", Some("Inventory")),
    (Feature::Table, "directory", Some("Directory")),
    (Feature::Table, "leaderboard", Some("Leaderboard")),
    (Feature::Table, "schedule", Some("Schedule")),
    (Feature::Table, "roster", Some("Roster")),
    (Feature::Table, "catalog", Some("Catalog")),
    (Feature::Table, "catalogue", Some("Catalogue")),
    (Feature::Table, "tracker", Some("Tracker")),
    (Feature::Contact, "contact", None),
    (Feature::Contact, "form", None),
    (Feature::Contact, "signup", None),
    (Feature::Contact, "sign up", None),
    (Feature::Contact, "rsvp", None),
    (Feature::Contact, "feedback", None),
    (Feature::Contact, "enquiry", None),
    (Feature::Contact, "inquiry", None),
    (Feature::Contact, "newsletter", None),
    (Feature::Contact, "booking", None),
];

/// At most this many sections, so phase 2 stays a reasonable size.
const MAX_FEATURES: usize = 4;

impl Feature {
    fn component(self) -> &'static str {
        match self {
            Feature::Todo => "TodoList",
            Feature::Notes => "Notes",
            Feature::Timer => "Timer",
            Feature::Counter => "Counter",
            Feature::Weather => "Weather",
            Feature::Gallery => "Gallery",
            Feature::Pricing => "PricingTable",
            Feature::Table => "DataTable",
            Feature::Contact => "ContactForm",
            Feature::Features => "Features",
            Feature::Faq => "Faq",
        }
    }

    fn path(self) -> String {
        format!("src/components/{}.tsx", self.component())
    }

    /// The component's source; all user-derived text lives in `src/data.ts`,
    /// so the templates need no escaping.
    fn template(self) -> &'static str {
        match self {
            Feature::Todo => include_str!("offline/templates/TodoList.tsx"),
            Feature::Notes => include_str!("offline/templates/Notes.tsx"),
            Feature::Timer => include_str!("offline/templates/Timer.tsx"),
            Feature::Counter => include_str!("offline/templates/Counter.tsx"),
            Feature::Weather => include_str!("offline/templates/Weather.tsx"),
            Feature::Gallery => include_str!("offline/templates/Gallery.tsx"),
            Feature::Pricing => include_str!("offline/templates/PricingTable.tsx"),
            Feature::Table => include_str!("offline/templates/DataTable.tsx"),
            Feature::Contact => include_str!("offline/templates/ContactForm.tsx"),
            Feature::Features => include_str!("offline/templates/Features.tsx"),
            Feature::Faq => include_str!("offline/templates/Faq.tsx"),
        }
    }

    /// What the section is, for plans and prose.
    fn label(self) -> &'static str {
        match self {
            Feature::Todo => "a todo list (add, tick off and delete items)",
            Feature::Notes => "notes saved in the browser",
            Feature::Timer => "a countdown timer with presets",
            Feature::Counter => "a counter",
            Feature::Weather => "a weather forecast (sample data)",
            Feature::Gallery => "a gallery with a lightbox",
            Feature::Pricing => "a pricing table with a monthly/yearly switch",
            Feature::Table => "a sortable, filterable table",
            Feature::Contact => "a contact form with validation",
            Feature::Features => "feature cards",
            Feature::Faq => "an FAQ",
        }
    }
}

/// Everything the templates take from the description.
#[derive(Clone, Debug)]
struct Blueprint {
    title: String,
    tagline: String,
    /// Who or what the app is for ("book club"), or its key words.
    topic: String,
    /// Content words of the description, in order, for filler text.
    words: Vec<String>,
    features: Vec<Feature>,
}

/// Words that carry no meaning for titles.
#[rustfmt::skip]
const STOP_WORDS: &[&str] = &[
    "a", "an", "the", "my", "our", "your", "his", "her", "their", "its", "this", "that", "these",
    "those", "some", "any", "app", "apps", "application", "website", "site", "page", "web",
    "webapp", "simple", "small", "little", "basic", "minimal", "nice", "beautiful", "modern",
    "clean", "cool", "quick", "tiny", "build", "make", "create", "write", "generate", "me", "us",
    "i", "we", "you", "want", "need", "would", "like", "please", "with", "and", "or", "for", "of",
    "to", "in", "on", "at", "by", "from", "which", "who", "where", "it", "is", "are", "be", "can",
    "could", "should", "lets", "let", "users", "user", "people", "everyone", "anyone", "using",
    "plus", "including", "featuring", "showing", "has", "have", "single", "one", "landing", "so",
    "just", "also", "all", "list", "called", "named", "titled", "some", "very", "really", "new",
    "own", "based",
];

/// Words that end the owner phrase after "for …".
#[rustfmt::skip]
const PHRASE_END: &[&str] = &[
    "with", "that", "which", "to", "where", "and", "so", "who", "including", "featuring", "showing",
    "using", "plus", "in", "on", "at", "where", "when", "called", "named", "or", "but", "like",
    "from", "by",
];

#[rustfmt::skip]
const DETERMINERS: &[&str] = &[
    "my", "our", "the", "a", "an", "his", "her", "their", "your", "this", "local",
];

/// Lowercase words (letters, digits, `-`, `'`).
fn words_of(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '\''))
        .filter(|w| !w.is_empty())
        .map(|w| w.trim_matches(|c| c == '-' || c == '\'').to_lowercase())
        .filter(|w| !w.is_empty())
        .collect()
}

fn detect_features(description: &str) -> Vec<(Feature, Option<&'static str>)> {
    let words = words_of(description);
    let joined = format!(" {} ", words.join(" "));
    let mut found: Vec<(usize, Feature, Option<&'static str>)> = Vec::new();
    for &(feature, keyword, noun) in KEYWORDS {
        let position = if keyword.contains(' ') {
            joined
                .find(&format!(" {keyword} "))
                .map(|at| joined[..at].matches(' ').count())
        } else {
            words.iter().position(|w| {
                w == keyword || *w == format!("{keyword}s") || *w == format!("{keyword}es")
            })
        };
        if let Some(position) = position {
            match found.iter_mut().find(|(_, f, _)| *f == feature) {
                Some(entry) if entry.0 > position => *entry = (position, feature, noun),
                Some(_) => {}
                None => found.push((position, feature, noun)),
            }
        }
    }
    found.sort_by_key(|(position, _, _)| *position);
    found.truncate(MAX_FEATURES);
    found.into_iter().map(|(_, f, n)| (f, n)).collect()
}

fn title_case(text: &str) -> String {
    const SMALL: &[&str] = &[
        "a", "an", "the", "and", "of", "for", "in", "on", "to", "with", "or",
    ];
    text.split_whitespace()
        .enumerate()
        .map(|(i, word)| {
            // Words with capitals ("iPhone") and small words keep their case.
            if word.chars().any(char::is_uppercase) || (i > 0 && SMALL.contains(&word)) {
                word.to_string()
            } else {
                let mut chars = word.chars();
                match chars.next() {
                    Some(first) => first.to_uppercase().chain(chars).collect(),
                    None => String::new(),
                }
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Removes control characters and collapses whitespace.
fn clean(text: &str) -> String {
    text.split_whitespace()
        .map(|w| w.chars().filter(|c| !c.is_control()).collect::<String>())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Cuts at a word boundary so names stay readable.
fn clip_words(text: &str, max_chars: usize) -> String {
    let mut out = String::new();
    for word in text.split_whitespace() {
        if out.chars().count() + word.chars().count() + 1 > max_chars && !out.is_empty() {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out.chars().take(max_chars).collect()
}

static QUOTED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#""([^"]{2,60})"|“([^”]{2,60})”|‘([^’]{2,60})’|(?:^|\s)'([^']{2,60})'(?:$|[\s.,!?;:])"#,
    )
    .expect("valid regex")
});
static CALLED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\b(?:called|named|titled)\s+(.+)").expect("valid regex"));
static FOR_OWNER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\bfor\s+(.+)").expect("valid regex"));

/// The words of `text` up to the first punctuation or phrase-ending word.
fn leading_phrase(text: &str, max_words: usize) -> Vec<String> {
    let clause = text
        .split(|c: char| ",.;:!?()[]\n".contains(c))
        .next()
        .unwrap_or("");
    clause
        .split_whitespace()
        .take_while(|w| !PHRASE_END.contains(&w.to_lowercase().as_str()))
        .take(max_words)
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric() && c != '\'' && c != '-'))
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// "for my book club" → "book club"; None when there is no usable owner.
fn owner_of(description: &str) -> Option<String> {
    let captures = FOR_OWNER.captures(description)?;
    let mut words = leading_phrase(&captures[1], 6);
    while words
        .first()
        .is_some_and(|w| DETERMINERS.contains(&w.to_lowercase().as_str()))
    {
        words.remove(0);
    }
    words.truncate(3);
    let first = words.first()?.to_lowercase();
    let usable = first.chars().next().is_some_and(char::is_alphabetic)
        && !first.ends_with("ing")
        && !STOP_WORDS.contains(&first.as_str());
    usable.then(|| words.join(" "))
}

impl Blueprint {
    fn from_description(description: &str) -> Self {
        let description = clean(description);
        let detected = detect_features(&description);
        let noun = detected.iter().find_map(|(_, n)| *n);
        let mut features: Vec<Feature> = detected.iter().map(|(f, _)| *f).collect();
        if features.is_empty() {
            features = vec![Feature::Features, Feature::Faq];
        }
        let words: Vec<String> = words_of(&description)
            .into_iter()
            .filter(|w| !STOP_WORDS.contains(&w.as_str()) && w.chars().any(char::is_alphabetic))
            .collect();
        let owner = owner_of(&description);

        let title = if let Some(c) = QUOTED.captures(&description) {
            let quoted = (1..=4)
                .find_map(|i| c.get(i))
                .map(|m| m.as_str())
                .unwrap_or("");
            clean(quoted)
        } else if let Some(c) = CALLED.captures(&description)
            && let name = leading_phrase(&c[1], 4)
            && !name.is_empty()
        {
            title_case(&name.join(" "))
        } else if let Some(owner) = &owner {
            match noun {
                Some(noun) if !owner.to_lowercase().contains(&noun.to_lowercase()) => {
                    format!("{} {noun}", title_case(owner))
                }
                _ => title_case(owner),
            }
        } else if !words.is_empty() {
            // The key words of the first phrase ("a recipe app where …" →
            // "Recipe"), else of the whole description.
            let head: Vec<String> = words_of(&description)
                .into_iter()
                .take_while(|w| !PHRASE_END.contains(&w.as_str()))
                .filter(|w| words.contains(w))
                .take(3)
                .collect();
            let key = if head.is_empty() {
                words.iter().take(3).cloned().collect()
            } else {
                head
            };
            title_case(&key.join(" "))
        } else {
            noun.unwrap_or("My App").to_string()
        };
        let title = match clip_words(&title, 60) {
            t if t.trim().is_empty() => "My App".to_string(),
            t => t,
        };

        let tagline = if description.is_empty() {
            "A small app built with minicode.".to_string()
        } else {
            let mut chars = description.chars();
            let mut t: String = chars
                .next()
                .map(|c| c.to_uppercase().chain(chars).collect())
                .unwrap_or_default();
            t = clip_words(&t, 200);
            if !t.ends_with(['.', '!', '?']) {
                t.push('.');
            }
            t
        };
        // As typed: "for Paris" stays capitalised, "for my book club" does not.
        let topic = owner
            .or_else(|| {
                (!words.is_empty())
                    .then(|| words.iter().take(3).cloned().collect::<Vec<_>>().join(" "))
            })
            .unwrap_or_else(|| title.to_lowercase());
        Blueprint {
            title,
            tagline,
            topic,
            words,
            features,
        }
    }

    fn feature_list(&self) -> String {
        let labels: Vec<&str> = self.features.iter().map(|f| f.label()).collect();
        join_list(&labels)
    }
}

/// "a", "a and b", "a, b and c".
fn join_list(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_string(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

// ---------------------------------------------------------------------------
// Phase design
// ---------------------------------------------------------------------------

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
fn design_phase(description: &str, phase_number: u32) -> String {
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

// ---------------------------------------------------------------------------
// Implementation: the heredoc file format
// ---------------------------------------------------------------------------

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

fn implement(description: &str, phase: &Phase, existing: &[String]) -> String {
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

fn html_text(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Text safe inside JSX: braces and angle brackets become entities.
fn jsx_text(text: &str) -> String {
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
            let mut css = include_str!("offline/templates/base.css").to_string();
            if !present.is_empty() {
                css.push_str(include_str!("offline/templates/sections.css"));
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
        "css" => include_str!("offline/templates/base.css").to_string(),
        "json" => "{}\n".into(),
        "md" => format!("# {}\n\n{purpose}\n", bp.title),
        "html" => format!("<!doctype html>\n<p>{}</p>\n", html_text(&purpose)),
        _ => format!("{purpose}\n"),
    }
}

/// "our history" → `OurHistory`; None when nothing usable is left.
fn pascal(text: &str) -> Option<String> {
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

fn section_component(name: &str, heading: &str, text: &str) -> String {
    let id = slug(heading);
    format!(
        "export default function {name}() {{\n  return (\n    <section className=\"card\" id=\"{id}\">\n      <h2>{}</h2>\n      <p className=\"muted\">{}</p>\n    </section>\n  );\n}}\n",
        jsx_text(heading),
        jsx_text(text)
    )
}

// ---------------------------------------------------------------------------
// Chat: a scripted tool-using agent
// ---------------------------------------------------------------------------

/// A request the chat agent understands.
#[derive(Clone, Debug, PartialEq)]
enum Intent {
    Title(String),
    Theme(Theme),
    Footer(String),
    Accent(String),
    Section(String),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Theme {
    Dark,
    Light,
}

const APP: &str = "src/App.tsx";
const STYLES: &str = "src/styles.css";

impl Intent {
    fn file(&self) -> &'static str {
        match self {
            Intent::Title(_) | Intent::Footer(_) | Intent::Section(_) => APP,
            Intent::Theme(_) | Intent::Accent(_) => STYLES,
        }
    }
}

/// Verbs that start a new request inside one message ("… and add a footer").
#[rustfmt::skip]
const VERBS: &[&str] = &[
    "change", "set", "make", "add", "rename", "update", "switch", "use", "turn", "put", "include",
    "insert", "give", "create", "replace", "apply", "paint", "colour", "color", "call", "also",
    "please", "then",
];

static SEPARATOR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\s*(?:;|\n|[.!?]\s+|,?\s+and\s+|,?\s+then\s+|,\s+)\s*").expect("valid regex")
});

/// Splits a message into requests, but only where the next part starts with
/// a verb: "change the title to Tom and Jerry" stays one request.
fn clauses(message: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut last = 0;
    let mut pending_sep = String::new();
    let push = |part: &str, sep: &str, out: &mut Vec<String>| {
        let first = part.split_whitespace().next().unwrap_or("").to_lowercase();
        if out.is_empty() || VERBS.contains(&first.as_str()) {
            out.push(part.to_string());
        } else if let Some(prev) = out.last_mut() {
            prev.push_str(sep);
            prev.push_str(part);
        }
    };
    for m in SEPARATOR.find_iter(message) {
        push(&message[last..m.start()], &pending_sep, &mut out);
        pending_sep = m.as_str().to_string();
        last = m.end();
    }
    push(&message[last..], &pending_sep, &mut out);
    out.into_iter()
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
        .collect()
}

/// Strips quotes, trailing punctuation and excess whitespace from a value.
fn clean_value(text: &str) -> String {
    let text = clean(text);
    let text = text.trim_end_matches(['.', '!', '?', ',', ';']);
    let text = text
        .trim_matches(|c| matches!(c, '"' | '\'' | '`' | '“' | '”' | '‘' | '’'))
        .trim();
    clip_words(text, 80)
}

static TITLE_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^(?:.*?\b(?:title|heading|headline|h1|name)\b.*?\b(?:to|as|into)\b|.*?\brename\b.*?\bto\b|.*?\bcall\s+(?:it|the\s+app))\s*:?\s*(.+)$").expect("valid regex")
});
static FOOTER_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\bfooter\b(?:\s+(?:saying|that\s+says|which\s+says|that\s+reads|reading|to\s+say|with\s+(?:the\s+)?(?:text|words?)|with|containing|text)\b|\s*:)?\s*(.*)$").expect("valid regex")
});
static SECTION_AFTER_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\bsection\b\s*(?:about|on|for|called|named|titled|describing|with|:)\s*(.+)$")
        .expect("valid regex")
});
static SECTION_BEFORE_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:add|create|include|insert|put)\s+(?:(?:a|an|another|new|the)\s+)*(.+?)\s+section\b")
        .expect("valid regex")
});
static HEX_COLOUR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"#(?:[0-9a-fA-F]{8}|[0-9a-fA-F]{6}|[0-9a-fA-F]{3,4})\b").expect("valid regex")
});
static FUNC_COLOUR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:rgba?|hsla?|oklch|oklab|lab|lch)\([^()]*\)").expect("valid regex")
});

/// CSS named colours (lowercase).
#[rustfmt::skip]
const CSS_COLOURS: &[&str] = &[
    "aliceblue", "antiquewhite", "aqua", "aquamarine", "azure", "beige", "bisque", "black",
    "blanchedalmond", "blue", "blueviolet", "brown", "burlywood", "cadetblue", "chartreuse",
    "chocolate", "coral", "cornflowerblue", "cornsilk", "crimson", "cyan", "darkblue", "darkcyan",
    "darkgoldenrod", "darkgray", "darkgreen", "darkgrey", "darkkhaki", "darkmagenta",
    "darkolivegreen", "darkorange", "darkorchid", "darkred", "darksalmon", "darkseagreen",
    "darkslateblue", "darkslategray", "darkslategrey", "darkturquoise", "darkviolet", "deeppink",
    "deepskyblue", "dimgray", "dimgrey", "dodgerblue", "firebrick", "floralwhite", "forestgreen",
    "fuchsia", "gainsboro", "ghostwhite", "gold", "goldenrod", "gray", "green", "greenyellow",
    "grey", "honeydew", "hotpink", "indianred", "indigo", "ivory", "khaki", "lavender",
    "lavenderblush", "lawngreen", "lemonchiffon", "lightblue", "lightcoral", "lightcyan",
    "lightgoldenrodyellow", "lightgray", "lightgreen", "lightgrey", "lightpink", "lightsalmon",
    "lightseagreen", "lightskyblue", "lightslategray", "lightslategrey", "lightsteelblue",
    "lightyellow", "lime", "limegreen", "linen", "magenta", "maroon", "mediumaquamarine",
    "mediumblue", "mediumorchid", "mediumpurple", "mediumseagreen", "mediumslateblue",
    "mediumspringgreen", "mediumturquoise", "mediumvioletred", "midnightblue", "mintcream",
    "mistyrose", "moccasin", "navajowhite", "navy", "oldlace", "olive", "olivedrab", "orange",
    "orangered", "orchid", "palegoldenrod", "palegreen", "paleturquoise", "palevioletred",
    "papayawhip", "peachpuff", "peru", "pink", "plum", "powderblue", "purple", "rebeccapurple",
    "red", "rosybrown", "royalblue", "saddlebrown", "salmon", "sandybrown", "seagreen", "seashell",
    "sienna", "silver", "skyblue", "slateblue", "slategray", "slategrey", "snow", "springgreen",
    "steelblue", "tan", "teal", "thistle", "tomato", "turquoise", "violet", "wheat", "white",
    "whitesmoke", "yellow", "yellowgreen",
];

/// Named colours light enough to need dark text on top.
#[rustfmt::skip]
const LIGHT_COLOURS: &[&str] = &[
    "aqua", "aquamarine", "beige", "bisque", "cyan", "gold", "greenyellow", "ivory", "khaki",
    "lavender", "lemonchiffon", "lightblue", "lightcyan", "lightgreen", "lightpink", "lightyellow",
    "lime", "mintcream", "moccasin", "palegreen", "pink", "silver", "skyblue", "snow", "thistle",
    "wheat", "white", "yellow", "yellowgreen", "orange", "turquoise", "springgreen", "lawngreen",
    "chartreuse",
];

/// The first CSS colour in `text`: hex, a colour function or a name
/// ("dark blue" is read as `darkblue`).
fn find_colour(text: &str) -> Option<String> {
    if let Some(m) = HEX_COLOUR.find(text) {
        return Some(m.as_str().to_lowercase());
    }
    if let Some(m) = FUNC_COLOUR.find(text) {
        return Some(m.as_str().to_lowercase());
    }
    let words = words_of(text);
    for pair in words.windows(2) {
        let joined = format!("{}{}", pair[0], pair[1]);
        if CSS_COLOURS.contains(&joined.as_str()) {
            return Some(joined);
        }
    }
    words
        .into_iter()
        .find(|w| CSS_COLOURS.contains(&w.as_str()))
}

/// True when white text would be hard to read on `colour`.
fn is_light(colour: &str) -> bool {
    if let Some(hex) = colour.strip_prefix('#') {
        let expand = |s: &str| -> Option<(u8, u8, u8)> {
            let digits: Vec<u8> = s
                .chars()
                .map(|c| c.to_digit(16).map(|d| d as u8))
                .collect::<Option<_>>()?;
            match digits.len() {
                3 | 4 => Some((digits[0] * 17, digits[1] * 17, digits[2] * 17)),
                6 | 8 => Some((
                    digits[0] * 16 + digits[1],
                    digits[2] * 16 + digits[3],
                    digits[4] * 16 + digits[5],
                )),
                _ => None,
            }
        };
        return expand(hex).is_some_and(|(r, g, b)| {
            0.299 * f64::from(r) + 0.587 * f64::from(g) + 0.114 * f64::from(b) > 170.0
        });
    }
    LIGHT_COLOURS.contains(&colour)
}

/// Which request kind a clause names first decides how it is read, so the
/// text of a value ("a footer saying dark times") cannot change the intent.
fn intent_of(clause: &str) -> Option<Intent> {
    let lower = clause.to_lowercase();
    let words = words_of(&lower);
    let kind_of = |w: &str| -> Option<u8> {
        match w {
            "title" | "heading" | "headline" | "h1" | "name" | "rename" | "call" => Some(0),
            "footer" => Some(1),
            "section" => Some(2),
            "accent" | "primary" | "brand" | "colour" | "color" | "button" | "buttons" | "link"
            | "links" | "highlight" => Some(3),
            "dark" | "light" | "background" | "theme" | "mode" | "night" | "darker" | "lighter" => {
                Some(4)
            }
            _ => None,
        }
    };
    let mut order: Vec<u8> = Vec::new();
    for w in &words {
        if let Some(k) = kind_of(w)
            && !order.contains(&k)
        {
            order.push(k);
        }
    }
    for kind in order {
        let intent = match kind {
            0 => TITLE_RE
                .captures(clause)
                .map(|c| clean_value(&c[1]))
                .filter(|t| !t.is_empty())
                .map(Intent::Title),
            1 => FOOTER_RE.captures(clause).map(|c| {
                let text = clean_value(&c[1]);
                Intent::Footer(if text.is_empty() {
                    "Built with minicode".into()
                } else {
                    text
                })
            }),
            2 => SECTION_AFTER_RE
                .captures(clause)
                .or_else(|| SECTION_BEFORE_RE.captures(clause))
                .map(|c| clean_value(&c[1]))
                .filter(|t| !t.is_empty())
                .map(Intent::Section),
            3 => {
                // Only the part after "to" names the new colour, when there is one.
                let target = lower
                    .rsplit_once(" to ")
                    .map(|(_, after)| after.to_string())
                    .unwrap_or_else(|| lower.clone());
                let mentions_accent = words.iter().any(|w| {
                    matches!(
                        w.as_str(),
                        "accent"
                            | "primary"
                            | "brand"
                            | "button"
                            | "buttons"
                            | "link"
                            | "links"
                            | "highlight"
                            | "colour"
                            | "color"
                    )
                });
                find_colour(&target)
                    .or_else(|| find_colour(&lower))
                    .filter(|_| mentions_accent)
                    .map(Intent::Accent)
            }
            _ => {
                let has = |w: &str| words.iter().any(|x| x == w);
                if has("dark") || has("darker") || has("night") || has("black") {
                    Some(Intent::Theme(Theme::Dark))
                } else if has("light") || has("lighter") || has("white") || has("bright") {
                    Some(Intent::Theme(Theme::Light))
                } else {
                    None
                }
            }
        };
        if intent.is_some() {
            return intent;
        }
    }
    None
}

fn intents_of(message: &str) -> Vec<Intent> {
    let mut out: Vec<Intent> = Vec::new();
    for clause in clauses(message) {
        if let Some(intent) = intent_of(&clause)
            && !out.contains(&intent)
        {
            out.push(intent);
        }
    }
    out
}

fn help_text() -> String {
    "I'm minicode's built-in **offline generator**: templates, not a language model, so I only \
understand a few requests:\n\n\
- `change the title to …`\n\
- `make the background dark` (or `light`)\n\
- `add a footer saying …`\n\
- `change the accent colour to …` (a CSS colour such as `teal` or `#e11d48`)\n\
- `add a section about …`\n\n\
For anything else, connect a real model: set `OPENROUTER_API_KEY` or `ANTHROPIC_API_KEY`, or \
`OPENAI_BASE_URL` (plus `OPENAI_API_KEY` if needed) for OpenAI or a local OpenAI-compatible server \
such as Ollama, llama.cpp or LM Studio. Restart minicode, then choose the model for this project, \
or make it the default with `MINICODE_MODEL` (for example `anthropic:<model>`)."
        .to_string()
}

/// The calls of one assistant message, each with its result (content, is_error).
type Round<'a> = Vec<(&'a super::ToolCall, Option<(&'a str, bool)>)>;

/// The current turn: the last user message and the tool calls made since,
/// each with its result once it came back.
struct Turn<'a> {
    user: &'a str,
    /// Tool-call rounds so far; each is the calls of one assistant message.
    rounds: Vec<Round<'a>>,
    /// Messages before the user's, so call ids differ between turns.
    offset: usize,
}

fn current_turn(messages: &[LlmMessage]) -> Option<Turn<'_>> {
    let at = messages
        .iter()
        .rposition(|m| matches!(m, LlmMessage::User { .. }))?;
    let LlmMessage::User { content } = &messages[at] else {
        return None;
    };
    let after = &messages[at + 1..];
    let mut rounds = Vec::new();
    for m in after {
        if let LlmMessage::Assistant { tool_calls, .. } = m
            && !tool_calls.is_empty()
        {
            let round = tool_calls
                .iter()
                .map(|call| {
                    let result = after.iter().find_map(|r| match r {
                        LlmMessage::ToolResult {
                            tool_call_id,
                            content,
                            is_error,
                        } if *tool_call_id == call.id => Some((content.as_str(), *is_error)),
                        _ => None,
                    });
                    (call, result)
                })
                .collect();
            rounds.push(round);
        }
    }
    Some(Turn {
        user: content,
        rounds,
        offset: at,
    })
}

/// Rebuilds a file from `Read`'s numbered lines (`{:>6}\t{line}`).
fn unnumber(read_output: &str) -> String {
    let mut out = String::new();
    for line in read_output.lines() {
        if let Some((number, text)) = line.split_once('\t')
            && !number.trim().is_empty()
            && number.trim().chars().all(|c| c.is_ascii_digit())
        {
            out.push_str(text);
            out.push('\n');
        }
    }
    out
}

/// The chat agent's next answer, from the conversation alone: reads first,
/// then edits computed from what was read, then a summary.
fn chat(messages: &[LlmMessage]) -> Answer {
    let Some(turn) = current_turn(messages) else {
        return Answer::text(help_text());
    };
    let intents = intents_of(turn.user);
    if intents.is_empty() {
        return Answer::text(help_text());
    }
    if let Some(text) = explain_failure(&turn) {
        return Answer::text(text);
    }
    let id_seed = fnv(&format!("{}:{}", turn.offset, turn.user));
    let call_id = |round: usize, index: usize| format!("offline_{id_seed:012x}_{round}_{index}");

    match turn.rounds.len() {
        0 => {
            let mut paths: Vec<&str> = Vec::new();
            for intent in &intents {
                if !paths.contains(&intent.file()) {
                    paths.push(intent.file());
                }
            }
            let shown: Vec<String> = paths.iter().map(|p| format!("`{p}`")).collect();
            let shown: Vec<&str> = shown.iter().map(String::as_str).collect();
            Answer {
                text: format!("Let me read {} first.\n\n", join_list(&shown)),
                calls: paths
                    .iter()
                    .enumerate()
                    .map(|(i, p)| (call_id(0, i), "Read".to_string(), json!({"path": p})))
                    .collect(),
            }
        }
        1 => {
            let plan = plan_changes(&intents, &read_files(&turn));
            if plan.calls.is_empty() {
                return Answer::text(plan.problems.join("\n\n"));
            }
            let mut touched: Vec<String> = Vec::new();
            for (name, args) in &plan.calls {
                let path = args["path"].as_str().unwrap_or_default();
                let entry = format!("`{path}`");
                if !touched.contains(&entry) && !name.is_empty() {
                    touched.push(entry);
                }
            }
            let touched: Vec<&str> = touched.iter().map(String::as_str).collect();
            Answer {
                text: format!("Updating {}.\n\n", join_list(&touched)),
                calls: plan
                    .calls
                    .into_iter()
                    .enumerate()
                    .map(|(i, (name, args))| (call_id(1, i), name, args))
                    .collect(),
            }
        }
        _ => {
            let plan = plan_changes(&intents, &read_files(&turn));
            let mut text = plan.done.join("\n");
            if !plan.problems.is_empty() {
                if !text.is_empty() {
                    text.push_str("\n\n");
                }
                text.push_str(&plan.problems.join("\n\n"));
            }
            Answer::text(text)
        }
    }
}

/// Contents returned by the `Read` calls of this turn, by path.
fn read_files(turn: &Turn<'_>) -> HashMap<String, String> {
    let mut files = HashMap::new();
    for round in &turn.rounds {
        for (call, result) in round {
            if call.name == "Read"
                && let Some((content, false)) = result
                && let Some(path) = call.arguments["path"].as_str()
            {
                files.insert(path.to_string(), unnumber(content));
            }
        }
    }
    files
}

/// A failed tool call ends the turn with an explanation: retrying the same
/// scripted edit would only fail again.
fn explain_failure(turn: &Turn<'_>) -> Option<String> {
    let mut succeeded: Vec<String> = Vec::new();
    for round in &turn.rounds {
        for (call, result) in round {
            let path = call.arguments["path"].as_str().unwrap_or("?");
            match result {
                Some((content, true)) => {
                    let mut text = format!(
                        "The {} of `{path}` failed: {}\n\nI stopped here instead of retrying: \
                         the offline generator follows a fixed script, so it would only fail again.",
                        call.name,
                        content.trim()
                    );
                    let changed: Vec<&String> = succeeded
                        .iter()
                        .filter(|s| !s.starts_with("Read"))
                        .collect();
                    if changed.is_empty() {
                        text.push_str(" Nothing was changed.");
                    } else {
                        let list: Vec<&str> = changed.iter().map(|s| s.as_str()).collect();
                        text.push_str(&format!(
                            " These changes did apply: {}; undo the turn to revert them.",
                            join_list(&list)
                        ));
                    }
                    text.push_str(
                        " Check the file in the editor (or undo) and ask again, or connect a real model for this change.",
                    );
                    return Some(text);
                }
                Some((_, false)) => succeeded.push(format!("{} `{path}`", call.name)),
                None => {}
            }
        }
    }
    None
}

/// The tool calls that carry out the intents against the files as read,
/// with what each does, and the intents that cannot be done.
#[derive(Debug, Default)]
struct Plan {
    calls: Vec<(String, Value)>,
    done: Vec<String>,
    problems: Vec<String>,
}

impl Plan {
    /// Records an edit and applies it to the working copy, so later edits of
    /// the same file are computed against the text they will really meet.
    fn edit(
        &mut self,
        files: &mut HashMap<String, String>,
        path: &str,
        old: String,
        new: String,
    ) -> Result<(), String> {
        let text = files
            .get(path)
            .ok_or_else(|| format!("`{path}` could not be read"))?;
        if old == new {
            return Err("it is already like that".into());
        }
        match text.matches(&old).count() {
            1 => {}
            0 => return Err(format!("the text to replace is not in `{path}`")),
            n => return Err(format!("the text to replace appears {n} times in `{path}`")),
        }
        let updated = text.replacen(&old, &new, 1);
        files.insert(path.to_string(), updated);
        self.calls.push((
            "Edit".into(),
            json!({"path": path, "old_string": old, "new_string": new}),
        ));
        Ok(())
    }
}

fn plan_changes(intents: &[Intent], read: &HashMap<String, String>) -> Plan {
    let mut files = read.clone();
    let mut plan = Plan::default();
    for intent in intents {
        if !files.contains_key(intent.file()) {
            plan.problems.push(format!(
                "I could not read `{}`, so I left it alone.",
                intent.file()
            ));
            continue;
        }
        let outcome = match intent {
            Intent::Title(title) => change_title(&mut plan, &mut files, title),
            Intent::Footer(text) => add_footer(&mut plan, &mut files, text),
            Intent::Section(topic) => add_section(&mut plan, &mut files, topic),
            Intent::Theme(theme) => change_theme(&mut plan, &mut files, *theme),
            Intent::Accent(colour) => change_accent(&mut plan, &mut files, colour),
        };
        match outcome {
            Ok(done) => plan.done.push(done),
            Err(problem) => plan.problems.push(problem),
        }
    }
    plan
}

fn change_title(
    plan: &mut Plan,
    files: &mut HashMap<String, String>,
    title: &str,
) -> Result<String, String> {
    let text = files.get(APP).cloned().unwrap_or_default();
    let not_found = || {
        format!(
            "I could not change the title: `{APP}` has no `<h1>` heading (it may live in another component now)."
        )
    };
    let start = text.find("<h1").ok_or_else(not_found)?;
    let open_end = start + text[start..].find('>').ok_or_else(not_found)?;
    let close = open_end + text[open_end..].find("</h1>").ok_or_else(not_found)?;
    let old = text[start..close + "</h1>".len()].to_string();
    let new = format!("{}{}</h1>", &text[start..=open_end], jsx_text(title));
    plan.edit(files, APP, old, new)
        .map_err(|e| format!("I could not change the title: {e}."))?;
    Ok(format!("Changed the title to “{title}” in `{APP}`."))
}

/// Index of the line that closes the root element: the last closing tag
/// before the `);` that ends App's `return (`.
fn root_close(lines: &[&str]) -> Option<usize> {
    let end = lines.iter().rposition(|l| l.trim() == ");")?;
    let close = lines[..end].iter().rposition(|l| !l.trim().is_empty())?;
    let t = lines[close].trim();
    (t.starts_with("</") && t.ends_with('>')).then_some(close)
}

fn indent_of(line: &str) -> &str {
    &line[..line.len() - line.trim_start().len()]
}

fn add_footer(
    plan: &mut Plan,
    files: &mut HashMap<String, String>,
    footer: &str,
) -> Result<String, String> {
    let text = files.get(APP).cloned().unwrap_or_default();
    // An existing footer gets its text replaced instead of a second footer.
    if let Some(start) = text.find("<footer") {
        let close = text[start..].find("</footer>").map(|i| start + i).ok_or(
            "I could not change the footer: its `<footer>` is not closed in `src/App.tsx`.",
        )?;
        let open_end = start + text[start..].find('>').unwrap_or(0);
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        let indent = indent_of(&text[line_start..start]).to_string();
        let old = text[start..close + "</footer>".len()].to_string();
        let new = format!(
            "{}\n{indent}  <p>{}</p>\n{indent}</footer>",
            &text[start..=open_end],
            jsx_text(footer)
        );
        plan.edit(files, APP, old, new)
            .map_err(|e| format!("I could not change the footer: {e}."))?;
        return Ok(format!("Changed the footer text to “{footer}” in `{APP}`."));
    }
    let lines: Vec<&str> = text.lines().collect();
    let close = root_close(&lines).ok_or(
        "I could not add the footer: I did not find where App's root element closes in `src/App.tsx`.",
    )?;
    let end = lines
        .iter()
        .rposition(|l| l.trim() == ");")
        .unwrap_or(close);
    let indent = format!("{}  ", indent_of(lines[close]));
    let old = lines[close..=end].join("\n");
    let new = format!(
        "{indent}<footer className=\"site-footer\">\n{indent}  <p>{}</p>\n{indent}</footer>\n{old}",
        jsx_text(footer)
    );
    plan.edit(files, APP, old, new)
        .map_err(|e| format!("I could not add the footer: {e}."))?;
    Ok(format!("Added a footer saying “{footer}” to `{APP}`."))
}

fn add_section(
    plan: &mut Plan,
    files: &mut HashMap<String, String>,
    topic: &str,
) -> Result<String, String> {
    let base = pascal(topic).unwrap_or_else(|| "Custom".into());
    let name = format!("{base}Section");
    let path = format!("src/components/{name}.tsx");
    let text = files.get(APP).cloned().unwrap_or_default();
    if text.contains(&format!("<{name} />")) {
        return Err(format!(
            "`{APP}` already shows a section about {topic} (`{name}`)."
        ));
    }
    let heading = {
        let mut chars = topic.chars();
        chars
            .next()
            .map(|c| c.to_uppercase().chain(chars).collect::<String>())
            .unwrap_or_default()
    };
    let body = format!(
        "All about {topic}. This section was added from the chat: edit {path} to tell the full story."
    );
    let content = section_component(&name, &heading, &body);

    // Where the new element goes: inside <main>, else before the footer,
    // else at the end of the root element.
    let lines: Vec<&str> = text.lines().collect();
    let anchor = lines
        .iter()
        .position(|l| l.trim() == "</main>")
        .map(|i| (i, format!("{}  ", indent_of(lines[i]))))
        .or_else(|| {
            lines
                .iter()
                .position(|l| l.trim_start().starts_with("<footer"))
                .map(|i| (i, indent_of(lines[i]).to_string()))
        })
        .or_else(|| root_close(&lines).map(|i| (i, format!("{}  ", indent_of(lines[i])))));
    let Some((at, indent)) = anchor else {
        return Err(format!(
            "I could not add the section: I did not find where to put it in `{APP}`."
        ));
    };
    let import = format!("import {name} from './components/{name}';");

    // The import: after the last import statement, else before App.
    let import_edit = match lines.iter().rposition(|l| l.starts_with("import ")) {
        Some(first) => {
            let last = (first..lines.len())
                .find(|&i| lines[i].trim_end().ends_with(';') || lines[i].contains(" from "))
                .unwrap_or(first);
            let old = lines[first..=last].join("\n");
            let new = format!("{old}\n{import}");
            (old, new)
        }
        None => {
            let line = lines
                .iter()
                .find(|l| l.contains("export default function"))
                .ok_or_else(|| {
                    format!(
                        "I could not add the section: `{APP}` has no `export default function`."
                    )
                })?;
            (line.to_string(), format!("{import}\n\n{line}"))
        }
    };
    // Render first: its anchor line was found before the import shifts lines.
    let render_old = lines[at].to_string();
    let render_new = format!("{indent}<{name} />\n{render_old}");

    let mut trial = Plan::default();
    let mut working = files.clone();
    trial
        .edit(&mut working, APP, render_old, render_new)
        .and_then(|()| trial.edit(&mut working, APP, import_edit.0, import_edit.1))
        .map_err(|e| format!("I could not add the section: {e}."))?;
    plan.calls
        .push(("Write".into(), json!({"path": path, "content": content})));
    plan.calls.extend(trial.calls);
    working.insert(path.clone(), content);
    *files = working;
    Ok(format!(
        "Added a section about {topic}: `{path}`, rendered in `{APP}`."
    ))
}

/// The theme variables of each mode (the values of the generated styles).
fn palette(theme: Theme) -> &'static [(&'static str, &'static str)] {
    match theme {
        Theme::Dark => &[
            ("color-scheme", "dark"),
            ("--bg", "#0f1117"),
            ("--fg", "#e7e7f0"),
            ("--muted", "#a2a3b8"),
            ("--surface", "#181b25"),
            ("--border", "#2b2f3d"),
        ],
        Theme::Light => &[
            ("color-scheme", "light"),
            ("--bg", "#f6f6fb"),
            ("--fg", "#1d1d2b"),
            ("--muted", "#5f6075"),
            ("--surface", "#ffffff"),
            ("--border", "#e1e1ec"),
        ],
    }
}

/// One edit that sets CSS declarations: the smallest run of lines holding
/// every declaration found, so `old_string` is exact and unique. `required`
/// names the properties that must exist.
fn set_css_vars(
    plan: &mut Plan,
    files: &mut HashMap<String, String>,
    values: &[(&str, &str)],
    required: &[&str],
) -> Result<(), String> {
    let text = files.get(STYLES).cloned().unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let mut found: Vec<(usize, String)> = Vec::new();
    for (property, value) in values {
        let position = lines.iter().position(|l| {
            l.trim_start()
                .strip_prefix(property)
                .is_some_and(|rest| rest.trim_start().starts_with(':'))
        });
        match position {
            Some(i) => found.push((i, format!("{}{property}: {value};", indent_of(lines[i])))),
            None if required.contains(property) => {
                return Err(format!("`{STYLES}` has no `{property}` variable"));
            }
            None => {}
        }
    }
    let (Some(first), Some(last)) = (
        found.iter().map(|(i, _)| *i).min(),
        found.iter().map(|(i, _)| *i).max(),
    ) else {
        return Err(format!("`{STYLES}` has none of the theme variables"));
    };
    let old = lines[first..=last].join("\n");
    let new = (first..=last)
        .map(|i| {
            found
                .iter()
                .find(|(at, _)| *at == i)
                .map_or(lines[i].to_string(), |(_, line)| line.clone())
        })
        .collect::<Vec<_>>()
        .join("\n");
    plan.edit(files, STYLES, old, new)
}

fn change_theme(
    plan: &mut Plan,
    files: &mut HashMap<String, String>,
    theme: Theme,
) -> Result<String, String> {
    let name = match theme {
        Theme::Dark => "dark",
        Theme::Light => "light",
    };
    set_css_vars(plan, files, palette(theme), &["--bg", "--fg"])
        .map_err(|e| format!("I could not switch to the {name} theme: {e}."))?;
    Ok(format!(
        "Switched to a {name} theme: new `--bg`, `--fg` and surface colours in `{STYLES}`."
    ))
}

fn change_accent(
    plan: &mut Plan,
    files: &mut HashMap<String, String>,
    colour: &str,
) -> Result<String, String> {
    let text_colour = if is_light(colour) {
        "#111111"
    } else {
        "#ffffff"
    };
    set_css_vars(
        plan,
        files,
        &[("--accent", colour), ("--accent-fg", text_colour)],
        &["--accent"],
    )
    .map_err(|e| format!("I could not change the accent colour: {e}."))?;
    Ok(format!(
        "Changed the accent colour to `{colour}` in `{STYLES}`."
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::chat::tools::apply_edit;
    use crate::llm::{ToolCall, ToolCallAssembler};
    use crate::scof::{ScofEvent, ScofParser};
    use futures::StreamExt;
    use serde::Deserialize;

    /// The designer's answer, as `agent::run` reads it.
    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct Design {
        name: String,
        goal: String,
        files: Vec<PlannedFile>,
        #[serde(default)]
        last_phase: bool,
    }

    fn request(purpose: Purpose, messages: Vec<LlmMessage>) -> ChatRequest {
        ChatRequest {
            model: "builtin".into(),
            system: "You are a test.".into(),
            messages,
            tools: crate::agent::chat::tools::specs(),
            max_tokens: 4096,
            temperature: None,
            purpose,
        }
    }

    /// Streams a call to its end: (text, tool calls, finish reason, usage, events).
    async fn run(
        offline: &Offline,
        request: ChatRequest,
    ) -> (String, Vec<ToolCall>, FinishReason, Usage, usize) {
        let mut stream = offline.stream(request, CancellationToken::new());
        let mut assembler = ToolCallAssembler::default();
        let mut finish = None;
        let mut count = 0;
        while let Some(event) = stream.next().await {
            let event = event.expect("no error");
            count += 1;
            assert!(finish.is_none(), "nothing after Finish");
            if let StreamEvent::Finish { reason, usage } = &event {
                finish = Some((reason.clone(), *usage));
            }
            assembler.push(&event);
        }
        let (text, calls) = assembler.finish().expect("well-formed calls");
        let (reason, usage) = finish.expect("a Finish event");
        (text, calls, reason, usage, count)
    }

    async fn design(description: &str, n: u32) -> Design {
        let purpose = Purpose::DesignPhase {
            description: description.into(),
            phase_number: n,
            previous: Vec::new(),
            files: Vec::new(),
        };
        let (text, calls, reason, _, _) = run(&Offline::new(0), request(purpose, vec![])).await;
        assert!(calls.is_empty());
        assert_eq!(reason, FinishReason::Stop);
        serde_json::from_str(&text).expect("design JSON")
    }

    fn phase_of(design: Design, number: u32) -> Phase {
        Phase {
            number,
            name: design.name,
            goal: design.goal,
            files: design.files,
            last_phase: design.last_phase,
        }
    }

    /// Implements a phase and returns the complete files the parser found.
    async fn implement_files(
        description: &str,
        phase: &Phase,
        existing: &[String],
    ) -> Vec<(String, String)> {
        let purpose = Purpose::Implement {
            description: description.into(),
            phase: phase.clone(),
            files: existing.to_vec(),
        };
        let mut stream = Offline::new(0).stream(request(purpose, vec![]), CancellationToken::new());
        let mut parser = ScofParser::new();
        let mut events = Vec::new();
        let mut chunks = 0;
        while let Some(event) = stream.next().await {
            if let StreamEvent::Text(t) = event.expect("no error") {
                chunks += 1;
                parser.push(&t, &mut events);
            }
        }
        parser.finish(&mut events);
        assert!(chunks > 5, "the answer streams in pieces");
        events
            .into_iter()
            .filter_map(|e| match e {
                ScofEvent::FileEnd {
                    path,
                    content,
                    complete,
                } => {
                    assert!(complete, "{path} is complete");
                    Some((path, content))
                }
                ScofEvent::Patch { .. } | ScofEvent::Install { .. } => {
                    panic!("unexpected {e:?}")
                }
                _ => None,
            })
            .collect()
    }

    const TODO_CLUB: &str = "a todo app for my book club";

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

    #[test]
    fn titles_follow_the_description() {
        let title = |d: &str| Blueprint::from_description(d).title;
        assert_eq!(title(TODO_CLUB), "Book Club Todos");
        assert_eq!(
            title("a landing page called \"Sunrise Café\" for my bakery"),
            "Sunrise Café"
        );
        assert_eq!(
            title("an app named bookworm that tracks reading"),
            "Bookworm"
        );
        assert_eq!(title("a pomodoro timer"), "Pomodoro Timer");
        assert_eq!(
            title("build me a recipe app where I can save recipes"),
            "Recipe"
        );
        assert_eq!(title("a shopping list for our flat"), "Flat Shopping List");
        assert_eq!(title("a weather dashboard for Paris"), "Paris Weather");
        assert_eq!(title("a landing page for a coffee shop"), "Coffee Shop");
        assert_eq!(
            title("a pricing page for Acme with a contact form"),
            "Acme Pricing"
        );
        assert_eq!(title(""), "My App");
        assert_eq!(title("!!!"), "My App");
        let features = Blueprint::from_description("a gallery and a contact form").features;
        assert_eq!(features, vec![Feature::Gallery, Feature::Contact]);
    }

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
        let fixture: Value =
            serde_json::from_str(include_str!("../../tests/fixtures/vite-app/package.json"))
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

    /// Runs the chat agent against in-memory files with the real edit rule,
    /// until it answers without tool calls. Returns the final text.
    async fn converse(files: &mut HashMap<String, String>, message: &str) -> String {
        let offline = Offline::new(0);
        let mut messages = vec![
            LlmMessage::User {
                content: "an earlier request".into(),
            },
            LlmMessage::Assistant {
                content: "an earlier answer".into(),
                tool_calls: vec![],
            },
            LlmMessage::User {
                content: message.into(),
            },
        ];
        let mut text = String::new();
        for _ in 0..5 {
            let (step, calls, reason, usage, _) =
                run(&offline, request(Purpose::Chat, messages.clone())).await;
            assert_eq!(usage, Usage::default(), "no model, no usage");
            text.push_str(&step);
            if calls.is_empty() {
                assert_eq!(reason, FinishReason::Stop);
                return text;
            }
            assert_eq!(reason, FinishReason::ToolCalls);
            messages.push(LlmMessage::Assistant {
                content: step,
                tool_calls: calls.clone(),
            });
            for call in calls {
                assert!(call.arguments.is_object(), "arguments are JSON objects");
                let path = call.arguments["path"].as_str().unwrap().to_string();
                let (content, is_error) = match call.name.as_str() {
                    "Read" => match files.get(&path) {
                        Some(text) => (
                            text.lines()
                                .enumerate()
                                .map(|(i, l)| format!("{:>6}\t{l}\n", i + 1))
                                .collect(),
                            false,
                        ),
                        None => (format!("`{path}` does not exist"), true),
                    },
                    "Write" => {
                        let content = call.arguments["content"].as_str().unwrap();
                        files.insert(path.clone(), content.to_string());
                        ("written".to_string(), false)
                    }
                    "Edit" => {
                        let current = files.get(&path).cloned().unwrap_or_default();
                        match apply_edit(
                            &current,
                            call.arguments["old_string"].as_str().unwrap(),
                            call.arguments["new_string"].as_str().unwrap(),
                            false,
                        ) {
                            Ok((updated, _)) => {
                                files.insert(path.clone(), updated);
                                ("edited".to_string(), false)
                            }
                            Err(e) => (e, true),
                        }
                    }
                    other => panic!("unexpected tool {other}"),
                };
                messages.push(LlmMessage::ToolResult {
                    tool_call_id: call.id,
                    content,
                    is_error,
                });
            }
        }
        panic!("the chat agent did not finish");
    }

    async fn generated_app(description: &str) -> HashMap<String, String> {
        let phase1 = phase_of(design(description, 1).await, 1);
        let mut files: HashMap<String, String> = implement_files(description, &phase1, &[])
            .await
            .into_iter()
            .collect();
        let existing: Vec<String> = files.keys().cloned().collect();
        let phase2 = phase_of(design(description, 2).await, 2);
        files.extend(implement_files(description, &phase2, &existing).await);
        files
    }

    #[tokio::test]
    async fn chat_requests_edit_the_app() {
        let mut files = generated_app(TODO_CLUB).await;

        let text = converse(&mut files, "Change the title to \"Reading Circle\"").await;
        assert!(files[APP].contains("<h1>Reading Circle</h1>"));
        assert!(!files[APP].contains("Book Club Todos</h1>"));
        assert!(text.contains("Reading Circle"), "{text}");

        converse(&mut files, "please make the background dark").await;
        assert!(files[STYLES].contains("--bg: #0f1117;"));
        assert!(files[STYLES].contains("color-scheme: dark;"));
        converse(&mut files, "switch to light mode").await;
        assert!(files[STYLES].contains("--bg: #f6f6fb;"));

        converse(&mut files, "add a footer saying Made with love and care").await;
        assert!(files[APP].contains("<p>Made with love and care</p>"));
        assert!(files[APP].contains("<footer className=\"site-footer\">"));
        converse(&mut files, "add a footer saying Second version").await;
        assert_eq!(
            files[APP].matches("<footer").count(),
            1,
            "replaced, not doubled"
        );
        assert!(files[APP].contains("<p>Second version</p>"));

        converse(&mut files, "change the accent colour to teal").await;
        assert!(files[STYLES].contains("--accent: teal;"));
        converse(&mut files, "make the primary color #ffd700").await;
        assert!(files[STYLES].contains("--accent: #ffd700;"));
        assert!(
            files[STYLES].contains("--accent-fg: #111111;"),
            "dark text on gold"
        );

        let text = converse(&mut files, "add a section about our history").await;
        assert!(
            files.contains_key("src/components/OurHistorySection.tsx"),
            "{text}"
        );
        assert!(
            files[APP].contains("import OurHistorySection from './components/OurHistorySection';")
        );
        let main = files[APP].find("</main>").unwrap();
        let at = files[APP].find("<OurHistorySection />").unwrap();
        assert!(at < main, "rendered inside <main>");

        // Several requests in one message, and a title with "and" in it.
        converse(
            &mut files,
            "change the title to Tom and Jerry and make it dark, then add an FAQ section",
        )
        .await;
        assert!(files[APP].contains("<h1>Tom and Jerry</h1>"));
        assert!(files[STYLES].contains("--bg: #0f1117;"));
        assert!(files.contains_key("src/components/FAQSection.tsx"));
    }

    #[tokio::test]
    async fn chat_works_on_the_phase_one_shell() {
        let phase1 = phase_of(design("a counter", 1).await, 1);
        let mut files: HashMap<String, String> = implement_files("a counter", &phase1, &[])
            .await
            .into_iter()
            .collect();
        converse(&mut files, "add a section about pricing").await;
        assert!(files[APP].starts_with(
            "import PricingSection from './components/PricingSection';\n\nexport default"
        ));
        converse(&mut files, "add a footer").await;
        assert!(files[APP].contains("<p>Built with minicode</p>"));
    }

    #[tokio::test]
    async fn chat_explains_errors_and_unknown_requests() {
        let mut files = HashMap::new();
        let text = converse(&mut files, "change the title to Nope").await;
        assert!(text.contains("failed"), "{text}");
        assert!(text.contains("does not exist"), "{text}");
        assert!(files.is_empty());

        let mut files = generated_app("a notes app").await;
        let before = files.clone();
        let text = converse(&mut files, "rewrite everything in Svelte").await;
        assert!(text.contains("OPENROUTER_API_KEY") && text.contains("MINICODE_MODEL"));
        assert_eq!(files, before, "no tool calls");

        // A file that no longer has what the plan needs: explained, nothing sent.
        files.insert(
            APP.into(),
            "export default function App() { return null; }\n".into(),
        );
        let text = converse(&mut files, "change the title to X").await;
        assert!(text.contains("no `<h1>`"), "{text}");
    }

    #[test]
    fn requests_are_understood() {
        assert_eq!(
            intents_of("Change the title to 'Hello'"),
            vec![Intent::Title("Hello".into())]
        );
        assert_eq!(
            intents_of("rename the app to Gardenly."),
            vec![Intent::Title("Gardenly".into())]
        );
        assert_eq!(
            intents_of("dark mode please"),
            vec![Intent::Theme(Theme::Dark)]
        );
        assert_eq!(
            intents_of("add a footer saying dark times ahead"),
            vec![Intent::Footer("dark times ahead".into())]
        );
        assert_eq!(
            intents_of("change the accent colour to dark blue"),
            vec![Intent::Accent("darkblue".into())]
        );
        assert_eq!(
            intents_of("use rgb(10, 20, 30) as the brand colour"),
            vec![Intent::Accent("rgb(10, 20, 30)".into())]
        );
        assert_eq!(
            intents_of("add an about section"),
            vec![Intent::Section("about".into())]
        );
        assert!(intents_of("what is this?").is_empty());
        assert!(intents_of("change the accent to blurple").is_empty());
    }

    #[tokio::test]
    async fn tool_arguments_stream_in_fragments() {
        let messages = vec![LlmMessage::User {
            content: "make the background dark".into(),
        }];
        let mut stream =
            Offline::new(0).stream(request(Purpose::Chat, messages), CancellationToken::new());
        let mut fragments = 0;
        let mut starts = 0;
        while let Some(event) = stream.next().await {
            match event.unwrap() {
                StreamEvent::ToolCallStart { name, .. } => {
                    assert_eq!(name, "Read");
                    starts += 1;
                }
                StreamEvent::ToolCallArgs { .. } => fragments += 1,
                _ => {}
            }
        }
        assert_eq!(starts, 1);
        assert!(fragments >= 2, "arguments split into fragments");
    }

    #[tokio::test]
    async fn cancellation_ends_the_stream() {
        let phase = phase_of(design(TODO_CLUB, 1).await, 1);
        let purpose = Purpose::Implement {
            description: TODO_CLUB.into(),
            phase,
            files: vec![],
        };
        // Slow enough that the whole answer would take minutes.
        let cancel = CancellationToken::new();
        let mut stream = Offline::new(50).stream(request(purpose.clone(), vec![]), cancel.clone());
        assert!(matches!(
            stream.next().await,
            Some(Ok(StreamEvent::Text(_)))
        ));
        let canceller = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            canceller.cancel();
        });
        let started = std::time::Instant::now();
        let mut last = None;
        while let Some(event) = stream.next().await {
            last = Some(event);
        }
        assert_eq!(last, Some(Err(LlmError::Cancelled)));
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "stopped promptly"
        );

        // Already cancelled: one error, then the end.
        let cancel = CancellationToken::new();
        cancel.cancel();
        let mut stream = Offline::new(0).stream(request(purpose, vec![]), cancel);
        assert_eq!(stream.next().await, Some(Err(LlmError::Cancelled)));
        assert_eq!(stream.next().await, None);
    }

    #[tokio::test]
    async fn streams_at_the_configured_pace() {
        let messages = vec![LlmMessage::User {
            content: "hello".into(),
        }];
        let expected = help_text().chars().count();
        let started = std::time::Instant::now();
        let (text, _, _, usage, events) =
            run(&Offline::new(4000), request(Purpose::Chat, messages)).await;
        let elapsed = started.elapsed().as_secs_f64();
        let target = expected as f64 / 4000.0;
        assert_eq!(text.chars().count(), expected);
        assert!(elapsed >= target * 0.9, "{elapsed} < {target}");
        assert!(elapsed < target + 1.0, "{elapsed}");
        assert!(events > expected / 40, "small chunks");
        assert_eq!(usage.output_tokens, 0, "no model, no usage");
    }
}
