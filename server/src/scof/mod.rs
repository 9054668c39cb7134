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
//!   followed by package names is an **install**; `-D`, `--save-dev` or
//!   `--dev` anywhere makes it a dev install, other flags are dropped, and
//!   the command ends at a shell operator (`&&`, `;`, `|`…) or a `#` comment.
//!   A bare `npm install` (no package) emits nothing.
//!
//! Not supported (the line is treated as prose): `cat >> PATH` (append),
//! `<<-MARKER` (tab-stripping heredocs), an empty marker, and a patch
//! command without a PATH.
//!
//! Inside a block every byte is content, until a line that is exactly the
//! block's MARKER (a trailing `\r` is allowed, nothing else: no leading or
//! trailing spaces). The marker is per block, so a file opened with
//! `'EOF_PKG'` may contain a line `EOF`.
//!
//! A file's content is everything between the opener line and the marker
//! line, including the newline that precedes the marker line. So a file
//! written through a heredoc is either empty or ends with a newline: a
//! heredoc cannot express a file without a final newline (the same holds for
//! a real shell). Use a patch with `\ No newline at end of file` for that.
//!
//! # Events and end of stream
//!
//! See [`ScofEvent`] for when each event is emitted. At the end of the stream
//! [`ScofParser::finish`]:
//!
//! * closes a block whose last line is exactly the marker with no newline
//!   after it, as if the newline had arrived (models often stop right there);
//! * otherwise flushes an open file block as `FileEnd { complete: false }`
//!   with everything received, including a held-back partial line, and an
//!   open patch block as `Patch { complete: false }` — the caller must not
//!   apply it;
//! * handles a last unterminated line outside a block like any other line.
//!
//! The parser never validates paths or package names (the server resolves
//! paths inside the workspace and checks names before running npm), never
//! panics, and keeps each block's content in memory until the block ends, so
//! the caller should bound the length of the stream it feeds.

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
    /// More content of the open file, emitted as soon as it is known not to
    /// be part of the marker line. Never empty. Concatenating a file's chunks
    /// gives its `FileEnd` content.
    FileChunk { path: String, chunk: String },
    /// The file block ended: `complete` is true when its marker line arrived,
    /// false when the stream ended inside the block (`content` is then
    /// everything received, and the file should not be trusted).
    FileEnd {
        path: String,
        content: String,
        complete: bool,
    },
    /// A patch block ended. `diff` is its body, for [`apply_patch`];
    /// `complete` is false when the stream ended inside the block.
    Patch {
        path: String,
        diff: String,
        complete: bool,
    },
    /// An install command: the packages as written (`react@^18` keeps its
    /// version), and whether they are dev dependencies.
    Install { packages: Vec<String>, dev: bool },
}
