//! Throughput of `ScofParser::push` on a realistic answer: 200 TypeScript-like
//! files of 5–50 KB in markdown-fenced heredocs with prose between them, fed
//! in 16- and 64-byte chunks (token-sized streaming), 4 KiB chunks and as one
//! chunk. The events of each push are dropped right away, as a consumer would.
//! The third shape starts every content line with `EOF_`, so the marker
//! search stops at every line. The fourth is the same answer indented by
//! four spaces with a fence around each file's content inside its heredoc:
//! the tolerant path (every line loses its indentation, fences are
//! dropped).
//!
//! Run with `cargo bench -p minicode-server --bench scof_throughput`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use minicode_server::scof::{ScofEvent, ScofParser};

/// A tiny deterministic generator, so every run parses the same text.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.next() % items.len()]
    }
}

/// Roughly `size` bytes of TypeScript-looking code.
fn typescript(rng: &mut Lcg, size: usize, line_prefix: &str) -> String {
    const NAMES: [&str; 8] = [
        "user", "items", "state", "props", "value", "result", "config", "handler",
    ];
    const TYPES: [&str; 5] = [
        "string",
        "number",
        "boolean",
        "User[]",
        "Record<string, unknown>",
    ];
    let mut text = String::with_capacity(size + 200);
    while text.len() < size {
        let (a, b) = (rng.pick(&NAMES), rng.pick(&NAMES));
        let indent = "  ".repeat(rng.next() % 4);
        let line = match rng.next() % 10 {
            0 => format!("import {{ {a}, {b} }} from './{a}/{b}';"),
            1 => format!(
                "export function {a}To{b}({a}: {}): void {{",
                rng.pick(&TYPES)
            ),
            2 => format!("{indent}const {a} = use{b}(() => {a}.map((x) => x.{b}));"),
            3 => format!("{indent}return <div className=\"{a}\">{{{b}.length}}</div>;"),
            4 => format!("{indent}// {a} must be set before {b} is read."),
            5 => String::new(),
            6 => format!("{indent}}}"),
            7 => format!("{indent}if ({a} === undefined) throw new Error(`no {b}`);"),
            8 => format!("{indent}{a}: {},", rng.pick(&TYPES)),
            _ => format!("{indent}await fetch(`/api/{a}/${{{b}.id}}`, {{ method: 'POST' }});"),
        };
        text.push_str(line_prefix);
        text.push_str(&line);
        text.push('\n');
    }
    text
}

/// The model's whole answer: prose, fences, 200 files, install lines.
fn answer(newline: &str, line_prefix: &str) -> String {
    let mut rng = Lcg(42);
    let mut text = String::from("Here is the app, file by file.\n\n");
    for i in 0..200 {
        let size = 5_000 + rng.next() % 45_000;
        let content = typescript(&mut rng, size, line_prefix);
        text.push_str(&format!(
            "File {i} handles one screen:\n```bash\ncat > src/components/Screen{i}.tsx << 'EOF'\n"
        ));
        text.push_str(&content);
        text.push_str("EOF\n```\n\n");
        if i % 50 == 0 {
            text.push_str(
                "```bash\nnpm install react-router-dom zod\nnpm install -D @types/node\n```\n",
            );
        }
    }
    text.push_str("That's all.\n");
    text.replace('\n', newline)
}

/// The same answer as a model copying an indented example writes it: every
/// line indented by four spaces, each file's content in a fence inside its
/// heredoc.
fn indented_fenced_answer() -> String {
    let text = answer("\n", "")
        .replace("'EOF'\n", "'EOF'\n```tsx\n")
        .replace("\nEOF\n", "\n```\nEOF\n");
    text.lines().map(|line| format!("    {line}\n")).collect()
}

/// `input` cut into `size`-byte chunks (at char boundaries).
fn chunks(input: &str, size: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < input.len() {
        let end = input.floor_char_boundary((start + size).min(input.len()));
        let end = if end == start {
            input.ceil_char_boundary(start + 1)
        } else {
            end
        };
        out.push(&input[start..end]);
        start = end;
    }
    out
}

/// Parses the chunks once; returns the number of complete files and their
/// total size.
fn run(chunks: &[&str]) -> (usize, usize) {
    let mut parser = ScofParser::new();
    let mut events = Vec::new();
    let (mut files, mut bytes) = (0, 0);
    let mut count = |events: &mut Vec<ScofEvent>| {
        for event in events.drain(..) {
            if let ScofEvent::FileEnd {
                content,
                complete: true,
                ..
            } = event
            {
                files += 1;
                bytes += content.len();
            }
        }
    };
    for chunk in chunks {
        parser.push(black_box(chunk), &mut events);
        count(&mut events);
    }
    parser.finish(&mut events);
    count(&mut events);
    (files, bytes)
}

fn main() {
    println!(
        "| {:<32} | {:>8} | {:>6} | {:>12} | {:>12} |",
        "input shape", "chunk", "MB", "MB/s (best)", "MB/s (mean)"
    );
    println!(
        "|{:-<34}|{:->10}|{:->8}|{:->14}|{:->14}|",
        "", "", "", "", ""
    );
    let shapes = [
        ("200 TS files, LF", answer("\n", "")),
        ("200 TS files, CRLF", answer("\r\n", "")),
        ("200 TS files, lines start `EOF_`", answer("\n", "EOF_")),
        ("200 TS files, indented, fenced", indented_fenced_answer()),
    ];
    let plain = run(&[shapes[0].1.as_str()]);
    for (name, input) in &shapes {
        let mb = input.len() as f64 / 1e6;
        let expected = run(&[input.as_str()]);
        assert_eq!(expected.0, 200, "every file must parse complete");
        if name.contains("indented") {
            assert_eq!(expected, plain, "the indented answer gives the same files");
        }
        for (label, size) in [
            ("16 B", 16),
            ("64 B", 64),
            ("4 KiB", 4096),
            ("whole", usize::MAX),
        ] {
            let chunks = chunks(input, size);
            assert_eq!(run(&chunks), expected, "chunking changed the content");
            let mut times = Vec::new();
            let started = Instant::now();
            while times.len() < 5 || started.elapsed() < Duration::from_secs(2) {
                let t = Instant::now();
                black_box(run(black_box(&chunks)));
                times.push(t.elapsed().as_secs_f64());
            }
            let best = times.iter().cloned().fold(f64::INFINITY, f64::min);
            let mean = times.iter().sum::<f64>() / times.len() as f64;
            println!(
                "| {:<32} | {:>8} | {:>6.1} | {:>12.0} | {:>12.0} |",
                name,
                label,
                mb,
                mb / best,
                mb / mean
            );
        }
    }
}
