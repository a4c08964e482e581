//! Grouping version 2: `fingerprint = sha256_hex("{error_class}|{hashed_template}|{hashed_source}")`,
//! with each part read so that one problem gets one fingerprint in every spelling, signal,
//! release and deployment layout, and two problems two.
//!
//! - `error_class`: the exception type's class name (`psycopg.OperationalError` ->
//!   `OperationalError`), else the class the stack trace names.
//! - `message_template`: the message as the stack trace prints it (its exception line: what
//!   `str(exc)` gave, when the attribute holds only `exc.args[0]`, as the SDK's `LoggingHandler`
//!   sends it), cut to its first line (and the one after it when the first only announces it),
//!   then parameterized in one pass (`Parameterizer`, the table `NORMALIZERS_V2`), lists of
//!   values folded into `<list>`. A wrapper (`raise X from Y`, a `Caused by:`, an inner
//!   exception, an exception raised by the handler that caught another) adds the class of the
//!   exception that began the chain: `… (caused by Class)`. Without an exception (no type, no trace)
//!   the producer's template (`logfire.msg_template`) stands for the message.
//!   The hash reads the template with every value the same (`hashed_template`): each `<name>`
//!   is `<*>`, and a run of them with the punctuation that joins them (`<ip>:<int>`,
//!   `-<id>-<id>`, `v<version>`) one `<*>`, so a value whose spelling crosses a rule's boundary
//!   (a count of 8 digits read as `<hex>`, a commit all in digits, a token cut at its `-`) keeps
//!   its fingerprint. The stored template keeps the names, for people to read.
//!   Likewise the hash reads each module of the source by its last two components
//!   (`hashed_source`): a deployment root no rule knows leaves no prefix in it.
//! - `source`: `module:function` of the innermost in-app frame of the raised exception's
//!   trace (module as the language imports it); when that frame was called from another
//!   module of the application (a shared helper), its caller too:
//!   `app.http.client:get_json < app.tax:calculate_tax`. Without a trace: the `code.*`
//!   attributes, else the span name.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Mutex;

use crate::grouping_v1::Inputs;
use crate::parameterize::{Parameterizer, Replaced};
use crate::stacktrace::python::{raised_format, Piece};
use crate::stacktrace::{self, class_name, Exception, Frame, InApp, Language, Trace};
use crate::value::{FastHash, FxHasher};

pub const TEMPLATE_LIMIT: usize = 512;
const RAW_LIMIT: usize = 1024;
const SCAN_LIMIT: usize = 4096;

/// Paths remembered before starting over (module and in-app of each).
const PATHS_LIMIT: usize = 20_000;

/// Per language and path: a frame's module and whether it is the application's.
type PathFacts = HashMap<u64, (Option<String>, bool), FastHash>;

/// The compiled version 2.
pub struct GroupingV2 {
    parameterizer: Parameterizer,
    in_app: InApp,
    paths: Mutex<PathFacts>,
    /// the names of the value slots a template holds: the table's rules', and those the grouping writes
    slots: HashSet<String>,
}

/// What a row's stack trace says, computed once per distinct trace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TraceFacts {
    /// the raised exception's class, when the trace names it
    pub class: Option<String>,
    /// its message as the trace prints it (`Some("")` for a type line without one)
    pub message: Option<String>,
    /// the class of the exception that began the chain, when the raised one wraps it
    pub cause: Option<String>,
    /// `module:function` of the source frame (and its caller from another module), if any
    pub source: Option<String>,
    /// what the raising statement formats (Python: `raise X(f"… {v} …")`), if it shows
    pub format: Option<Vec<Piece>>,
}

/// A row's stack trace as the grouping reads it: what its trace says, with the raised
/// exception's class and message of this row (they may be read apart from the rest, which is
/// remembered per error site).
#[derive(Clone, Copy, Debug)]
pub struct RowTrace<'f> {
    pub facts: &'f TraceFacts,
    pub class: Option<&'f str>,
    pub message: Option<&'f str>,
}

impl<'f> RowTrace<'f> {
    pub fn of(facts: &'f TraceFacts) -> RowTrace<'f> {
        RowTrace { facts, class: facts.class.as_deref(), message: facts.message.as_deref() }
    }
}

/// Characters, not bytes.
fn slice_chars(text: &str, limit: usize) -> &str {
    if text.len() <= limit {
        return text; // no more characters than bytes
    }
    match text.char_indices().nth(limit) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

fn non_empty(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

/// The first non-empty line of a message, with the next one when the first only announces it
/// (`Failed to process:`); whitespace collapsed, at most 1024 characters.
pub fn cut(text: &str) -> String {
    let text = slice_chars(text, SCAN_LIMIT).trim_start();
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("");
    let mut joined = Cow::Borrowed(first);
    if first.ends_with(':') {
        if let Some(second) = lines.next() {
            joined = Cow::Owned(format!("{first} {second}"));
        }
    }
    let limited = slice_chars(&joined, RAW_LIMIT);
    let mut out = String::with_capacity(limited.len());
    for word in limited.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// `<a>, <b>, <c>` -> `<list>`: lists of values whatever their length.
fn fold_lists(text: &str) -> Cow<'_, str> {
    if !text.contains(">,") {
        return Cow::Borrowed(text);
    }
    let token_end = |s: &str| -> Option<usize> {
        let rest = s.strip_prefix('<')?;
        let close = rest.find('>')?;
        let name = &rest[..close];
        (!name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')).then_some(close + 2)
    };
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let rest = &text[i..];
        if let Some(first) = token_end(rest) {
            let mut end = first;
            let mut count = 1;
            loop {
                let after = &rest[end..];
                let trimmed = after.trim_start_matches([' ', '\t']);
                let Some(comma) = trimmed.strip_prefix(',') else { break };
                let next = comma.trim_start_matches([' ', '\t']);
                let Some(len) = token_end(next) else { break };
                end = rest.len() - next.len() + len;
                count += 1;
            }
            if count > 1 {
                out.push_str("<list>");
            } else {
                out.push_str(&rest[..first]);
            }
            i += end;
            continue;
        }
        let c = rest.chars().next().map_or(1, char::len_utf8);
        out.push_str(&rest[..c]);
        i += c;
    }
    Cow::Owned(out)
}

/// Function names as they stay from one build to the next: Java's lambda index
/// (`lambda$run$0`), .NET's async state machines (`<GetRateAsync>d__4.MoveNext`) and lambda
/// ordinals, Rails' compiled template suffixes (`_app_views_x_html_erb__1234_5678`).
fn stable_function(language: Language, owner: Option<&str>, function: &str) -> String {
    match language {
        Language::Java => {
            if let Some(rest) = function.strip_prefix("lambda$") {
                let name = rest.split('$').next().unwrap_or(rest);
                return format!("lambda${name}");
            }
            function.to_owned()
        }
        Language::DotNet => {
            let last_owner = owner.and_then(|o| o.rsplit('.').next()).unwrap_or("");
            if function == "MoveNext" {
                if let Some(name) = last_owner.strip_prefix('<').and_then(|r| r.split('>').next()) {
                    return name.to_owned();
                }
            }
            match function.find(">b__") {
                Some(at) => function[..at + 4].to_owned(),
                None => function.to_owned(),
            }
        }
        Language::Ruby => {
            let trimmed = function.trim_end_matches(|c: char| c.is_ascii_digit() || c == '_');
            if trimmed.len() < function.len() && function[trimmed.len()..].starts_with("__") {
                trimmed.to_owned()
            } else {
                function.to_owned()
            }
        }
        _ => function.to_owned(),
    }
}

/// A module without what changes from one build to the next: Spring's CGLIB proxies
/// (`Foo$$EnhancerBySpringCGLIB$$1a2b`), .NET's async state machines' classes.
fn stable_module(language: Language, module: String) -> String {
    match language {
        Language::Java => match module.find("$$") {
            Some(at) => module[..at].to_owned(),
            None => module,
        },
        Language::DotNet => match module.rsplit_once('.') {
            Some((outer, last)) if last.starts_with('<') => outer.to_owned(),
            _ => module,
        },
        _ => module,
    }
}

impl GroupingV2 {
    pub fn new(parameterizer: Parameterizer, in_app: InApp) -> GroupingV2 {
        let slots = parameterizer.rule_names().chain(["id", "value", "list"]).map(str::to_owned).collect();
        GroupingV2 { parameterizer, in_app, paths: Mutex::new(HashMap::default()), slots }
    }

    pub fn parameterizer(&self) -> &Parameterizer {
        &self.parameterizer
    }

    pub fn in_app(&self) -> &InApp {
        &self.in_app
    }

    /// The template as the fingerprint hashes it: every value slot `<*>`, a run of slots and the
    /// punctuation joining them one slot (see the module's doc).
    pub fn hashed_template<'t>(&self, template: &'t str) -> Cow<'t, str> {
        if !template.contains('<') {
            return Cow::Borrowed(template);
        }
        let bytes = template.as_bytes();
        let mut out = String::with_capacity(template.len());
        let mut i = 0;
        while i < bytes.len() {
            let mut end = None;
            let mut at = i;
            loop {
                let slot = skip_joiners(bytes, at);
                match self.slot_end(template, slot) {
                    Some(after) => {
                        end = Some(after);
                        at = after;
                    }
                    None => break,
                }
            }
            match end {
                Some(after) => {
                    out.push_str("<*>");
                    i = skip_unit(template, skip_joiners(bytes, after));
                }
                None => {
                    let c = template[i..].chars().next().unwrap_or(' ');
                    out.push(c);
                    i += c.len_utf8();
                }
            }
        }
        Cow::Owned(out)
    }

    /// The source as the fingerprint hashes it: each `module:function` with the module's last
    /// two components only (`current.saas.api.auth` and `saas.api.auth` are `api.auth`), so a
    /// deployment root no rule knows (`/srv/saas/current/`, `/opt/dagster/app/`) leaves no prefix
    /// in the hash; the stored source keeps the whole module.
    pub fn hashed_source<'s>(&self, source: &'s str) -> Cow<'s, str> {
        let tail = |module: &'s str| -> &'s str {
            match module.rmatch_indices('.').nth(1) {
                Some((at, _)) => &module[at + 1..],
                None => module,
            }
        };
        let mut out = String::with_capacity(source.len());
        let mut changed = false;
        for (i, part) in source.split(" < ").enumerate() {
            if i > 0 {
                out.push_str(" < ");
            }
            match part.rsplit_once(':') {
                Some((module, function)) if !module.contains(char::is_whitespace) => {
                    let kept = tail(module);
                    changed |= kept.len() != module.len();
                    out.push_str(kept);
                    out.push(':');
                    out.push_str(function);
                }
                _ => out.push_str(part),
            }
        }
        if changed {
            Cow::Owned(out)
        } else {
            Cow::Borrowed(source)
        }
    }

    /// The end of the value slot (`<name>`, a name of the table's rules or one the grouping
    /// writes) that starts at `at`, if one does.
    fn slot_end(&self, template: &str, at: usize) -> Option<usize> {
        let rest = template.get(at..)?.strip_prefix('<')?;
        let close = rest.find('>').filter(|&c| c <= 32)?;
        self.slots.contains(&rest[..close]).then_some(at + 1 + close + 1)
    }

    /// `error_type` -> its class name.
    pub fn error_class(&self, error_type: Option<&str>) -> String {
        non_empty(error_type).map(class_name).unwrap_or("").to_owned()
    }

    /// Message -> template: cut, parameterized, lists folded, at most `TEMPLATE_LIMIT` characters.
    pub fn normalize(&self, message: &str, hits: Option<&mut [u64]>) -> String {
        self.normalize_formatted(message, None, hits)
    }

    /// `normalize`, where `format` (what the application's raise statement formats) tells which
    /// parts of the message were interpolated: one the rules left a word in is a value too,
    /// `<id>` (a state, a name, an id that happens to look like a word), and so is interpolated
    /// JSON (`<value>`); an interpolated phrase stays as the rules make it, for it may be the
    /// reason (another error's message). The rest is as `normalize` makes it, so a template is
    /// the same whether the source line shows or not, where the rules alone suffice.
    pub fn normalize_formatted(&self, message: &str, format: Option<&[Piece]>, hits: Option<&mut [u64]>) -> String {
        let cut = cut(message);
        let gaps = format.and_then(|f| interpolated(&cut, f)).unwrap_or_default();
        let parameterized = if gaps.is_empty() {
            self.parameterizer.apply(&cut, hits)
        } else {
            let (mut out, spans) = self.parameterizer.apply_with_spans(&cut, hits);
            for &(start, end) in gaps.iter().rev() {
                if inside_a_match(&spans, start) || inside_a_match(&spans, end) {
                    continue; // a rule took the value with its context: its template stands
                }
                let (from, to) = (output_at(&spans, start, false), output_at(&spans, end, true));
                if !(from < to && to <= out.len() && has_words(&out[from..to])) {
                    continue;
                }
                let raw = cut[start..end].trim();
                let token = if !out[from..to].contains(char::is_whitespace) {
                    "<id>"
                } else if raw.starts_with(['{', '[']) && raw.ends_with(['}', ']']) {
                    "<value>"
                } else {
                    continue; // a phrase: it may be the reason (another error's message)
                };
                out.replace_range(from..to, token);
            }
            out
        };
        let folded = fold_lists(&parameterized);
        slice_chars(folded.trim(), TEMPLATE_LIMIT).to_owned()
    }

    /// What the row's stack trace says (None without one).
    pub fn trace_facts(&self, stack_trace: Option<&str>) -> Option<TraceFacts> {
        let text = stack_trace?;
        let trace = stacktrace::parse(text, None)?;
        let last = trace.last()?;
        Some(TraceFacts {
            class: last.class_name().map(str::to_owned),
            message: message_of(&trace),
            cause: self.root_cause(&trace).map(|e| e.class_name().unwrap_or("").to_owned()),
            source: self.source_of(&trace),
            format: self.raise_format(&trace),
        })
    }

    /// The exception that began the chain, when the raised one wraps it: an explicit cause
    /// (`raise X from Y`, Java's `Caused by:`, .NET's inner exception), or an exception that
    /// was being handled when the handler itself raised (Python's "During handling…" where
    /// the new exception's innermost frame is the frame that caught the other one). An
    /// exception that only happened to be handled somewhere up the stack starts no chain.
    fn root_cause<'t>(&self, trace: &'t Trace<'_>) -> Option<&'t Exception<'t>> {
        let excs = &trace.exceptions;
        if excs.len() < 2 || excs.iter().any(|e| e.is_group) {
            return None;
        }
        let mut root = excs.len() - 1;
        while root > 0 {
            let (earlier, later) = (&excs[root - 1], &excs[root]);
            let linked = match earlier.source {
                Some("__context__") => raised_by_handler(earlier, later),
                Some(_) => true,
                None => false,
            };
            if !linked {
                break;
            }
            root -= 1;
        }
        (root < excs.len() - 1).then(|| &excs[root])
    }

    /// A frame's module (for grouping a browser's URL path stands for a JavaScript module) and
    /// whether it is the application's; remembered per path where the path alone decides.
    fn frame_facts(&self, language: Language, frame: &Frame<'_>, paths: &mut PathFacts) -> (Option<String>, bool) {
        let compute = || {
            let module = stacktrace::module(language, frame)
                .or_else(|| match language {
                    Language::JavaScript => frame.path.as_deref().and_then(stacktrace::javascript::location_name),
                    _ => None,
                })
                .map(|m| stable_module(language, m));
            (module, self.in_app.in_app(language, frame))
        };
        let by_path = matches!(language, Language::Python | Language::JavaScript | Language::Ruby);
        let Some(path) = frame.path.as_deref().filter(|_| by_path) else { return compute() };
        let mut hasher = FxHasher::default();
        language.hash(&mut hasher);
        path.hash(&mut hasher);
        let key = hasher.finish();
        if let Some(found) = paths.get(&key) {
            return found.clone();
        }
        let found = compute();
        if paths.len() >= PATHS_LIMIT {
            paths.clear();
        }
        paths.insert(key, found.clone());
        found
    }

    fn frame_name(&self, language: Language, frame: &Frame<'_>, module: Option<String>) -> Option<(String, String)> {
        let module = module.unwrap_or_default();
        let function = frame.function.as_deref().unwrap_or("");
        let function = stable_function(language, frame.owner.as_deref(), function);
        if module.is_empty() && function.is_empty() {
            return None;
        }
        Some((module, function))
    }

    /// `module:function` of the innermost in-app frame of the raised exception (or of the
    /// latest exception of its chain that has frames); with its caller when the caller is in
    /// another module of the application.
    fn source_of(&self, trace: &Trace<'_>) -> Option<String> {
        let language = trace.language;
        let frames = &trace.exceptions.iter().rev().find(|e| !e.frames.is_empty())?.frames;
        let mut guard = self.paths.lock().ok();
        let mut local = PathFacts::default();
        let paths = guard.as_deref_mut().unwrap_or(&mut local);
        let found = (0..frames.len()).rev().find(|&i| self.frame_facts(language, &frames[i], paths).1);
        let innermost = found.unwrap_or(frames.len() - 1);
        let module = self.frame_facts(language, &frames[innermost], paths).0;
        let (module, function) = self.frame_name(language, &frames[innermost], module)?;
        let mut source = if module.is_empty() { function.clone() } else { format!("{module}:{function}") };
        if found.is_some() {
            let caller = (0..innermost).rev().find(|&i| self.frame_facts(language, &frames[i], paths).1);
            let caller = caller.and_then(|i| {
                let module = self.frame_facts(language, &frames[i], paths).0;
                self.frame_name(language, &frames[i], module)
            });
            if let Some((caller_module, caller_function)) = caller {
                if !caller_module.is_empty() && unit(language, &caller_module) != unit(language, &module) {
                    source.push_str(" < ");
                    source.push_str(&caller_module);
                    source.push(':');
                    source.push_str(&caller_function);
                }
            }
        }
        Some(source)
    }

    /// What the application's statement that raised the exception formats, when its source line
    /// shows it (Python; a library's statements are left alone: what they interpolate is often
    /// the reason).
    fn raise_format(&self, trace: &Trace<'_>) -> Option<Vec<Piece>> {
        if trace.language != Language::Python {
            return None;
        }
        let last = trace.last()?;
        let frame = last.frames.last()?;
        let in_app = match self.paths.lock() {
            Ok(mut paths) => self.frame_facts(Language::Python, frame, &mut paths).1,
            Err(_) => self.in_app.in_app(Language::Python, frame),
        };
        if !in_app {
            return None;
        }
        raised_format(frame.context_line.as_deref()?, last.class_name()?)
    }

    /// The source without a trace: the `code.*` attributes, else the span name.
    pub fn attribute_source(&self, inputs: &Inputs<'_>) -> String {
        if let (Some(ns), Some(function)) = (non_empty(inputs.code_namespace), non_empty(inputs.code_function)) {
            return format!("{ns}:{function}");
        }
        if let (Some(path), Some(function)) = (non_empty(inputs.code_filepath), non_empty(inputs.code_function)) {
            let frame = Frame { path: Some(Cow::Borrowed(path)), ..Default::default() };
            let language = if path.ends_with(".py") {
                Language::Python
            } else if path.ends_with(".rb") {
                Language::Ruby
            } else {
                Language::JavaScript
            };
            if let Some(module) = stacktrace::module(language, &frame) {
                return format!("{module}:{function}");
            }
        }
        if let Some(function) = non_empty(inputs.code_function) {
            return function.to_owned();
        }
        non_empty(inputs.span_name).unwrap_or("").to_owned()
    }

    /// The message a row is grouped by: the trace's (when it names the same class, or none)
    /// over the attribute's.
    pub fn message<'m>(&self, class: &str, trace: Option<RowTrace<'m>>, attribute: Option<&'m str>) -> &'m str {
        if let Some(trace) = trace {
            let same_class = match trace.class {
                Some(c) => class.is_empty() || c == class,
                None => true,
            };
            if let (true, Some(message)) = (same_class, trace.message) {
                return message;
            }
        }
        attribute.unwrap_or("")
    }

    /// The template of a row: the producer's when the row has no exception, else its message's,
    /// with the chain's first exception when the raised one wraps it.
    pub fn template(
        &self,
        class: &str,
        inputs: &Inputs<'_>,
        trace: Option<RowTrace<'_>>,
        hits: Option<&mut [u64]>,
    ) -> String {
        let has_exception = !class.is_empty() || trace.is_some();
        if !has_exception {
            if let Some(template) = non_empty(inputs.msg_template) {
                return slice_chars(&cut(template), TEMPLATE_LIMIT).trim().to_owned();
            }
        }
        let message = self.message(class, trace, inputs.message);
        let format = trace.and_then(|t| t.facts.format.as_deref());
        let mut template = self.normalize_formatted(message, format, hits);
        if let Some(cause) = trace.and_then(|t| t.facts.cause.as_deref()).filter(|c| !c.is_empty()) {
            if !template.is_empty() {
                template.push(' ');
            }
            template.push_str("(caused by ");
            template.push_str(cause);
            template.push(')');
        }
        template
    }

    /// The source of a row.
    pub fn source(&self, inputs: &Inputs<'_>, facts: Option<&TraceFacts>) -> String {
        match facts.and_then(|f| f.source.clone()) {
            Some(source) => source,
            None => self.attribute_source(inputs),
        }
    }
}

/// The raised exception's message as the trace prints it: `Some("")` for a type line without a
/// message (`AssertionError`), None when the trace has no exception line.
fn message_of(trace: &Trace<'_>) -> Option<String> {
    let last = trace.last()?;
    match (&last.type_name, &last.value) {
        (_, Some(value)) => Some(value.to_string()),
        (Some(_), None) => Some(String::new()),
        (None, None) => None,
    }
}

/// Runs of whitespace as one space (as `cut` leaves a message).
fn collapse(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for c in text.chars() {
        if c.is_whitespace() {
            space = true;
        } else {
            if space {
                out.push(' ');
            }
            space = false;
            out.push(c);
        }
    }
    if space {
        out.push(' ');
    }
    out
}

/// The parts of `cut` (a cut message) a format interpolated: where its literal text is not.
/// None when the literal text is not in the message as the format has it.
fn interpolated(cut: &str, format: &[Piece]) -> Option<Vec<(usize, usize)>> {
    let mut gaps = Vec::new();
    let mut pos = 0;
    let mut open: Option<usize> = None;
    let mut first = true;
    for piece in format {
        match piece {
            Piece::Value => {
                open.get_or_insert(pos);
            }
            Piece::Text(text) => {
                // the cut message holds the first line: a literal's text after a line break is
                // past it
                let (line, stops) = match text.find('\n') {
                    Some(i) => (&text[..i], true),
                    None => (text.as_str(), false),
                };
                let literal = collapse(line);
                let literal = if pos == 0 && first { literal.trim_start().to_owned() } else { literal };
                if !literal.is_empty() {
                    let found = cut.get(pos..)?.find(&literal)? + pos;
                    if open.is_none() && !first && found != pos {
                        return None; // literal text that should follow the last one directly
                    }
                    if let Some(start) = open.take() {
                        gaps.push((start, found));
                    }
                    pos = found + literal.len();
                }
                first = false;
                if stops {
                    return Some(gaps);
                }
            }
        }
    }
    if let Some(start) = open {
        gaps.push((start, cut.len()));
    }
    Some(gaps)
}

/// Where position `at` of a parameterized text went in its output; inside a match: the
/// output's start of it (`end`: its end).
fn output_at(spans: &[Replaced], at: usize, end: bool) -> usize {
    let mut shift: isize = 0;
    for span in spans {
        if at <= span.start {
            break;
        }
        if at < span.end {
            return if end { span.out_end } else { span.out_start };
        }
        shift = span.out_end as isize - span.end as isize;
    }
    (at as isize + shift).max(0) as usize
}

/// Whether position `at` of a parameterized text lies inside what a rule matched (not at its ends).
fn inside_a_match(spans: &[Replaced], at: usize) -> bool {
    spans.iter().any(|span| span.start < at && at < span.end)
}

/// Whether parameterized text still has words in it: letters outside `<token>`s and the
/// redactor's `[REDACTED:kind]`.
fn has_words(text: &str) -> bool {
    let mut rest = text;
    while let Some(at) = rest.find("[REDACTED") {
        if has_words(&rest[..at]) {
            return true;
        }
        rest = rest[at..].find(']').map_or("", |close| &rest[at + close + 1..]);
    }
    let mut in_token = false;
    for c in rest.chars() {
        match c {
            '<' => in_token = true,
            '>' => in_token = false,
            c if !in_token && c.is_alphabetic() => return true,
            _ => {}
        }
    }
    false
}

/// Units a value is read with (`<float> GiB`, `<int> ms`): which one a producer chose follows
/// the value (`1.2 GiB`, `800 MiB`), so the hash reads them as part of it.
const UNITS: &[&str] = &[
    "B", "KB", "MB", "GB", "TB", "PB", "KiB", "MiB", "GiB", "TiB", "PiB", "kB", "bytes", "ns", "us", "µs", "ms", "s",
    "sec", "secs", "seconds", "min", "mins", "minutes", "h", "hours", "days",
];

/// Past a unit after a value (`at` is right after it): a space, then one of `UNITS` ending a word.
fn skip_unit(template: &str, at: usize) -> usize {
    let Some(rest) = template.get(at..).and_then(|r| r.strip_prefix(' ')) else { return at };
    for unit in UNITS {
        if let Some(after) = rest.strip_prefix(unit) {
            if !after.starts_with(|c: char| c.is_alphanumeric() || c == '_') {
                return at + 1 + unit.len();
            }
        }
    }
    at
}

/// Past the punctuation that joins values into one (`:`, `-`, `_`, `.`, `/`, `+`, `=`, `#`, `@`),
/// and quotes around a value (`"<int>"` and `<quoted_str>` are one value quoted or not).
fn skip_joiners(bytes: &[u8], mut at: usize) -> usize {
    while at < bytes.len()
        && matches!(bytes[at], b':' | b'-' | b'_' | b'.' | b'/' | b'+' | b'=' | b'#' | b'@' | b'\'' | b'"' | b'`')
    {
        at += 1;
    }
    at
}

/// What a shared helper is shared across: a Python, JavaScript or Ruby module (a file); a JVM
/// or .NET package or namespace (a class calling another class of its package is no helper of
/// another part of the application); a Go package.
fn unit(language: Language, module: &str) -> &str {
    match language {
        Language::Java | Language::DotNet => module.rsplit_once('.').map_or(module, |(package, _)| package),
        _ => module,
    }
}

/// Python's "During handling of the above exception": the new exception is a wrapper when the
/// frame that raised it is the frame where the other one was caught (the first frame of the
/// other's traceback).
fn raised_by_handler(caught: &Exception<'_>, raised: &Exception<'_>) -> bool {
    let (Some(catcher), Some(raiser)) = (caught.frames.first(), raised.frames.last()) else { return false };
    catcher.path == raiser.path && catcher.function == raiser.function
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cut_keeps_an_announcing_line_with_the_next() {
        assert_eq!(cut("  Failed to process:\n\n  connection reset\nmore"), "Failed to process: connection reset");
        assert_eq!(cut("1 validation error for Order\nsku\n  Field required"), "1 validation error for Order");
        assert_eq!(cut("a\ttab   and  spaces"), "a tab and spaces");
    }

    #[test]
    fn interpolated_parts() {
        let format = vec![Piece::Text("unknown tool name: ".into()), Piece::Value];
        assert_eq!(interpolated("unknown tool name: browse_web", &format), Some(vec![(19, 29)]));
        let format = vec![
            Piece::Text("invoice ".into()),
            Piece::Value,
            Piece::Text(" is in state ".into()),
            Piece::Value,
            Piece::Text(", expected draft".into()),
        ];
        let cut = "invoice in_3f is in state paid, expected draft";
        assert_eq!(interpolated(cut, &format), Some(vec![(8, 13), (26, 30)]));
        assert_eq!(interpolated("something else", &format), None);
        let format = vec![Piece::Text("No such customer: '".into()), Piece::Value, Piece::Text("'".into())];
        assert_eq!(interpolated("Request req_1: No such customer: 'cus_x'", &format), Some(vec![(34, 39)]));
    }

    #[test]
    fn lists_fold() {
        assert_eq!(fold_lists("ids [<int>, <int>, <int>] and <int>"), "ids [<list>] and <int>");
        assert_eq!(fold_lists("(<host>,<int>)"), "(<list>)");
        assert_eq!(fold_lists("<int>: <int>"), "<int>: <int>");
    }

    #[test]
    fn the_hashed_source_keeps_two_components_of_each_module() {
        let v2 = GroupingV2::new(
            Parameterizer::new(&[], std::iter::empty::<String>()).expect("an empty table compiles"),
            InApp::default(),
        );
        assert_eq!(v2.hashed_source("current.saas.api.auth:_enforce_csrf"), "api.auth:_enforce_csrf");
        assert_eq!(v2.hashed_source("saas.api.auth:_enforce_csrf"), "api.auth:_enforce_csrf");
        assert_eq!(
            v2.hashed_source("app.app.http.client:get_json < app.tax:calculate_tax"),
            "http.client:get_json < app.tax:calculate_tax"
        );
        assert_eq!(v2.hashed_source("main:run"), "main:run");
        assert_eq!(v2.hashed_source("POST /orders"), "POST /orders");
    }

    #[test]
    fn stable_function_names() {
        assert_eq!(stable_function(Language::Java, None, "lambda$run$0"), "lambda$run");
        assert_eq!(stable_function(Language::DotNet, Some("Acme.X.<GetRateAsync>d__4"), "MoveNext"), "GetRateAsync");
        assert_eq!(
            stable_function(Language::Ruby, None, "_app_views_orders_show_html_erb__3129_70123"),
            "_app_views_orders_show_html_erb"
        );
        assert_eq!(stable_module(Language::Java, "com.acme.Foo$$EnhancerBySpringCGLIB$$1a2b".into()), "com.acme.Foo");
    }
}
