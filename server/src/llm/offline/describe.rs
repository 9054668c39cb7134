//! Reading the description: which sections ([`Feature`]) it asks for, and
//! the [`Blueprint`] (title, tagline, topic, content words) that every
//! answer takes its text from. Kept apart so the designer, the implementer
//! and the chat agent all read a description the same way.

use std::sync::LazyLock;

use regex::Regex;

/// A section the generator knows how to build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Feature {
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
pub(super) const KEYWORDS: &[(Feature, &str, Option<&str>)] = &[
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
    pub(super) fn component(self) -> &'static str {
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

    pub(super) fn path(self) -> String {
        format!("src/components/{}.tsx", self.component())
    }

    /// What the section is, for plans and prose.
    pub(super) fn label(self) -> &'static str {
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
pub(super) struct Blueprint {
    pub(super) title: String,
    pub(super) tagline: String,
    /// Who or what the app is for ("book club"), or its key words.
    pub(super) topic: String,
    /// Content words of the description, in order, for filler text.
    pub(super) words: Vec<String>,
    pub(super) features: Vec<Feature>,
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
pub(super) fn words_of(text: &str) -> Vec<String> {
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

pub(super) fn title_case(text: &str) -> String {
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
pub(super) fn clean(text: &str) -> String {
    text.split_whitespace()
        .map(|w| w.chars().filter(|c| !c.is_control()).collect::<String>())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Cuts at a word boundary so names stay readable.
pub(super) fn clip_words(text: &str, max_chars: usize) -> String {
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
    pub(super) fn from_description(description: &str) -> Self {
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

    pub(super) fn feature_list(&self) -> String {
        let labels: Vec<&str> = self.features.iter().map(|f| f.label()).collect();
        join_list(&labels)
    }
}

/// "a", "a and b", "a, b and c".
pub(super) fn join_list(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_string(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// Named colours light enough to need dark text on top.
#[rustfmt::skip]
const LIGHT_COLOURS: &[&str] = &[
    "aqua", "aquamarine", "beige", "bisque", "cyan", "gold", "greenyellow", "ivory", "khaki",
    "lavender", "lemonchiffon", "lightblue", "lightcyan", "lightgreen", "lightpink", "lightyellow",
    "lime", "mintcream", "moccasin", "palegreen", "pink", "silver", "skyblue", "snow", "thistle",
    "wheat", "white", "yellow", "yellowgreen", "orange", "turquoise", "springgreen", "lawngreen",
    "chartreuse",
];

/// True when white text would be hard to read on `colour`.
pub(super) fn is_light(colour: &str) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::offline::test_support::TODO_CLUB;

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
}
