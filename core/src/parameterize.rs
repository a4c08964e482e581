//! Message parameterization in one pass, Sentry's way: every rule of the table is a pattern
//! of one regex (order = precedence), searched leftmost-first over the text once. The lazy DFA
//! finds each match and which rule made it; only a match that needs its groups (a rule that
//! puts context back, or keeps what it matched) is searched again for captures, on its own
//! span. Each match becomes `<name>`, or, for a keep rule, its replacement; what a match took
//! is never looked at again.
//!
//! Where a regex cannot say it without look-around, a rule names a `check` the match must
//! pass (a host name under a real top-level domain; quoted text that is user input). A match
//! that fails its check gives way to the next rule that matches at the same place, else the
//! text stays as it is there and the search goes on one character later.

use std::collections::HashSet;

use regex_automata::meta::Regex;
use regex_automata::util::captures::Captures;
use regex_automata::{Anchored, Input, MatchKind, PatternID};

/// Room for the lazy DFA's states (per thread that uses it): the set of all rules is large,
/// and a cache too small is cleared and rebuilt again and again.
const DFA_CACHE_BYTES: usize = 32 << 20;

/// An extra test a rule's match must pass to be replaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// the match (optionally `[…]`, `:port`, a gRPC `ipv4:`/`dns:` scheme) holds a host: an IP
    /// address that parses, or a host name whose last label is a top-level domain and that is
    /// not a file name or a dotted name in code (`setup.py`, `os.path`, `com.acme.Foo`)
    Host,
    /// quoted text in prose is user input, not a dictionary's value (`'message': '…'`, whose
    /// words stay) nor the whole message (a KeyError's key)
    UserInput,
    /// hex digits are a value when they hold a digit and are 4+ long, or are 8+ long
    /// (`9af8`, `deadbeef`, `12345678`; not `cafe`, `face`, `1234567`)
    Hex,
    /// hex digits with a digit and a letter (a commit: `a93c7d2`, not `defaced`)
    GitSha,
    /// a random token (url-safe base64: `-5JhMUj7mF…-azUW`): it holds an uppercase and a
    /// lowercase letter and a digit, and starts the text or follows whitespace, a quote, a
    /// bracket, `=`, `,` or `:`
    Token,
    /// the match starts the text or a word: after whitespace, a quote, a bracket, `=` or `,`
    /// (a path, not the rest of `host/path`)
    WordStart,
}

impl Check {
    pub fn parse(name: &str) -> Option<Check> {
        match name {
            "host" => Some(Check::Host),
            "user_input" => Some(Check::UserInput),
            "hex" => Some(Check::Hex),
            "word_start" => Some(Check::WordStart),
            "git_sha" => Some(Check::GitSha),
            "token" => Some(Check::Token),
            _ => None,
        }
    }
}

/// One piece of a replacement: text, or a capture group of the rule's pattern.
#[derive(Clone, Debug)]
enum Piece {
    Text(String),
    Group(usize),
}

#[derive(Clone, Debug)]
struct Rule {
    name: String,
    replacement: Vec<Piece>,
    /// the replacement reads groups: the match is searched again for its captures
    needs_groups: bool,
    check: Option<Check>,
}

/// Where a match went: `start..end` of the text became `out_start..out_end` of the output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Replaced {
    pub start: usize,
    pub end: usize,
    pub out_start: usize,
    pub out_end: usize,
}

/// One rule as the table gives it: its name, its pattern, the replacement (`${group}` puts a
/// group back; `None`: `<name>`) and an optional check.
pub struct RuleSpec<'a> {
    pub name: &'a str,
    pub pattern: &'a str,
    pub replacement: Option<&'a str>,
    pub check: Option<Check>,
}

/// The compiled table.
pub struct Parameterizer {
    regex: Regex,
    rules: Vec<Rule>,
    top_level_domains: HashSet<String>,
}

/// `${name}` / `$name` / `$1` -> pieces (group names resolved against pattern `pid`).
fn parse_replacement(regex: &Regex, pid: PatternID, template: &str) -> Result<Vec<Piece>, String> {
    let info = regex.group_info();
    let mut out = Vec::new();
    let mut text = String::new();
    let mut rest = template;
    while let Some(at) = rest.find('$') {
        text.push_str(&rest[..at]);
        rest = &rest[at + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            text.push('$');
            rest = after;
            continue;
        }
        let (name, after) = if let Some(inner) = rest.strip_prefix('{') {
            let close = inner.find('}').ok_or_else(|| format!("unclosed ${{ in {template:?}"))?;
            (&inner[..close], &inner[close + 1..])
        } else {
            let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
            (&rest[..end], &rest[end..])
        };
        let index = match name.parse::<usize>() {
            Ok(i) => Some(i),
            Err(_) => info.to_index(pid, name),
        };
        let index = index.ok_or_else(|| format!("no group {name:?} in the pattern"))?;
        if !text.is_empty() {
            out.push(Piece::Text(std::mem::take(&mut text)));
        }
        out.push(Piece::Group(index));
        rest = after;
    }
    text.push_str(rest);
    if !text.is_empty() {
        out.push(Piece::Text(text));
    }
    Ok(out)
}

impl Parameterizer {
    /// The rules in order of precedence; `top_level_domains` for the `host` check.
    pub fn new(
        specs: &[RuleSpec<'_>],
        top_level_domains: impl IntoIterator<Item = String>,
    ) -> Result<Parameterizer, String> {
        // each pattern alone first, so that an error names its rule
        for spec in specs {
            regex::Regex::new(spec.pattern).map_err(|e| format!("normalizer {}: {e}", spec.name))?;
        }
        let patterns: Vec<&str> = specs.iter().map(|s| s.pattern).collect();
        let regex = Regex::builder()
            .configure(
                Regex::config()
                    .match_kind(MatchKind::LeftmostFirst)
                    .hybrid_cache_capacity(DFA_CACHE_BYTES)
                    .nfa_size_limit(Some(64 << 20)),
            )
            .build_many(&patterns)
            .map_err(|e| format!("normalizers: {e}"))?;
        let mut rules = Vec::with_capacity(specs.len());
        for (i, spec) in specs.iter().enumerate() {
            let pid = PatternID::new(i).map_err(|e| e.to_string())?;
            let replacement = match spec.replacement {
                Some(template) => {
                    parse_replacement(&regex, pid, template).map_err(|e| format!("normalizer {}: {e}", spec.name))?
                }
                None => vec![Piece::Text(format!("<{}>", spec.name))],
            };
            let needs_groups = replacement.iter().any(|p| matches!(p, Piece::Group(g) if *g != 0));
            rules.push(Rule { name: spec.name.to_owned(), replacement, needs_groups, check: spec.check });
        }
        Ok(Parameterizer {
            regex,
            rules,
            top_level_domains: top_level_domains.into_iter().map(|t| t.to_ascii_lowercase()).collect(),
        })
    }

    pub fn rule_names(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| r.name.as_str())
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// `text` parameterized. `hits`, when given, counts the replacements of each rule.
    pub fn apply(&self, text: &str, hits: Option<&mut [u64]>) -> String {
        let mut out = String::with_capacity(text.len());
        self.apply_into(text, &mut out, hits, 0, None);
        out
    }

    /// `apply`, with where each match went: (start, end) in `text`, (start, end) in the output.
    pub fn apply_with_spans(&self, text: &str, hits: Option<&mut [u64]>) -> (String, Vec<Replaced>) {
        let mut out = String::with_capacity(text.len());
        let mut spans = Vec::new();
        self.apply_into(text, &mut out, hits, 0, Some(&mut spans));
        (out, spans)
    }

    /// Parameterizes `text` onto `out`; returns how many matches it replaced or kept.
    fn apply_into(
        &self,
        text: &str,
        out: &mut String,
        mut hits: Option<&mut [u64]>,
        depth: usize,
        mut spans: Option<&mut Vec<Replaced>>,
    ) -> usize {
        let mut caps: Option<Captures> = None;
        let mut at = 0;
        let mut copied = 0;
        let mut matched = 0;
        while at <= text.len() {
            let Some(found) = self.regex.search(&Input::new(text).span(at..text.len())) else { break };
            let (mut start, mut end, mut pid) = (found.start(), found.end(), found.pattern());
            let mut accepted = self.accepts(text, pid, start, end);
            if !accepted {
                // the next rule that matches at the same place and passes its check
                for next in pid.as_usize() + 1..self.rules.len() {
                    let Ok(next) = PatternID::new(next) else { break };
                    let input = Input::new(text).span(start..text.len()).anchored(Anchored::Pattern(next));
                    if let Some(m) = self.regex.search(&input) {
                        if m.start() == start && self.accepts(text, next, m.start(), m.end()) {
                            (start, end, pid, accepted) = (m.start(), m.end(), next, true);
                            break;
                        }
                    }
                }
            }
            if !accepted || end == start {
                at = next_char(text, start);
                continue;
            }
            let Some(rule) = self.rules.get(pid.as_usize()) else { break };
            out.push_str(&text[copied..start]);
            let out_start = out.len();
            if rule.needs_groups || rule.check == Some(Check::UserInput) {
                let caps = caps.get_or_insert_with(|| self.regex.create_captures());
                let input = Input::new(text).range(start..end).anchored(Anchored::Pattern(pid));
                self.regex.search_captures(&input, caps);
                // Quoted text whose inside holds values the rules know (a URL, a status, a
                // date) keeps its words and quotes, its values parameterized where they stand;
                // only quoted text the rules find nothing in is user input as a whole.
                let inner = if rule.check == Some(Check::UserInput) && depth == 0 {
                    let info = self.regex.group_info();
                    ["vs", "vd", "vb"]
                        .iter()
                        .filter_map(|name| info.to_index(pid, name).and_then(|g| caps.get_group(g)))
                        .next()
                } else {
                    None
                };
                let mut inside = String::new();
                let inner_found = match inner {
                    Some(span) => {
                        self.apply_into(&text[span.start..span.end], &mut inside, hits.as_deref_mut(), depth + 1, None)
                    }
                    None => 0,
                };
                match inner {
                    Some(span) if inner_found > 0 => {
                        out.push_str(&text[start..span.start]);
                        out.push_str(&inside);
                        out.push_str(&text[span.end..end]);
                    }
                    _ => {
                        for piece in &rule.replacement {
                            match piece {
                                Piece::Text(t) => out.push_str(t),
                                Piece::Group(g) => {
                                    if let Some(span) = caps.get_group(*g) {
                                        out.push_str(&text[span.start..span.end]);
                                    }
                                }
                            }
                        }
                        if let Some(h) = hits.as_deref_mut().and_then(|h| h.get_mut(pid.as_usize())) {
                            *h += 1;
                        }
                    }
                }
            } else {
                for piece in &rule.replacement {
                    match piece {
                        Piece::Text(t) => out.push_str(t),
                        Piece::Group(_) => out.push_str(&text[start..end]), // the whole match
                    }
                }
                if let Some(h) = hits.as_deref_mut().and_then(|h| h.get_mut(pid.as_usize())) {
                    *h += 1;
                }
            }
            if let Some(spans) = spans.as_deref_mut() {
                spans.push(Replaced { start, end, out_start, out_end: out.len() });
            }
            matched += 1;
            copied = end;
            at = end;
        }
        out.push_str(&text[copied..]);
        matched
    }

    fn accepts(&self, text: &str, pid: PatternID, start: usize, end: usize) -> bool {
        match self.rules.get(pid.as_usize()).and_then(|r| r.check) {
            None => true,
            Some(Check::Host) => self.is_host(text, start, end),
            Some(Check::UserInput) => is_user_input(text, start, end),
            Some(Check::WordStart) => text[..start]
                .chars()
                .next_back()
                .is_none_or(|c| c.is_whitespace() || matches!(c, '\'' | '"' | '`' | '(' | '[' | '=' | ',')),
            Some(Check::Token) => {
                let token = &text[start..end];
                text[..start]
                    .chars()
                    .next_back()
                    .is_none_or(|c| c.is_whitespace() || matches!(c, '\'' | '"' | '`' | '(' | '[' | '=' | ',' | ':'))
                    && token.bytes().any(|b| b.is_ascii_uppercase())
                    && token.bytes().any(|b| b.is_ascii_lowercase())
                    && token.bytes().any(|b| b.is_ascii_digit())
            }
            Some(Check::GitSha) => {
                let sha = &text[start..end];
                sha.bytes().any(|b| b.is_ascii_digit()) && sha.bytes().any(|b| b.is_ascii_alphabetic())
            }
            Some(Check::Hex) => {
                let digits = text[start..end].trim_start_matches('-');
                let has_digit = digits.bytes().any(|b| b.is_ascii_digit());
                let all_digits = digits.bytes().all(|b| b.is_ascii_digit());
                if all_digits {
                    digits.len() >= 8
                } else {
                    digits.len() >= 8 || has_digit && digits.len() >= 4
                }
            }
        }
    }

    fn is_host(&self, text: &str, start: usize, end: usize) -> bool {
        // what follows a host name is not a call, nor more of a dotted name
        let after = &text[end..];
        if after.starts_with('(') || after.starts_with(['_', '$']) {
            return false;
        }
        let matched = &text[start..end];
        let core = host_core(matched);
        if core.contains(':') || core.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return is_ip(core);
        }
        self.is_host_name(core)
    }

    fn is_host_name(&self, name: &str) -> bool {
        let labels: Vec<&str> = name.split('.').collect();
        let (Some(first), Some(tld)) = (labels.first(), labels.last()) else { return false };
        if labels.len() < 2
            || labels.iter().any(|l| l.is_empty() || l.len() > 63 || l.starts_with('-') || l.ends_with('-'))
            || !tld.bytes().all(|b| b.is_ascii_alphabetic())
        {
            return false;
        }
        // code, not a host: camelCase (`self.getUser`), a reverse-DNS package (`com.acme.Foo`,
        // `io.netty.channel`), an object's attribute (`self.app`, `os.path`)
        let camel = labels
            .iter()
            .any(|l| l.as_bytes().windows(2).any(|w| w[0].is_ascii_lowercase() && w[1].is_ascii_uppercase()));
        let lower_first = first.to_ascii_lowercase();
        if camel || CODE_ROOTS.contains(&lower_first.as_str()) {
            return false;
        }
        let tld = tld.to_ascii_lowercase();
        if FILE_EXTENSIONS.contains(&tld.as_str()) {
            return false;
        }
        let known = self.top_level_domains.contains(&tld) || PRIVATE_TLDS.contains(&tld.as_str());
        if labels.len() >= 3 {
            return known;
        }
        TWO_LABEL_TLDS.contains(&tld.as_str()) || PRIVATE_TLDS.contains(&tld.as_str())
    }
}

/// The host inside a host match: without a gRPC scheme, brackets, port or zone.
fn host_core(matched: &str) -> &str {
    let mut m = matched.trim_matches(['\'', '"']);
    for scheme in ["ipv4:", "ipv6:", "dns:///", "dns:", "unix:"] {
        if let Some(rest) = m.strip_prefix(scheme) {
            m = rest;
            break;
        }
    }
    if let Some(rest) = m.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest).split('%').next().unwrap_or(rest);
    }
    // a port after a name or an IPv4 address (an IPv6 address without brackets has no port)
    if m.matches(':').count() == 1 {
        if let Some((host, port)) = m.rsplit_once(':') {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                m = host;
            }
        }
    }
    m.split('%').next().unwrap_or(m).split('/').next().unwrap_or(m)
}

fn is_ip(core: &str) -> bool {
    core.parse::<std::net::IpAddr>().is_ok()
}

/// Quoted text in prose, not a dictionary's value nor the whole message.
fn is_user_input(text: &str, start: usize, end: usize) -> bool {
    let before = text[..start].trim_end_matches([' ', '\t']);
    let quoted = text[start..end].trim_start_matches([' ', '\t', '(', '[', '{', ',']);
    let whole = text[..start].trim().is_empty() && text[end..].trim().is_empty();
    // a dictionary's value: after a quoted key and its colon ('message': '…', "detail": "…"), or
    // after a colon inside braces ({detail: '…'}); after prose's colon ("ticket 12: "…"") it is input
    let after_key = before
        .strip_suffix(':')
        .is_some_and(|key| key.ends_with(['\'', '"']) || key.matches('{').count() > key.matches('}').count());
    let dict_value = after_key || text[start..end].trim_start().starts_with(':');
    !whole && !dict_value && !quoted.is_empty()
}

fn next_char(text: &str, at: usize) -> usize {
    text[at..].chars().next().map_or(at + 1, |c| at + c.len_utf8())
}

/// First labels of dotted names in code.
const CODE_ROOTS: &[&str] = &[
    "self",
    "this",
    "cls",
    "super",
    "os",
    "sys",
    "np",
    "pd",
    "tf",
    "torch",
    "math",
    "json",
    "re",
    "com",
    "org",
    "net",
    "io",
    "java",
    "javax",
    "jakarta",
    "kotlin",
    "scala",
    "android",
    "androidx",
    "sun",
    "jdk",
    "system",
    "microsoft",
    "window",
    "document",
    "console",
    "process",
    "module",
    "exports",
    "app",
    "request",
    "response",
    "req",
    "res",
    "ctx",
    "config",
    "settings",
    "logger",
    "log",
    "db",
    "session",
    "user",
    "obj",
    "args",
    "kwargs",
    "params",
    "data",
];

/// Top-level domains a name of two labels is a host under (`acme.com`, `ipapi.co`): the common
/// ones, not those that are also words code ends a two-part dotted name with (`self.id`,
/// `np.pk`, `user.email`, `logger.info`).
const TWO_LABEL_TLDS: &[&str] = &[
    "com",
    "net",
    "org",
    "edu",
    "gov",
    "mil",
    "int",
    "io",
    "co",
    "ai",
    "dev",
    "app",
    "cloud",
    "tech",
    "xyz",
    "biz",
    "online",
    "site",
    "store",
    "shop",
    "agency",
    "engineering",
    "digital",
    "solutions",
    "services",
    "systems",
    "software",
    "network",
    "global",
    "group",
    "company",
    "works",
    "studio",
    "design",
    "media",
    "finance",
    "health",
    "us",
    "uk",
    "de",
    "fr",
    "jp",
    "cn",
    "ru",
    "br",
    "au",
    "ca",
    "nl",
    "eu",
    "ch",
    "es",
    "se",
    "kr",
    "mx",
    "pt",
    "dk",
    "fi",
    "nz",
    "sg",
    "hk",
    "tw",
    "za",
    "ar",
    "cl",
    "gr",
    "il",
    "ua",
    "vn",
    "tr",
    "cz",
    "hu",
    "ro",
    "ie",
    "lt",
    "lv",
    "ee",
    "sk",
    "si",
    "hr",
    "bg",
    "nu",
    "ly",
    "gg",
    "fm",
    "tv",
    "cc",
    "ws",
];

/// File extensions that are also top-level domains: `setup.py`, `README.md`, `lib.rs`.
const FILE_EXTENSIONS: &[&str] = &[
    "py", "pyc", "md", "rs", "sh", "so", "pl", "zip", "mov", "txt", "json", "yaml", "yml", "toml", "ini", "cfg",
    "conf", "csv", "tsv", "log", "xml", "html", "htm", "css", "js", "ts", "tsx", "jsx", "pdf", "png", "jpg", "jpeg",
    "gif", "svg", "gz", "tar", "tgz", "bz2", "xz", "rb", "java", "kt", "class", "jar", "war", "cs", "cpp", "hpp",
    "php", "lock", "db", "sqlite", "parquet", "xlsx", "docx", "doc", "pkl", "bin", "pem", "crt", "key", "env", "sql",
    "proto", "wasm", "map", "exe", "dll", "dylib", "rst", "ipynb", "erb", "mjs", "cjs", "vue", "swift", "go", "tf",
    "lua", "dart", "scala", "ex", "exs", "hs", "ml", "clj", "r", "jl", "ps1", "bat", "cmd", "mp3", "mp4", "wav", "avi",
    "mkv", "webp", "ico", "woff", "ttf", "eot", "otf", "gpg", "asc", "sig", "out", "err", "tmp", "bak", "old", "orig",
    "swp", "pid", "sock", "egg", "whl", "pyz", "pex",
];

/// Names for private networks: `db-3.prod.internal`, `redis.default.svc.cluster.local`.
const PRIVATE_TLDS: &[&str] = &[
    "local",
    "localdomain",
    "internal",
    "intranet",
    "lan",
    "corp",
    "home",
    "svc",
    "arpa",
    "consul",
    "test",
    "example",
    "invalid",
    "localhost",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn table(specs: &[(&str, &str, Option<&str>, Option<Check>)]) -> Parameterizer {
        let specs: Vec<RuleSpec<'_>> = specs
            .iter()
            .map(|(name, pattern, replacement, check)| RuleSpec {
                name,
                pattern,
                replacement: *replacement,
                check: *check,
            })
            .collect();
        Parameterizer::new(&specs, ["com".to_owned(), "app".to_owned(), "engineering".to_owned()]).unwrap()
    }

    #[test]
    fn one_pass_leftmost_first_in_order_of_precedence() {
        let p = table(&[
            ("status", r"(?P<pre>HTTP )(?P<k>[1-5]\d\d)\b", Some("${pre}${k}"), None),
            ("float", r"\b\d+\.\d+\b", None, None),
            ("int", r"\b\d+\b", None, None),
        ]);
        assert_eq!(p.apply("HTTP 503 after 2.5 tries, 3 left", None), "HTTP 503 after <float> tries, <int> left");
    }

    #[test]
    fn a_failed_check_gives_way_to_the_next_rule_at_that_place() {
        let p = table(&[
            ("host", r"\b[a-z0-9-]+(?:\.[a-z0-9-]+)+\b", None, Some(Check::Host)),
            ("word", r"\b[a-z]+\.[a-z]+\b", None, None),
        ]);
        assert_eq!(p.apply("to callback.soylent.app now", None), "to <host> now");
        assert_eq!(p.apply("see setup.py", None), "see <word>");
        assert_eq!(p.apply("self.client failed", None), "<word> failed");
    }

    #[test]
    fn hosts_in_any_spelling() {
        let p = table(&[(
            "host",
            r"\[[0-9a-fA-F:.]+\](?::\d+)?|\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?|\b[a-z0-9-]+(?:\.[a-z0-9-]+)+(?::\d+)?",
            None,
            Some(Check::Host),
        )]);
        for text in
            ["[fd12:3456::e6b]:9000", "10.0.4.12", "10.0.4.12:5432", "api.acme.com", "hooks.acme.engineering:443"]
        {
            assert_eq!(p.apply(text, None), "<host>", "{text}");
        }
        assert_eq!(p.apply("[12:31:99]", None), "[12:31:99]");
    }

    #[test]
    fn hits_count_replacements() {
        let p = table(&[("int", r"\b\d+\b", None, None)]);
        let mut hits = [0u64];
        p.apply("1 2 3", Some(&mut hits));
        assert_eq!(hits, [3]);
    }
}
