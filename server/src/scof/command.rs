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
    /// Anything else (`>>`, `<<-`, `<`, `&&`, `||`, `&`, `;`): ends what we
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
    // Longest first, so `<<-` is not read as `<<` then a word `-…`.
    const OPS: [(&str, Op); 10] = [
        ("<<-", Op::Other),
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
    let marker = marker.filter(|m| !m.is_empty())?.clone();
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
    let dev = args
        .iter()
        .any(|a| matches!(*a, "-D" | "--save-dev" | "--dev"));
    let packages: Vec<String> = args
        .iter()
        .filter(|a| !a.starts_with('-') && !a.is_empty())
        .map(|a| a.to_string())
        .collect();
    (!packages.is_empty()).then_some(Command::Install { packages, dev })
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
            "cat > src/a.ts <<- EOF",
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
}
