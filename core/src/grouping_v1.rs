//! Grouping version 1: the fingerprint otelproc has computed since its first release, kept
//! exactly (fixed test vectors pin it) so that stored patterns keep their identity.
//!
//! `fingerprint = sha256_hex("{error_class}|{message_template}|{source}")`:
//! - `error_class`: the exception type's class name (after the last `.`), "" without a type;
//! - `message_template`: the producer's template when there is one, else the message cut to
//!   its first line(s) and run through the normalizers (a table the Python side passes in);
//! - `source`: `module:function` of the innermost in-app frame of the stack trace (Python,
//!   JavaScript, Java), else the `code.*` attributes, else the span name.
//!
//! Each step mirrors, regex for regex, the polars expressions version 1 was first written in
//! (`str.replace` = the first match, `str.replace_all` = every match, slices in characters).

use std::borrow::Cow;

use regex::Regex;

use crate::rules::RuleSet;

pub const TEMPLATE_LIMIT: usize = 512;
const RAW_LIMIT: usize = 1024;
const SCAN_LIMIT: usize = 4096;
/// What a keep rule puts before what it keeps (removed at the end).
pub const KEEP_MARK: &str = "\x01_";

const LIBRARY: &str = r#"(?:(?:[\\/](?:site|dist)-packages[\\/]|[\\/]lib[\\/]python\d+(?:\.\d+)?[\\/]|^[A-Za-z]:[\\/](?:[^\\/]+[\\/])*?Python\d+[\\/]Lib[\\/]|[\\/]node_modules[\\/]|^<frozen |^<string>$|^internal[\\/]|^node:))|^(?:java|javax|jakarta|jdk|sun|com\.sun|kotlin|kotlinx|scala|akka|org\.springframework|org\.apache|org\.hibernate|org\.eclipse|org\.junit|org\.postgresql|org\.slf4j|io\.netty|io\.grpc|io\.micrometer|io\.opentelemetry|io\.reactivex|reactor|okhttp3|okio|retrofit2|com\.fasterxml|com\.google|com\.zaxxer|com\.mysql|ch\.qos|feign|rx)\."#;
const HEADER_LINE: &str = r#"(?:^\d+ validation errors? for |:[\x20\t]*$)"#;
const PY_CHAIN: &str = r#"(?s)^.*(?:During handling of the above exception, another exception occurred:|The above exception was the direct cause of the following exception:)"#;
const JAVA_CAUSES: &str = r#"(?s)\n[\x20\t]*Caused by:.*"#;
const PY_FRAME: &str = r#"File "[^"\n]+", line \d+, in \S+"#;
const PY_FRAME_MIDDLE: &str = r#"", line \d+, in "#;
const OTHER_FRAME: &str = r#"(?x)
\b at \x20+ (?: async \x20 )?
(?:
    # JavaScript: at fn (file.js:10:5), at new Foo (…), at Object.<anonymous> (…)
    (?: new \x20 )? (?P<jf> [^\s()]+ ) (?: \x20 \[as \x20 [^\]\n]+ \] )? \x20 \( (?P<jp> [^()\n]+? ) : \d+ : \d+ \)
    # JavaScript, anonymous: at file.js:1:2, at file:///app/x.mjs:3:9
  | (?P<ap> [^\s()]+? ) : \d+ : \d+
    # Java, Kotlin, Scala: at com.acme.Foo.bar(Foo.java:42), at java.base/java.net.Socket.connect(…)
  | (?: [\w.$\-]* / )* (?P<jc> [\w$]+ (?: \. [\w$]+ )* ) \. (?P<jm> [\w$<>]+ ) \( [^()\n]* \)
)
"#;
const TO_MODULE: [(&str, &str); 8] = [
    (r#"^<frozen ([^>\t]*)>\t"#, "${1}\t"),
    (r#"^(?:[A-Za-z][\w+.\-]*://[^/\t]*|[A-Za-z]:)"#, r#""#),
    (
        r#"^(?:[^\t]*/(?:site-packages|dist-packages|node_modules)/|[^\t]*/lib/python\d+(?:\.\d+)?/|/(?:(?:home|Users)/[^/\t]+|root|usr/(?:local/)?src|opt|srv|var/(?:task|www|app|lib)|workspaces?|code|builds|mnt|tmp|github/workspace|app|src)/)"#,
        r#""#,
    ),
    (r#"^(?:[^\t]*/)?(?:[^/\t]*[^\w/\t][^/\t]*|\d[^/\t]*)/"#, r#""#),
    (r#"^(?:src|lib)/([^/\t]+/)"#, r#"${1}"#),
    (
        r#"(?:/__init__)?(?:[.\-](?:[0-9a-f]{8,}|(?:[a-z_]{0}[A-Z0-9][A-Za-z0-9_]{7,}|[a-z_]{1}[A-Z0-9][A-Za-z0-9_]{6,}|[a-z_]{2}[A-Z0-9][A-Za-z0-9_]{5,}|[a-z_]{3}[A-Z0-9][A-Za-z0-9_]{4,}|[a-z_]{4}[A-Z0-9][A-Za-z0-9_]{3,}|[a-z_]{5}[A-Z0-9][A-Za-z0-9_]{2,}|[a-z_]{6}[A-Z0-9][A-Za-z0-9_]{1,}|[a-z_]{7,}[A-Z0-9][A-Za-z0-9_]*)))?\.(?:py[cwi]?|pyx|[cm]?[jt]sx?)\t"#,
        "\t",
    ),
    (r#"^[^\t]*?((?:[^/\t]+/){0,2}[^/\t]+\t)"#, r#"${1}"#),
    (r#"\$\$[\w$]*|\$\d+"#, r#""#),
];

/// The compiled regexes of version 1.
pub struct GroupingV1 {
    normalizers: RuleSet,
    header_line: Regex,
    first_line_rest: Regex,
    first_line: Regex,
    whitespace: Regex,
    key_error_bare: Regex,
    class_repr: Regex,
    class_module: Regex,
    py_chain: Regex,
    py_frame: Regex,
    py_frame_middle: Regex,
    java_causes: Regex,
    other_frame: Regex,
    tab_rest: Regex,
    library: Regex,
    to_module: Vec<(Regex, &'static str)>,
    dots: Regex,
    tab_end: Regex,
    tab_start: Regex,
}

fn compile(pattern: &str) -> Result<Regex, String> {
    Regex::new(pattern).map_err(|e| format!("grouping v1: {e}"))
}

/// The inputs of one error row's fingerprint.
#[derive(Clone, Copy, Debug, Default)]
pub struct Inputs<'a> {
    pub error_type: Option<&'a str>,
    pub message: Option<&'a str>,
    pub msg_template: Option<&'a str>,
    pub stack_trace: Option<&'a str>,
    pub code_namespace: Option<&'a str>,
    pub code_function: Option<&'a str>,
    pub code_filepath: Option<&'a str>,
    pub span_name: Option<&'a str>,
    /// `shape_hash` of the stack trace and message when already known
    pub shape: Option<u128>,
}

/// Characters, not bytes (polars' `str.slice`).
fn slice_chars(text: &str, limit: usize) -> &str {
    match text.char_indices().nth(limit) {
        Some((at, _)) => text.get(..at).unwrap_or(text),
        None => text,
    }
}

fn non_empty(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

impl GroupingV1 {
    pub fn new(normalizers: RuleSet) -> Result<GroupingV1, String> {
        Ok(GroupingV1 {
            normalizers,
            header_line: compile(HEADER_LINE)?,
            first_line_rest: compile(r"(?s)[\r\n].*")?,
            first_line: compile(r"^[^\r\n]*")?,
            whitespace: compile(r"\s+")?,
            key_error_bare: compile(r#"^[^'"\s]+$"#)?,
            class_repr: compile(r"^<class '([^']*)'>$")?,
            class_module: compile(r"^.*\.")?,
            py_chain: compile(PY_CHAIN)?,
            py_frame: compile(PY_FRAME)?,
            py_frame_middle: compile(PY_FRAME_MIDDLE)?,
            java_causes: compile(JAVA_CAUSES)?,
            other_frame: compile(OTHER_FRAME)?,
            tab_rest: compile(r"\t.*")?,
            library: compile(LIBRARY)?,
            to_module: TO_MODULE.iter().map(|(p, v)| Ok((compile(p)?, *v))).collect::<Result<_, String>>()?,
            dots: compile(r"^\.+|\.+(\t)")?,
            tab_end: compile(r"\t$")?,
            tab_start: compile(r"^\t")?,
        })
    }

    pub fn normalizers(&self) -> &RuleSet {
        &self.normalizers
    }

    /// The first non-empty line of a message, with the next one when it only announces it;
    /// whitespace collapsed, at most 1024 characters.
    pub fn cut(&self, text: Option<&str>) -> String {
        let text = slice_chars(text.unwrap_or(""), SCAN_LIMIT).trim_start();
        let first = self.first_line_rest.replace(text, "");
        let joined: Cow<'_, str> = if self.header_line.is_match(&first) {
            let rest = self.first_line.replace(text, "");
            let second = self.first_line_rest.replace(rest.trim_start(), "").into_owned();
            Cow::Owned(format!("{first} {second}"))
        } else {
            first
        };
        let limited = slice_chars(&joined, RAW_LIMIT);
        self.whitespace.replace_all(limited, " ").trim().to_owned()
    }

    /// Message -> template: cut, then every normalizer in order.
    pub fn normalize(&self, message: Option<&str>, hits: Option<&mut [u64]>) -> String {
        let cut = self.cut(message).replace('\x01', "");
        let normalized = self.normalizers.apply(&cut, hits);
        let finished = normalized.replace(KEEP_MARK, "");
        slice_chars(finished.trim(), TEMPLATE_LIMIT).to_owned()
    }

    /// `error_type` -> its class name.
    pub fn error_class(&self, error_type: Option<&str>) -> String {
        let trimmed = error_type.unwrap_or("").trim();
        let unwrapped = self.class_repr.replace(trimmed, "${1}");
        self.class_module.replace(&unwrapped, "").into_owned()
    }

    /// The producer's template when there is one, else the normalized message.
    pub fn message_template(&self, error_class: &str, inputs: &Inputs<'_>, hits: Option<&mut [u64]>) -> String {
        if inputs.msg_template.is_some() {
            let template = self.cut(inputs.msg_template);
            let template = slice_chars(&template, TEMPLATE_LIMIT).trim();
            if !template.is_empty() {
                return template.to_owned();
            }
        }
        // KeyError's str() is the key's repr ('k'); the SDK's LoggingHandler writes the bare
        // key. Quoted, both give one template.
        let quoted;
        let message = match inputs.message {
            Some(m) if error_class == "KeyError" && self.key_error_bare.is_match(m) => {
                quoted = format!("'{m}'");
                Some(quoted.as_str())
            }
            other => other,
        };
        self.normalize(message, hits)
    }

    /// The stack trace without the exception's message: every occurrence of one error site
    /// has the same shape.
    pub fn trace_shape<'a>(&self, stack_trace: Option<&'a str>, message: Option<&str>) -> Option<Cow<'a, str>> {
        let trace = stack_trace?;
        match message {
            Some(m) if !m.is_empty() => Some(Cow::Owned(trace.replace(m, ""))),
            _ => Some(Cow::Borrowed(trace)),
        }
    }

    /// `module:function` of the innermost in-app frame, else the code attributes, else the span name.
    pub fn source(&self, inputs: &Inputs<'_>) -> String {
        let shape = self.trace_shape(inputs.stack_trace, inputs.message);
        if let Some(frame) = self.innermost_frame(shape.as_deref()) {
            if let Some(source) = self.to_source(&frame) {
                return source;
            }
        }
        if let (Some(ns), Some(function)) = (non_empty(inputs.code_namespace), non_empty(inputs.code_function)) {
            return format!("{ns}:{function}");
        }
        if let (Some(path), Some(function)) = (inputs.code_filepath, non_empty(inputs.code_function)) {
            if let Some(source) = non_empty(self.to_source(&format!("{path}\t{function}")).as_deref()) {
                return source.to_owned();
            }
        }
        if let Some(function) = non_empty(inputs.code_function) {
            return function.to_owned();
        }
        if let Some(name) = non_empty(inputs.span_name) {
            return name.to_owned();
        }
        String::new()
    }

    /// "location<TAB>function" of the innermost in-app frame, else of the innermost frame.
    fn innermost_frame(&self, trace: Option<&str>) -> Option<String> {
        let trace = trace.unwrap_or("");
        let python: Vec<String> = {
            let last_chain = self.py_chain.replace(trace, "");
            self.py_frame
                .find_iter(&last_chain)
                .map(|m| {
                    let frame = m.as_str().strip_prefix("File \"").unwrap_or(m.as_str());
                    self.py_frame_middle.replace(frame, "\t").into_owned()
                })
                .collect()
        };
        if let Some(frame) = self.pick(python, true) {
            return Some(frame);
        }
        if trace.contains("File \"") {
            return None;
        }
        let first_block = self.java_causes.replace(trace, "");
        let others: Vec<String> = self
            .other_frame
            .find_iter(&first_block)
            .map(|m| self.other_frame.replace(m.as_str(), "${jp}${ap}${jc}\t${jf}${jm}").into_owned())
            .collect();
        self.pick(others, false)
    }

    /// Library frames are set aside: the innermost in-app frame (Python lists it last,
    /// JavaScript and Java first), or the innermost frame when none is in-app.
    fn pick(&self, frames: Vec<String>, listed_last: bool) -> Option<String> {
        let is_library = |frame: &String| self.library.is_match(&self.tab_rest.replace(frame, ""));
        if listed_last {
            let in_app = frames.iter().rev().find(|f| !is_library(f)).cloned();
            in_app.or_else(|| frames.last().cloned())
        } else {
            let in_app = frames.iter().find(|f| !is_library(f)).cloned();
            in_app.or_else(|| frames.first().cloned())
        }
    }

    /// "location<TAB>function" -> "module:function" (just the function when no module).
    fn to_source(&self, frame: &str) -> Option<String> {
        let mut e = frame.replace('\\', "/");
        for (pattern, value) in &self.to_module {
            e = pattern.replace(&e, *value).into_owned();
        }
        let e = e.replace('/', ".");
        let e = self.dots.replace(&e, "${1}");
        let e = self.tab_end.replace(&e, "\t<anonymous>");
        let e = self.tab_start.replace(&e, "");
        Some(e.replacen('\t', ":", 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grouping() -> GroupingV1 {
        GroupingV1::new(RuleSet::new(Vec::new()).expect("empty rule set")).expect("v1 compiles")
    }

    #[test]
    fn the_cut_keeps_an_announcing_first_line_with_the_next() {
        let g = grouping();
        assert_eq!(
            g.cut(Some("  Failed to process:\n\n  connection reset\nmore")),
            "Failed to process: connection reset"
        );
        assert_eq!(g.cut(Some("one\ntwo")), "one");
        assert_eq!(g.cut(None), "");
    }

    #[test]
    fn error_classes_lose_their_module() {
        let g = grouping();
        assert_eq!(g.error_class(Some("psycopg.errors.OperationalError")), "OperationalError");
        assert_eq!(g.error_class(Some("<class 'KeyError'>")), "KeyError");
        assert_eq!(g.error_class(None), "");
    }

    #[test]
    fn python_sources_are_the_innermost_in_app_frame() {
        let g = grouping();
        let trace = "Traceback (most recent call last):\n  File \"/srv/app/api/users.py\", line 3, in get\n    x()\n  File \"/usr/lib/python3.11/site-packages/httpx/_client.py\", line 9, in send\n    y()\nValueError: boom";
        let inputs = Inputs { stack_trace: Some(trace), message: Some("boom"), ..Default::default() };
        assert_eq!(g.source(&inputs), "app.api.users:get");
    }
}
