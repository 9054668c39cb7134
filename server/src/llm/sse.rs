//! An incremental Server-Sent Events decoder.
//!
//! Providers stream their answers as SSE; the network splits the bytes
//! anywhere (inside a line, inside a UTF-8 character), so the decoder keeps
//! what it has not yet seen the end of and yields an event only when its
//! blank line arrives. Comment lines (`: keep-alive`) and `id`/`retry` fields
//! are skipped.

/// One complete event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field; empty when absent (the SSE default is `message`).
    pub event: String,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
}

#[derive(Default)]
pub struct SseDecoder {
    /// Bytes after the last complete line.
    partial: Vec<u8>,
    event: String,
    data: Vec<String>,
    has_field: bool,
}

impl SseDecoder {
    /// Feeds bytes; returns the events they complete.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        self.partial.extend_from_slice(bytes);
        let mut out = Vec::new();
        let mut start = 0;
        while let Some(pos) = memchr::memchr(b'\n', &self.partial[start..]) {
            let end = start + pos;
            let mut line = &self.partial[start..end];
            if line.last() == Some(&b'\r') {
                line = &line[..line.len() - 1];
            }
            let line = String::from_utf8_lossy(line).into_owned();
            start = end + 1;
            if let Some(event) = self.line(&line) {
                out.push(event);
            }
        }
        self.partial.drain(..start);
        out
    }

    /// The end of the stream: an event not closed by a blank line still counts.
    pub fn finish(&mut self) -> Option<SseEvent> {
        if !self.partial.is_empty() {
            let line = String::from_utf8_lossy(&std::mem::take(&mut self.partial)).into_owned();
            let line = line.trim_end_matches('\r').to_string();
            if let Some(event) = self.line(&line) {
                return Some(event);
            }
        }
        self.dispatch()
    }

    fn line(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            return self.dispatch();
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => {
                self.event = value.to_string();
                self.has_field = true;
            }
            "data" => {
                self.data.push(value.to_string());
                self.has_field = true;
            }
            _ => {}
        }
        None
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        if !self.has_field {
            return None;
        }
        self.has_field = false;
        let event = SseEvent {
            event: std::mem::take(&mut self.event),
            data: self.data.join("\n"),
        };
        self.data.clear();
        if event.data.is_empty() && event.event.is_empty() {
            None
        } else {
            Some(event)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8], split: usize) -> Vec<SseEvent> {
        let mut d = SseDecoder::default();
        let mut out = Vec::new();
        for chunk in input.chunks(split.max(1)) {
            out.extend(d.push(chunk));
        }
        out.extend(d.finish());
        out
    }

    #[test]
    fn any_split_gives_the_same_events() {
        let input = "event: a\ndata: {\"x\":\"é\"}\n\n: keep-alive\n\ndata: one\r\ndata: two\r\n\r\ndata: [DONE]\n\n".as_bytes();
        let whole = all(input, input.len());
        assert_eq!(
            whole,
            vec![
                SseEvent {
                    event: "a".into(),
                    data: "{\"x\":\"é\"}".into()
                },
                SseEvent {
                    event: String::new(),
                    data: "one\ntwo".into()
                },
                SseEvent {
                    event: String::new(),
                    data: "[DONE]".into()
                },
            ]
        );
        for split in 1..input.len() {
            assert_eq!(all(input, split), whole, "split at {split}");
        }
    }

    #[test]
    fn an_unterminated_last_event_is_flushed() {
        assert_eq!(
            all(b"data: tail", 3),
            vec![SseEvent {
                event: String::new(),
                data: "tail".into()
            }]
        );
    }
}
