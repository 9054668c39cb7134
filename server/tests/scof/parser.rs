//! One test per rule of the format: each feeds a small stream and compares
//! the exact events, in one chunk, char by char and merged.

use minicode_server::scof::{ScofEvent, ScofParser};

use crate::support::{check_invariants, merged, parse, parse_by_char};

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

/// The three events of a complete, non-empty file.
fn file(path: &str, content: &str) -> Vec<ScofEvent> {
    vec![start(path), chunk(path, content), end(path, content, true)]
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

/// Parses `input` in one chunk and char by char; both must give `expected`
/// (compared after merging chunks for the char-by-char run).
fn assert_events(input: &str, expected: &[ScofEvent]) {
    let whole = parse(input);
    assert_eq!(whole, expected, "one chunk");
    let by_char = parse_by_char(input);
    check_invariants(&by_char);
    assert_eq!(merged(by_char), merged(expected.to_vec()), "char by char");
}

#[test]
fn blank_lines_and_surrounding_whitespace_are_kept() {
    let content = "\n\n  indented\t\n\nlast  \n\n";
    assert_events(
        &format!("cat > a.txt << 'EOF'\n{content}EOF\n"),
        &file("a.txt", content),
    );
}

#[test]
fn crlf_content_is_kept_and_a_crlf_marker_line_closes() {
    let content = "line one\r\n\r\nline two\r\n";
    assert_events(
        &format!("cat > a.txt << 'EOF'\r\n{content}EOF\r\nnpm i zod\r\n"),
        &[file("a.txt", content), vec![install(&["zod"], false)]].concat(),
    );
}

#[test]
fn a_line_equal_to_another_marker_is_content() {
    let content = "{\n  \"a\": 1\n}\nEOF\nEND\n";
    assert_events(
        &format!("cat > package.json << 'EOF_PKG'\n{content}EOF_PKG\n"),
        &file("package.json", content),
    );
}

#[test]
fn only_the_exact_marker_line_closes() {
    let content = " EOF\nEOF \nEOFX\nXEOF\n'EOF'\neof\n";
    assert_events(
        &format!("cat > a.txt << EOF\n{content}EOF\n"),
        &file("a.txt", content),
    );
}

#[test]
fn opener_and_install_lines_inside_a_block_are_content() {
    let content = "cat > b.txt << 'EOF2'\nnested\nEOF2\nnpm install evil\ncat << 'X' | patch c\n";
    assert_events(
        &format!("cat > a.sh << 'EOF'\n{content}EOF\n"),
        &file("a.sh", content),
    );
}

#[test]
fn fences_inside_a_block_are_content() {
    let content = "# Readme\n\n```bash\nnpm run dev\n```\n\n```\n";
    assert_events(
        &format!("```bash\ncat > README.md << 'EOF'\n{content}EOF\n```\n"),
        &file("README.md", content),
    );
}

#[test]
fn prose_and_fences_around_blocks_are_ignored() {
    let input = "Here is the app:\n\n```bash\n# the component\ncat > src/App.tsx << 'EOF'\nexport default 1;\nEOF\n```\n\nAnd the styles:\n```sh\ncat > src/app.css <<'EOF'\nbody {}\nEOF\n```\nEOF\nThat's all! Run `npm install` then enjoy.\n";
    assert_events(
        input,
        &[
            file("src/App.tsx", "export default 1;\n"),
            file("src/app.css", "body {}\n"),
        ]
        .concat(),
    );
}

#[test]
fn quoted_paths() {
    assert_events(
        "cat > 'src/my file.ts' << 'EOF'\na\nEOF\ncat > \"src/ü.ts\" <<\"EOF\"\nb\nEOF\ncat >src/c.ts <<EOF\nc\nEOF\n",
        &[
            file("src/my file.ts", "a\n"),
            file("src/ü.ts", "b\n"),
            file("src/c.ts", "c\n"),
        ]
        .concat(),
    );
}

#[test]
fn an_unterminated_last_file_is_flushed_incomplete_with_its_partial_line() {
    // "EO" is held back while it could become the marker; finish() flushes it.
    assert_events(
        "cat > a.txt << 'EOF'\nfirst\nEO",
        &[
            start("a.txt"),
            chunk("a.txt", "first\n"),
            chunk("a.txt", "EO"),
            end("a.txt", "first\nEO", false),
        ],
    );
}

#[test]
fn an_unterminated_file_without_content() {
    assert_events(
        "cat > a.txt << 'EOF'\n",
        &[start("a.txt"), end("a.txt", "", false)],
    );
    // The opener itself is the last, unterminated line.
    assert_events(
        "cat > a.txt << 'EOF'",
        &[start("a.txt"), end("a.txt", "", false)],
    );
}

#[test]
fn a_marker_without_its_newline_at_the_end_of_the_stream_closes() {
    assert_events("cat > a.txt << 'EOF'\nhi\nEOF", &file("a.txt", "hi\n"));
    assert_events(
        "cat > a.txt << 'EOF'\r\nhi\r\nEOF\r",
        &file("a.txt", "hi\r\n"),
    );
}

#[test]
fn an_empty_file_has_no_chunk() {
    assert_events(
        "cat > empty.txt << 'EOF'\nEOF\n",
        &[start("empty.txt"), end("empty.txt", "", true)],
    );
}

#[test]
fn content_is_empty_or_ends_with_a_newline() {
    // A heredoc cannot express a file without a final newline: the newline
    // before the marker line always belongs to the content.
    assert_events(
        "cat > a.txt << 'EOF'\nno newline wanted\nEOF\n",
        &file("a.txt", "no newline wanted\n"),
    );
}

#[test]
fn install_lines() {
    assert_events(
        "```bash\nnpm install react-router-dom zod\nnpm install -D @types/node\nnpm i --save-dev vitest\nnpm install\n```\n",
        &[
            install(&["react-router-dom", "zod"], false),
            install(&["@types/node"], true),
            install(&["vitest"], true),
        ],
    );
}

#[test]
fn an_install_line_without_a_newline_at_the_end_counts() {
    assert_events("npm install zod", &[install(&["zod"], false)]);
}

#[test]
fn patch_blocks_are_collected_and_emitted_whole() {
    let diff = "--- a/src/main.tsx\n+++ b/src/main.tsx\n@@ -1,3 +1,3 @@\n a\n-EOF\n+b\n\n c\n";
    assert_events(
        &format!("cat << 'PATCH' | patch src/main.tsx\n{diff}PATCH\nnpm i x\n"),
        &[patch("src/main.tsx", diff, true), install(&["x"], false)],
    );
}

#[test]
fn an_unterminated_patch_is_reported_incomplete() {
    assert_events(
        "cat << 'EOF' | patch a.ts\n@@ -1 +1 @@\n-a\n+b",
        &[patch("a.ts", "@@ -1 +1 @@\n-a\n+b", false)],
    );
}

#[test]
fn several_files_in_one_stream() {
    let input = "cat > a.ts << 'EOF'\nA\nEOF\ncat > b.ts << 'B_END'\nB\nEOF\nB_END\ncat << 'EOF' | patch a.ts\n@@ -1 +1 @@\n-A\n+AA\nEOF\ncat > c.ts << 'EOF'\nEOF\nnpm i c\n";
    assert_events(
        input,
        &[
            file("a.ts", "A\n"),
            file("b.ts", "B\nEOF\n"),
            vec![
                patch("a.ts", "@@ -1 +1 @@\n-A\n+AA\n", true),
                start("c.ts"),
                end("c.ts", "", true),
                install(&["c"], false),
            ],
        ]
        .concat(),
    );
}

#[test]
fn events_are_emitted_as_soon_as_they_are_known() {
    let mut parser = ScofParser::new();
    let mut out = Vec::new();
    let mut step = |text: &str| {
        out.clear();
        parser.push(text, &mut out);
        out.clone()
    };
    assert_eq!(step("cat > a.txt << 'E"), []);
    assert_eq!(step("OF'\n"), [start("a.txt")]);
    assert_eq!(step("hel"), [chunk("a.txt", "hel")]);
    assert_eq!(step("lo\nE"), [chunk("a.txt", "lo\n")]);
    assert_eq!(step("O"), []);
    assert_eq!(step("Fs\n"), [chunk("a.txt", "EOFs\n")]);
    assert_eq!(step("EOF"), []);
    assert_eq!(step("\r"), []);
    assert_eq!(step("\n"), [end("a.txt", "hello\nEOFs\n", true)]);
}

#[test]
fn a_marker_line_split_anywhere_still_closes() {
    let input = "cat > a.txt << 'LONG_MARKER'\nx\nLONG_MARKER\nnpm i y\n";
    for cut in 0..=input.len() {
        let events = crate::support::parse_split(input, &[cut]);
        assert_eq!(
            merged(events),
            [file("a.txt", "x\n"), vec![install(&["y"], false)]].concat(),
            "cut at {cut}"
        );
    }
}

#[test]
fn unicode_content_and_markers() {
    let content = "héllo ✓ 🚀\nÉOF\n";
    assert_events(
        &format!("cat > ü.txt << 'ÉOF_2'\n{content}ÉOF_2\n"),
        &file("ü.txt", content),
    );
}
