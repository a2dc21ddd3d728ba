//! Plain article text from a MediaWiki XML dump, for the Wikipedia excerpt gensim ships in
//! its wheel: the dump read with quick-xml, then keep namespace-0 pages that are not
//! redirects, and strip comments, references, templates, tables, file and category links,
//! external-link URLs and bold/italic quotes, keeping link labels and running text.
//!
//! Nested constructs (`{{a|{{b}}}}`, a file caption holding links) are removed by counting
//! their brackets, not with regular expressions, so nesting depth never matters.

/// One `<page>` of a dump: title, namespace and the (XML-unescaped) wikitext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub title: String,
    pub ns: i64,
    pub text: String,
}

/// The pages of a dump, in file order: each `<page>`'s first `<title>`, `<ns>` and `<text>`
/// (character and predefined entity references resolved).
pub fn pages(xml: &str) -> Result<Vec<Page>, String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut out = Vec::new();
    let mut page: Option<Page> = None;
    // The element whose text is being collected, and whether it was seen already.
    let mut field: Option<&'static str> = None;
    let mut seen = [false; 3];
    let mut buf = String::new();
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("XML error at byte {}: {e}", reader.error_position()))?;
        match event {
            Event::Start(e) => match e.name().as_ref() {
                b"page" => {
                    page = Some(Page {
                        title: String::new(),
                        ns: -1,
                        text: String::new(),
                    });
                    seen = [false; 3];
                }
                name => {
                    field = match name {
                        b"title" if !seen[0] => Some("title"),
                        b"ns" if !seen[1] => Some("ns"),
                        b"text" if !seen[2] => Some("text"),
                        _ => None,
                    };
                    buf.clear();
                }
            },
            Event::Empty(e) if e.name().as_ref() == b"text" => seen[2] = true,
            Event::Text(t) if field.is_some() => {
                buf.push_str(&t.decode().map_err(|e| e.to_string())?);
            }
            Event::CData(t) if field.is_some() => {
                buf.push_str(&t.decode().map_err(|e| e.to_string())?);
            }
            Event::GeneralRef(r) if field.is_some() => {
                let name = r.decode().map_err(|e| e.to_string())?;
                match r.resolve_char_ref().map_err(|e| e.to_string())? {
                    Some(c) => buf.push(c),
                    None => match quick_xml::escape::resolve_predefined_entity(&name) {
                        Some(s) => buf.push_str(s),
                        None => return Err(format!("unknown entity &{name};")),
                    },
                }
            }
            Event::End(e) => match (e.name().as_ref(), field, page.as_mut()) {
                (b"page", _, Some(_)) => out.extend(page.take()),
                (name, Some(f), Some(p)) if name == f.as_bytes() => {
                    let value = std::mem::take(&mut buf);
                    match f {
                        "title" => (p.title, seen[0]) = (value, true),
                        "ns" => (p.ns, seen[1]) = (value.trim().parse().unwrap_or(-1), true),
                        _ => (p.text, seen[2]) = (value, true),
                    }
                    field = None;
                }
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(out)
}

/// Whether a page is an article worth keeping: main namespace, not a redirect.
pub fn is_article(page: &Page) -> bool {
    page.ns == 0
        && !page
            .text
            .trim_start()
            .to_ascii_uppercase()
            .starts_with("#REDIRECT")
}

/// Plain text of an article's wikitext.
pub fn plain(wikitext: &str) -> String {
    let s = remove_between(wikitext, "<!--", "-->");
    let s = remove_refs(&s);
    let s = remove_nested(&s, "{{", "}}");
    let s = remove_nested(&s, "{|", "|}");
    let s = links(&s);
    let s = external_links(&s);
    let s = strip_tags(&s);
    let s = s.replace("'''", "").replace("''", "");
    let s = unescape(&s);
    tidy(&s)
}

/// Removes every `open ... close` span (unnested), and an unclosed one to the end.
fn remove_between(s: &str, open: &str, close: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(open) {
        out.push_str(&rest[..i]);
        rest = match rest[i + open.len()..].find(close) {
            Some(j) => &rest[i + open.len() + j + close.len()..],
            None => "",
        };
    }
    out.push_str(rest);
    out
}

/// Removes `<ref .../>` and `<ref ...>...</ref>`, and other tags whose content is not prose.
fn remove_refs(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = find_tag(rest, &["ref", "math", "gallery", "timeline", "score"]) {
        out.push_str(&rest[..i.start]);
        let tag_end = match rest[i.start..].find('>') {
            Some(e) => i.start + e,
            None => {
                rest = "";
                break;
            }
        };
        if rest[..tag_end].ends_with('/') {
            rest = &rest[tag_end + 1..];
            continue;
        }
        let close = format!("</{}", i.name);
        rest = match find_ci(&rest[tag_end..], &close) {
            Some(c) => {
                let after = tag_end + c;
                match rest[after..].find('>') {
                    Some(g) => &rest[after + g + 1..],
                    None => "",
                }
            }
            None => &rest[tag_end + 1..],
        };
    }
    out.push_str(rest);
    out
}

struct TagAt {
    start: usize,
    name: &'static str,
}

/// The first `<name` (case-insensitive, followed by `>`, `/` or a space) of any `names`.
fn find_tag(s: &str, names: &[&'static str]) -> Option<TagAt> {
    let lower = s.to_ascii_lowercase();
    let mut best: Option<TagAt> = None;
    for &name in names {
        let pat = format!("<{name}");
        let mut from = 0;
        while let Some(i) = lower[from..].find(&pat).map(|i| i + from) {
            let next = lower[i + pat.len()..].chars().next();
            if matches!(next, Some('>' | '/' | ' ' | '\t' | '\n')) {
                if best.as_ref().is_none_or(|b| i < b.start) {
                    best = Some(TagAt { start: i, name });
                }
                break;
            }
            from = i + pat.len();
        }
    }
    best
}

fn find_ci(s: &str, pat: &str) -> Option<usize> {
    s.to_ascii_lowercase().find(&pat.to_ascii_lowercase())
}

/// Removes `open ... close` spans counting nesting; an unclosed span runs to the end.
fn remove_nested(s: &str, open: &str, close: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut depth = 0usize;
    let mut i = 0;
    let b = s.as_bytes();
    let mut kept_from = 0;
    while i < b.len() {
        if b[i..].starts_with(open.as_bytes()) {
            if depth == 0 {
                out.push_str(&s[kept_from..i]);
            }
            depth += 1;
            i += open.len();
        } else if depth > 0 && b[i..].starts_with(close.as_bytes()) {
            depth -= 1;
            i += close.len();
            if depth == 0 {
                kept_from = i;
            }
        } else {
            i += 1;
        }
    }
    if depth == 0 {
        out.push_str(&s[kept_from..]);
    }
    out
}

/// `[[target|label]]` -> label, `[[target]]` -> target; file, image, category and
/// interlanguage links (any `prefix:` target) are dropped with everything inside them.
fn links(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("[[") {
        out.push_str(&rest[..i]);
        let inner_start = i + 2;
        let Some(len) = matching(&rest[inner_start..], "[[", "]]") else {
            rest = &rest[inner_start..];
            continue;
        };
        let inner = &rest[inner_start..inner_start + len];
        rest = &rest[inner_start + len + 2..];
        let target = inner.split('|').next().unwrap_or("");
        if target.contains(':') {
            continue;
        }
        let label = top_level_last_field(inner);
        out.push_str(&links(label));
    }
    out.push_str(rest);
    out
}

/// Length of the text before the `close` matching an already consumed `open`.
fn matching(s: &str, open: &str, close: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut depth = 1usize;
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(open.as_bytes()) {
            depth += 1;
            i += open.len();
        } else if b[i..].starts_with(close.as_bytes()) {
            depth -= 1;
            if depth == 0 {
                return Some(i);
            }
            i += close.len();
        } else {
            i += 1;
        }
    }
    None
}

/// The part after the last `|` that is not inside a nested `[[...]]`.
fn top_level_last_field(inner: &str) -> &str {
    let b = inner.as_bytes();
    let (mut depth, mut last) = (0usize, 0usize);
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"[[") {
            depth += 1;
            i += 2;
        } else if b[i..].starts_with(b"]]") {
            depth = depth.saturating_sub(1);
            i += 2;
        } else {
            if b[i] == b'|' && depth == 0 {
                last = i + 1;
            }
            i += 1;
        }
    }
    &inner[last..]
}

/// `[http://x label]` -> label, `[http://x]` -> nothing.
fn external_links(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('[') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let is_url = ["http://", "https://", "//", "ftp://"]
            .iter()
            .any(|p| after.starts_with(p));
        match after.find(']') {
            Some(j) if is_url => {
                let inside = &after[..j];
                if let Some((_, label)) = inside.split_once(' ') {
                    out.push_str(label.trim());
                }
                rest = &after[j + 1..];
            }
            _ => {
                out.push('[');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Drops the remaining HTML-like tags (`<br />`, `<sup>`, `<blockquote>`), keeping their
/// content.
fn strip_tags(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('<') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let looks_like_tag = after.starts_with(|c: char| c.is_ascii_alphabetic() || c == '/');
        match after.find('>') {
            Some(j) if looks_like_tag && !after[..j].contains('\n') => rest = &after[j + 1..],
            _ => {
                out.push('<');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// XML/HTML entities: the five XML ones, numeric ones, and the named ones articles use.
pub fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let entity = after.find(';').filter(|&j| j <= 10).map(|j| &after[..j]);
        let decoded = entity.and_then(|e| match e {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "nbsp" => Some(' '),
            "ndash" => Some('\u{2013}'),
            "mdash" => Some('\u{2014}'),
            "minus" => Some('\u{2212}'),
            "times" => Some('\u{d7}'),
            "hellip" => Some('\u{2026}'),
            _ => {
                let num = e.strip_prefix('#')?;
                let code = match num.strip_prefix(['x', 'X']) {
                    Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                    None => num.parse().ok()?,
                };
                char::from_u32(code)
            }
        });
        match (entity, decoded) {
            (Some(e), Some(c)) => {
                out.push(c);
                rest = &after[e.len() + 1..];
            }
            _ => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Headings lose their `=` marks, lines their trailing space, leftover table and list
/// punctuation lines go, and blank runs shrink to one blank line.
fn tidy(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut blank = 0;
    for line in s.lines() {
        let mut line = line.trim_end();
        if line.starts_with('=') && line.ends_with('=') {
            line = line.trim_matches('=').trim();
        }
        let junk = line
            .chars()
            .all(|c| matches!(c, '|' | '!' | '-' | '*' | '#' | ':' | ';' | ' '));
        if line.is_empty() || junk {
            blank += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank > 0 { "\n\n" } else { "\n" });
        }
        blank = 0;
        out.push_str(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_and_articles() {
        let xml = "<mediawiki><page><title>A &amp; B</title><ns>0</ns>\
                   <revision><text xml:space=\"preserve\">'''A''' &lt;b&gt;</text></revision></page>\
                   <page><title>R</title><ns>0</ns><text>#REDIRECT [[A]]</text></page>\
                   <page><title>W</title><ns>4</ns><text /></page></mediawiki>";
        let p = pages(xml).unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(
            (p[0].title.as_str(), p[0].ns, p[0].text.as_str()),
            ("A & B", 0, "'''A''' <b>")
        );
        let kept: Vec<bool> = p.iter().map(is_article).collect();
        assert_eq!(kept, [true, false, false]);
        assert_eq!(p[2].text, "");
    }

    #[test]
    fn markup_is_stripped_and_prose_kept() {
        let wikitext = "{{Infobox|name={{nowrap|X}}}}'''Albedo''' (<!-- c -->from [[Latin]] \
            ''albedo'')<ref name=a>{{cite|x}}</ref> is the [[reflection (physics)|reflection]] \
            of [[sunlight]].<ref name=b/>[[File:A.png|thumb|A [[cat]]]]\n\n\
            == History ==\n{| class=x\n| a || b\n|}\nSee [http://x.org the site] and \
            [http://y.org].&nbsp;Done &ndash; end.<br />\n[[Category:Optics]]\n[[fr:Albédo]]";
        assert_eq!(
            plain(wikitext),
            "Albedo (from Latin albedo) is the reflection of sunlight.\n\nHistory\n\n\
             See the site and . Done \u{2013} end."
        );
    }

    #[test]
    fn unclosed_constructs_do_not_panic_or_loop() {
        for s in [
            "{{a",
            "[[b",
            "<ref>c",
            "<!-- d",
            "[http://e",
            "&amp",
            "{|",
            "<x",
        ] {
            let _ = plain(s);
        }
        assert_eq!(plain("a {{b"), "a");
        assert_eq!(plain("x [[y"), "x y");
    }
}
