//! Helpers shared by the tests: feeding the parser, normalising its output,
//! checking its invariants, and a small diff generator for `apply_patch`.

use minicode_server::scof::{ScofEvent, ScofParser};

/// Feeds `chunks` one by one, then finishes.
pub fn parse_chunks<'a>(chunks: impl IntoIterator<Item = &'a str>) -> Vec<ScofEvent> {
    let mut parser = ScofParser::new();
    let mut events = Vec::new();
    for chunk in chunks {
        parser.push(chunk, &mut events);
    }
    parser.finish(&mut events);
    events
}

/// Feeds `input` as one chunk.
pub fn parse(input: &str) -> Vec<ScofEvent> {
    parse_chunks([input])
}

/// Feeds `input` cut at `cuts` (byte offsets, moved back to char boundaries).
pub fn parse_split(input: &str, cuts: &[usize]) -> Vec<ScofEvent> {
    let mut cuts: Vec<usize> = cuts.iter().map(|&c| input.floor_char_boundary(c)).collect();
    cuts.push(input.len());
    cuts.sort_unstable();
    let mut chunks = Vec::new();
    let mut start = 0;
    for cut in cuts {
        chunks.push(&input[start..cut]);
        start = cut;
    }
    parse_chunks(chunks)
}

/// Feeds `input` one character at a time.
pub fn parse_by_char(input: &str) -> Vec<ScofEvent> {
    parse_chunks(
        input
            .char_indices()
            .map(|(i, c)| &input[i..i + c.len_utf8()]),
    )
}

/// Feeds `input` in chunks of `size` bytes (moved to char boundaries).
pub fn parse_sized(input: &str, size: usize) -> Vec<ScofEvent> {
    let mut chunks = Vec::new();
    let mut start = 0;
    while start < input.len() {
        let mut end = input.floor_char_boundary(start.saturating_add(size).min(input.len()));
        if end == start {
            end = input.ceil_char_boundary(start + 1);
        }
        chunks.push(&input[start..end]);
        start = end;
    }
    parse_chunks(chunks)
}

/// The chunk sizes every rule is checked at: token-like, odd, and larger
/// than most lines (and the whole input, in one chunk).
pub const CHUNK_SIZES: [usize; 5] = [1, 3, 7, 64, usize::MAX];

/// Joins consecutive `FileChunk`s of the same path: what is left does not
/// depend on how the input was split.
pub fn merged(events: Vec<ScofEvent>) -> Vec<ScofEvent> {
    let mut out: Vec<ScofEvent> = Vec::new();
    for event in events {
        if let ScofEvent::FileChunk { path, chunk } = &event
            && let Some(ScofEvent::FileChunk {
                path: last_path,
                chunk: last,
            }) = out.last_mut()
            && last_path == path
        {
            last.push_str(chunk);
            continue;
        }
        out.push(event);
    }
    out
}

/// Asserts what must hold for any output: chunks only inside their file,
/// never empty, and adding up to the file's final content.
pub fn check_invariants(events: &[ScofEvent]) {
    let mut open: Option<(&str, String)> = None;
    for event in events {
        match event {
            ScofEvent::FileStart { path } => {
                assert!(open.is_none(), "FileStart inside a file: {events:?}");
                open = Some((path, String::new()));
            }
            ScofEvent::FileChunk { path, chunk } => {
                let Some((open_path, received)) = &mut open else {
                    panic!("FileChunk outside a file: {events:?}");
                };
                assert_eq!(open_path, path);
                assert!(!chunk.is_empty(), "empty FileChunk");
                received.push_str(chunk);
            }
            ScofEvent::FileEnd { path, content, .. } => {
                let Some((open_path, received)) = open.take() else {
                    panic!("FileEnd outside a file: {events:?}");
                };
                assert_eq!(open_path, path);
                assert_eq!(
                    &received, content,
                    "chunks of {path} differ from its content"
                );
            }
            ScofEvent::Patch { .. } | ScofEvent::Install { .. } => {
                assert!(open.is_none(), "{event:?} inside a file");
            }
        }
    }
    assert!(open.is_none(), "a file never ended: {events:?}");
}

/// A unified diff from `a` to `b` with 3 lines of context, as `diff -u`
/// writes it (without the `---`/`+++` headers). Empty when `a == b`.
pub fn unified_diff(a: &str, b: &str) -> String {
    #[derive(Clone, Copy, PartialEq)]
    enum Op {
        Keep,
        Del,
        Add,
    }
    const CONTEXT: usize = 3;
    let a: Vec<&str> = a.split_inclusive('\n').collect();
    let b: Vec<&str> = b.split_inclusive('\n').collect();
    // lcs[i][j]: length of the longest common subsequence of a[i..], b[j..].
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    // The edit script, each op with the old and new line it refers to.
    let mut ops = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            ops.push((Op::Keep, i, j));
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            ops.push((Op::Add, i, j));
            j += 1;
        } else {
            ops.push((Op::Del, i, j));
            i += 1;
        }
    }
    // Group changes closer than 2 * CONTEXT into one hunk.
    let changes: Vec<usize> = (0..ops.len()).filter(|&k| ops[k].0 != Op::Keep).collect();
    let mut groups: Vec<(usize, usize)> = Vec::new();
    for &k in &changes {
        match groups.last_mut() {
            Some((_, end)) if k - *end <= 2 * CONTEXT => *end = k,
            _ => groups.push((k, k)),
        }
    }
    let mut diff = String::new();
    for (first, last) in groups {
        let start = first.saturating_sub(CONTEXT);
        let end = (last + CONTEXT + 1).min(ops.len());
        let span = &ops[start..end];
        let old_count = span.iter().filter(|o| o.0 != Op::Add).count();
        let new_count = span.iter().filter(|o| o.0 != Op::Del).count();
        let (_, old_before, new_before) = ops[start];
        let old_start = if old_count == 0 {
            old_before
        } else {
            old_before + 1
        };
        let new_start = if new_count == 0 {
            new_before
        } else {
            new_before + 1
        };
        diff.push_str(&format!(
            "@@ -{old_start},{old_count} +{new_start},{new_count} @@\n"
        ));
        for &(op, i, j) in span {
            let (prefix, line) = match op {
                Op::Keep => (' ', a[i]),
                Op::Del => ('-', a[i]),
                Op::Add => ('+', b[j]),
            };
            diff.push(prefix);
            diff.push_str(line);
            if !line.ends_with('\n') {
                diff.push_str("\n\\ No newline at end of file\n");
            }
        }
    }
    diff
}
