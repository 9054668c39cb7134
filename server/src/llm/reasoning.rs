//! Reasoning text that models write into their answers.
//!
//! Reasoning models served through OpenAI-compatible endpoints (DeepSeek-R1,
//! Qwen3, QwQ on Ollama, llama.cpp or LiteLLM) often return their thinking
//! inline, as `<think>…</think>` (or `<thinking>`, `<reasoning>`) before the
//! answer; some servers drop the opening tag and send only `…</think>`. The
//! thinking holds drafts — half a `cat >` line, a JSON object with the wrong
//! fields — that must never be read as the answer. [`strip`] removes it from
//! a whole answer; [`Filter`] does the same on a stream, chunk by chunk.

/// The tags that open a reasoning block, in lower case.
const OPEN: [&str; 3] = ["<think>", "<thinking>", "<reasoning>"];
/// The matching closing tags.
const CLOSE: [&str; 3] = ["</think>", "</thinking>", "</reasoning>"];

/// The answer without its reasoning blocks. A block left open runs to the
/// end (the answer is all thinking); a closing tag with no opening one
/// (servers that strip the opening tag) ends reasoning that began at the
/// start of the answer.
pub fn strip(answer: &str) -> String {
    let mut filter = Filter::default();
    let mut out = filter.push(answer);
    out.push_str(&filter.finish());
    out
}

/// Streaming [`strip`]: feed chunks as they arrive; text is passed on as
/// soon as it cannot be part of a tag or of reasoning.
///
/// Until the answer has visibly begun, text is held back: if a closing tag
/// then arrives with no opening one (the server dropped it), what was held
/// was reasoning and is dropped. The answer has begun at the first line that
/// starts a file (`cat `) outside a reasoning block; from there on
/// everything passes unchanged, so a file whose content mentions `<think>`
/// is stored exactly (models think before they answer, not between files).
/// Holding back prose costs nothing: clients see files, and files start at
/// such a line.
#[derive(Debug, Default)]
pub struct Filter {
    /// Inside a reasoning block, waiting for this closing tag.
    inside: Option<&'static str>,
    /// Text not yet passed on: a possible partial tag, or (before the answer
    /// began) everything so far.
    pending: String,
    /// The answer has begun: everything passes unchanged.
    begun: bool,
}

impl Filter {
    /// Takes the next chunk; returns the answer text it can pass on now.
    pub fn push(&mut self, chunk: &str) -> String {
        if self.begun {
            let mut out = std::mem::take(&mut self.pending);
            out.push_str(chunk);
            return out;
        }
        self.pending.push_str(chunk);
        let mut out = String::new();
        loop {
            let lower = self.pending.to_ascii_lowercase();
            if let Some(close) = self.inside {
                match lower.find(close) {
                    Some(at) => {
                        self.pending.drain(..at + close.len());
                        self.inside = None;
                        continue;
                    }
                    None => {
                        // Keep only what could be the start of the closing tag.
                        let keep = partial_suffix(&lower, &[close]);
                        let cut = self.pending.len() - keep;
                        self.pending.drain(..cut);
                        return out;
                    }
                }
            }
            let open = OPEN
                .iter()
                .zip(CLOSE)
                .filter_map(|(o, c)| lower.find(o).map(|at| (at, o.len(), c)))
                .min_by_key(|(at, _, _)| *at);
            let stray = CLOSE
                .iter()
                .filter_map(|c| lower.find(c).map(|at| (at, c.len())))
                .min_by_key(|(at, _)| *at);
            let file = starts_a_file(&self.pending);
            let first_tag = open
                .map(|(at, ..)| at)
                .into_iter()
                .chain(stray.map(|(at, _)| at))
                .min();
            if let Some(at) = file
                && first_tag.is_none_or(|t| at < t)
            {
                // The answer began before any tag: pass everything on.
                self.begun = true;
                out.push_str(&std::mem::take(&mut self.pending));
                return out;
            }
            if let Some((at, len)) = stray
                && open.is_none_or(|(o, _, _)| at < o)
            {
                // A closing tag with no opening one: all of it was reasoning.
                self.pending.drain(..at + len);
                continue;
            }
            if let Some((at, len, close)) = open {
                // What precedes the block is answer text.
                out.push_str(&self.pending[..at]);
                self.pending.drain(..at + len);
                self.inside = Some(close);
                continue;
            }
            // Prose before the answer: held, in case a closing tag follows.
            return out;
        }
    }

    /// The end of the answer: whatever was held back, unless it is inside
    /// an unclosed reasoning block.
    pub fn finish(&mut self) -> String {
        let rest = std::mem::take(&mut self.pending);
        if self.inside.is_some() {
            String::new()
        } else {
            rest
        }
    }
}

/// Where a line starting a file (`cat `, after optional indentation) begins.
/// (Held prose is rescanned per chunk; it is the few lines before the first
/// file, so this stays small.)
fn starts_a_file(text: &str) -> Option<usize> {
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        if line.trim_start().starts_with("cat ") {
            return Some(at);
        }
        at += line.len();
    }
    None
}

/// How many bytes at the end of `text` could begin one of `tags`.
fn partial_suffix(text: &str, tags: &[&str]) -> usize {
    let mut longest = 0;
    for tag in tags {
        for len in 1..tag.len().min(text.len() + 1) {
            let start = text.len() - len;
            if text.is_char_boundary(start) && tag.starts_with(&text[start..]) {
                longest = longest.max(len);
            }
        }
    }
    longest
}

#[cfg(test)]
mod tests {
    use super::*;

    fn streamed(answer: &str, size: usize) -> String {
        let mut filter = Filter::default();
        let mut out = String::new();
        let chars: Vec<char> = answer.chars().collect();
        for piece in chars.chunks(size) {
            out.push_str(&filter.push(&piece.iter().collect::<String>()));
        }
        out.push_str(&filter.finish());
        out
    }

    #[test]
    fn reasoning_blocks_never_reach_the_answer() {
        let answer = "<think>\nI could write cat > src/App.tsx << 'EOF' with { braces }\n</think>\ncat > a.txt << 'EOF'\nhi\nEOF\n";
        for size in [1, 2, 3, 7, 64, 4096] {
            let out = streamed(answer, size);
            assert_eq!(out, "\ncat > a.txt << 'EOF'\nhi\nEOF\n", "chunks of {size}");
        }
        assert_eq!(
            strip("A<Thinking>x</THINKING>B<reasoning>y</reasoning>C"),
            "ABC"
        );
    }

    #[test]
    fn a_dropped_opening_tag_still_hides_the_reasoning() {
        // Qwen3/QwQ templates put `<think>` in the prompt: the answer starts
        // inside the block and only closes it.
        let answer = "Okay, the user wants {x}. cat maybe?\n</think>\n\n{\"name\": \"A\"}";
        for size in [1, 5, 4096] {
            assert_eq!(
                streamed(answer, size),
                "\n\n{\"name\": \"A\"}",
                "chunks of {size}"
            );
        }
    }

    #[test]
    fn answers_without_reasoning_pass_unchanged() {
        let answer =
            "Here you go.\ncat > src/x.ts << 'EOF'\nconst a = 1 < 2 && b > c; // <thin\nEOF\n";
        for size in [1, 3, 4096] {
            assert_eq!(streamed(answer, size), answer, "chunks of {size}");
        }
        assert_eq!(strip("plain {json}"), "plain {json}");
        // An unclosed block is all reasoning.
        assert_eq!(strip("x<think>never closed"), "x");
    }
}
