//! The corpus of messy answers in `tests/scof/corpus/`: answers as models
//! write them (fences inside heredocs, loose or missing markers, indented
//! answers, reasoning, sentences that mention `npm install`), each with the
//! files, patches and installs a careful human reads in it.
//!
//! Each case is one text file:
//!
//! ```text
//! # What the case is about.
//! === answer ===
//! …the answer, byte for byte…
//! === no final newline ===      (optional: the answer's last `\n` is not part of it)
//! === expect ===
//! file PATH                     a complete file, its lines follow as `| line`
//! incomplete PATH               a file reported incomplete (lines optional)
//! patch PATH                    a complete patch, its diff lines as `| line`
//! patch-incomplete PATH         a patch reported incomplete
//! install [-D] PACKAGE…         an install
//! ```
//!
//! Every case is streamed, like the engine does, through the reasoning
//! filter and the parser, at every chunk size of `CHUNK_SIZES`.

use std::fmt;
use std::path::Path;

use minicode_server::llm::reasoning::Filter;
use minicode_server::scof::{ScofEvent, ScofParser};

use crate::support::{CHUNK_SIZES, check_invariants};

/// What a case expects, in order; file contents are compared exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    File {
        path: String,
        content: String,
    },
    Incomplete {
        path: String,
        content: Option<String>,
    },
    Patch {
        path: String,
        diff: String,
    },
    PatchIncomplete {
        path: String,
    },
    Install {
        packages: Vec<String>,
        dev: bool,
    },
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File { path, content } => write!(f, "file {path} {content:?}"),
            Self::Incomplete { path, content } => write!(f, "incomplete {path} {content:?}"),
            Self::Patch { path, diff } => write!(f, "patch {path} {diff:?}"),
            Self::PatchIncomplete { path } => write!(f, "patch-incomplete {path}"),
            Self::Install { packages, dev } => {
                write!(
                    f,
                    "install{} {}",
                    if *dev { " -D" } else { "" },
                    packages.join(" ")
                )
            }
        }
    }
}

struct Case {
    name: String,
    answer: String,
    expected: Vec<Outcome>,
}

fn load(path: &Path) -> Case {
    let name = path.file_stem().unwrap().to_string_lossy().into_owned();
    let text = std::fs::read_to_string(path).unwrap();
    let (_, rest) = text
        .split_once("=== answer ===\n")
        .unwrap_or_else(|| panic!("{name}: no `=== answer ===` line"));
    let (answer, expect) = rest
        .split_once("=== expect ===\n")
        .unwrap_or_else(|| panic!("{name}: no `=== expect ===` line"));
    let answer = match answer.strip_suffix("=== no final newline ===\n") {
        Some(answer) => answer.strip_suffix('\n').unwrap().to_owned(),
        None => answer.to_owned(),
    };
    let mut expected: Vec<Outcome> = Vec::new();
    for line in expect.lines() {
        if let Some(content) = line.strip_prefix('|') {
            let content = content.strip_prefix(' ').unwrap_or(content);
            let text = match expected.last_mut() {
                Some(Outcome::File { content, .. } | Outcome::Patch { diff: content, .. }) => {
                    content
                }
                Some(Outcome::Incomplete { content, .. }) => content.get_or_insert_default(),
                _ => panic!("{name}: content line after nothing that has content"),
            };
            text.push_str(content);
            text.push('\n');
            continue;
        }
        let (kind, args) = line.split_once(' ').unwrap_or((line, ""));
        let path = args.to_owned();
        expected.push(match kind {
            "file" => Outcome::File {
                path,
                content: String::new(),
            },
            "incomplete" => Outcome::Incomplete {
                path,
                content: None,
            },
            "patch" => Outcome::Patch {
                path,
                diff: String::new(),
            },
            "patch-incomplete" => Outcome::PatchIncomplete { path },
            "install" => {
                let mut words: Vec<String> = args.split(' ').map(str::to_owned).collect();
                let dev = words.first().is_some_and(|w| w == "-D");
                if dev {
                    words.remove(0);
                }
                Outcome::Install {
                    packages: words,
                    dev,
                }
            }
            other => panic!("{name}: unknown expectation {other:?}"),
        });
    }
    Case {
        name,
        answer,
        expected,
    }
}

/// Streams `answer` in `size`-byte chunks through the reasoning filter and
/// the parser, as the engine does.
fn stream(answer: &str, size: usize) -> Vec<ScofEvent> {
    let mut filter = Filter::default();
    let mut parser = ScofParser::new();
    let mut events = Vec::new();
    let mut start = 0;
    while start < answer.len() {
        let mut end = answer.floor_char_boundary(start.saturating_add(size).min(answer.len()));
        if end == start {
            end = answer.ceil_char_boundary(start + 1);
        }
        parser.push(&filter.push(&answer[start..end]), &mut events);
        start = end;
    }
    parser.push(&filter.finish(), &mut events);
    parser.finish(&mut events);
    events
}

/// The outcomes the events give; an incomplete file keeps its content so
/// that a case may check it.
fn outcomes(events: Vec<ScofEvent>) -> Vec<Outcome> {
    events
        .into_iter()
        .filter_map(|event| match event {
            ScofEvent::FileStart { .. } | ScofEvent::FileChunk { .. } => None,
            ScofEvent::FileEnd {
                path,
                content,
                complete: true,
            } => Some(Outcome::File { path, content }),
            ScofEvent::FileEnd { path, content, .. } => Some(Outcome::Incomplete {
                path,
                content: Some(content),
            }),
            ScofEvent::Patch {
                path,
                diff,
                complete: true,
            } => Some(Outcome::Patch { path, diff }),
            ScofEvent::Patch { path, .. } => Some(Outcome::PatchIncomplete { path }),
            ScofEvent::Install { packages, dev } => Some(Outcome::Install { packages, dev }),
        })
        .collect()
}

/// Whether `got` is what `expected` asks for (an incomplete file without
/// expected lines matches any content).
fn matches(expected: &[Outcome], got: &[Outcome]) -> bool {
    expected.len() == got.len()
        && expected.iter().zip(got).all(|(e, g)| match (e, g) {
            (
                Outcome::Incomplete {
                    path,
                    content: None,
                },
                Outcome::Incomplete { path: got, .. },
            ) => path == got,
            _ => e == g,
        })
}

#[test]
fn every_case_of_the_corpus_reads_as_expected_at_every_chunk_size() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scof/corpus");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "txt"))
        .collect();
    paths.sort();
    let cases: Vec<Case> = paths.iter().map(|p| load(p)).collect();
    assert!(cases.len() >= 30, "the corpus has {} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        for size in CHUNK_SIZES {
            let events = stream(&case.answer, size);
            check_invariants(&events);
            let got = outcomes(events);
            if !matches(&case.expected, &got) {
                let list =
                    |o: &[Outcome]| o.iter().map(|o| format!("\n    {o}")).collect::<String>();
                failures.push(format!(
                    "{} (chunks of {size} bytes)\n  expected:{}\n  got:{}",
                    case.name,
                    list(&case.expected),
                    list(&got)
                ));
                break;
            }
        }
    }
    println!(
        "corpus: {} of {} cases pass at chunk sizes {CHUNK_SIZES:?}",
        cases.len() - failures.len(),
        cases.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
