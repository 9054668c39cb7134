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
//! * Context and removed lines must match exactly, line endings included
//!   (a `\r` is part of the line); there is no whitespace-insensitive guess.
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
    /// hunk. `line` (1-based, in the original) is the first line that
    /// differs when the hunk is put at its stated position; `expected` and
    /// `found` are whole lines with their line ending, `found` is `None`
    /// past the end of the file.
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
            hunk.locate(&lines, cursor, expected)
                .ok_or_else(|| hunk.mismatch(index + 1, &lines, expected.max(cursor)))?
        };
        if let Some(stated) = stated {
            offset = at as isize - stated as isize;
        }
        lines[cursor..at].iter().for_each(|l| out.push_str(l));
        hunk.new.iter().for_each(|l| l.push_to(&mut out));
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

#[derive(Debug)]
struct Hunk<'a> {
    header: &'a str,
    /// The 1-based first line of the old text, if the header has it.
    old_start: Option<usize>,
    /// Context and removed lines: what must be in the file.
    old: Vec<Line<'a>>,
    /// Context and added lines: what replaces them.
    new: Vec<Line<'a>>,
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
            self.old.push(line(text));
            self.new.push(line(text));
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
        if matches!(side, Side::Both | Side::Old) {
            self.old.push(line);
        }
        if matches!(side, Side::Both | Side::New) {
            self.new.push(line);
        }
        true
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
            l.newline = false;
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

    /// Whether the old lines are at `at` in `lines`.
    fn matches_at(&self, lines: &[&str], at: usize) -> bool {
        lines
            .get(at..at + self.old.len())
            .is_some_and(|found| self.old.iter().zip(found).all(|(l, f)| l.matches(f)))
    }

    /// The position in `cursor..` nearest to `expected` where the old lines
    /// are (the earlier one on a tie).
    fn locate(&self, lines: &[&str], cursor: usize, expected: usize) -> Option<usize> {
        let last = lines.len().checked_sub(self.old.len())?;
        if cursor > last {
            return None;
        }
        let expected = expected.clamp(cursor, last);
        (0..=last - cursor).find_map(|distance| {
            let before = expected
                .checked_sub(distance)
                .filter(|&at| at >= cursor && self.matches_at(lines, at));
            let after =
                Some(expected + distance).filter(|&at| at <= last && self.matches_at(lines, at));
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
