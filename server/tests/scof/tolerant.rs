//! One test per rule of the tolerant reading (see the module doc of
//! `minicode_server::scof`): each input is parsed at every size of
//! `CHUNK_SIZES` (1, 3, 7 and 64 bytes, and whole), and must give the same
//! events, merged.

use minicode_server::scof::{ScofEvent, ScofParser};

use crate::support::{CHUNK_SIZES, check_invariants, merged, parse_sized};

fn start(path: &str) -> ScofEvent {
    ScofEvent::FileStart { path: path.into() }
}

fn chunk(path: &str, chunk: &str) -> ScofEvent {
    ScofEvent::FileChunk {
        path: path.into(),
        chunk: chunk.into(),
    }
}

fn end(path: &str, content: &str, complete: bool) -> ScofEvent {
    ScofEvent::FileEnd {
        path: path.into(),
        content: content.into(),
        complete,
    }
}

/// The events of a file, merged: start, content (if any), end.
fn file(path: &str, content: &str, complete: bool) -> Vec<ScofEvent> {
    let mut events = vec![start(path)];
    if !content.is_empty() {
        events.push(chunk(path, content));
    }
    events.push(end(path, content, complete));
    events
}

fn patch(path: &str, diff: &str, complete: bool) -> ScofEvent {
    ScofEvent::Patch {
        path: path.into(),
        diff: diff.into(),
        complete,
    }
}

fn install(packages: &[&str], dev: bool) -> ScofEvent {
    ScofEvent::Install {
        packages: packages.iter().map(|p| p.to_string()).collect(),
        dev,
    }
}

/// Parses `input` at every chunk size; each run must give `expected`
/// (merged) and keep the invariants.
#[track_caller]
fn assert_events(input: &str, expected: &[ScofEvent]) {
    for size in CHUNK_SIZES {
        let events = parse_sized(input, size);
        check_invariants(&events);
        assert_eq!(
            merged(events),
            merged(expected.to_vec()),
            "chunks of {size} bytes, input {input:?}"
        );
    }
}

// Indented answers.

#[test]
fn an_indented_answer_loses_the_openers_indentation() {
    let input = "    ```bash\n    cat > src/a.ts << 'EOF_A'\n    export const a = {\n      b: 1,\n\n    };\n    EOF_A\n    npm install zod\n    ```\n";
    assert_events(
        input,
        &[
            file("src/a.ts", "export const a = {\n  b: 1,\n\n};\n", true),
            vec![install(&["zod"], false)],
        ]
        .concat(),
    );
}

#[test]
fn an_indented_marker_line_closes_an_indented_block() {
    // The marker carries the opener's indentation: it closes at once, so
    // the second block with the same marker is a file of its own.
    let input = "  cat > a.txt << EOF\n  one\n  EOF\n  cat > b.txt << EOF\n  two\n  EOF\n";
    assert_events(
        input,
        &[file("a.txt", "one\n", true), file("b.txt", "two\n", true)].concat(),
    );
}

#[test]
fn content_not_indented_like_its_opener_is_kept_as_it_is() {
    let input = "  cat > a.py << 'EOF'\ndef f():\n  return 1\n  EOF\n";
    assert_events(input, &file("a.py", "def f():\n  return 1\n", true));
}

// Fences around the content.

#[test]
fn a_fence_around_the_content_is_dropped() {
    let input = "```bash\ncat > src/App.tsx << 'EOF'\n```tsx\nexport default 1;\n```\nEOF\n```\n";
    assert_events(input, &file("src/App.tsx", "export default 1;\n", true));
    // Without its closing fence, and with blank lines before the marker.
    let input = "cat > a.css << 'EOF'\n```css\nbody {}\n```\n\n\nEOF\n";
    assert_events(input, &file("a.css", "body {}\n", true));
    let input = "cat > a.css << 'EOF'\n~~~\nbody {}\nEOF\n";
    assert_events(input, &file("a.css", "body {}\n", true));
}

#[test]
fn a_fence_around_a_patch_is_dropped() {
    let diff = "--- a/a.ts\n+++ b/a.ts\n@@ -1 +1 @@\n-a\n+b\n";
    let input = format!("cat << 'EOF' | patch a.ts\n```diff\n{diff}```\nEOF\n");
    assert_events(&input, &[patch("a.ts", diff, true)]);
}

#[test]
fn fences_of_a_markdown_file_are_its_content() {
    // A readme may begin with a code block, and end with one.
    let readme = "```bash\nnpm run dev\n```\n";
    assert_events(
        &format!("cat > README.md << 'EOF'\n{readme}EOF\n"),
        &file("README.md", readme, true),
    );
    // Only a markdown fence wraps a markdown file; its closing fence is
    // the last bare fence that closes no fence of the content.
    let input = "cat > docs/a.md << 'EOF'\n```markdown\n# A\n```sh\nls\n```\n```\nEOF\n";
    assert_events(input, &file("docs/a.md", "# A\n```sh\nls\n```\n", true));
}

#[test]
fn fences_inside_code_are_content() {
    // A template literal with a code block: nothing is dropped.
    let content = "const md = `\n```js\nx()\n```\n`;\n";
    assert_events(
        &format!("cat > a.ts << 'EOF'\n{content}EOF\n"),
        &file("a.ts", content, true),
    );
}

// A new opener with the block's own marker.

#[test]
fn an_opener_with_the_same_marker_ends_the_open_file_incomplete() {
    let input =
        "cat > a.ts << 'EOF'\nexport const a = 1;\ncat > b.ts << 'EOF'\nexport const b = 2;\nEOF\n";
    assert_events(
        input,
        &[
            file("a.ts", "export const a = 1;\n", false),
            file("b.ts", "export const b = 2;\n", true),
        ]
        .concat(),
    );
    // A patch opener too, and as the very last line.
    assert_events(
        "cat > a.ts << EOF\nx\ncat << EOF | patch b.ts",
        &[file("a.ts", "x\n", false), vec![patch("b.ts", "", false)]].concat(),
    );
}

// When the marker never comes.

#[test]
fn a_loosely_written_marker_ends_the_block_when_the_marker_never_comes() {
    for closing in [
        "  EOF", "EOF ", "\tEOF\t", "'EOF'", "\"EOF\"", "`EOF`", "EOF\r",
    ] {
        // At the end of the stream, with and without a newline.
        assert_events(
            &format!("cat > a.ts << 'EOF'\nx\n{closing}\n"),
            &file("a.ts", "x\n", true),
        );
        assert_events(
            &format!("cat > a.ts << 'EOF'\nx\n{closing}"),
            &file("a.ts", "x\n", true),
        );
    }
    for (marker, closing) in [
        ("EOF_APP", "EOF"),
        ("EOF_APP", "EOF_CSS"),
        ("EOF_APP", " EOF_APP "),
        ("END", "EOF"),
    ] {
        assert_events(
            &format!("cat > a.ts << '{marker}'\nx\n{closing}\n```\nNow run:\nnpm i zod\n"),
            &[file("a.ts", "x\n", true), vec![install(&["zod"], false)]].concat(),
        );
    }
}

#[test]
fn a_loose_marker_before_a_same_marker_opener_ends_the_block_complete() {
    let input = "cat > a.ts << 'EOF'\nx\n  EOF\n\ncat > b.ts << 'EOF'\ny\nEOF\n";
    assert_events(
        input,
        &[file("a.ts", "x\n", true), file("b.ts", "y\n", true)].concat(),
    );
}

#[test]
fn a_loose_marker_followed_by_the_marker_is_content() {
    let content = "  EOF\nEOF \n'EOF'\nEOF_X\n```\nmore\n";
    assert_events(
        &format!("cat > a.txt << 'EOF'\n{content}EOF\n"),
        &file("a.txt", content, true),
    );
}

#[test]
fn a_fence_instead_of_the_marker_ends_the_block() {
    // Then prose, an install and a file with the same marker.
    let input = "```bash\ncat > a.ts << 'EOF'\nexport const a = 1;\n```\n\nThen:\n```bash\nnpm install zod\ncat > b.ts << 'EOF'\nb\nEOF\n```\n";
    assert_events(
        input,
        &[
            file("a.ts", "export const a = 1;\n", true),
            vec![install(&["zod"], false)],
            file("b.ts", "b\n", true),
        ]
        .concat(),
    );
    // At the end of the answer.
    assert_events(
        "cat > a.ts << 'EOF'\na\n```\nThat's all!\n",
        &file("a.ts", "a\n", true),
    );
    // The next file has its own marker: read again at the end.
    let input = "cat > a.ts << 'EOF_A'\na\n```\n```bash\ncat > b.ts << 'EOF_B'\nb\nEOF_B\n```\n";
    assert_events(
        input,
        &[file("a.ts", "a\n", true), file("b.ts", "b\n", true)].concat(),
    );
}

#[test]
fn an_opener_with_another_marker_ends_the_block_incomplete_when_the_marker_never_comes() {
    let input = "cat > src/App.tsx << 'EOF_APP'\napp\ncat > src/app.css << 'EOF_CSS'\ncss\nEOF_CSS\nnpm i zod\n";
    assert_events(
        input,
        &[
            file("src/App.tsx", "app\n", false),
            file("src/app.css", "css\n", true),
            vec![install(&["zod"], false)],
        ]
        .concat(),
    );
}

#[test]
fn a_nested_heredoc_with_another_marker_is_content() {
    let content = "#!/bin/sh\ncat > .env << 'ENV'\nA=1\nENV\necho done\n";
    assert_events(
        &format!("cat > setup.sh << 'EOF'\n{content}EOF\nnpm i zod\n"),
        &[
            file("setup.sh", content, true),
            vec![install(&["zod"], false)],
        ]
        .concat(),
    );
}

#[test]
fn the_first_place_the_block_may_end_wins() {
    // A loose marker, then a fence, then the stream ends.
    let input = "cat > a.ts << 'EOF'\na\n EOF\nb\n```\nc\n";
    assert_events(input, &file("a.ts", "a\n", true));
    // An opener with another marker, then a loose marker.
    let input = "cat > a.ts << 'EOF_A'\na\ncat > b.ts << 'EOF_B'\nb\nEOF\n";
    assert_events(
        input,
        &[file("a.ts", "a\n", false), file("b.ts", "b\n", true)].concat(),
    );
}

#[test]
fn content_after_a_place_the_block_may_end_waits_for_the_end() {
    let mut parser = ScofParser::new();
    let mut out = Vec::new();
    let mut step = |text: &str| {
        out.clear();
        parser.push(text, &mut out);
        out.clone()
    };
    assert_eq!(
        step("cat > a.txt << 'EOF'\nx\n"),
        [start("a.txt"), chunk("a.txt", "x\n")]
    );
    // Could be the marker, loosely written: held back with what follows.
    assert_eq!(step("  EOF\n"), []);
    assert_eq!(step("y\n"), []);
    // The marker: it was all content.
    assert_eq!(
        step("EOF\n"),
        [
            chunk("a.txt", "  EOF\ny\n"),
            end("a.txt", "x\n  EOF\ny\n", true)
        ]
    );
}

// Install lines.

#[test]
fn install_lines_that_are_sentences_install_nothing() {
    let input = "npm install zod later if you want.\nnpm install zod later if you want\nnpm install react-router-dom for routing\nnpm install Zod\nnpm install `zod`\nnpm install zod, dayjs\nnpm install zod - it is small\n```bash\nnpm install --save-dev vitest @types/node\n$ npm i -E dayjs@1.11.x\nyarn add @tanstack/react-query@^5 --exact\n```\n";
    assert_events(
        input,
        &[
            install(&["vitest", "@types/node"], true),
            install(&["dayjs@1.11.x"], false),
            install(&["@tanstack/react-query@^5"], false),
        ],
    );
}

// The implementer prompt.

#[test]
fn the_implementer_prompts_examples_are_well_formed() {
    let prompt = include_str!("../../prompts/implementer.md");
    let diff = "--- a/src/styles.css\n+++ b/src/styles.css\n@@ -1,3 +1,3 @@\n body {\n-  margin: 8px;\n+  margin: 0;\n }\n";
    assert_events(
        prompt,
        &[
            file(
                "src/App.tsx",
                "export default function App() {\n  return <h1>My app</h1>;\n}\n",
                true,
            ),
            vec![patch("src/styles.css", diff, true)],
        ]
        .concat(),
    );
    // Written flush left, as models must copy them.
    for line in prompt.lines() {
        let command = line.trim_start();
        if command.starts_with("cat ") || command.starts_with("EOF_") {
            assert_eq!(line, command, "an indented example line");
        }
    }
}
