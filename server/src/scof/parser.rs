//! The streaming parser: text chunks in, [`ScofEvent`]s out.
//!
//! Outside a block the parser collects one line at a time and hands complete
//! lines to [`command::parse_line`].
//!
//! Inside a block it must find the line that ends the block without costly
//! work on every line. It looks at the first non-blank byte of each line
//! only: a line whose first byte cannot begin any line the rules care about
//! (the marker, `EOF`, a quote, a fence, `cat`, `$`) is content, and so is
//! a line that stops matching them a few bytes later. Consecutive content
//! lines are copied into the block's body at once, and the last, unfinished
//! line of a chunk is held back only while it could still become such a
//! line. The rules themselves (which lines are markers, fences, openers, and
//! what a doubtful line waits for) are described in the module doc of
//! [`scof`](super).

use memchr::memchr;

use super::ScofEvent;
use super::command::{self, Command};

/// Parses the model's output as it streams in.
///
/// Feed every text chunk to [`push`](Self::push) and call
/// [`finish`](Self::finish) once the stream ends; each call appends the events
/// it found to `out`. Chunks may split the text anywhere (inside a line, an
/// opener or a marker); the events do not depend on where, except for how a
/// file's content is cut into `FileChunk`s.
///
/// ```
/// use minicode_server::scof::{ScofEvent, ScofParser};
///
/// let mut parser = ScofParser::new();
/// let mut events = Vec::new();
/// parser.push("Sure!\n```bash\ncat > a.txt << 'EOF'\nhel", &mut events);
/// parser.push("lo\nEOF\nnpm i -D vitest\n```\n", &mut events);
/// parser.finish(&mut events);
/// assert_eq!(
///     events,
///     [
///         ScofEvent::FileStart { path: "a.txt".into() },
///         ScofEvent::FileChunk { path: "a.txt".into(), chunk: "hel".into() },
///         ScofEvent::FileChunk { path: "a.txt".into(), chunk: "lo\n".into() },
///         ScofEvent::FileEnd { path: "a.txt".into(), content: "hello\n".into(), complete: true },
///         ScofEvent::Install { packages: vec!["vitest".into()], dev: true },
///     ]
/// );
/// ```
#[derive(Debug, Default)]
pub struct ScofParser {
    /// The line being received outside any block, until its `\n` arrives.
    line: String,
    /// The block being read, if any.
    block: Option<Block>,
}

impl ScofParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses the next chunk of the stream, appending the events it completes.
    pub fn push(&mut self, chunk: &str, out: &mut Vec<ScofEvent>) {
        // Text a block gave back to be read again comes before the rest of
        // what was being read; `later` holds those rests, innermost last.
        let mut later: Vec<String> = Vec::new();
        let mut replay = match self.read(chunk, out) {
            None => return,
            Some((replay, rest)) => {
                later.push(rest.to_owned());
                replay
            }
        };
        loop {
            match self.read(&replay, out) {
                Some((again, rest)) => {
                    later.push(rest.to_owned());
                    replay = again;
                }
                None => match later.pop() {
                    Some(next) => replay = next,
                    None => return,
                },
            }
        }
    }

    /// Reads `text` until its end, or until a block ends on a line it gives
    /// back: then returns that text to read first, and the rest of `text`.
    fn read<'a>(&mut self, text: &'a str, out: &mut Vec<ScofEvent>) -> Option<(String, &'a str)> {
        let mut rest = text;
        while !rest.is_empty() {
            match &mut self.block {
                Some(block) => match block.feed(rest) {
                    Feed::Open => {
                        block.emit_chunk(out);
                        return None;
                    }
                    Feed::Closed { used } => {
                        rest = &rest[used..];
                        if let Some(block) = self.block.take() {
                            block.close(out);
                        }
                    }
                    Feed::Split { used, line } => {
                        let block = self.block.take()?;
                        let replay = Self::resolve(block, &line, out);
                        return Some((replay, &rest[used..]));
                    }
                },
                None => match memchr(b'\n', rest.as_bytes()) {
                    Some(end) => {
                        if self.line.is_empty() {
                            self.on_line(&rest[..end], out);
                        } else {
                            let mut line = std::mem::take(&mut self.line);
                            line.push_str(&rest[..end]);
                            self.on_line(&line, out);
                            line.clear();
                            self.line = line;
                        }
                        rest = &rest[end + 1..];
                    }
                    None => {
                        self.line.push_str(rest);
                        return None;
                    }
                },
            }
        }
        None
    }

    /// Ends the stream: handles a last line without a newline, and ends an
    /// open block (see the module doc for how).
    pub fn finish(mut self, out: &mut Vec<ScofEvent>) {
        loop {
            if self.block.is_none() && !self.line.is_empty() {
                let line = std::mem::take(&mut self.line);
                self.on_line(&line, out);
            }
            let Some(block) = self.block.take() else {
                return;
            };
            match block.finish() {
                Finished::Closed(block) => return block.close(out),
                Finished::Split(block, line) => {
                    let replay = Self::resolve(block, &line, out);
                    self.push(&replay, out);
                }
                Finished::Unclosed(block) => {
                    let replay = Self::resolve(block, "", out);
                    self.push(&replay, out);
                }
            }
        }
    }

    /// Ends a block whose marker did not come (see [`Block::resolve`]) and
    /// returns the text to read again, `line` last.
    fn resolve(block: Block, line: &str, out: &mut Vec<ScofEvent>) -> String {
        let mut replay = block.resolve(out);
        replay.push_str(line);
        replay
    }

    /// Handles one complete line outside any block.
    fn on_line(&mut self, line: &str, out: &mut Vec<ScofEvent>) {
        match command::parse_line(line) {
            Some(Command::WriteFile { path, marker }) => {
                out.push(ScofEvent::FileStart { path: path.clone() });
                self.block = Some(Block::new(BlockKind::File, path, marker, line));
            }
            Some(Command::Patch { path, marker }) => {
                self.block = Some(Block::new(BlockKind::Patch, path, marker, line));
            }
            Some(Command::Install { packages, dev }) => {
                out.push(ScofEvent::Install { packages, dev });
            }
            None => {}
        }
    }
}

/// The index of the first `\n` in `bytes`. Lines of code are short: their
/// first 32 bytes are searched 8 at a time, which costs less than a call to
/// `memchr` for each line, and `memchr` searches the rest.
#[inline]
fn find_newline(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    const NEWLINES: u64 = u64::from_ne_bytes([b'\n'; 8]);
    let mut at = 0;
    while at < 32
        && let Some(word) = bytes.get(at..at + 8)
    {
        let word = u64::from_le_bytes(word.try_into().unwrap_or_default()) ^ NEWLINES;
        // The lowest byte flagged is the first zero byte of `word`.
        let zero = word.wrapping_sub(ONES) & !word & HIGH;
        if zero != 0 {
            return Some(at + (zero.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    memchr(b'\n', &bytes[at..]).map(|n| at + n)
}

/// A markdown fence line: three or more `` ` `` or `~`, then an info string.
#[derive(Debug, Clone, Copy)]
struct Fence<'a> {
    /// The info string (` ```tsx ` → `tsx`), trimmed; empty for a bare fence.
    info: &'a str,
}

impl<'a> Fence<'a> {
    /// `line` must already be trimmed.
    fn parse(line: &'a str) -> Option<Self> {
        let info = line
            .strip_prefix("```")
            .map(|rest| rest.trim_start_matches('`'))
            .or_else(|| {
                line.strip_prefix("~~~")
                    .map(|rest| rest.trim_start_matches('~'))
            })?;
        Some(Self {
            info: info.trim_ascii(),
        })
    }

    /// The info string's first word, in lower case.
    fn language(&self) -> String {
        self.info
            .split(|c: char| c.is_ascii_whitespace() || c == '{')
            .next()
            .unwrap_or("")
            .to_ascii_lowercase()
    }

    fn is_markdown(&self) -> bool {
        matches!(self.language().as_str(), "md" | "markdown" | "mdx")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlockKind {
    /// Streams its content as `FileChunk`s, ends with `FileEnd`.
    File,
    /// Collects its diff silently, ends with `Patch`.
    Patch,
}

/// What a block did with the text it was fed.
#[derive(Debug)]
enum Feed {
    /// All of it is the block's.
    Open,
    /// Its marker line ended it after `used` bytes.
    Closed { used: usize },
    /// An opener with the block's own marker (`line`, with its `\n`) ended
    /// it after `used` bytes: the opener belongs to the text after the block.
    Split { used: usize, line: String },
}

/// How a block ended at the end of the stream.
#[derive(Debug)]
enum Finished {
    /// Its last line, without a newline, is its marker.
    Closed(Block),
    /// Its last line, without a newline, is an opener with its own marker.
    Split(Block, String),
    /// No marker came.
    Unclosed(Block),
}

/// What a complete line of a block is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineKind {
    /// The marker, exactly (or after the opener's indentation).
    Close,
    /// An opener with the block's own marker.
    Split,
    /// The marker loosely written: indented, followed by spaces, quoted,
    /// `EOF`, or another marker of its family (`EOF` or `EOF_X` for
    /// `EOF_APP`).
    LooseClose,
    /// An opener with another marker.
    Opener,
    /// A fence line that is only the fence.
    BareFence,
    /// A fence line with an info string.
    InfoFence,
    /// Only spaces and tabs (or nothing).
    Blank,
    Content,
}

/// How much of a line tells what it is (see [`Block::decide`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    /// Whatever follows, the line is content.
    Content,
    /// Only blanks so far.
    Blank,
    /// It may still be a line the rules care about.
    Unknown,
}

/// Where the block ends if its marker never comes.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    /// The length of the body at that point.
    at: usize,
    /// The block ends there complete (a loose marker, a fence), or
    /// incomplete (an opener with another marker).
    complete: bool,
}

/// An open heredoc block.
#[derive(Debug)]
struct Block {
    kind: BlockKind,
    path: String,
    marker: String,
    /// The marker's part before its first `_` (`EOF` for `EOF_APP`); empty
    /// when the marker begins with `_`.
    family: String,
    /// The words a loose marker line may be: the marker, `EOF` and the
    /// family, without repeats.
    words: Vec<String>,
    /// The spaces and tabs before the opener.
    indent: String,
    /// Whether the content is indented like the opener and loses that
    /// indentation; `None` until the first non-blank line tells.
    dedent: Option<bool>,
    /// The file is markdown: fences in it are content, tracked in `in_fence`.
    markdown: bool,
    /// The next complete line is the first of the block.
    first: bool,
    /// The first line was a fence around the content, and was dropped.
    wrapped: bool,
    /// Inside a fence of the (markdown) content.
    in_fence: bool,
    /// Whether a line's first non-blank byte can begin a line the rules care
    /// about.
    special: [bool; 256],
    /// The content known so far.
    body: String,
    /// How much of `body` has gone out as `FileChunk`s.
    emitted: usize,
    /// The current line is content up to its `\n` (its start is in `body`).
    mid_line: bool,
    /// The current line so far, held back while it could still be a line
    /// the rules care about.
    tail: String,
    /// A bare fence line, with the blank lines after it, held back: it is
    /// dropped if the marker comes next, and content otherwise.
    held: Option<String>,
    /// The first place the block ends if its marker never comes.
    candidate: Option<Candidate>,
    /// The text read after `candidate` (or after the held fence), to read
    /// again if the block ends there.
    capture: Option<String>,
}

impl Block {
    fn new(kind: BlockKind, path: String, marker: String, opener: &str) -> Self {
        let indent_len = opener.len() - opener.trim_start_matches([' ', '\t']).len();
        let indent = opener[..indent_len].to_owned();
        let family = marker.split('_').next().unwrap_or_default().to_owned();
        let mut words: Vec<String> = Vec::new();
        for word in [marker.as_str(), "EOF", family.as_str()] {
            if !word.is_empty() && !words.iter().any(|w| w == word) {
                words.push(word.to_owned());
            }
        }
        let mut special = [false; 256];
        for byte in [b'`', b'~', b'c', b'$', b'\'', b'"', b'E'] {
            special[usize::from(byte)] = true;
        }
        if let Some(&byte) = marker.trim_ascii_start().as_bytes().first() {
            special[usize::from(byte)] = true;
        }
        let extension = path.rsplit_once('.').map_or("", |(_, e)| e);
        let markdown = ["md", "mdx", "markdown"]
            .iter()
            .any(|e| extension.eq_ignore_ascii_case(e));
        Self {
            kind,
            dedent: if indent.is_empty() { Some(false) } else { None },
            indent,
            words,
            family,
            path,
            marker,
            markdown,
            first: true,
            wrapped: false,
            in_fence: false,
            special,
            body: String::new(),
            emitted: 0,
            mid_line: false,
            tail: String::new(),
            held: None,
            candidate: None,
            capture: None,
        }
    }

    /// Consumes the start of `s` that belongs to the block.
    fn feed(&mut self, s: &str) -> Feed {
        let bytes = s.as_bytes();
        let mut pos = 0;
        if self.mid_line {
            let Some(n) = find_newline(bytes) else {
                self.add_raw(s);
                return Feed::Open;
            };
            self.add_raw(&s[..=n]);
            self.mid_line = false;
            pos = n + 1;
        }
        if !self.tail.is_empty() {
            match find_newline(&bytes[pos..]) {
                Some(n) => {
                    let mut line = std::mem::take(&mut self.tail);
                    line.push_str(&s[pos..pos + n]);
                    let used = pos + n + 1;
                    if self.is_plain() && self.decide(&line, true) != Seen::Unknown {
                        self.first = false;
                        self.body.push_str(&line);
                        self.body.push('\n');
                        line.clear();
                        self.tail = line;
                        pos = used;
                    } else {
                        match self.line(&line, true) {
                            LineKind::Close => return Feed::Closed { used },
                            LineKind::Split => {
                                line.push('\n');
                                return Feed::Split { used, line };
                            }
                            _ => pos = used,
                        }
                    }
                }
                None => {
                    self.tail.push_str(&s[pos..]);
                    if self.decide(&self.tail, false) == Seen::Content {
                        let tail = std::mem::take(&mut self.tail);
                        self.start_content_line(&tail);
                    }
                    return Feed::Open;
                }
            }
        }
        // Content lines from `run` to `pos`, not yet copied.
        let mut run = pos;
        let mut plain = self.is_plain();
        while pos < s.len() {
            let Some(n) = find_newline(&bytes[pos..]) else {
                if run < pos {
                    self.first = false;
                    self.body.push_str(&s[run..pos]);
                }
                let partial = &s[pos..];
                if self.decide(partial, false) == Seen::Content {
                    self.start_content_line(partial);
                } else {
                    self.tail.push_str(partial);
                }
                return Feed::Open;
            };
            let next = pos + n + 1;
            if plain {
                // `decide`'s first test, inline: most lines stop here.
                let first = bytes[pos..next].iter().find(|b| !b.is_ascii_whitespace());
                if first.is_none_or(|&b| !self.special[usize::from(b)])
                    || self.decide(&s[pos..pos + n], true) != Seen::Unknown
                {
                    pos = next;
                    continue;
                }
            }
            let line = &s[pos..pos + n];
            self.body.push_str(&s[run..pos]);
            if run < pos {
                self.first = false;
            }
            match self.line(line, true) {
                LineKind::Close => return Feed::Closed { used: next },
                LineKind::Split => {
                    return Feed::Split {
                        used: next,
                        line: s[pos..next].to_owned(),
                    };
                }
                _ => {}
            }
            pos = next;
            run = pos;
            plain = self.is_plain();
        }
        if run < pos {
            self.first = false;
            self.body.push_str(&s[run..pos]);
        }
        Feed::Open
    }

    /// The stream ended: the held line, if any, is the block's last.
    fn finish(mut self) -> Finished {
        let tail = std::mem::take(&mut self.tail);
        if !tail.is_empty() {
            match self.line(&tail, false) {
                LineKind::Close => return Finished::Closed(self),
                LineKind::Split => return Finished::Split(self, tail),
                _ => {}
            }
        }
        Finished::Unclosed(self)
    }

    /// No line needs more than a glance: content is copied as it is.
    fn is_plain(&self) -> bool {
        self.dedent == Some(false) && self.capture.is_none() && self.held.is_none()
    }

    /// What the start of a line (without its `\n`; `complete` when it is
    /// the whole line) tells: `Content` only when no line beginning this way
    /// is anything but content, `Blank` for blanks (a complete blank line is
    /// content unless a fence is held back).
    #[inline]
    fn decide(&self, line: &str, complete: bool) -> Seen {
        let bytes = line.as_bytes();
        // Most lines are decided by their first non-blank byte: every line
        // the rules care about, the marker included (a blank marker is not
        // one), has one of the special bytes there. A blank partial line is
        // held back like an undecided one.
        let t = bytes.trim_ascii_start();
        let Some(&first) = t.first() else {
            return Seen::Blank;
        };
        if !self.special[usize::from(first)] {
            return Seen::Content;
        }
        let marker = self.marker.as_bytes();
        let bare = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        let exact = |m: &[u8]| {
            if complete {
                bare == m
            } else {
                m.starts_with(bare) || bytes.strip_prefix(m).is_some_and(|r| r == b"\r")
            }
        };
        let indented = |line: &[u8]| {
            let indent = self.indent.as_bytes();
            if complete {
                line.strip_prefix(indent).is_some_and(|rest| rest == marker)
            } else if line.len() <= indent.len() {
                indent.starts_with(line)
            } else {
                line.strip_prefix(indent)
                    .is_some_and(|rest| marker.starts_with(rest))
            }
        };
        if exact(marker)
            || (!self.indent.is_empty() && indented(if complete { bare } else { bytes }))
        {
            return Seen::Unknown;
        }
        // A fence.
        if matches!(first, b'`' | b'~') && t.iter().take(3).all(|&b| b == first) {
            return Seen::Unknown;
        }
        // An opener, maybe after a `$ ` prompt.
        let command = match t.strip_prefix(b"$") {
            Some([]) => return Seen::Unknown,
            Some([b' ', rest @ ..]) => rest.trim_ascii_start(),
            _ => t,
        };
        match command {
            [] | [b'c'] | [b'c', b'a'] | [b'c', b'a', b't'] => return Seen::Unknown,
            [b'c', b'a', b't', next, ..] if !next.is_ascii_alphanumeric() => {
                return Seen::Unknown;
            }
            _ => {}
        }
        // A loose marker.
        let quote = |b: &u8| matches!(b, b'\'' | b'"' | b'`');
        let q = &t[t.iter().take_while(|b| quote(b)).count()..];
        let ends_word = |rest: &[u8]| rest.iter().all(|b| b.is_ascii_whitespace() || quote(b));
        let family = self.family.as_bytes();
        for word in &self.words {
            let word = word.as_bytes();
            if q.first().is_some_and(|b| Some(b) != word.first()) {
                continue;
            }
            if q.len() <= word.len() {
                if word.starts_with(q) {
                    return Seen::Unknown;
                }
            } else if q.strip_prefix(word).is_some_and(ends_word) {
                return Seen::Unknown;
            }
        }
        if !family.is_empty()
            && let Some(rest) = q.strip_prefix(family).and_then(|r| r.strip_prefix(b"_"))
        {
            let word = rest
                .iter()
                .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
                .count();
            if ends_word(&rest[word..]) && (word > 0 || !complete) {
                return Seen::Unknown;
            }
        }
        Seen::Content
    }

    /// What a complete line (without its `\n`) is.
    fn classify(&self, line: &str) -> LineKind {
        let bare = line.strip_suffix('\r').unwrap_or(line);
        if bare == self.marker
            || (bare.len() == self.indent.len() + self.marker.len()
                && bare.starts_with(&self.indent)
                && bare.ends_with(&self.marker))
        {
            return LineKind::Close;
        }
        let t = bare.trim_ascii();
        if t.is_empty() {
            return LineKind::Blank;
        }
        if let Some(fence) = Fence::parse(t) {
            return if fence.info.is_empty() {
                LineKind::BareFence
            } else {
                LineKind::InfoFence
            };
        }
        if (t.starts_with("cat") || t.starts_with('$'))
            && let Some(Command::WriteFile { marker, .. } | Command::Patch { marker, .. }) =
                command::parse_line(bare)
        {
            return if marker == self.marker {
                LineKind::Split
            } else {
                LineKind::Opener
            };
        }
        let word = t.trim_matches(['\'', '"', '`']);
        let family = self.family.as_str();
        let of_family = !family.is_empty()
            && word
                .strip_prefix(family)
                .and_then(|r| r.strip_prefix('_'))
                .is_some_and(|r| {
                    !r.is_empty() && r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                });
        if word == self.marker
            || word == "EOF"
            || (!family.is_empty() && word == family)
            || of_family
        {
            return LineKind::LooseClose;
        }
        LineKind::Content
    }

    /// Handles a complete line (`newline`: followed by `\n`, false for the
    /// last line of the stream). Returns its kind; on `Close` and `Split`
    /// the line is not part of the block.
    fn line(&mut self, raw: &str, newline: bool) -> LineKind {
        let kind = self.classify(raw);
        if matches!(kind, LineKind::Close | LineKind::Split) {
            return kind;
        }
        let capturing = self.capture.is_some();
        let first = std::mem::replace(&mut self.first, false);
        let content = self.dedented(raw, kind != LineKind::Blank);
        let push = |to: &mut String| {
            to.push_str(content);
            if newline {
                to.push('\n');
            }
        };
        if kind == LineKind::Blank {
            push(self.held.as_mut().unwrap_or(&mut self.body));
        } else {
            self.release_held();
            match kind {
                LineKind::LooseClose | LineKind::Opener => {
                    let complete = kind == LineKind::LooseClose;
                    if self.candidate.is_none() {
                        self.candidate = Some(Candidate {
                            at: self.body.len(),
                            complete,
                        });
                    }
                    if self.capture.is_none() {
                        // An opener is read again; after a loose marker,
                        // only what follows it.
                        let mut capture = String::new();
                        if !complete {
                            capture.push_str(raw);
                            if newline {
                                capture.push('\n');
                            }
                        }
                        self.capture = Some(capture);
                    }
                    push(&mut self.body);
                }
                LineKind::BareFence if self.markdown && self.in_fence => {
                    self.in_fence = false;
                    push(&mut self.body);
                }
                LineKind::BareFence | LineKind::InfoFence
                    if first && (!self.markdown || self.fence_is_markdown(raw)) =>
                {
                    self.wrapped = true;
                }
                LineKind::BareFence => {
                    let mut held = String::new();
                    push(&mut held);
                    self.held = Some(held);
                    self.capture.get_or_insert_with(String::new);
                }
                LineKind::InfoFence => {
                    if self.markdown {
                        self.in_fence = true;
                    }
                    push(&mut self.body);
                }
                _ => push(&mut self.body),
            }
        }
        if capturing && let Some(capture) = &mut self.capture {
            capture.push_str(raw);
            if newline {
                capture.push('\n');
            }
        }
        kind
    }

    fn fence_is_markdown(&self, raw: &str) -> bool {
        Fence::parse(raw.trim_ascii()).is_some_and(|f| f.is_markdown())
    }

    /// A held fence followed by a non-blank line that is not the marker is
    /// content, and the first place where the block may have ended.
    fn release_held(&mut self) {
        if let Some(held) = self.held.take() {
            if self.candidate.is_none() {
                self.candidate = Some(Candidate {
                    at: self.body.len(),
                    complete: true,
                });
            }
            self.body.push_str(&held);
            if self.markdown {
                // A bare fence outside a fence opens one.
                self.in_fence = true;
            }
        }
    }

    /// `raw` without the opener's indentation, when the content has it.
    /// The first non-blank line decides.
    fn dedented<'a>(&mut self, raw: &'a str, non_blank: bool) -> &'a str {
        if self.indent.is_empty() {
            return raw;
        }
        if self.dedent.is_none() && non_blank {
            self.dedent = Some(raw.starts_with(&self.indent));
        }
        match raw.strip_prefix(&self.indent) {
            Some(rest) if self.dedent != Some(false) => rest,
            _ => raw,
        }
    }

    /// The start of a line known to be content (not blank), whose `\n` has
    /// not arrived.
    fn start_content_line(&mut self, raw: &str) {
        let capturing = self.capture.is_some();
        self.first = false;
        self.release_held();
        let content = self.dedented(raw, true);
        self.body.push_str(content);
        if capturing && let Some(capture) = &mut self.capture {
            capture.push_str(raw);
        }
        self.mid_line = true;
    }

    /// More of a content line, up to and with its `\n`.
    fn add_raw(&mut self, text: &str) {
        self.body.push_str(text);
        if let Some(capture) = &mut self.capture {
            capture.push_str(text);
        }
    }

    /// Emits the content received since the last `FileChunk`, if any: all
    /// of it, or up to where the block may end.
    fn emit_chunk(&mut self, out: &mut Vec<ScofEvent>) {
        let known = self.candidate.map_or(self.body.len(), |c| c.at);
        if self.kind == BlockKind::File && self.emitted < known {
            out.push(ScofEvent::FileChunk {
                path: self.path.clone(),
                chunk: self.body[self.emitted..known].to_owned(),
            });
            self.emitted = known;
        }
    }

    /// The marker came: everything before it is content, except a held
    /// fence around the content.
    fn close(mut self, out: &mut Vec<ScofEvent>) {
        if let Some(held) = self.held.take()
            && self.markdown
            && !self.wrapped
        {
            self.body.push_str(&held);
        }
        self.candidate = None;
        self.end(true, out);
    }

    /// The marker did not come: the block ends at its first candidate end
    /// (or at a held fence), or else it is incomplete with everything.
    /// Returns the text after that end, to read again.
    fn resolve(mut self, out: &mut Vec<ScofEvent>) -> String {
        let complete = match self.candidate.take() {
            Some(candidate) => {
                self.body.truncate(candidate.at);
                candidate.complete
            }
            None => self.held.take().is_some(),
        };
        let replay = self.capture.take().unwrap_or_default();
        self.end(complete, out);
        replay
    }

    /// Emits the block's final events.
    fn end(mut self, complete: bool, out: &mut Vec<ScofEvent>) {
        self.emit_chunk(out);
        out.push(match self.kind {
            BlockKind::File => ScofEvent::FileEnd {
                path: self.path,
                content: self.body,
                complete,
            },
            BlockKind::Patch => ScofEvent::Patch {
                path: self.path,
                diff: self.body,
                complete,
            },
        });
    }
}
