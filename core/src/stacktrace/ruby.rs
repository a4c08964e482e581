//! Ruby: a backtrace (`/app/models/cart.rb:45:in 'load_items'`, Ruby 3.4's `'Cart#load_items'`),
//! as `full_message` prints it too: the first line carries the message and the class
//! (`…:in 'm': message (Type)`), the next ones start with `from`. Innermost first as printed.

use std::borrow::Cow;

use super::{lines, parse_u32, Exception, Frame};

/// A `full_message`'s first line's message and class.
type Header<'a> = (&'a str, &'a str);

/// `[from ]path:line:in 'function'[: message (Type)]` -> (path, line, function, message and type)
fn frame_line(line: &str) -> Option<(&str, u32, &str, Option<Header<'_>>)> {
    let t = line.trim();
    let t = t.strip_prefix("from ").unwrap_or(t);
    let at = t.find(":in ")?;
    let (place, rest) = (&t[..at], &t[at + 4..]);
    let (path, n) = place.rsplit_once(':')?;
    if path.is_empty() || path.contains(' ') {
        return None;
    }
    let lineno = parse_u32(n)?;
    let open = rest.chars().next().filter(|c| matches!(c, '`' | '\''))?;
    let body = &rest[open.len_utf8()..];
    let close = body.find('\'')?;
    let function = &body[..close];
    let after = &body[close + 1..];
    let extra = after.strip_prefix(": ").and_then(|m| {
        let m = m.trim_end();
        let open = m.rfind(" (")?;
        let kind = m[open + 2..].strip_suffix(')')?;
        kind.chars().all(|c| c.is_alphanumeric() || c == ':' || c == '_').then_some((&m[..open], kind))
    });
    Some((path, lineno, function, extra))
}

pub fn has_frame(text: &str) -> bool {
    lines(text).any(|l| frame_line(l).is_some_and(|(path, ..)| path.ends_with(".rb") || path.ends_with(".erb")))
}

pub fn parse(text: &str) -> Vec<Exception<'_>> {
    let mut frames: Vec<Frame<'_>> = Vec::new();
    let mut header: Option<(&str, &str)> = None;
    for line in lines(text) {
        if let Some((path, lineno, function, extra)) = frame_line(line) {
            if frames.is_empty() {
                header = extra;
            }
            frames.push(Frame {
                path: Some(Cow::Borrowed(path)),
                function: Some(Cow::Borrowed(function)),
                lineno: Some(lineno),
                ..Default::default()
            });
        }
    }
    if frames.is_empty() {
        return Vec::new();
    }
    frames.reverse();
    let (value, type_name) = match header {
        Some((value, kind)) => (Some(Cow::Borrowed(value)), Some(Cow::Borrowed(kind))),
        None => (None, None),
    };
    vec![Exception { type_name, value, frames, ..Default::default() }]
}

fn is_library(path: &str) -> bool {
    ["/gems/", "/vendor/bundle/", "/lib/ruby/", "/rubygems/", "/.rbenv/", "/.rvm/"].iter().any(|m| path.contains(m))
        || path.starts_with("<internal:")
}

pub fn in_app(frame: &Frame<'_>) -> bool {
    frame.path.as_deref().is_some_and(|p| !is_library(p))
}

/// The path under its gem (`lib/active_record/core.rb`) or its application root
/// (`app/models/cart.rb`: `/app/`, `/srv/<name>/`, Capistrano's `releases/<stamp>/` and `current/`).
pub fn relative(path: &str) -> &str {
    if let Some(at) = path.rfind("/gems/") {
        let rest = &path[at + 6..];
        return rest.find('/').map_or(rest, |i| &rest[i + 1..]);
    }
    for marker in ["/releases/", "/current/"] {
        if let Some(at) = path.rfind(marker) {
            let rest = &path[at + marker.len()..];
            return if marker == "/releases/" { rest.find('/').map_or(rest, |i| &rest[i + 1..]) } else { rest };
        }
    }
    for root in ["/app/", "/usr/src/app/", "/var/www/", "/srv/", "/home/"] {
        if let Some(rest) = path.strip_prefix(root) {
            let skip = match root {
                "/var/www/" | "/srv/" => 1,
                "/home/" => 2,
                _ => 0,
            };
            let mut rest = rest;
            for _ in 0..skip {
                if let Some(i) = rest.find('/') {
                    rest = &rest[i + 1..];
                }
            }
            return rest;
        }
    }
    path.trim_start_matches('/')
}

pub fn module(path: &str) -> Option<String> {
    let rel = relative(path);
    let stem = rel.strip_suffix(".rb").or_else(|| rel.strip_suffix(".erb")).unwrap_or(rel);
    let parts: Vec<&str> = stem.split('/').filter(|p| !p.is_empty()).collect();
    (!parts.is_empty()).then(|| parts.join("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backtraces_and_full_messages() {
        let text = "/app/app/models/cart.rb:45:in `load_items': Error connecting to Redis (Redis::CannotConnectError)\n\tfrom /app/vendor/bundle/ruby/3.3.0/gems/redis-5.0/lib/redis.rb:10:in 'Redis#call'\n";
        let excs = parse(text);
        assert_eq!(excs[0].type_name.as_deref(), Some("Redis::CannotConnectError"));
        assert_eq!(excs[0].value.as_deref(), Some("Error connecting to Redis"));
        assert_eq!(excs[0].frames[1].function.as_deref(), Some("load_items"));
        assert_eq!(excs[0].frames[0].function.as_deref(), Some("Redis#call"));
        assert!(!in_app(&excs[0].frames[0]));
        assert_eq!(module("/app/app/models/cart.rb").as_deref(), Some("app.models.cart"));
        assert_eq!(module("/app/vendor/bundle/ruby/3.3.0/gems/redis-5.0/lib/redis.rb").as_deref(), Some("lib.redis"));
    }
}
