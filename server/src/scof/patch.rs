//! Applies the unified diff of a patch block to a file.
//!
//! Written by hand: the job is small (one file, hunks applied in order) and
//! the diff crates on crates.io either pull in far more than this or do not
//! offer the "exact context, nearest position" rule we want.
//!
//! What a model writes is trusted only as far as it can be checked:
//!
//! * Hunk line counts in `@@ -a,b +c,d @@` are ignored (models often get
//!   them wrong); a hunk runs until the next `@@` line or the end of the diff.
//! * The line number is only a hint: when the context and removed lines are
//!   not at the stated line (shifted by how far earlier hunks moved), the
//!   whole file after the previous hunk is searched, nearest position first.
//!   A header without numbers (`@@ @@`) searches from the previous hunk on.
//! * Context and removed lines are first matched exactly, line endings
//!   included (a `\r` is part of the line), anywhere in that range. Only if
//!   they are nowhere exactly, they are matched ignoring whitespace (leading
//!   and trailing blanks, a `\r`, and how many blanks separate words; not a
//!   missing final newline), the nearest position first: models re-indent
//!   the lines they quote. Such a
//!   hunk keeps the file's own context lines, and its added lines get the
//!   file's indentation and line endings when the matched lines show one
//!   consistent change (every line indented by the same extra prefix, or
//!   every line ending in `\r\n` where the diff has `\n`, or the reverse).
//! * A bare empty line (or a lone `\r`) inside a hunk is a blank context
//!   line (models drop the leading space of blank context lines); bare empty
//!   lines at the end of a hunk are ignored.
//! * Everything before the first `@@` (`diff --git`, `---`, `+++`, prose) is
//!   ignored; after it, any line that is not ` `, `-`, `+`, `\` or empty is
//!   an error, so a `--- x` line inside a hunk is the removal of `-- x`.

use std::fmt;

/// Why a diff could not be applied. The file is never partially patched:
/// on any error the caller keeps the original.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatchError {
    /// The diff has no `@@` hunk.
    NoHunks,
    /// A line after the first `@@` is not part of a hunk (1-based line of
    /// the diff).
    Malformed { line: usize, text: String },
    /// A hunk's context and removed lines are nowhere after the previous
    /// hunk, not even ignoring whitespace. `line` (1-based, in the
    /// original) is the first line that differs when the hunk is put at
    /// its stated position; `expected` and `found` are whole lines with
    /// their line ending, `found` is `None` past the end of the file.
    ContextMismatch {
        hunk: usize,
        header: String,
        line: usize,
        expected: String,
        found: Option<String>,
    },
    /// A hunk that only adds lines has no usable position: its header has
    /// no line number, or the number is past the end of the file or before
    /// the previous hunk.
    NoPosition { hunk: usize, header: String },
}

impl fmt::Display for PatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoHunks => write!(f, "the diff has no hunk (no `@@` line)"),
            Self::Malformed { line, text } => {
                write!(f, "line {line} of the diff is not a diff line: {text:?}")
            }
            Self::ContextMismatch {
                hunk,
                header,
                line,
                expected,
                found,
            } => {
                write!(
                    f,
                    "hunk {hunk} (`{header}`) does not apply: line {line} should be {expected:?}"
                )?;
                match found {
                    Some(found) => write!(f, " but is {found:?}"),
                    None => write!(f, " but the file ends before it"),
                }
            }
            Self::NoPosition { hunk, header } => write!(
                f,
                "hunk {hunk} (`{header}`) only adds lines and its line number is missing or out of range"
            ),
        }
    }
}

impl std::error::Error for PatchError {}

/// Applies a one-file unified diff to `original` and returns the new text.
///
/// ```
/// use minicode_server::scof::apply_patch;
///
/// let diff = "--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n a\n-b\n+B\n";
/// assert_eq!(apply_patch("a\nb\n", diff).unwrap(), "a\nB\n");
/// assert!(apply_patch("a\nc\n", diff).is_err());
/// ```
pub fn apply_patch(original: &str, diff: &str) -> Result<String, PatchError> {
    let hunks = parse(diff)?;
    let lines: Vec<&str> = original.split_inclusive('\n').collect();
    let mut out = String::with_capacity(original.len() + diff.len());
    // Lines before `cursor` are already in `out`.
    let mut cursor = 0;
    // How far the previous hunk was from its stated position.
    let mut offset = 0isize;
    for (index, hunk) in hunks.iter().enumerate() {
        let mut loose = false;
        let stated = hunk.stated_index();
        let expected = stated.map_or(cursor, |s| s.saturating_add_signed(offset));
        let at = if hunk.old.is_empty() {
            stated
                .filter(|_| (cursor..=lines.len()).contains(&expected))
                .map(|_| expected)
                .ok_or_else(|| PatchError::NoPosition {
                    hunk: index + 1,
                    header: hunk.header.to_owned(),
                })?
        } else {
            hunk.locate(&lines, cursor, expected, Line::matches)
                .or_else(|| {
                    loose = true;
                    hunk.locate(&lines, cursor, expected, Line::matches_loosely)
                })
                .ok_or_else(|| hunk.mismatch(index + 1, &lines, expected.max(cursor)))?
        };
        if let Some(stated) = stated {
            offset = at as isize - stated as isize;
        }
        lines[cursor..at].iter().for_each(|l| out.push_str(l));
        let adapt = if loose {
            Adapt::new(&hunk.old, &lines[at..at + hunk.old.len()])
        } else {
            Adapt::default()
        };
        for new in &hunk.new {
            match new.context {
                // The file's line: the same as the hunk's, unless it
                // matched loosely.
                Some(k) => out.push_str(lines[at + k]),
                None => adapt.push(new.line, &mut out),
            }
        }
        cursor = at + hunk.old.len();
    }
    lines[cursor..].iter().for_each(|l| out.push_str(l));
    Ok(out)
}

/// One line of a hunk, without its diff prefix.
#[derive(Debug, Clone, Copy)]
struct Line<'a> {
    text: &'a str,
    /// False when followed by `\ No newline at end of file`.
    newline: bool,
}

impl Line<'_> {
    /// Whether `line` of the original (with its `\n`, if any) is this line.
    fn matches(&self, line: &str) -> bool {
        if self.newline {
            line.strip_suffix('\n') == Some(self.text)
        } else {
            line == self.text
        }
    }

    /// Whether `line` of the original is this line but for whitespace:
    /// the same words, separated by any blanks. Whether the line ends the
    /// file without a newline is not whitespace: it must agree.
    fn matches_loosely(&self, line: &str) -> bool {
        let text = match line.strip_suffix('\n') {
            Some(text) if self.newline => text,
            None if !self.newline => line,
            _ => return false,
        };
        self.text
            .split_ascii_whitespace()
            .eq(text.split_ascii_whitespace())
    }

    fn push_to(&self, out: &mut String) {
        out.push_str(self.text);
        if self.newline {
            out.push('\n');
        }
    }

    fn to_text(self) -> String {
        let mut text = String::new();
        self.push_to(&mut text);
        text
    }
}

/// Which side(s) the previous hunk line went to, for `\ No newline…`.
#[derive(Debug, Clone, Copy)]
enum Side {
    Both,
    Old,
    New,
}

/// A line of the new side of a hunk.
#[derive(Debug, Clone, Copy)]
struct NewLine<'a> {
    line: Line<'a>,
    /// For a context line, its index in the hunk's old lines.
    context: Option<usize>,
}

/// How a hunk's added lines are changed to fit the file when its old lines
/// matched only ignoring whitespace.
#[derive(Debug, Default)]
struct Adapt {
    /// Every matched line of the file is indented by this more than in the
    /// diff: added lines get it too.
    indent: String,
    /// Every matched line of the file is indented by this less than in the
    /// diff: added lines lose it.
    unindent: String,
    /// `Some(true)`: the matched lines end with `\r\n` in the file and `\n`
    /// in the diff; `Some(false)`: the reverse.
    crlf: Option<bool>,
}

impl Adapt {
    /// Compares the hunk's old lines with the file's lines they matched.
    fn new(old: &[Line<'_>], found: &[&str]) -> Self {
        fn indentation(line: &str) -> &str {
            &line[..line.len() - line.trim_start_matches([' ', '\t']).len()]
        }
        /// The same `extra` for every pair, if there is one.
        fn agree(all: &mut Option<Option<String>>, extra: Option<&str>) {
            match (all.as_mut(), extra) {
                (None, _) => *all = Some(extra.map(str::to_owned)),
                (Some(Some(seen)), Some(extra)) if seen == extra => {}
                (Some(seen), _) => *seen = None,
            }
        }
        let (mut indent, mut unindent) = (None, None);
        let (mut lines, mut file_crlf, mut diff_crlf) = (0, 0, 0);
        for (line, file) in old.iter().zip(found) {
            let file_text = file.strip_suffix('\n').unwrap_or(file);
            if line.newline && file.ends_with('\n') {
                lines += 1;
                file_crlf += usize::from(file_text.ends_with('\r'));
                diff_crlf += usize::from(line.text.ends_with('\r'));
            }
            if line.text.trim_ascii().is_empty() {
                continue;
            }
            let (diff, file) = (indentation(line.text), indentation(file_text));
            agree(&mut indent, file.strip_suffix(diff));
            agree(&mut unindent, diff.strip_suffix(file));
        }
        Self {
            indent: indent.flatten().unwrap_or_default(),
            unindent: unindent.flatten().unwrap_or_default(),
            crlf: if lines > 0 && file_crlf == lines && diff_crlf == 0 {
                Some(true)
            } else if lines > 0 && diff_crlf == lines && file_crlf == 0 {
                Some(false)
            } else {
                None
            },
        }
    }

    /// Writes an added line, fitted to the file.
    fn push(&self, line: Line<'_>, out: &mut String) {
        let mut text = line.text;
        if !text.trim_ascii().is_empty() {
            out.push_str(&self.indent);
            text = text.strip_prefix(self.unindent.as_str()).unwrap_or(text);
        }
        match self.crlf {
            Some(false) => text = text.strip_suffix('\r').unwrap_or(text),
            Some(true) if line.newline && !text.ends_with('\r') => {
                out.push_str(text);
                out.push_str("\r\n");
                return;
            }
            _ => {}
        }
        out.push_str(text);
        if line.newline {
            out.push('\n');
        }
    }
}

#[derive(Debug)]
struct Hunk<'a> {
    header: &'a str,
    /// The 1-based first line of the old text, if the header has it.
    old_start: Option<usize>,
    /// Context and removed lines: what must be in the file.
    old: Vec<Line<'a>>,
    /// Context and added lines: what replaces them.
    new: Vec<NewLine<'a>>,
    /// Bare empty lines at the end so far, dropped if nothing follows them.
    trailing_blank: usize,
    last: Option<Side>,
}

impl<'a> Hunk<'a> {
    fn new(header: &'a str) -> Self {
        let old_start = header
            .strip_prefix("@@")
            .map(str::trim_start)
            .and_then(|h| h.strip_prefix('-'))
            .and_then(|h| h.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|digits| digits.parse().ok());
        Self {
            header,
            old_start,
            old: Vec::new(),
            new: Vec::new(),
            trailing_blank: 0,
            last: None,
        }
    }

    /// The 0-based index of the first old line. A hunk without old lines
    /// states the line after which it inserts (`-5,0` inserts after line 5).
    fn stated_index(&self) -> Option<usize> {
        let start = self.old_start?;
        Some(if self.old.is_empty() {
            start
        } else {
            start.saturating_sub(1)
        })
    }

    /// Adds one diff line; `false` if it is not a hunk line.
    fn add(&mut self, text: &'a str) -> bool {
        let line = |text| Line {
            text,
            newline: true,
        };
        if text.is_empty() || text == "\r" {
            self.push_context(line(text));
            self.trailing_blank += 1;
            self.last = Some(Side::Both);
            return true;
        }
        let side = match text.as_bytes().first() {
            Some(b' ') => Side::Both,
            Some(b'-') => Side::Old,
            Some(b'+') => Side::New,
            Some(b'\\') => return self.no_newline(),
            _ => return false,
        };
        self.trailing_blank = 0;
        self.last = Some(side);
        let line = line(&text[1..]);
        match side {
            Side::Both => self.push_context(line),
            Side::Old => self.old.push(line),
            Side::New => self.new.push(NewLine {
                line,
                context: None,
            }),
        }
        true
    }

    fn push_context(&mut self, line: Line<'a>) {
        self.new.push(NewLine {
            line,
            context: Some(self.old.len()),
        });
        self.old.push(line);
    }

    /// `\ No newline at end of file`: the previous line has no `\n`.
    fn no_newline(&mut self) -> bool {
        let Some(side) = self.last.take() else {
            return false;
        };
        self.trailing_blank = 0;
        if matches!(side, Side::Both | Side::Old)
            && let Some(l) = self.old.last_mut()
        {
            l.newline = false;
        }
        if matches!(side, Side::Both | Side::New)
            && let Some(l) = self.new.last_mut()
        {
            l.line.newline = false;
        }
        true
    }

    fn finish(&mut self) {
        let keep_old = self.old.len() - self.trailing_blank;
        let keep_new = self.new.len() - self.trailing_blank;
        self.old.truncate(keep_old);
        self.new.truncate(keep_new);
        self.trailing_blank = 0;
    }

    /// Whether the old lines are at `at` in `lines`, each compared with
    /// `matches`.
    fn matches_at(&self, lines: &[&str], at: usize, matches: fn(&Line<'a>, &str) -> bool) -> bool {
        lines
            .get(at..at + self.old.len())
            .is_some_and(|found| self.old.iter().zip(found).all(|(l, f)| matches(l, f)))
    }

    /// The position in `cursor..` nearest to `expected` where the old lines
    /// are (the earlier one on a tie), each compared with `matches`.
    fn locate(
        &self,
        lines: &[&str],
        cursor: usize,
        expected: usize,
        matches: fn(&Line<'a>, &str) -> bool,
    ) -> Option<usize> {
        let last = lines.len().checked_sub(self.old.len())?;
        if cursor > last {
            return None;
        }
        let expected = expected.clamp(cursor, last);
        let found = |at: usize| self.matches_at(lines, at, matches);
        (0..=last - cursor).find_map(|distance| {
            let before = expected
                .checked_sub(distance)
                .filter(|&at| at >= cursor && found(at));
            let after = Some(expected + distance).filter(|&at| at <= last && found(at));
            before.or(after)
        })
    }

    /// The error for a hunk that matches nowhere: the first line that
    /// differs with the hunk at `at`.
    fn mismatch(&self, hunk: usize, lines: &[&str], at: usize) -> PatchError {
        let first_diff = (0..self.old.len())
            .find(|&k| !lines.get(at + k).is_some_and(|l| self.old[k].matches(l)))
            .unwrap_or(0);
        PatchError::ContextMismatch {
            hunk,
            header: self.header.to_owned(),
            line: at + first_diff + 1,
            expected: self
                .old
                .get(first_diff)
                .map(|l| l.to_text())
                .unwrap_or_default(),
            found: lines.get(at + first_diff).map(|l| l.to_string()),
        }
    }
}

/// Splits a diff into hunks.
fn parse(diff: &str) -> Result<Vec<Hunk<'_>>, PatchError> {
    let mut hunks: Vec<Hunk<'_>> = Vec::new();
    let body = diff.strip_suffix('\n').unwrap_or(diff);
    for (number, text) in body.split('\n').enumerate() {
        if text.starts_with("@@") {
            if let Some(previous) = hunks.last_mut() {
                previous.finish();
            }
            hunks.push(Hunk::new(text));
        } else if let Some(hunk) = hunks.last_mut()
            && !hunk.add(text)
        {
            return Err(PatchError::Malformed {
                line: number + 1,
                text: text.to_owned(),
            });
        }
    }
    match hunks.last_mut() {
        Some(last) => last.finish(),
        None => return Err(PatchError::NoHunks),
    }
    Ok(hunks)
}
