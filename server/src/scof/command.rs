//! Recognises the shell commands of the format in a line outside any block:
//! block openers and install commands. A tiny shell-word tokenizer is enough
//! because models only write simple, single-line commands.

/// A command found on a line outside any block.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Command {
    /// `cat > PATH << MARKER`
    WriteFile { path: String, marker: String },
    /// `cat << MARKER | patch PATH`
    Patch { path: String, marker: String },
    /// `npm install [-D] PKG…` and friends.
    Install { packages: Vec<String>, dev: bool },
}

/// The first words of the commands we look for; any other line is skipped
/// without tokenizing it, which keeps long prose cheap.
const COMMAND_WORDS: [&str; 5] = ["cat", "npm", "pnpm", "yarn", "bun"];

/// Parses one complete line (without its `\n`); `None` for anything that is
/// not one of the format's commands.
pub(super) fn parse_line(line: &str) -> Option<Command> {
    let line = line.trim();
    let line = line.strip_prefix("$ ").unwrap_or(line).trim_start();
    let first = line.split(|c: char| !c.is_ascii_alphanumeric()).next()?;
    if !COMMAND_WORDS.contains(&first) {
        return None;
    }
    let tokens = tokenize(line)?;
    parse_opener(&tokens).or_else(|| parse_install(&tokens))
}

/// A shell operator: the characters between words that matter to us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    /// `>`
    Write,
    /// `<<`
    HereDoc,
    /// `|`
    Pipe,
    /// Anything else (`>>`, `<`, `&&`, `||`, `&`, `;`): ends what we
    /// understand of the line.
    Other,
}

#[derive(Debug, PartialEq, Eq)]
enum Token {
    /// A word with its quotes removed (`'a b'c` is `a bc`).
    Word(String),
    Op(Op),
}

/// Splits a line into words and operators. A `#` starting a word begins a
/// comment. `None` for an unterminated quote.
fn tokenize(line: &str) -> Option<Vec<Token>> {
    let mut tokens = Vec::new();
    let mut rest = line;
    loop {
        rest = rest.trim_start();
        let Some(c) = rest.chars().next() else { break };
        if c == '#' {
            break;
        }
        if let Some((op, len)) = operator(rest) {
            tokens.push(Token::Op(op));
            rest = &rest[len..];
            continue;
        }
        let mut word = String::new();
        while let Some(c) = rest.chars().next() {
            if c.is_whitespace() || operator(rest).is_some() {
                break;
            }
            if c == '\'' || c == '"' {
                let close = rest[1..].find(c)? + 1;
                word.push_str(&rest[1..close]);
                rest = &rest[close + 1..];
            } else {
                word.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
        tokens.push(Token::Word(word));
    }
    Some(tokens)
}

/// The operator at the start of `s`, with its length in bytes.
fn operator(s: &str) -> Option<(Op, usize)> {
    // Longest first, so `<<-` is not read as `<<` then a word `-…`. A
    // tab-stripping heredoc is read as a plain one: its content as written,
    // and its tab-indented marker line is a loose marker (see the module
    // doc of `scof`), which ends the block.
    const OPS: [(&str, Op); 10] = [
        ("<<-", Op::HereDoc),
        ("<<", Op::HereDoc),
        (">>", Op::Other),
        ("&&", Op::Other),
        ("||", Op::Other),
        (">", Op::Write),
        ("|", Op::Pipe),
        ("<", Op::Other),
        ("&", Op::Other),
        (";", Op::Other),
    ];
    OPS.iter()
        .find(|(text, _)| s.starts_with(text))
        .map(|&(text, op)| (op, text.len()))
}

/// `cat > PATH << MARKER` (either order) or `cat << MARKER | patch PATH`.
fn parse_opener(tokens: &[Token]) -> Option<Command> {
    let [Token::Word(cat), rest @ ..] = tokens else {
        return None;
    };
    if cat != "cat" {
        return None;
    }
    let (mut path, mut marker) = (None, None);
    let mut rest = rest;
    loop {
        match rest {
            [Token::Op(Op::Write), Token::Word(p), tail @ ..] if path.is_none() => {
                path = Some(p);
                rest = tail;
            }
            [Token::Op(Op::HereDoc), Token::Word(m), tail @ ..] if marker.is_none() => {
                marker = Some(m);
                rest = tail;
            }
            _ => break,
        }
    }
    // A blank marker could never be told apart from a blank line.
    let marker = marker.filter(|m| !m.trim().is_empty())?.clone();
    match (path, rest) {
        (Some(path), []) if !path.is_empty() => Some(Command::WriteFile {
            path: path.clone(),
            marker,
        }),
        (None, [Token::Op(Op::Pipe), Token::Word(patch), args @ ..]) if patch == "patch" => {
            // Options such as `-p1` come first; the path is the last word.
            let [options @ .., Token::Word(path)] = args else {
                return None;
            };
            let only_options = options
                .iter()
                .all(|t| matches!(t, Token::Word(w) if w.starts_with('-')));
            (only_options && !path.is_empty() && !path.starts_with('-')).then(|| Command::Patch {
                path: path.clone(),
                marker,
            })
        }
        _ => None,
    }
}

/// `npm install|i|add`, `pnpm add|install|i`, `yarn add`, `bun add|install|i`
/// with at least one package; words after the first operator are ignored.
/// Every argument must be a flag or a package spec, and none may be a
/// common English word: "npm install zod later if you want" is a sentence,
/// not a command to install `later`, `if`, `you` and `want`.
fn parse_install(tokens: &[Token]) -> Option<Command> {
    let words: Vec<&str> = tokens
        .iter()
        .map_while(|t| match t {
            Token::Word(w) => Some(w.as_str()),
            Token::Op(_) => None,
        })
        .collect();
    let [tool, verb, args @ ..] = words.as_slice() else {
        return None;
    };
    let install = match *tool {
        "npm" => matches!(*verb, "install" | "i" | "add"),
        "pnpm" | "bun" => matches!(*verb, "add" | "install" | "i"),
        "yarn" => *verb == "add",
        _ => false,
    };
    if !install {
        return None;
    }
    let (flags, packages): (Vec<&str>, Vec<&str>) = args.iter().partition(|a| a.starts_with('-'));
    let valid = flags.iter().all(|f| is_flag(f))
        && packages.iter().all(|p| is_package_spec(p))
        && !packages.iter().any(|p| PROSE_WORDS.contains(p));
    if !valid || packages.is_empty() {
        return None;
    }
    let dev = flags
        .iter()
        .any(|f| matches!(*f, "-D" | "--save-dev" | "--dev"));
    Some(Command::Install {
        packages: packages.iter().map(|p| p.to_string()).collect(),
        dev,
    })
}

/// Words of sentences that are not packages an app installs; one of them
/// among the arguments makes the line prose (inside a fence too: a model
/// explaining itself there must not get `you` and `want` installed).
const PROSE_WORDS: [&str; 58] = [
    "a",
    "after",
    "again",
    "also",
    "an",
    "and",
    "are",
    "as",
    "be",
    "because",
    "before",
    "but",
    "by",
    "can",
    "could",
    "do",
    "etc",
    "first",
    "for",
    "from",
    "here",
    "if",
    "in",
    "instead",
    "is",
    "it",
    "just",
    "later",
    "like",
    "manually",
    "need",
    "now",
    "of",
    "on",
    "once",
    "optionally",
    "or",
    "please",
    "should",
    "so",
    "that",
    "the",
    "them",
    "then",
    "there",
    "this",
    "to",
    "too",
    "want",
    "we",
    "when",
    "which",
    "will",
    "with",
    "without",
    "you",
    "your",
    "yourself",
];

/// An option of the package managers' install commands: one of their short
/// flags, or any long option (`--save-dev`, `--legacy-peer-deps`,
/// `--registry=URL`).
fn is_flag(word: &str) -> bool {
    const SHORT: [&str; 11] = [
        "-D", "-S", "-E", "-P", "-O", "-B", "-g", "-W", "-w", "-f", "-d",
    ];
    if SHORT.contains(&word) {
        return true;
    }
    let Some(long) = word.strip_prefix("--") else {
        return false;
    };
    let name = long.split_once('=').map_or(long, |(name, _)| name);
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// `name`, `@scope/name`, either followed by `@version` (a version, range
/// or tag). Names follow npm's rules for new packages: lower case, URL-safe
/// characters (`a-z 0-9 - . _ ~`), at most 214 characters; we also want
/// each part to begin and end with a letter or digit, which every real
/// package does and a word ending a sentence (`zod.`) does not.
fn is_package_spec(spec: &str) -> bool {
    let (scope, rest) = match spec.strip_prefix('@') {
        Some(scoped) => match scoped.split_once('/') {
            Some((scope, rest)) => (Some(scope), rest),
            None => return false,
        },
        None => (None, spec),
    };
    let (name, version) = match rest.split_once('@') {
        Some((name, version)) => (name, Some(version)),
        None => (rest, None),
    };
    let full_name = spec.len() - version.map_or(0, |v| v.len() + 1);
    scope.is_none_or(is_name_part)
        && is_name_part(name)
        && full_name <= 214
        && version.is_none_or(is_version)
}

fn is_name_part(part: &str) -> bool {
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = part.as_bytes();
    bytes.first().is_some_and(alnum)
        && bytes.last().is_some_and(alnum)
        && bytes
            .iter()
            .all(|b| alnum(b) || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// A version, range or dist-tag: `4`, `^18.2.0`, `>=18 <19`, `1.x`, `next`.
fn is_version(version: &str) -> bool {
    let bytes = version.as_bytes();
    bytes
        .last()
        .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'*')
        && bytes.iter().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'.' | b'^'
                        | b'~'
                        | b'<'
                        | b'>'
                        | b'='
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'_'
                        | b'|'
                        | b' '
                )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &str, marker: &str) -> Option<Command> {
        Some(Command::WriteFile {
            path: path.into(),
            marker: marker.into(),
        })
    }

    fn install(packages: &[&str], dev: bool) -> Option<Command> {
        Some(Command::Install {
            packages: packages.iter().map(|p| p.to_string()).collect(),
            dev,
        })
    }

    #[test]
    fn file_openers_in_every_accepted_spelling() {
        for line in [
            "cat > src/a.ts << 'EOF'",
            "cat > src/a.ts <<'EOF'",
            "cat > src/a.ts << \"EOF\"",
            "cat > src/a.ts << EOF",
            "cat > src/a.ts <<EOF",
            "cat >src/a.ts <<'EOF'",
            "cat>src/a.ts<<EOF",
            "cat << 'EOF' > src/a.ts",
            "cat > src/a.ts <<- 'EOF'",
            "cat > src/a.ts <<-EOF",
            "  cat > 'src/a.ts' << 'EOF'  ",
            "$ cat > \"src/a.ts\" << 'EOF'",
            "cat > src/a.ts << 'EOF' # the app",
        ] {
            assert_eq!(parse_line(line), write("src/a.ts", "EOF"), "{line}");
        }
        assert_eq!(
            parse_line("cat > 'my dir/ü.ts' << 'EOF_PKG'"),
            write("my dir/ü.ts", "EOF_PKG")
        );
    }

    #[test]
    fn patch_openers() {
        let patch = |path: &str| {
            Some(Command::Patch {
                path: path.into(),
                marker: "EOF".into(),
            })
        };
        assert_eq!(
            parse_line("cat << 'EOF' | patch src/m.ts"),
            patch("src/m.ts")
        );
        assert_eq!(
            parse_line("cat <<EOF|patch -p1 src/m.ts"),
            patch("src/m.ts")
        );
        assert_eq!(parse_line("cat << 'EOF' | patch 'a b.ts'"), patch("a b.ts"));
        assert_eq!(parse_line("cat << 'EOF' | patch"), None);
        assert_eq!(parse_line("cat << 'EOF' | patch -p1"), None);
        assert_eq!(parse_line("cat << 'EOF' | grep x"), None);
    }

    #[test]
    fn lines_that_are_not_openers() {
        for line in [
            "cat src/a.ts",
            "cat > src/a.ts",
            "cat << 'EOF'",
            "cat >> src/a.ts << 'EOF'",
            "cat > src/a.ts << ''",
            "cat > '' << EOF",
            "cat > 'src/a.ts << EOF",
            "cat > a.ts << EOF extra",
            "cat > a.ts << EOF && echo done",
            "concatenate > a << EOF",
            "Here is `cat > a.ts << 'EOF'`",
            "```bash",
            "",
        ] {
            assert_eq!(parse_line(line), None, "{line}");
        }
    }

    #[test]
    fn install_commands() {
        assert_eq!(
            parse_line("npm install react-router-dom zod"),
            install(&["react-router-dom", "zod"], false)
        );
        assert_eq!(
            parse_line("npm i -D @types/node"),
            install(&["@types/node"], true)
        );
        assert_eq!(
            parse_line("npm install --save-dev vitest --legacy-peer-deps"),
            install(&["vitest"], true)
        );
        assert_eq!(
            parse_line("pnpm add 'react@^18'"),
            install(&["react@^18"], false)
        );
        assert_eq!(
            parse_line("yarn add --dev eslint"),
            install(&["eslint"], true)
        );
        assert_eq!(
            parse_line("npm install zod && npm run dev"),
            install(&["zod"], false)
        );
        assert_eq!(
            parse_line("npm install zod # validation"),
            install(&["zod"], false)
        );
        assert_eq!(parse_line("npm install"), None);
        assert_eq!(parse_line("npm install -D"), None);
        assert_eq!(parse_line("npm run dev"), None);
        assert_eq!(parse_line("yarn install"), None);
        assert_eq!(parse_line("Then run npm install zod."), None);
    }

    #[test]
    fn install_arguments_must_be_flags_and_package_specs() {
        assert_eq!(
            parse_line("npm i -S -E zod@3.23.8 @tanstack/react-query@^5 dayjs@latest"),
            install(
                &["zod@3.23.8", "@tanstack/react-query@^5", "dayjs@latest"],
                false
            )
        );
        assert_eq!(
            parse_line("pnpm add 'react@>=18 <20' lodash.merge --registry=https://r.example"),
            install(&["react@>=18 <20", "lodash.merge"], false)
        );
        assert_eq!(
            parse_line("$ npm install -D typescript"),
            install(&["typescript"], true)
        );
        for line in [
            // Sentences.
            "npm install zod later if you want",
            "npm install zod later if you want.",
            "npm install react-router-dom for routing",
            "npm install zod, dayjs",
            "npm install zod: it validates",
            "npm install zod - it is small",
            // Not package names.
            "npm install Zod",
            "npm install `zod`",
            "npm install ./local-dir",
            "npm install github:user/repo",
            "npm install @scope",
            "npm install @Scope/x",
            "npm install zod@",
            "npm install .hidden",
            // Not flags.
            "npm install -x zod",
            "npm install --Save zod",
        ] {
            assert_eq!(parse_line(line), None, "{line}");
        }
    }
}
