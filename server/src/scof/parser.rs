//! The streaming parser: text chunks in, [`ScofEvent`]s out.
//!
//! Outside a block the parser collects one line at a time and hands complete
//! lines to [`command::parse_line`]. Inside a block it must find the marker
//! line without looking at every byte: it searches each chunk for `\n` +
//! MARKER with a precomputed `memmem` finder, and only the last, unfinished
//! line of a chunk is held back when it could still become the marker line.
//! Content is copied once into the block's body and once into the emitted
//! chunk, and apart from that last line (at most the marker's length plus
//! two bytes are ever held back) nothing is scanned twice.

use memchr::memmem::Finder;
use memchr::{memchr, memrchr};

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
        let mut rest = chunk;
        while !rest.is_empty() {
            match &mut self.block {
                Some(block) => match block.feed(rest) {
                    Some(used) => {
                        rest = &rest[used..];
                        if let Some(block) = self.block.take() {
                            block.close(true, out);
                        }
                    }
                    None => {
                        block.emit_chunk(out);
                        return;
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
                        return;
                    }
                },
            }
        }
    }

    /// Ends the stream: handles a last line without a newline, and closes an
    /// open block (complete only if that last line is its marker).
    pub fn finish(mut self, out: &mut Vec<ScofEvent>) {
        if self.block.is_none() && !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.on_line(&line, out);
        }
        if let Some(mut block) = self.block.take() {
            let tail = std::mem::take(&mut block.tail);
            let is_marker = tail.strip_suffix('\r').unwrap_or(&tail) == block.marker;
            if !is_marker {
                block.body.push_str(&tail);
            }
            block.close(is_marker, out);
        }
    }

    /// Handles one complete line outside any block.
    fn on_line(&mut self, line: &str, out: &mut Vec<ScofEvent>) {
        match command::parse_line(line) {
            Some(Command::WriteFile { path, marker }) => {
                out.push(ScofEvent::FileStart { path: path.clone() });
                self.block = Some(Block::new(BlockKind::File, path, marker));
            }
            Some(Command::Patch { path, marker }) => {
                self.block = Some(Block::new(BlockKind::Patch, path, marker));
            }
            Some(Command::Install { packages, dev }) => {
                out.push(ScofEvent::Install { packages, dev });
            }
            None => {}
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlockKind {
    /// Streams its content as `FileChunk`s, ends with `FileEnd`.
    File,
    /// Collects its diff silently, ends with `Patch`.
    Patch,
}

/// An open heredoc block.
#[derive(Debug)]
struct Block {
    kind: BlockKind,
    path: String,
    marker: String,
    /// Finds `\n` + marker: the only places where a later line of a chunk can
    /// be the marker line.
    finder: Finder<'static>,
    /// The content known so far (never includes `tail`).
    body: String,
    /// How much of `body` has gone out as `FileChunk`s.
    emitted: usize,
    /// The current line so far, held back because it could still turn out
    /// to be the marker line. Only meaningful when `candidate` is true.
    tail: String,
    /// True when the current line (in `tail`; empty at a line start) is
    /// still a prefix of the marker line; false once the current line is
    /// known to be content, so the rest of it up to `\n` is content too.
    candidate: bool,
}

/// How the text at a line start compares with the marker line.
enum MarkerLine {
    /// It is the marker line, `len` bytes long including its `\n`.
    Complete { len: usize },
    /// It ends before deciding: everything is a prefix of `MARKER\r\n`.
    Prefix,
    /// It is a content line.
    No,
}

impl Block {
    fn new(kind: BlockKind, path: String, marker: String) -> Self {
        let needle = format!("\n{marker}");
        Self {
            kind,
            path,
            finder: Finder::new(needle.as_bytes()).into_owned(),
            marker,
            body: String::new(),
            emitted: 0,
            tail: String::new(),
            candidate: true,
        }
    }

    /// Consumes `s`; returns how many bytes of it were used when the marker
    /// line ended the block (the rest follows the block), `None` when all of
    /// `s` belongs to the block.
    fn feed(&mut self, s: &str) -> Option<usize> {
        let bytes = s.as_bytes();
        if !self.tail.is_empty() {
            // Only the first `marker + \r\n` bytes can decide the held-back line.
            let decisive = (self.marker.len() + 2)
                .saturating_sub(self.tail.len())
                .min(bytes.len());
            let mut probe = Vec::with_capacity(self.tail.len() + decisive);
            probe.extend_from_slice(self.tail.as_bytes());
            probe.extend_from_slice(&bytes[..decisive]);
            match self.marker_line(&probe) {
                MarkerLine::Complete { len } => return Some(len - self.tail.len()),
                MarkerLine::Prefix => {
                    self.tail.push_str(s);
                    return None;
                }
                MarkerLine::No => {
                    self.body.push_str(&self.tail);
                    self.tail.clear();
                    self.candidate = false;
                }
            }
        }
        // `pos` is always the start of a line that must be checked.
        let mut pos = if self.candidate {
            0
        } else {
            match memchr(b'\n', bytes) {
                Some(end) => end + 1,
                None => {
                    self.body.push_str(s);
                    return None;
                }
            }
        };
        loop {
            match self.marker_line(&bytes[pos..]) {
                MarkerLine::Complete { len } => {
                    self.body.push_str(&s[..pos]);
                    return Some(pos + len);
                }
                MarkerLine::Prefix => {
                    self.body.push_str(&s[..pos]);
                    self.tail.push_str(&s[pos..]);
                    self.candidate = true;
                    return None;
                }
                MarkerLine::No => {}
            }
            // The next line that starts with the marker; failing that, the
            // last line, which may be a prefix shorter than the marker.
            let rest = &bytes[pos..];
            match self.finder.find(rest).or_else(|| memrchr(b'\n', rest)) {
                Some(newline) => pos += newline + 1,
                None => {
                    self.body.push_str(s);
                    self.candidate = false;
                    return None;
                }
            }
        }
    }

    /// Compares the text at a line start with `MARKER\n` / `MARKER\r\n`.
    fn marker_line(&self, line: &[u8]) -> MarkerLine {
        let marker = self.marker.as_bytes();
        let Some(after) = line.strip_prefix(marker) else {
            return if marker.starts_with(line) {
                MarkerLine::Prefix
            } else {
                MarkerLine::No
            };
        };
        match after {
            [] | [b'\r'] => MarkerLine::Prefix,
            [b'\n', ..] => MarkerLine::Complete {
                len: marker.len() + 1,
            },
            [b'\r', b'\n', ..] => MarkerLine::Complete {
                len: marker.len() + 2,
            },
            _ => MarkerLine::No,
        }
    }

    /// Emits the content received since the last `FileChunk`, if any.
    fn emit_chunk(&mut self, out: &mut Vec<ScofEvent>) {
        if self.kind == BlockKind::File && self.emitted < self.body.len() {
            out.push(ScofEvent::FileChunk {
                path: self.path.clone(),
                chunk: self.body[self.emitted..].to_owned(),
            });
            self.emitted = self.body.len();
        }
    }

    /// Emits the block's final events.
    fn close(mut self, complete: bool, out: &mut Vec<ScofEvent>) {
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
