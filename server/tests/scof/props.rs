//! Property tests of the parser: generated streams against the events they
//! must give, however they are split; and arbitrary text never panics.

use minicode_server::scof::ScofEvent;
use proptest::prelude::*;

use crate::support::{check_invariants, merged, parse, parse_by_char, parse_split};

/// Paths as written in the opener, and as the parser must report them.
const PATHS: [(&str, &str); 6] = [
    ("src/App.tsx", "src/App.tsx"),
    ("package.json", "package.json"),
    ("'src/my file.ts'", "src/my file.ts"),
    ("\"ü/ñ.ts\"", "ü/ñ.ts"),
    ("src/EOF.ts", "src/EOF.ts"),
    ("'EOF'", "EOF"),
];

const MARKERS: [&str; 5] = ["EOF", "EOF_PKG", "END", "__FILE_7__", "ÉOF"];

/// Content lines that look like everything the parser reacts to.
const CONTENT: [&str; 22] = [
    "",
    "const x = 1;",
    "  indented",
    "\t",
    "EOF",
    "EOF_PKG",
    "END",
    "ÉOF",
    "EOF ",
    " EOF",
    "EOFX",
    "EO",
    "line\r",
    "\r",
    "```",
    "```tsx",
    "cat > other.txt << 'EOF'",
    "cat << 'END' | patch x",
    "npm install left-pad",
    "héllo wörld ✓ 🚀",
    "@@ -1 +1 @@",
    "-removed",
];

/// Prose lines between blocks: none of them is a command.
const PROSE: [&str; 13] = [
    "Here is the app:",
    "```bash",
    "```",
    "",
    "EOF",
    "EOF_PKG",
    "  ",
    "\r",
    "cat src/x.ts",
    "npm run dev",
    "cat >> log.txt << EOF",
    "héllo ✓",
    "npm install",
];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    File,
    Patch,
}

#[derive(Debug, Clone)]
struct Block {
    kind: Kind,
    path: usize,
    marker: &'static str,
    style: usize,
    crlf_opener: bool,
    lines: Vec<String>,
}

impl Block {
    fn opener(&self) -> String {
        let (p, m) = (PATHS[self.path].0, self.marker);
        let line = match (self.kind, self.style % 5) {
            (Kind::File, 0) => format!("cat > {p} << '{m}'"),
            (Kind::File, 1) => format!("cat >{p} <<'{m}'"),
            (Kind::File, 2) => format!("cat > {p} << \"{m}\""),
            (Kind::File, 3) => format!("cat > {p} << {m}"),
            (Kind::File, _) => format!("cat << '{m}' > {p}"),
            (Kind::Patch, 0 | 1) => format!("cat << '{m}' | patch {p}"),
            (Kind::Patch, _) => format!("cat <<{m} | patch -p1 {p}"),
        };
        if self.crlf_opener {
            line + "\r\n"
        } else {
            line + "\n"
        }
    }

    /// The lines of the body: generated lines, minus those the tolerant
    /// rules read as something else than content when the block is well
    /// formed (closed by its marker): the marker itself, an opener with the
    /// block's own marker (it ends the block), fences first (they wrap the
    /// content) and a bare fence last (it closes the wrapping); and, in a
    /// block the stream ends in (`cut`), every line the block could end at
    /// when its marker never comes. The corpus tests those rules.
    fn body(&self, cut: bool) -> String {
        let m = self.marker;
        let mut lines: Vec<&String> = self
            .lines
            .iter()
            .filter(|l| {
                let bare = l.strip_suffix('\r').unwrap_or(l);
                bare != m
                    && *bare != format!("cat > other.txt << '{m}'")
                    && *bare != format!("cat << '{m}' | patch x")
                    && !(cut && ends_a_block(bare, m))
            })
            .collect();
        while lines.first().is_some_and(|l| is_fence(l)) {
            lines.remove(0);
        }
        while let Some(last) = lines.iter().rposition(|l| !l.trim_ascii().is_empty())
            && is_bare_fence(lines[last])
        {
            lines.remove(last);
        }
        lines.iter().map(|l| format!("{l}\n")).collect()
    }

    /// Renders the block; `ending` is `None` for a terminated block, else
    /// the partial last line the stream stops at.
    fn render(&self, input: &mut String, expected: &mut Vec<ScofEvent>, ending: Option<&str>) {
        let path = PATHS[self.path].1.to_string();
        let mut content = self.body(ending.is_some());
        input.push_str(&self.opener());
        input.push_str(&content);
        let complete = match ending {
            None => {
                input.push_str(self.marker);
                input.push('\n');
                true
            }
            Some(partial) => {
                input.push_str(partial);
                let is_marker = partial.strip_suffix('\r').unwrap_or(partial) == self.marker;
                if !is_marker {
                    content.push_str(partial);
                }
                is_marker
            }
        };
        match self.kind {
            Kind::File => {
                expected.push(ScofEvent::FileStart { path: path.clone() });
                if !content.is_empty() {
                    expected.push(ScofEvent::FileChunk {
                        path: path.clone(),
                        chunk: content.clone(),
                    });
                }
                expected.push(ScofEvent::FileEnd {
                    path,
                    content,
                    complete,
                });
            }
            Kind::Patch => expected.push(ScofEvent::Patch {
                path,
                diff: content,
                complete,
            }),
        }
    }
}

fn is_fence(line: &str) -> bool {
    let t = line.trim_ascii();
    t.starts_with("```") || t.starts_with("~~~")
}

fn is_bare_fence(line: &str) -> bool {
    is_fence(line)
        && line
            .trim_ascii()
            .trim_matches(['`', '~'])
            .trim_ascii()
            .is_empty()
}

/// Whether the block may end at this line if its marker never comes: a
/// bare fence, an opener, or the marker loosely written (a superset).
fn ends_a_block(line: &str, marker: &str) -> bool {
    let t = line.trim_ascii();
    let word = t.trim_matches(['\'', '"', '`']);
    let family = marker.split('_').next().unwrap_or_default();
    is_bare_fence(line)
        || (t.contains("cat") && t.contains("<<"))
        || word == marker
        || word == "EOF"
        || (!family.is_empty() && word.starts_with(family))
}

#[derive(Debug, Clone)]
enum Item {
    Prose(String),
    Install {
        command: &'static str,
        dev_flag: Option<&'static str>,
        packages: Vec<&'static str>,
    },
    Block(Block),
}

fn block() -> impl Strategy<Value = Block> {
    let line = prop_oneof![
        3 => prop::sample::select(&CONTENT[..]).prop_map(str::to_string),
        1 => "[^\n]{0,12}",
    ];
    (
        prop_oneof![3 => Just(Kind::File), 1 => Just(Kind::Patch)],
        0..PATHS.len(),
        prop::sample::select(&MARKERS[..]),
        0..5usize,
        any::<bool>(),
        prop::collection::vec(line, 0..12),
    )
        .prop_map(|(kind, path, marker, style, crlf_opener, lines)| Block {
            kind,
            path,
            marker,
            style,
            crlf_opener,
            lines,
        })
}

fn item() -> impl Strategy<Value = Item> {
    let prose = prop_oneof![
        prop::sample::select(&PROSE[..]).prop_map(str::to_string),
        // A leading "> " keeps random text from starting with a command.
        "[^\n]{0,20}".prop_map(|s| format!("> {s}")),
    ];
    let install = (
        prop::sample::select(vec!["npm install", "npm i", "pnpm add", "yarn add"]),
        prop::option::of(prop::sample::select(vec!["-D", "--save-dev"])),
        prop::collection::vec(
            prop::sample::select(vec!["zod", "react-router-dom", "@types/node", "lodash@4"]),
            1..4,
        ),
    )
        .prop_map(|(command, dev_flag, packages)| Item::Install {
            command,
            dev_flag,
            packages,
        });
    prop_oneof![
        2 => prose.prop_map(Item::Prose),
        1 => install,
        3 => block().prop_map(Item::Block),
    ]
}

/// The stream's end: cleanly, or inside a last block stopped at a partial
/// line (`MARKER` and `PREFIX` stand for the block's marker and its first
/// character).
fn ending() -> impl Strategy<Value = Option<(Block, &'static str)>> {
    prop::option::of((
        block(),
        prop::sample::select(vec!["", "text", "\r", "MARKER", "MARKER\r", "PREFIX"]),
    ))
}

/// The input text and the merged events it must give.
fn render(items: &[Item], ending: &Option<(Block, &str)>) -> (String, Vec<ScofEvent>) {
    let mut input = String::new();
    let mut expected = Vec::new();
    for item in items {
        match item {
            Item::Prose(line) => {
                input.push_str(line);
                input.push('\n');
            }
            Item::Install {
                command,
                dev_flag,
                packages,
            } => {
                input.push_str(command);
                for word in dev_flag.iter().chain(packages) {
                    input.push(' ');
                    input.push_str(word);
                }
                input.push('\n');
                expected.push(ScofEvent::Install {
                    packages: packages.iter().map(|p| p.to_string()).collect(),
                    dev: dev_flag.is_some(),
                });
            }
            Item::Block(block) => block.render(&mut input, &mut expected, None),
        }
    }
    if let Some((block, partial)) = ending {
        let first_char = block.marker.chars().take(1).collect::<String>();
        let partial = match *partial {
            "MARKER" => block.marker.to_string(),
            "MARKER\r" => format!("{}\r", block.marker),
            "PREFIX" => first_char,
            text => text.to_string(),
        };
        block.render(&mut input, &mut expected, Some(&partial));
    }
    (input, expected)
}

/// Text made of the pieces the parser reacts to, in any order.
fn soup() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "cat > a.txt << 'EOF'\n",
        "cat << M | patch p\n",
        "cat > 'b",
        "EOF",
        "M",
        "\n",
        "\r",
        "\r\n",
        "'",
        "\"",
        "<<",
        ">",
        "npm i x\n",
        "ü",
        "```\n",
        " ",
        "@@ -1 +1 @@\n",
    ]);
    prop::collection::vec(piece, 0..60).prop_map(|pieces| pieces.concat())
}

/// Text made of the pieces the tolerant rules react to: indented and
/// prompted openers, loose markers, fences, markdown and patch blocks.
fn tolerant_soup() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "cat > a.ts << 'EOF'\n",
        "  cat > b.ts << EOF_B\n",
        "$ cat > c.md << 'EOF'\n",
        "cat << 'EOF' | patch p\n",
        "EOF\n",
        "EOF",
        "  EOF \n",
        "EOF_B\n",
        "'EOF'\n",
        "  ",
        "\t",
        "```tsx\n",
        "```\n",
        "~~~\n",
        "```md\n",
        "x\n",
        "code",
        "\n",
        "\r\n",
        "npm i zod\n",
        "npm install zod later\n",
        "ü",
    ]);
    prop::collection::vec(piece, 0..60).prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn tolerant_reading_does_not_depend_on_splits(
        input in tolerant_soup(),
        cuts in prop::collection::vec(any::<usize>(), 0..30),
    ) {
        let cuts: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
        let whole = parse(&input);
        check_invariants(&whole);
        let whole = merged(whole);
        for events in [parse_split(&input, &cuts), parse_by_char(&input)] {
            check_invariants(&events);
            prop_assert_eq!(merged(events), whole.clone(), "input: {:?}", input);
        }
    }

    #[test]
    fn any_split_gives_the_expected_events(
        items in prop::collection::vec(item(), 0..10),
        ending in ending(),
        cuts in prop::collection::vec(any::<usize>(), 0..30),
    ) {
        let (input, expected) = render(&items, &ending);
        let cuts: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
        for events in [parse(&input), parse_split(&input, &cuts), parse_by_char(&input)] {
            check_invariants(&events);
            prop_assert_eq!(merged(events), expected.clone(), "input: {:?}", input);
        }
    }

    #[test]
    fn arbitrary_text_never_panics_and_splits_do_not_matter(
        input in prop_oneof![any::<String>(), soup()],
        cuts in prop::collection::vec(any::<usize>(), 0..30),
    ) {
        let cuts: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
        let whole = parse(&input);
        check_invariants(&whole);
        let whole = merged(whole);
        for events in [parse_split(&input, &cuts), parse_by_char(&input)] {
            check_invariants(&events);
            prop_assert_eq!(merged(events), whole.clone(), "input: {:?}", input);
        }
    }
}
