//! A small Markdown renderer for assistant replies.
//!
//! Models answer in Markdown; a full CommonMark parser would add weight to the
//! WASM for little gain. This handles what replies use — paragraphs, fenced
//! code, inline code, bold, italics, bullet and numbered lists, headings — and
//! escapes everything else, so model output can never inject HTML.

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Markdown → safe HTML.
pub fn to_html(markdown: &str) -> String {
    let mut html = String::new();
    let mut paragraph: Vec<&str> = Vec::new();
    let mut list: Option<(&'static str, Vec<String>)> = None;
    let mut code: Option<(String, Vec<&str>)> = None;

    fn flush_paragraph(html: &mut String, paragraph: &mut Vec<&str>) {
        if !paragraph.is_empty() {
            html.push_str("<p>");
            html.push_str(&inline(&paragraph.join("\n")).replace('\n', "<br>"));
            html.push_str("</p>");
            paragraph.clear();
        }
    }
    fn flush_list(html: &mut String, list: &mut Option<(&'static str, Vec<String>)>) {
        if let Some((tag, items)) = list.take() {
            html.push_str(&format!("<{tag}>"));
            for item in items {
                html.push_str(&format!("<li>{}</li>", inline(&item)));
            }
            html.push_str(&format!("</{tag}>"));
        }
    }

    for line in markdown.lines() {
        if let Some((lang, lines)) = code.as_mut() {
            if line.trim_start().starts_with("```") {
                let class = if lang.is_empty() {
                    String::new()
                } else {
                    format!(" class=\"lang-{}\"", escape(lang))
                };
                html.push_str(&format!(
                    "<pre><code{class}>{}</code></pre>",
                    escape(&lines.join("\n"))
                ));
                code = None;
            } else {
                lines.push(line);
            }
            continue;
        }
        let trimmed = line.trim();
        if let Some(lang) = trimmed.strip_prefix("```") {
            flush_paragraph(&mut html, &mut paragraph);
            flush_list(&mut html, &mut list);
            code = Some((lang.trim().to_string(), Vec::new()));
            continue;
        }
        if trimmed.is_empty() {
            flush_paragraph(&mut html, &mut paragraph);
            flush_list(&mut html, &mut list);
            continue;
        }
        if let Some(item) = bullet(trimmed) {
            flush_paragraph(&mut html, &mut paragraph);
            push_item(&mut html, &mut list, "ul", item);
            continue;
        }
        if let Some(item) = numbered(trimmed) {
            flush_paragraph(&mut html, &mut paragraph);
            push_item(&mut html, &mut list, "ol", item);
            continue;
        }
        if let Some((level, text)) = heading(trimmed) {
            flush_paragraph(&mut html, &mut paragraph);
            flush_list(&mut html, &mut list);
            // Replies live inside the page: headings start at h4.
            let tag = format!("h{}", (level + 3).min(6));
            html.push_str(&format!("<{tag}>{}</{tag}>", inline(text)));
            continue;
        }
        if list.is_some() && line.starts_with("  ") {
            // A continuation line of the last list item.
            if let Some((_, items)) = list.as_mut()
                && let Some(last) = items.last_mut()
            {
                last.push(' ');
                last.push_str(trimmed);
            }
            continue;
        }
        flush_list(&mut html, &mut list);
        paragraph.push(line);
    }
    // A reply still streaming may end inside an open fence: show it as code.
    if let Some((_, lines)) = code {
        html.push_str(&format!(
            "<pre><code>{}</code></pre>",
            escape(&lines.join("\n"))
        ));
    }
    flush_paragraph(&mut html, &mut paragraph);
    flush_list(&mut html, &mut list);
    html
}

fn push_item(
    html: &mut String,
    list: &mut Option<(&'static str, Vec<String>)>,
    tag: &'static str,
    item: &str,
) {
    if list.as_ref().is_some_and(|(t, _)| *t != tag) {
        let (t, items) = list.take().unwrap_or(("ul", Vec::new()));
        html.push_str(&format!("<{t}>"));
        for i in items {
            html.push_str(&format!("<li>{}</li>", inline(&i)));
        }
        html.push_str(&format!("</{t}>"));
    }
    list.get_or_insert_with(|| (tag, Vec::new()))
        .1
        .push(item.to_string());
}

fn bullet(line: &str) -> Option<&str> {
    line.strip_prefix("- ")
        .or_else(|| line.strip_prefix("* "))
        .or_else(|| line.strip_prefix("+ "))
}

fn numbered(line: &str) -> Option<&str> {
    let digits = line.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || digits > 3 {
        return None;
    }
    line[digits..]
        .strip_prefix(". ")
        .or_else(|| line[digits..].strip_prefix(") "))
}

fn heading(line: &str) -> Option<(usize, &str)> {
    let level = line.bytes().take_while(|b| *b == b'#').count();
    if (1..=6).contains(&level) {
        line[level..].strip_prefix(' ').map(|t| (level, t))
    } else {
        None
    }
}

/// Inline spans: `code`, **bold**, *italic* / _italic_. Unclosed markers stay literal.
fn inline(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    // `snake_case_names` are not emphasis: markers must start a word.
    let mut prev = ' ';
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('`')
            && let Some(end) = after.find('`')
        {
            out.push_str("<code>");
            out.push_str(&escape(&after[..end]));
            out.push_str("</code>");
            rest = &after[end + 1..];
            continue;
        }
        if let Some(after) = rest.strip_prefix("**")
            && let Some(end) = after.find("**")
            && end > 0
        {
            out.push_str("<strong>");
            out.push_str(&inline(&after[..end]));
            out.push_str("</strong>");
            rest = &after[end + 2..];
            continue;
        }
        let marker = rest.chars().next().unwrap_or(' ');
        if (marker == '*' || marker == '_')
            && !prev.is_alphanumeric()
            && let Some(end) = rest[1..].find(marker)
            && end > 0
            && !rest[1..].starts_with(' ')
        {
            out.push_str("<em>");
            out.push_str(&inline(&rest[1..end + 1]));
            out.push_str("</em>");
            rest = &rest[end + 2..];
            prev = marker;
            continue;
        }
        let c = marker;
        prev = c;
        out.push_str(&escape(&c.to_string()));
        rest = &rest[c.len_utf8()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::to_html;

    #[test]
    fn escapes_html() {
        assert_eq!(
            to_html("<script>alert(1)</script> & \"x\""),
            "<p>&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;x&quot;</p>"
        );
        assert_eq!(to_html("**<b>**"), "<p><strong>&lt;b&gt;</strong></p>");
    }

    #[test]
    fn blocks() {
        let html = to_html(
            "Done.\n\n- one `a<b`\n- **two**\n\n1. first\n2. second\n\n```tsx\n<App/>\n```",
        );
        assert_eq!(
            html,
            "<p>Done.</p><ul><li>one <code>a&lt;b</code></li><li><strong>two</strong></li></ul>\
             <ol><li>first</li><li>second</li></ol><pre><code class=\"lang-tsx\">&lt;App/&gt;</code></pre>"
        );
    }

    #[test]
    fn unfinished_markup_stays_literal() {
        assert_eq!(to_html("a * b and **c"), "<p>a * b and **c</p>");
        assert_eq!(to_html("```\nlet x"), "<pre><code>let x</code></pre>");
        assert_eq!(to_html("_Cancelled._"), "<p><em>Cancelled.</em></p>");
        assert_eq!(to_html("use my_var_name"), "<p>use my_var_name</p>");
    }
}
