//! JavaScript: V8's `error.stack` (`    at fn (file:line:col)`, `    at file:line:col`,
//! `async`, `new`, `[as method]`) and Firefox/Safari's (`fn@file:line:col`). One exception;
//! V8 prints the innermost frame first, so frames are reversed to Sentry's order.

use std::borrow::Cow;

use super::{lines, parse_u32, Exception, Frame};

/// Whether the text has a V8 or a Firefox frame line.
pub fn has_frame(text: &str) -> bool {
    lines(text).any(|l| v8_frame(l).is_some_and(|f| f.lineno.is_some()) || gecko_frame(l).is_some())
}

/// `file:line:col` / `file:line` -> (file, line, col)
fn location(loc: &str) -> Option<(&str, u32, Option<u32>)> {
    let (head, last) = loc.rsplit_once(':')?;
    let last_n = parse_u32(last)?;
    if let Some((file, line)) = head.rsplit_once(':') {
        if let Some(line) = parse_u32(line) {
            if !file.is_empty() {
                return Some((file, line, Some(last_n)));
            }
        }
    }
    (!head.is_empty()).then_some((head, last_n, None))
}

fn v8_frame(line: &str) -> Option<Frame<'_>> {
    let body = line.trim().strip_prefix("at ")?;
    let body = body.strip_prefix("async ").unwrap_or(body);
    let (function, loc) = match body.strip_suffix(')').and_then(|b| b.rfind(" (").map(|i| (b, i))) {
        Some((b, i)) => (Some(&b[..i]), &b[i + 2..]),
        None => (None, body),
    };
    let function = function.map(|f| f.strip_prefix("async ").unwrap_or(f));
    match location(loc) {
        Some((file, lineno, colno)) => Some(Frame {
            path: Some(Cow::Borrowed(file)),
            function: Some(Cow::Borrowed(function.unwrap_or("<anonymous>"))),
            lineno: Some(lineno),
            colno,
            ..Default::default()
        }),
        // `native`, `<anonymous>`, `index 0` (Promise.all): a function without a place
        None => {
            let name = function.unwrap_or(loc).trim();
            let name = name.strip_prefix("async ").unwrap_or(name);
            (!name.is_empty() && !name.contains(char::is_whitespace) || function.is_some())
                .then(|| Frame { function: Some(Cow::Borrowed(name)), ..Default::default() })
        }
    }
}

fn gecko_frame(line: &str) -> Option<Frame<'_>> {
    let t = line.trim();
    let (function, loc) = t.split_once('@')?;
    if function.contains(char::is_whitespace) {
        return None;
    }
    let (file, lineno, colno) = location(loc)?;
    Some(Frame {
        path: Some(Cow::Borrowed(file)),
        function: Some(Cow::Borrowed(if function.is_empty() { "<anonymous>" } else { function })),
        lineno: Some(lineno),
        colno,
        ..Default::default()
    })
}

/// `Uncaught TypeError: message` -> (type, value)
fn header(line: &str) -> Option<(&str, Option<&str>)> {
    let line = line.trim();
    let line = line.strip_prefix("Uncaught ").unwrap_or(line);
    let end = line.find(|c: char| !(c.is_alphanumeric() || matches!(c, '_' | '$' | '.'))).unwrap_or(line.len());
    let (name, rest) = line.split_at(end);
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    if rest.is_empty() {
        return Some((name, None));
    }
    let value = rest.strip_prefix(':')?;
    Some((name, Some(value.strip_prefix(' ').unwrap_or(value))))
}

pub fn parse(text: &str) -> Vec<Exception<'_>> {
    let mut head: Vec<&str> = Vec::new();
    let mut frames: Vec<Frame<'_>> = Vec::new();
    for line in lines(text) {
        if line.trim().is_empty() {
            continue;
        }
        if let Some(frame) = v8_frame(line).or_else(|| gecko_frame(line)) {
            frames.push(frame);
        } else if frames.is_empty() {
            head.push(line.trim_end());
        }
    }
    if head.is_empty() && frames.is_empty() {
        return Vec::new();
    }
    let (type_name, value) = match head.first().and_then(|h| header(h)) {
        Some((name, value)) => {
            let value = if head.len() > 1 {
                let mut parts = vec![value.unwrap_or("")];
                parts.extend(&head[1..]);
                Some(Cow::Owned(parts.join("\n").trim().to_owned()))
            } else {
                value.map(Cow::Borrowed)
            };
            (Some(Cow::Borrowed(name)), value)
        }
        None if !head.is_empty() => (None, Some(Cow::Owned(head.join("\n").trim().to_owned()))),
        None => (None, None),
    };
    frames.reverse();
    vec![Exception { type_name, value, frames, ..Default::default() }]
}

fn is_library_path(path: &str) -> bool {
    path.contains("/node_modules/")
        || path.contains("\\node_modules\\")
        || path.starts_with("node:")
        || path.starts_with("internal/")
        || path.starts_with('<')
}

pub fn in_app(frame: &Frame<'_>) -> bool {
    frame.path.as_deref().is_some_and(|p| !is_library_path(p))
}

/// The path after its scheme and host, or after `node_modules/`, or under an app root.
fn relative(path: &str) -> Option<&str> {
    let p = path.strip_prefix("node:").unwrap_or(path);
    if let Some(at) = p.rfind("node_modules/") {
        return Some(&p[at + 13..]);
    }
    let p = p.strip_prefix("webpack://").or_else(|| p.strip_prefix("webpack-internal://")).unwrap_or(p);
    let p = match p.find("://") {
        Some(at) => {
            let rest = &p[at + 3..];
            rest.find('/').map_or("", |i| &rest[i..])
        }
        None => p,
    };
    if let Some(at) = p.rfind("/src/") {
        return Some(&p[at + 5..]);
    }
    for root in ["/app/", "/srv/", "/usr/src/app/", "/var/task/", "/opt/", "/home/", "/workspace/"] {
        if let Some(rest) = p.strip_prefix(root) {
            // /srv/<name>/, /opt/<name>/, /home/<user>/<project>/: their first directories too
            let skip = match root {
                "/srv/" | "/opt/" | "/workspace/" => 1,
                "/home/" => 2,
                _ => 0,
            };
            let mut rest = rest;
            for _ in 0..skip {
                if let Some(i) = rest.find('/') {
                    rest = &rest[i + 1..];
                }
            }
            return Some(rest);
        }
    }
    Some(p.trim_start_matches(['/', '.']))
}

/// A bundle's content hash (`main.3f2a1b9c`, `orders-BX3eO0Pa`): 8+ hex digits, or 6+ letters
/// and digits with a digit and mixed case.
fn is_hash(part: &str) -> bool {
    let hex = part.len() >= 8 && part.bytes().all(|b| b.is_ascii_hexdigit());
    let mixed = part.len() >= 6
        && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && part.bytes().any(|b| b.is_ascii_digit())
        && part.bytes().any(|b| b.is_ascii_uppercase())
        && part.bytes().any(|b| b.is_ascii_lowercase());
    hex || mixed
}

pub fn module(path: &str) -> Option<String> {
    if path.starts_with('<') || path.contains("://") && !path.starts_with("webpack") {
        return None;
    }
    let rel = relative(path)?;
    let mut stem = rel;
    for ext in super::JS_EXTENSIONS {
        if let Some(s) = stem.strip_suffix(ext) {
            stem = s;
            break;
        }
    }
    let mut parts: Vec<String> = Vec::new();
    for part in stem.split('/').filter(|p| !p.is_empty() && *p != "." && *p != "..") {
        // file names keep their dots and dashes; a hash after the last one goes
        let cut = match part.rfind(['.', '-']) {
            Some(i) if is_hash(&part[i + 1..]) => &part[..i],
            _ => part,
        };
        parts.push(cut.to_owned());
    }
    if parts.last().is_some_and(|p| p == "index") && parts.len() > 1 {
        parts.pop();
    }
    (!parts.is_empty()).then(|| parts.join("."))
}

/// Where the code is in a stable form, for grouping frames without a module (browser URLs):
/// the URL's path with hashes dropped.
pub fn location_name(path: &str) -> Option<String> {
    let p = match path.find("://") {
        Some(at) => {
            let rest = &path[at + 3..];
            rest.find('/').map_or("", |i| &rest[i..])
        }
        None => path,
    };
    module(p.split(['?', '#']).next().unwrap_or(p))
}

pub fn filename(path: &str) -> Option<String> {
    if path.starts_with('<') || path.contains("://") {
        return Some(path.to_owned());
    }
    if path.contains("node_modules/") {
        return relative(path).map(str::to_owned);
    }
    Some(path.rsplit(['/', '\\']).next().unwrap_or(path).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v8_frames_are_reversed_and_named() {
        let text = "TypeError: Cannot read properties of undefined (reading 'id')\n    at getUser (/srv/app/src/users.js:14:22)\n    at async Promise.all (index 0)\n    at Layer.handle [as handle_request] (/srv/app/node_modules/express/lib/router/layer.js:95:5)\n    at /srv/app/src/server.ts:40:7\n";
        let excs = parse(text);
        let frames = &excs[0].frames;
        assert_eq!(excs[0].type_name.as_deref(), Some("TypeError"));
        assert_eq!(frames.len(), 4);
        assert_eq!(frames[0].function.as_deref(), Some("<anonymous>"));
        assert_eq!(frames[1].function.as_deref(), Some("Layer.handle [as handle_request]"));
        assert_eq!(frames[2].function.as_deref(), Some("Promise.all"));
        assert_eq!(frames[2].path, None);
        assert_eq!(frames[3].colno, Some(22));
        assert_eq!(
            module("/srv/app/node_modules/express/lib/router/layer.js").as_deref(),
            Some("express.lib.router.layer")
        );
        assert_eq!(module("/app/dist/orders.3f2a1b9c.js").as_deref(), Some("dist.orders"));
        assert_eq!(module("/app/dist/session.BX3eO0Pa.js").as_deref(), Some("dist.session"));
        assert_eq!(module("node:internal/process/task_queues").as_deref(), Some("internal.process.task_queues"));
        assert_eq!(module("/srv/app/src/users.js").as_deref(), Some("users"));
    }
}
