//! The JVM (Java, Kotlin, Scala, Groovy): `Throwable.printStackTrace()` output, with
//! `Caused by:` (the cause, printed after), `... N more` (the frames it shares with the trace
//! printed before it) and `Suppressed:` blocks (skipped).

use std::borrow::Cow;

use super::{indent, lines, parse_u32, Exception, Frame};

/// `at [module/]pkg.Class.method(location)` -> (class, method, location)
fn frame_parts(line: &str) -> Option<(&str, &str, &str)> {
    let body = line.trim().strip_prefix("at ")?;
    let open = body.find('(')?;
    let close = body[open..].find(')')? + open;
    let tail = body[close + 1..].trim();
    // Logback adds the jar: `~[app.jar:1.2]`
    if !(tail.is_empty() || tail.starts_with('[') || tail.starts_with("~[")) {
        return None;
    }
    let qualified = &body[..open];
    let qualified = qualified.rsplit('/').next().unwrap_or(qualified);
    let (class, method) = qualified.rsplit_once('.')?;
    if class.is_empty()
        || method.is_empty()
        || !class.chars().all(|c| c.is_alphanumeric() || matches!(c, '_' | '$' | '.'))
        || !method.chars().all(|c| c.is_alphanumeric() || matches!(c, '_' | '$' | '<' | '>'))
    {
        return None;
    }
    Some((class, method, &body[open + 1..close]))
}

/// A location only the JVM prints: `Foo.java:42`, `Native Method`, `Unknown Source`.
pub(crate) fn is_jvm_location(location: &str) -> bool {
    if matches!(location, "Native Method" | "Unknown Source" | "<generated>") {
        return true;
    }
    let file = location.split(':').next().unwrap_or(location);
    file.rsplit_once('.')
        .is_some_and(|(_, ext)| matches!(ext, "java" | "kt" | "kts" | "scala" | "groovy" | "clj" | "cljc"))
}

pub fn has_frame(text: &str) -> bool {
    lines(text).any(|l| frame_parts(l).is_some_and(|(_, _, loc)| is_jvm_location(loc)))
}

fn frame<'a>(class: &'a str, method: &'a str, location: &'a str) -> Frame<'a> {
    let (path, lineno) = match location.rsplit_once(':') {
        Some((file, n)) => (Some(file), parse_u32(n)),
        None if matches!(location, "Native Method" | "Unknown Source" | "") => (None, None),
        None => (Some(location), None),
    };
    Frame {
        path: path.filter(|p| !p.is_empty()).map(Cow::Borrowed),
        function: Some(Cow::Borrowed(method)),
        lineno,
        owner: Some(Cow::Borrowed(class)),
        ..Default::default()
    }
}

/// `Exception in thread "main" pkg.Type: message`, `Caused by: pkg.Type: message`
fn header(line: &str) -> (Option<&str>, Option<&str>) {
    let mut t = line.trim();
    if let Some(rest) = t.strip_prefix("Exception in thread \"") {
        if let Some(end) = rest.find("\" ") {
            t = &rest[end + 2..];
        }
    }
    t = t.strip_prefix("Caused by: ").unwrap_or(t);
    let end = t.find(|c: char| !(c.is_alphanumeric() || matches!(c, '_' | '$' | '.'))).unwrap_or(t.len());
    let (name, rest) = t.split_at(end);
    if name.is_empty() || !name.starts_with(|c: char| c.is_alphabetic() || c == '_' || c == '$') {
        return (None, Some(t));
    }
    match rest.strip_prefix(':') {
        Some(value) => (Some(name), Some(value.strip_prefix(' ').unwrap_or(value))),
        None if rest.is_empty() => (Some(name), None),
        None => (None, Some(t)),
    }
}

struct Block<'a> {
    header: &'a str,
    message: Vec<&'a str>,
    frames: Vec<Frame<'a>>,
    common: usize,
}

pub fn parse(text: &str) -> Vec<Exception<'_>> {
    let mut blocks: Vec<Block<'_>> = Vec::new();
    let mut suppressed_indent: Option<usize> = None;
    for raw in lines(text) {
        let line = raw.trim_end();
        if line.trim().is_empty() {
            continue;
        }
        let ind = indent(line);
        if let Some(at) = suppressed_indent {
            if ind > at {
                continue;
            }
            suppressed_indent = None;
        }
        let stripped = line.trim();
        if stripped.starts_with("Suppressed: ") {
            suppressed_indent = Some(ind);
            continue;
        }
        if let (Some((class, method, location)), Some(block)) = (frame_parts(line), blocks.last_mut()) {
            block.frames.push(frame(class, method, location));
            continue;
        }
        if let Some(n) = stripped
            .strip_prefix("... ")
            .and_then(|r| r.strip_suffix(" more").or_else(|| r.strip_suffix(" common frames omitted")))
            .and_then(|n| n.parse::<usize>().ok())
        {
            if let Some(block) = blocks.last_mut() {
                block.common = n;
                continue;
            }
        }
        match blocks.last_mut() {
            Some(block) if !stripped.starts_with("Caused by: ") => {
                if block.frames.is_empty() {
                    block.message.push(stripped); // a message of several lines
                }
            }
            _ => blocks.push(Block { header: stripped, message: Vec::new(), frames: Vec::new(), common: 0 }),
        }
    }
    let mut out: Vec<Exception<'_>> = Vec::new();
    let mut previous: Vec<Frame<'_>> = Vec::new();
    for block in blocks {
        let mut frames = block.frames;
        if block.common > 0 && !previous.is_empty() {
            let take = block.common.min(previous.len());
            frames.extend(previous[previous.len() - take..].iter().cloned());
        }
        previous = frames.clone();
        let (type_name, value) = header(block.header);
        let value = if block.message.is_empty() {
            value.map(Cow::Borrowed)
        } else {
            let mut parts = vec![value.unwrap_or("")];
            parts.extend(block.message);
            Some(Cow::Owned(parts.join("\n").trim().to_owned()))
        };
        frames.reverse();
        out.push(Exception {
            type_name: type_name.map(Cow::Borrowed),
            value,
            frames,
            source: None,
            ..Default::default()
        });
    }
    // printed: the thrown one first, then its causes; Sentry's order is the reverse
    out.reverse();
    let last = out.len().saturating_sub(1);
    for (i, exception) in out.iter_mut().enumerate() {
        if i < last {
            exception.source = Some("cause");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_come_first_and_share_frames() {
        let text = "java.lang.RuntimeException: failed to charge\n\tat com.acme.billing.ChargeService.charge(ChargeService.java:42)\n\tat java.base/java.lang.Thread.run(Thread.java:833)\nCaused by: java.net.ConnectException: Connection refused\n\tat com.acme.http.Client.post(Client.java:77)\n\t... 1 more\n";
        let excs = parse(text);
        assert_eq!(excs.len(), 2);
        assert_eq!(excs[0].type_name.as_deref(), Some("java.net.ConnectException"));
        assert_eq!(excs[0].source, Some("cause"));
        assert_eq!(excs[0].frames.len(), 2);
        assert_eq!(excs[0].frames[0].owner.as_deref(), Some("java.lang.Thread"));
        assert_eq!(excs[1].value.as_deref(), Some("failed to charge"));
        assert_eq!(excs[1].frames[1].function.as_deref(), Some("charge"));
        assert_eq!(excs[1].frames[1].lineno, Some(42));
    }
}
