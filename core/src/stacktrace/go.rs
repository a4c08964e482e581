//! Go: a panic (`panic: …`, then `goroutine N [running]:` and its frames) or an error printed
//! with a goroutine dump (`debug.Stack()`). Each frame is a function line
//! (`pkg/path.(*Type).Method(args)`) and a location line (`\t/path/file.go:42 +0x1d4`); the
//! running goroutine's frames are read, innermost first as printed, then reversed.

use std::borrow::Cow;

use super::{has_prefix, lines, parse_u32, Exception, Frame};

fn is_goroutine_header(line: &str) -> bool {
    line.starts_with("goroutine ") && line.trim_end().ends_with("]:")
}

/// `\t/path/file.go:42 +0x1d4` -> (path, 42)
fn location(line: &str) -> Option<(&str, u32)> {
    if !line.starts_with(['\t', ' ']) {
        return None;
    }
    let t = line.trim();
    let t = t.split(" +0x").next().unwrap_or(t);
    let (path, n) = t.rsplit_once(':')?;
    (path.ends_with(".go") || path.ends_with(".s")).then_some(())?;
    Some((path, parse_u32(n)?))
}

pub fn has_frame(text: &str) -> bool {
    lines(text).any(|l| location(l).is_some())
}

/// `main.(*Limiter).Allow(0xc0001, {…})` -> `main.(*Limiter).Allow`
fn without_arguments(line: &str) -> &str {
    let t = line.trim();
    let t = t.strip_prefix("created by ").unwrap_or(t);
    let t = t.split(" in goroutine ").next().unwrap_or(t);
    if !t.ends_with(')') {
        return t;
    }
    let mut depth = 0i32;
    for (i, c) in t.char_indices().rev() {
        match c {
            ')' | '}' => depth += 1,
            '(' | '{' => {
                depth -= 1;
                if depth == 0 {
                    return &t[..i];
                }
            }
            _ => {}
        }
    }
    t
}

/// `github.com/acme/edge/limiter.(*Limiter).Allow` -> (`github.com/acme/edge/limiter`, `(*Limiter).Allow`)
fn split_function(qualified: &str) -> (&str, &str) {
    let last_slash = qualified.rfind('/').map_or(0, |i| i + 1);
    match qualified[last_slash..].find('.') {
        Some(dot) => (&qualified[..last_slash + dot], &qualified[last_slash + dot + 1..]),
        None => ("", qualified),
    }
}

pub fn parse(text: &str) -> Vec<Exception<'_>> {
    let all: Vec<&str> = lines(text).collect();
    let start = all.iter().position(|l| is_goroutine_header(l));
    let head_end = start.unwrap_or(all.len());
    let head: Vec<&str> = all[..head_end].iter().map(|l| l.trim()).filter(|l| !l.is_empty()).collect();
    let mut frames: Vec<Frame<'_>> = Vec::new();
    if let Some(start) = start {
        let mut i = start + 1;
        while i < all.len() {
            let line = all[i];
            if line.trim().is_empty() || is_goroutine_header(line) {
                break; // the next goroutine: only the first (running) one is read
            }
            let loc = all.get(i + 1).and_then(|l| location(l));
            match loc {
                Some((path, lineno)) => {
                    let (package, function) = split_function(without_arguments(line));
                    frames.push(Frame {
                        path: Some(Cow::Borrowed(path)),
                        function: Some(Cow::Borrowed(function)),
                        lineno: Some(lineno),
                        owner: (!package.is_empty()).then_some(Cow::Borrowed(package)),
                        ..Default::default()
                    });
                    i += 2;
                }
                None => i += 1,
            }
        }
    }
    if head.is_empty() && frames.is_empty() {
        return Vec::new();
    }
    // `panic: message [recovered]`, possibly a nested `panic: …` after it: the first one
    let message = head.iter().find_map(|l| l.strip_prefix("panic: ")).or_else(|| head.first().copied());
    let value = message.map(|m| Cow::Borrowed(m.strip_suffix(" [recovered]").unwrap_or(m).trim()));
    frames.reverse();
    vec![Exception { type_name: None, value, frames, ..Default::default() }]
}

/// The standard library and the module cache are not the application's, nor the packages the
/// library prefixes name.
pub fn in_app(frame: &Frame<'_>, prefixes: &[String]) -> bool {
    let path = frame.path.as_deref().unwrap_or("");
    if path.contains("/pkg/mod/") || path.contains("/go/src/") || path.contains("/libexec/src/") {
        return false;
    }
    let package = frame.owner.as_deref().unwrap_or("");
    if package == "main" {
        return true;
    }
    !has_prefix(package, prefixes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_with_its_running_goroutine() {
        let text = "panic: runtime error: index out of range [3] with length 3\n\ngoroutine 9 [running]:\nmain.pickBackend(...)\n\t/build/edge/balancer/balancer.go:40\nmain.(*Balancer).Next(0xc0000b2000)\n\t/build/edge/balancer/balancer.go:120 +0x65\n";
        let excs = parse(text);
        assert_eq!(excs[0].value.as_deref(), Some("runtime error: index out of range [3] with length 3"));
        let frames = &excs[0].frames;
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[1].function.as_deref(), Some("pickBackend"));
        assert_eq!(frames[0].function.as_deref(), Some("(*Balancer).Next"));
        assert_eq!(frames[0].owner.as_deref(), Some("main"));
        assert_eq!(frames[0].lineno, Some(120));
        assert_eq!(split_function("github.com/acme/x/limiter.(*L).Allow"), ("github.com/acme/x/limiter", "(*L).Allow"));
    }
}
