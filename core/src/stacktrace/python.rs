//! Python: `traceback.format_exception` output, completely: chains ("The above exception was
//! the direct cause…", "During handling of the above exception…"), `ExceptionGroup` trees
//! (the boxed output of Python 3.11+), `[Previous line repeated N more times]` (expanded back
//! into the frames the interpreter had), `File "<string>"`, `<frozen …>` modules, carets, the
//! several source lines 3.13 prints for one statement, and traces indented in a log.

use std::borrow::Cow;

use super::{indent, join, lines, parse_u32, Exception, Frame, MAX_FRAMES};

const HEADER: &str = "Traceback (most recent call last):";
const GROUP_HEADER: &str = "Exception Group Traceback (most recent call last):";
const CAUSE: &str = "The above exception was the direct cause of the following exception:";
const CONTEXT: &str = "During handling of the above exception, another exception occurred:";

/// Whether the text has a line like `File "…", line N`.
pub fn has_frame(text: &str) -> bool {
    memchr::memmem::find_iter(text.as_bytes(), b"File \"").any(|at| {
        let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[at..].find('\n').map_or(text.len(), |i| at + i);
        frame_line(text[line_start..line_end].trim_start_matches([' ', '\t', '|'])).is_some()
    })
}

/// `File "path", line N, in function` -> (path, N, function)
fn frame_line(line: &str) -> Option<(&str, u32, Option<&str>)> {
    let rest = line.trim_start_matches([' ', '\t']).strip_prefix("File \"")?;
    // the path ends at the quote before `, line ` (a path may hold quotes)
    let at = memchr::memchr_iter(b'"', rest.as_bytes()).find(|&i| rest[i..].starts_with("\", line "))?;
    let path = &rest[..at];
    let after = &rest[at + 8..];
    let digits = after.bytes().take_while(u8::is_ascii_digit).count();
    let lineno = parse_u32(&after[..digits])?;
    let tail = after[digits..].trim_end();
    let function = match tail.strip_prefix(", in ") {
        Some(f) if !f.is_empty() => Some(f),
        _ if tail.is_empty() => None,
        _ => return None,
    };
    Some((path, lineno, function))
}

fn repeat_count(line: &str) -> Option<usize> {
    let rest = line.trim_ascii().strip_prefix("[Previous line repeated ")?;
    let rest = rest.strip_suffix(" more times]").or_else(|| rest.strip_suffix(" more time]"))?;
    rest.parse().ok()
}

fn is_carets(line: &str) -> bool {
    let t = line.trim_ascii();
    t.starts_with(['^', '~']) && t.bytes().all(|b| matches!(b, b'^' | b'~' | b' ' | b'\t'))
}

/// `Type: value` (`module.Type` for all but builtins) -> (type, value)
fn type_line(line: &str) -> Option<(&str, Option<&str>)> {
    let first = line.chars().next()?;
    if !(first.is_ascii_alphabetic() || first == '_') {
        return None;
    }
    let end = line
        .char_indices()
        .find(|&(_, c)| !(c.is_alphanumeric() || matches!(c, '_' | '.' | '<' | '>')))
        .map_or(line.len(), |(i, _)| i);
    let (name, rest) = line.split_at(end);
    if rest.is_empty() {
        return Some((name, None));
    }
    let value = rest.strip_prefix(':')?;
    Some((name, Some(value.strip_prefix(' ').unwrap_or(value))))
}

struct Node<'a> {
    exception: Exception<'a>,
    children: Vec<Node<'a>>,
    previous: Option<Box<Node<'a>>>,
    previous_source: Option<&'static str>,
}

pub fn parse(text: &str) -> Vec<Exception<'_>> {
    let lines: Vec<&str> = lines(text).collect();
    flatten(block(text, &lines, 0))
}

/// A chain of exceptions at one nesting level; returns the last (final) one.
fn block<'a>(text: &'a str, lines: &[&'a str], depth: usize) -> Option<Node<'a>> {
    let mut node: Option<Node<'a>> = None;
    let mut start = 0;
    let mut kind: Option<&'static str> = None;
    let finish = |segment: &[&'a str], kind: Option<&'static str>, node: &mut Option<Node<'a>>| {
        if let Some(mut current) = segment_node(text, segment, depth) {
            if let Some(previous) = node.take() {
                current.previous = Some(Box::new(previous));
                current.previous_source = kind;
            }
            *node = Some(current);
        }
    };
    for (i, line) in lines.iter().enumerate() {
        // the separators end with "exception:" or "occurred:" (cheap to look at before trimming)
        let end = line.trim_ascii_end();
        let separator = if end.ends_with("exception:") || end.ends_with("occurred:") {
            match line.trim_ascii() {
                CAUSE => Some("__cause__"),
                CONTEXT => Some("__context__"),
                _ => None,
            }
        } else {
            None
        };
        if let Some(separator) = separator {
            finish(&lines[start..i], kind, &mut node);
            kind = Some(separator);
            start = i + 1;
        }
    }
    finish(&lines[start..], kind, &mut node);
    node
}

/// A line of a boxed block without its box: `    | text` -> `text`, `    +-+--` -> `+-+--`.
fn strip_margin(line: &str, col: usize) -> &str {
    let (Some(head), Some(tail)) = (line.get(..col), line.get(col..)) else { return line };
    if !head.trim().is_empty() {
        return line;
    }
    if let Some(rest) = tail.strip_prefix("| ") {
        return rest;
    }
    if tail.trim_end() == "|" {
        return "";
    }
    tail
}

/// `+---------------- 2 ----------------`, `+---------------- ... ----------------`, `+------------------------------------`
fn member_separator(tail: &str) -> Option<bool> {
    let t = tail.trim_end();
    let rest = t.strip_prefix('+')?;
    if rest.is_empty() || !rest.starts_with('-') {
        return None;
    }
    let inner = rest.trim_matches('-');
    if inner.is_empty() {
        return Some(false); // the closing line
    }
    let label = inner.trim();
    (inner.starts_with(' ') && inner.ends_with(' ') && (label == "..." || label.bytes().all(|b| b.is_ascii_digit())))
        .then_some(true)
}

/// One exception; when it is a group, its boxed members are read recursively.
fn segment_node<'a>(text: &'a str, lines: &[&'a str], depth: usize) -> Option<Node<'a>> {
    let children_at = lines.iter().position(|l| l.trim_start().starts_with("+-+"));
    let Some(children_at) = children_at.filter(|_| depth <= 50) else {
        return plain(text, lines);
    };
    let col = indent(lines[children_at]);
    let own: Vec<&'a str> = lines[..children_at]
        .iter()
        .map(|l| {
            let stripped = strip_margin(l, col);
            let t = stripped.trim();
            if t.strip_prefix("+ ").unwrap_or(t).trim() == GROUP_HEADER {
                HEADER
            } else {
                stripped
            }
        })
        .collect();
    let mut node = plain(text, &own).unwrap_or_else(|| Node {
        exception: Exception { type_name: Some(Cow::Borrowed("ExceptionGroup")), ..Default::default() },
        children: Vec::new(),
        previous: None,
        previous_source: None,
    });
    node.exception.is_group = true;
    // Members: after `+-+---- 1 ----` the lines are boxed at col + 2; `+---- 2 ----` starts the
    // next one; `+--------` (dashes only) closes the box.
    let member_col = col + 2;
    let mut members: Vec<Vec<&'a str>> = Vec::new();
    let mut current: Option<Vec<&'a str>> = Some(Vec::new());
    for line in &lines[children_at + 1..] {
        let tail = line.get(member_col..).unwrap_or("");
        if let Some(opens) = member_separator(tail) {
            if let Some(done) = current.take() {
                members.push(done);
            }
            current = opens.then(Vec::new);
            continue;
        }
        if let Some(current) = current.as_mut() {
            current.push(strip_margin(line, member_col));
        }
    }
    if let Some(done) = current.filter(|c| !c.is_empty()) {
        members.push(done);
    }
    for member in members {
        let body: Vec<&str> = member.iter().map(|l| l.trim()).filter(|l| !l.is_empty()).collect();
        let body = body.join(" ");
        if body.is_empty() || is_more_exceptions(&body) || body.starts_with("... (max_group_depth") {
            continue;
        }
        if let Some(child) = block(text, &member, depth + 1) {
            node.children.push(child);
        }
    }
    Some(node)
}

/// `and 3 more exceptions`
fn is_more_exceptions(body: &str) -> bool {
    body.strip_prefix("and ")
        .and_then(|r| r.strip_suffix(" more exceptions").or_else(|| r.strip_suffix(" more exception")))
        .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
}

/// `parts` as one slice of `text` when they are consecutive lines of it.
fn contiguous<'a>(text: &'a str, parts: &[&'a str]) -> Option<&'a str> {
    let base = text.as_ptr() as usize;
    let first = parts.first()?;
    let start = (first.as_ptr() as usize).checked_sub(base)?;
    let mut end = start + first.len();
    for part in &parts[1..] {
        let at = (part.as_ptr() as usize).checked_sub(base)?;
        if at != end + 1 || text.as_bytes().get(end) != Some(&b'\n') {
            return None;
        }
        end = at + part.len();
    }
    text.get(start..end)
}

/// One exception: an optional header, frames, then the `Type: message` line(s).
fn plain<'a>(text: &'a str, lines: &[&'a str]) -> Option<Node<'a>> {
    let mut frames: Vec<Frame<'a>> = Vec::new();
    let mut i = 0;
    let n = lines.len();
    let mut seen_header = false;
    let mut rest_at = None;
    while i < n {
        let line = lines[i];
        let stripped = line.trim_ascii();
        if stripped.is_empty() {
            i += 1;
            continue;
        }
        if stripped == HEADER && frames.is_empty() && !seen_header {
            seen_header = true;
            i += 1;
            continue;
        }
        if let Some((path, lineno, function)) = frame_line(line) {
            let frame_indent = indent(line);
            let mut context: Option<&'a str> = None;
            i += 1;
            // Source lines are printed more indented than the File line; 3.13 may print
            // several for one statement, with carets under them.
            while i < n && indent(lines[i]) > frame_indent && !lines[i].trim_ascii().is_empty() {
                let next = lines[i];
                if frame_line(next).is_some() || repeat_count(next).is_some() {
                    break;
                }
                if context.is_none() && !is_carets(next) {
                    context = Some(next.trim_ascii());
                }
                i += 1;
            }
            frames.push(Frame {
                path: Some(Cow::Borrowed(path)),
                function: function.map(Cow::Borrowed),
                lineno: Some(lineno),
                colno: None,
                context_line: context.map(Cow::Borrowed),
                owner: None,
            });
            continue;
        }
        if let Some(more) = repeat_count(line) {
            if let Some(last) = frames.last().cloned() {
                let room = MAX_FRAMES.saturating_sub(frames.len());
                frames.extend(std::iter::repeat_n(last, more.min(room)));
                i += 1;
                continue;
            }
        }
        if is_carets(line) && !frames.is_empty() {
            i += 1;
            continue;
        }
        rest_at = Some(i);
        break;
    }
    let Some(rest_at) = rest_at else {
        if frames.is_empty() {
            return None;
        }
        let exception = Exception { frames, ..Default::default() };
        return Some(Node { exception, children: Vec::new(), previous: None, previous_source: None });
    };
    let mut rest: Vec<&'a str> = lines[rest_at..].to_vec();
    while rest.last().is_some_and(|l| l.trim_ascii().is_empty()) {
        rest.pop();
    }
    let first = rest.first().map_or("", |l| l.trim_ascii());
    let (type_name, value): (Option<Cow<'a, str>>, Option<Cow<'a, str>>) = match type_line(first) {
        None => {
            let parts: Vec<&str> = rest.iter().map(|r| r.trim()).collect();
            (None, join(&parts))
        }
        Some((name, value)) => {
            let value = match value {
                Some(v) if rest.len() > 1 => {
                    let mut parts: Vec<&'a str> = vec![v];
                    parts.extend(rest[1..].iter().map(|r| r.trim_end()));
                    let joined = contiguous(text, &parts)
                        .map(|s| Cow::Borrowed(s.trim_end()))
                        .unwrap_or_else(|| Cow::Owned(parts.join("\n").trim_end().to_owned()));
                    Some(joined)
                }
                Some(v) => Some(Cow::Borrowed(v.trim_end())),
                None if rest.len() > 1 => {
                    let parts: Vec<&str> = rest[1..].iter().map(|r| r.trim_end()).collect();
                    join(&parts).map(|j| Cow::<'a, str>::Owned(j.trim().to_owned())).filter(|v| !v.is_empty())
                }
                None => None,
            };
            (Some(Cow::Borrowed(name)), value)
        }
    };
    let exception = Exception { type_name, value, frames, ..Default::default() };
    Some(Node { exception, children: Vec::new(), previous: None, previous_source: None })
}

/// Pre-order from the final exception (id 0), previous exceptions before group members, then
/// reversed: oldest first, the final one last.
fn flatten(root: Option<Node<'_>>) -> Vec<Exception<'_>> {
    let Some(root) = root else { return Vec::new() };
    let mut walked: Vec<(Exception<'_>, usize, Option<usize>, Option<&'static str>)> = Vec::new();
    let mut has_group = false;
    let mut stack: Vec<(Node<'_>, Option<usize>, Option<&'static str>)> = vec![(root, None, None)];
    while let Some((node, parent, source)) = stack.pop() {
        let id = walked.len();
        has_group |= node.exception.is_group;
        for (i, child) in node.children.into_iter().enumerate().rev() {
            stack.push((child, Some(id), Some(member_source(i))));
        }
        if let Some(previous) = node.previous {
            stack.push((*previous, Some(id), node.previous_source));
        }
        walked.push((node.exception, id, parent, source));
    }
    let mut out: Vec<Exception<'_>> = walked
        .into_iter()
        .map(|(mut exception, id, parent, source)| {
            exception.source = source;
            if has_group {
                exception.exception_id = Some(id);
                exception.parent_id = parent;
            }
            exception
        })
        .collect();
    out.reverse();
    out
}

fn member_source(i: usize) -> &'static str {
    const NAMES: [&str; 16] = [
        "exceptions[0]",
        "exceptions[1]",
        "exceptions[2]",
        "exceptions[3]",
        "exceptions[4]",
        "exceptions[5]",
        "exceptions[6]",
        "exceptions[7]",
        "exceptions[8]",
        "exceptions[9]",
        "exceptions[10]",
        "exceptions[11]",
        "exceptions[12]",
        "exceptions[13]",
        "exceptions[14]",
        "exceptions[15]",
    ];
    // Python prints at most 15 members of a group (then "and N more exceptions")
    NAMES.get(i).copied().unwrap_or("exceptions[15]")
}

/// The raised exception's own lines in a trace: where they start, its type, its message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Raised<'a> {
    pub start: usize,
    pub type_name: Option<&'a str>,
    pub value: Option<Cow<'a, str>>,
}

/// The raised exception's own lines at the end of a plain Python traceback (not a group), read
/// without the rest. None when the text has no frame line, or holds an exception group.
pub fn final_exception(text: &str) -> Option<Raised<'_>> {
    use memchr::memmem::{Finder, FinderRev};
    use std::sync::OnceLock;
    static GROUP: OnceLock<Finder<'static>> = OnceLock::new();
    static FRAME: OnceLock<FinderRev<'static>> = OnceLock::new();
    static SEPARATOR: OnceLock<Finder<'static>> = OnceLock::new();
    let bytes = text.as_bytes();
    if GROUP.get_or_init(|| Finder::new("Exception Group Traceback")).find(bytes).is_some() {
        return None;
    }
    // the last frame line, then the source and caret lines under it
    let frames = FRAME.get_or_init(|| FinderRev::new("File \""));
    let (line_start, frame_indent) = frames.rfind_iter(bytes).find_map(|at| {
        let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[at..].find('\n').map_or(text.len(), |i| at + i);
        let line = &text[line_start..line_end];
        frame_line(line).map(|_| (line_end, indent(line)))
    })?;
    let mut at = line_start;
    while at < text.len() {
        let next_start = at + 1;
        let next_end = text[next_start..].find('\n').map_or(text.len(), |i| next_start + i);
        let line = text[next_start..next_end].strip_suffix('\r').unwrap_or(&text[next_start..next_end]);
        if !line.trim_ascii().is_empty() && indent(line) <= frame_indent && repeat_count(line).is_none() {
            break;
        }
        at = next_end;
    }
    let start = (at + 1).min(text.len());
    if SEPARATOR.get_or_init(|| Finder::new("the above exception")).find(&bytes[start..]).is_some() {
        return None; // the last exception printed no frames: read the whole chain
    }
    // as `plain` reads the lines after the frames: `Type: message`, the message to the end
    let tail = text[start..].trim_end();
    let first_end = tail.find('\n').unwrap_or(tail.len());
    let first = tail[..first_end].strip_suffix('\r').unwrap_or(&tail[..first_end]).trim_ascii();
    let Some((name, value)) = type_line(first) else {
        let rest: Vec<&str> = lines(tail).collect();
        let node = plain(text, &rest)?;
        return Some(Raised { start, type_name: None, value: node.exception.value });
    };
    let more = &tail[first_end..];
    let value = match value {
        None if more.trim().is_empty() => None,
        None => Some(Cow::Owned(more.trim().to_owned())),
        Some(v) if more.is_empty() => Some(Cow::Borrowed(v.trim_end())),
        Some(v) => {
            // lines after the first keep their indentation, lose trailing blanks
            let from = v.as_ptr() as usize - tail.as_ptr() as usize;
            let clean = !more.split('\n').any(|l| l.len() != l.trim_end().len());
            if clean {
                Some(Cow::Borrowed(&tail[from..]))
            } else {
                let mut joined = v.trim_end().to_owned();
                for line in lines(&more[1..]) {
                    joined.push('\n');
                    joined.push_str(line.trim_end());
                }
                Some(Cow::Owned(joined.trim_end().to_owned()))
            }
        }
    };
    Some(Raised { start, type_name: Some(name), value })
}

/// One piece of the message a `raise` statement formats: its literal text, or a value it
/// interpolates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    Value,
}

/// What the source line `raise Class(f"… {x} …", …)` formats, when `class` is the class it raises
/// and its first argument is an f-string, `"…".format(…)` or `"…" % …` with values in it.
pub fn raised_format(line: &str, class: &str) -> Option<Vec<Piece>> {
    let rest = line.trim().strip_prefix("raise ")?.trim_start();
    let open = rest.find('(')?;
    let raised = rest[..open].trim();
    if raised.rsplit('.').next() != Some(class) || class.is_empty() {
        return None;
    }
    let mut at = rest[open + 1..].trim_start();
    let mut pieces: Vec<Piece> = Vec::new();
    let mut formatted = false;
    let mut plain_text = String::new();
    let mut any = false;
    // adjacent literals concatenate: f"a" "b"
    while let Some((literal, is_f, after)) = string_literal(at) {
        any = true;
        if is_f {
            formatted = true;
            if !plain_text.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut plain_text)));
            }
            pieces.extend(fstring_pieces(&literal)?);
        } else {
            plain_text.push_str(&literal);
        }
        at = after.trim_start();
    }
    if !any {
        return None;
    }
    if !plain_text.is_empty() {
        let text = std::mem::take(&mut plain_text);
        if at.starts_with(".format(") {
            formatted = true;
            pieces.extend(fstring_pieces(&text)?);
        } else if at.starts_with('%') {
            formatted = true;
            pieces.extend(percent_pieces(&text));
        } else {
            pieces.push(Piece::Text(text));
        }
    }
    (formatted && pieces.iter().any(|p| matches!(p, Piece::Value))).then_some(pieces)
}

/// A string literal at the start of `text` (`f"…"`, `'…'`, `rf'…'`, triple quotes) -> (its
/// value with escapes decoded, whether it is an f-string, what follows it).
fn string_literal(text: &str) -> Option<(String, bool, &str)> {
    let prefix_len =
        text.bytes().take_while(|b| matches!(b, b'f' | b'F' | b'r' | b'R' | b'b' | b'B' | b'u' | b'U')).count();
    if prefix_len > 2 {
        return None;
    }
    let prefix = text[..prefix_len].to_ascii_lowercase();
    let raw = prefix.contains('r');
    let is_f = prefix.contains('f');
    let body = &text[prefix_len..];
    let quote = body.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let triple: String = std::iter::repeat_n(quote, 3).collect();
    let (delimiter, inner) =
        if body.starts_with(&triple) { (triple.as_str(), &body[3..]) } else { (&body[..1], &body[1..]) };
    let mut out = String::new();
    let mut chars = inner.char_indices().peekable();
    let mut depth = 0usize; // inside an f-string's braces quotes of the other kind may appear
    while let Some((i, c)) = chars.next() {
        if depth == 0 && inner[i..].starts_with(delimiter) {
            return Some((out, is_f, &inner[i + delimiter.len()..]));
        }
        if is_f {
            match c {
                '{' if chars.peek().map(|p| p.1) == Some('{') && depth == 0 => {
                    chars.next();
                    out.push_str("{{");
                    continue;
                }
                '{' => depth += 1,
                '}' if depth > 0 => depth -= 1,
                _ => {}
            }
        }
        if c == '\\' && !raw {
            match chars.next() {
                Some((_, 'n')) => out.push('\n'),
                Some((_, 't')) => out.push('\t'),
                Some((_, 'r')) => out.push('\r'),
                Some((_, '0')) => out.push('\0'),
                Some((j, 'x')) => {
                    let hex = inner.get(j + 1..j + 3)?;
                    out.push(char::from_u32(u32::from_str_radix(hex, 16).ok()?)?);
                    chars.next();
                    chars.next();
                }
                Some((j, 'u')) => {
                    let hex = inner.get(j + 1..j + 5)?;
                    out.push(char::from_u32(u32::from_str_radix(hex, 16).ok()?)?);
                    for _ in 0..4 {
                        chars.next();
                    }
                }
                Some((_, other)) => out.push(other),
                None => return None,
            }
            continue;
        }
        out.push(c);
    }
    None // the literal goes on past the line (a statement over several lines)
}

/// `a {x} b {{c}}` -> [Text("a "), Value, Text(" b {c}")]
fn fstring_pieces(literal: &str) -> Option<Vec<Piece>> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut chars = literal.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                text.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                text.push('}');
            }
            '{' => {
                let mut depth = 1;
                for inner in chars.by_ref() {
                    match inner {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                if depth != 0 {
                    return None;
                }
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                pieces.push(Piece::Value);
            }
            other => text.push(other),
        }
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Some(pieces)
}

/// `"a %s b %(n)d %%"` -> [Text("a "), Value, Text(" b "), Value, Text(" %")]
fn percent_pieces(literal: &str) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut chars = literal.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            text.push(c);
            continue;
        }
        if chars.peek() == Some(&'%') {
            chars.next();
            text.push('%');
            continue;
        }
        if chars.peek() == Some(&'(') {
            for inner in chars.by_ref() {
                if inner == ')' {
                    break;
                }
            }
        }
        // flags, width, precision, then the conversion letter
        while chars.peek().is_some_and(|p| matches!(p, '-' | '+' | ' ' | '#' | '0'..='9' | '.' | '*')) {
            chars.next();
        }
        chars.next();
        if !text.is_empty() {
            pieces.push(Piece::Text(std::mem::take(&mut text)));
        }
        pieces.push(Piece::Value);
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHAINED: &str = "Traceback (most recent call last):\n  File \"/app/app/db.py\", line 10, in connect\n    conn = psycopg.connect(dsn)\n           ^^^^^^^^^^^^^^^^^^^^\npsycopg.OperationalError: connection failed\n\tIs the server running?\n\nThe above exception was the direct cause of the following exception:\n\nTraceback (most recent call last):\n  File \"/app/app/api.py\", line 7, in check\n    raise Unavailable() from exc\napp.errors.Unavailable: db down\n";

    #[test]
    fn chains_are_oldest_first_with_their_relation() {
        let excs = parse(CHAINED);
        assert_eq!(excs.len(), 2);
        assert_eq!(excs[0].type_name.as_deref(), Some("psycopg.OperationalError"));
        assert_eq!(excs[0].value.as_deref(), Some("connection failed\n\tIs the server running?"));
        assert!(matches!(excs[0].value, Some(Cow::Borrowed(_))), "a multi-line message is a slice of the text");
        assert_eq!(excs[0].source, Some("__cause__"));
        assert_eq!(excs[0].frames[0].context_line.as_deref(), Some("conn = psycopg.connect(dsn)"));
        assert_eq!(excs[1].type_name.as_deref(), Some("app.errors.Unavailable"));
        assert_eq!(excs[1].value.as_deref(), Some("db down"));
        assert_eq!(excs[1].source, None);
        assert_eq!(excs[1].frames[0].function.as_deref(), Some("check"));
    }

    #[test]
    fn the_final_exception_alone() {
        let Raised { start, type_name: kind, value } = final_exception(CHAINED).unwrap();
        assert_eq!(kind, Some("app.errors.Unavailable"));
        assert_eq!(value.as_deref(), Some("db down"));
        assert!(CHAINED[start..].starts_with("app.errors.Unavailable"));
        let text = "Traceback (most recent call last):\n  File \"/app/x.py\", line 2, in f\n    g()\n    ^^^\npydantic_core._pydantic_core.ValidationError: 1 validation error for M\nname\n  Field required [type=missing]\n";
        let Raised { type_name: kind, value, .. } = final_exception(text).unwrap();
        assert_eq!(kind, Some("pydantic_core._pydantic_core.ValidationError"));
        assert_eq!(value.as_deref(), Some("1 validation error for M\nname\n  Field required [type=missing]"));
        assert_eq!(parse(text).last().unwrap().value, value);
        let spaced = text.replace("name\n", "name   \n");
        let value = final_exception(&spaced).unwrap().value;
        assert_eq!(parse(&spaced).last().unwrap().value, value, "trailing blanks go, as the whole parse has it");
    }

    #[test]
    fn an_exception_during_handling_of_another() {
        let text = CHAINED.replace("The above exception was the direct cause of the following exception:", CONTEXT);
        let excs = parse(&text);
        assert_eq!(excs.len(), 2);
        assert_eq!(excs[0].source, Some("__context__"));
    }

    #[test]
    fn repeated_lines_are_expanded() {
        let text = "Traceback (most recent call last):\n  File \"/app/x.py\", line 2, in f\n    return f()\n  [Previous line repeated 5 more times]\nRecursionError: deep\n";
        let excs = parse(text);
        assert_eq!(excs[0].frames.len(), 6);
    }

    #[test]
    fn what_a_raise_statement_formats() {
        use Piece::{Text, Value};
        let pieces = raised_format(r#"raise LookupError(f"unknown tool name: {V.tool}")"#, "LookupError");
        assert_eq!(pieces, Some(vec![Text("unknown tool name: ".into()), Value]));
        let pieces = raised_format(r#"raise app.errors.Bad(f'intent {x!r}, {{literal}} {d["k"]:>4}', code=1)"#, "Bad");
        assert_eq!(pieces, Some(vec![Text("intent ".into()), Value, Text(", {literal} ".into()), Value]));
        let pieces = raised_format(r#"raise ValueError("row %d of %(file)s failed" % (n, f))"#, "ValueError");
        assert_eq!(pieces, Some(vec![Text("row ".into()), Value, Text(" of ".into()), Value, Text(" failed".into())]));
        let pieces = raised_format(r#"raise ValueError("bad {} here".format(x))"#, "ValueError");
        assert_eq!(pieces, Some(vec![Text("bad ".into()), Value, Text(" here".into())]));
        assert_eq!(raised_format(r#"raise ValueError("constant")"#, "ValueError"), None);
        assert_eq!(raised_format(r#"raise ValueError(msg)"#, "ValueError"), None);
        assert_eq!(raised_format(r#"raise KeyError(f"{k}")"#, "ValueError"), None, "another class");
        assert_eq!(
            raised_format(r#"raise ValueError(f"starts here"#, "ValueError"),
            None,
            "a statement over several lines"
        );
    }

    #[test]
    fn a_type_line_without_a_message() {
        let excs = parse("Traceback (most recent call last):\n  File \"/app/x.py\", line 2, in f\nAssertionError\n");
        assert_eq!(excs[0].type_name.as_deref(), Some("AssertionError"));
        assert_eq!(excs[0].value, None);
    }
}
