//! .NET: `Exception.ToString()`: the exception's header, its inner exceptions (` ---> Type:
//! message`, each inside the one before), their frames (`   at Ns.Type.Method(args) in
//! /path/File.cs:line 42`; `--- End of inner exception stack trace ---` returns to the outer
//! one).

use std::borrow::Cow;

use super::{lines, parse_u32, Exception, Frame};

/// Where a frame's code is: its file and line.
type Place<'a> = (&'a str, Option<u32>);

/// `at Ns.Type.Method(args)[ in path:line N]` -> (qualified, args, location)
fn frame_parts(line: &str) -> Option<(&str, &str, Option<Place<'_>>)> {
    let body = line.trim().strip_prefix("at ")?;
    let open = body.find('(')?;
    let qualified = &body[..open];
    if qualified.is_empty() || qualified.contains(' ') || !qualified.contains('.') {
        return None;
    }
    let mut depth = 0usize;
    let mut close = None;
    for (i, c) in body[open..].char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    close = Some(open + i);
                    break;
                }
            }
            _ => {}
        }
    }
    let close = close?;
    let args = &body[open + 1..close];
    let tail = body[close + 1..].trim();
    let location = if tail.is_empty() {
        None
    } else {
        let place = tail.strip_prefix("in ")?;
        Some(match place.rsplit_once(":line ") {
            Some((path, n)) => (path, parse_u32(n.trim())),
            None => (place, None),
        })
    };
    Some((qualified, args, location))
}

pub fn has_frame(text: &str) -> bool {
    lines(text).any(|l| {
        frame_parts(l).is_some_and(|(_, args, location)| {
            location.is_some()
                || args.is_empty()
                || !super::jvm::is_jvm_location(args) && args.split(", ").all(|a| a.trim().contains(' '))
        }) || l.trim() == "--- End of inner exception stack trace ---"
    })
}

/// `Type (0x80004005): message` -> (type, message)
fn header(line: &str) -> (Option<&str>, Option<&str>) {
    let t = line.trim();
    let t = t.strip_prefix("---> ").unwrap_or(t);
    let t = t.strip_prefix("Unhandled exception. ").unwrap_or(t);
    let end = t.find(|c: char| !(c.is_alphanumeric() || matches!(c, '_' | '.' | '`'))).unwrap_or(t.len());
    let (name, mut rest) = t.split_at(end);
    if name.is_empty() || !name.contains('.') && !name.ends_with("Exception") {
        return (None, Some(t));
    }
    // an HRESULT or error code: ` (0x80004005)`, ` (111)`
    if let Some(after) = rest.strip_prefix(" (") {
        if let Some(close) = after.find(')') {
            rest = &after[close + 1..];
        }
    }
    match rest.strip_prefix(':') {
        Some(value) => (Some(name), Some(value.trim())),
        None if rest.trim().is_empty() => (Some(name), None),
        None => (None, Some(t)),
    }
}

pub fn parse(text: &str) -> Vec<Exception<'_>> {
    // outer first, each later one the inner exception of the one before
    let mut chain: Vec<(Exception<'_>, Vec<&str>)> = Vec::new();
    let mut current = 0usize;
    for line in lines(text) {
        let t = line.trim();
        if t.is_empty() || t == "--- End of stack trace from previous location ---" {
            continue;
        }
        if t == "--- End of inner exception stack trace ---" {
            current = current.saturating_sub(1);
            continue;
        }
        if let Some((qualified, _, location)) = frame_parts(line) {
            if chain.is_empty() {
                chain.push((Exception::default(), Vec::new()));
            }
            let (owner, method) = qualified.rsplit_once('.').unwrap_or(("", qualified));
            if let Some((exception, _)) = chain.get_mut(current) {
                exception.frames.push(Frame {
                    path: location.map(|(p, _)| Cow::Borrowed(p)),
                    function: Some(Cow::Borrowed(method)),
                    lineno: location.and_then(|(_, n)| n),
                    owner: (!owner.is_empty()).then_some(Cow::Borrowed(owner)),
                    ..Default::default()
                });
            }
            continue;
        }
        if t.starts_with("---> ") || chain.is_empty() {
            let (type_name, value) = header(t);
            chain.push((
                Exception { type_name: type_name.map(Cow::Borrowed), ..Default::default() },
                value.into_iter().collect(),
            ));
            current = chain.len() - 1;
            continue;
        }
        if let Some((exception, message)) = chain.get_mut(current) {
            if exception.frames.is_empty() {
                message.push(t);
            }
        }
    }
    let mut out: Vec<Exception<'_>> = chain
        .into_iter()
        .map(|(mut exception, message)| {
            exception.value = super::join(&message);
            exception.frames.reverse();
            exception
        })
        .collect();
    out.reverse();
    let last = out.len().saturating_sub(1);
    for (i, exception) in out.iter_mut().enumerate() {
        if i < last {
            exception.source = Some("InnerException");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inner_exceptions_are_causes() {
        let text = "System.Net.Http.HttpRequestException: Connection refused (tax.internal:8080)\n ---> System.Net.Sockets.SocketException (111): Connection refused\n   at System.Net.Http.HttpConnectionPool.ConnectToTcpHostAsync(String host, Int32 port)\n   at Acme.Tax.TaxClient.GetRateAsync(String region) in /src/Acme/Tax/TaxClient.cs:line 45\n   --- End of inner exception stack trace ---\n   at Acme.Tax.Api.Get() in /src/Acme/Tax/Api.cs:line 9\n";
        assert!(has_frame(text));
        let excs = parse(text);
        assert_eq!(excs.len(), 2);
        assert_eq!(excs[0].type_name.as_deref(), Some("System.Net.Sockets.SocketException"));
        assert_eq!(excs[0].value.as_deref(), Some("Connection refused"));
        assert_eq!(excs[0].source, Some("InnerException"));
        assert_eq!(excs[0].frames[0].function.as_deref(), Some("GetRateAsync"));
        assert_eq!(excs[0].frames[0].lineno, Some(45));
        assert_eq!(excs[1].value.as_deref(), Some("Connection refused (tax.internal:8080)"));
        assert_eq!(excs[1].frames[0].owner.as_deref(), Some("Acme.Tax.Api"));
    }
}
