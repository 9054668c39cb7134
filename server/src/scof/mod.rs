//! SCOF: the shell-heredoc format models use to write files, and its
//! streaming parser.
//!
//! The implementer asks the model to answer with shell commands such as
//!
//! ```text
//! cat > src/App.tsx << 'EOF'
//! …the whole file…
//! EOF
//! cat << 'EOF' | patch src/main.tsx
//! …a unified diff…
//! EOF
//! npm install react-router-dom zod
//! npm install -D @types/node
//! ```
//!
//! usually wrapped in markdown fences and surrounded by prose. [`ScofParser`]
//! turns that text, fed in arbitrary chunks as it streams in, into
//! [`ScofEvent`]s; [`apply_patch`] applies the diff of a patch block.
//!
//! # What the parser accepts
//!
//! Outside a block, each line is trimmed (and a leading `$ ` prompt dropped)
//! and then matched against these commands; every other line — prose,
//! markdown fences, other shell commands — is ignored:
//!
//! * `cat > PATH << MARKER` opens a **file block**. The redirections may come
//!   in either order (`cat << MARKER > PATH`), with or without spaces
//!   (`cat >PATH <<'EOF'`), and PATH and MARKER may be bare or quoted with
//!   `'…'` or `"…"`.
//! * `cat << MARKER | patch [-OPTIONS…] PATH` opens a **patch block**; the
//!   options (e.g. `-p1`) are ignored.
//! * `npm install|i|add`, `pnpm add|install|i`, `yarn add`, `bun add|install|i`
//!   followed by package names is an **install**, if every argument is a
//!   flag (`-D`, `-S`, `-E`… or any `--long-option`) or a package spec
//!   (`name`, `@scope/name`, lower case, each part beginning and ending with
//!   a letter or digit, optionally `@version-or-range`), and none is a
//!   common English word (`if`, `you`, `later`…): "npm install zod later if
//!   you want" is a sentence and installs nothing. `-D`, `--save-dev` or
//!   `--dev` makes it a dev install, other flags are dropped, and the
//!   command ends at a shell operator (`&&`, `;`, `|`…) or a `#` comment. A
//!   bare `npm install` (no package) emits nothing.
//!
//! `<<-MARKER` (a tab-stripping heredoc) is read as `<<MARKER`: the content
//! is kept as written (a file's own tabs are not stripped) and the
//! tab-indented marker line a model writes after it is a loose marker, which
//! ends the block (see below).
//!
//! Not supported (the line is treated as prose): `cat >> PATH` (append), a
//! blank marker, and a patch command without a PATH.
//!
//! A well-formed block is read exactly as a shell would: every byte is
//! content until a line that is exactly the block's MARKER (a trailing `\r`
//! is allowed). The marker is per block, so a file opened with `'EOF_PKG'`
//! may contain a line `EOF`. A file's content is everything between the
//! opener line and the marker line, including the newline that precedes the
//! marker line. So a file written through a heredoc is either empty or ends
//! with a newline: a heredoc cannot express a file without a final newline
//! (the same holds for a real shell). Use a patch with `\ No newline at end
//! of file` for that.
//!
//! # Reading what models get wrong
//!
//! Models do not always write well-formed blocks. The parser recovers what a
//! human reader would, never stores a fence or prose line the rules below
//! recognise as such, and never changes what a well-formed answer gives —
//! except for the few contents listed under each rule, which no model means
//! to write. The same rules apply to patch blocks.
//!
//! * **Indented answers.** When the opener line is indented (the whole
//!   answer copied from an indented example, or put in a list), the
//!   opener's indentation is the block's: if the first non-blank content
//!   line starts with it, it is removed from every content line that has it;
//!   otherwise the content is kept as it is. Either way the marker line may
//!   carry it (`    EOF` closes a block opened by `    cat > …`). *Given
//!   up:* content of a block opened by an indented opener whose lines all
//!   have that indentation loses it, and a line equal to that indentation
//!   followed by the marker ends the block.
//! * **Fences around the content.** A fence line (` ```tsx `, ` ``` `,
//!   `~~~`) as the first content line wraps the content: it is dropped. In a
//!   markdown file (`.md`, `.mdx`, `.markdown`) only ` ```md `,
//!   ` ```markdown ` and ` ```mdx ` count, since a readme may start with a
//!   code block. A bare fence (` ``` ` alone) followed by nothing but blank
//!   lines and the marker is dropped too (with those blank lines) — in a
//!   markdown file only if the first line was a wrapping fence and the bare
//!   fence does not close a fence of the content. *Given up:* a code file
//!   (not markdown) whose first line, or whose last non-blank line, is a
//!   fence.
//! * **A new opener with the block's own marker** (`cat > b.ts << 'EOF'`
//!   inside a block opened with `'EOF'`) ends the open block, incomplete
//!   (the model forgot its marker; the partial file is reported, not merged
//!   with the next one), and opens the new block. A block's content cannot
//!   hold such a line in a real shell either without ending there (its
//!   nested heredoc would end at the outer block's marker), so a script that
//!   really contains one is not something a model writes. *Given up:* such a
//!   line as content.
//! * **The marker never comes.** Some lines are where a human would say the
//!   block ended, but legitimately appear in files too; the parser notes the
//!   first of them and reads on:
//!   - the marker loosely written: indented or followed by spaces
//!     (`  EOF `), quoted (`'EOF'`), plain `EOF` after `<< 'EOF_APP'`, or
//!     another marker of the same family (`EOF`, `EOF_CSS` after
//!     `'EOF_APP'`) — the block would end **complete** before it;
//!   - a bare fence that does not close a fence of the (markdown) content:
//!     the fence around the block, closing it instead of its marker — the
//!     block would end **complete** before it;
//!   - an opener with another marker: a forgotten marker, or a nested
//!     heredoc of a script — the block would end **incomplete** before it.
//!
//!   If the block's exact marker comes later, all of it was content, as in
//!   a shell. If instead an opener with the block's own marker comes (rule
//!   above) or the stream ends, the block ends at the first noted line, as
//!   stated, and the text after that line is read again as text outside the
//!   block (so a following file, install or block is found). Why
//!   look-ahead rather than a guess on the line itself: every one of these
//!   lines is legal content (a readme shows a bare fence, a script nests a
//!   heredoc with another marker, a file's text says `EOF`), and a
//!   well-formed answer always ends its block with the exact marker, so
//!   waiting for it keeps well-formed answers exact; only a broken answer
//!   pays, by seeing the rest of that block's content later. Reading the
//!   text again costs at most the length of the answer per such block.
//!
//! Reasoning blocks (`<think>…</think>`) never reach the parser: the caller
//! removes them first ([`crate::llm::reasoning`]).
//!
//! # Events and end of stream
//!
//! See [`ScofEvent`] for when each event is emitted. A file's content goes
//! out as soon as it is known to be content: a line is held back only while
//! it could still be one of the lines above, and everything after a noted
//! line is held back until the block's end is known. At the end of the
//! stream [`ScofParser::finish`]:
//!
//! * closes a block whose last line is exactly the marker with no newline
//!   after it, as if the newline had arrived (models often stop right there);
//! * ends a block at its first noted line, as above, if it has one;
//! * otherwise flushes an open file block as `FileEnd { complete: false }`
//!   with everything received, including a held-back partial line, and an
//!   open patch block as `Patch { complete: false }` — the caller must not
//!   apply it;
//! * handles a last unterminated line outside a block like any other line.
//!
//! The parser never validates paths (the server resolves paths inside the
//! workspace and checks names before running npm), never panics, and keeps
//! each block's content in memory until the block ends, so the caller should
//! bound the length of the stream it feeds.

mod command;
mod parser;
mod patch;

pub use parser::ScofParser;
pub use patch::{PatchError, apply_patch};

/// What the parser found in the model's output, in stream order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScofEvent {
    /// A file block opened; emitted as soon as its opener line is complete.
    FileStart { path: String },
    /// More content of the open file, emitted as soon as it is known to be
    /// content (see the module doc). Never empty. Concatenating a file's
    /// chunks gives its `FileEnd` content.
    FileChunk { path: String, chunk: String },
    /// The file block ended: `complete` is true when its marker line arrived
    /// (or a line standing for it, see the module doc), false when the
    /// stream ended inside the block or a new opener cut it short (`content`
    /// is then everything received, and the file should not be trusted).
    FileEnd {
        path: String,
        content: String,
        complete: bool,
    },
    /// A patch block ended. `diff` is its body, for [`apply_patch`];
    /// `complete` is false when the stream ended inside the block or a new
    /// opener cut it short.
    Patch {
        path: String,
        diff: String,
        complete: bool,
    },
    /// An install command: the packages as written (`react@^18` keeps its
    /// version), and whether they are dev dependencies.
    Install { packages: Vec<String>, dev: bool },
}
