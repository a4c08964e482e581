//! Stack traces as text, read into exceptions and frames: one parser for the grouping (the
//! source frame, the exception chain, the message as the trace prints it) and for the Sentry
//! exporter (its exception and stack-trace interfaces, through the binding).
//!
//! Six languages, each in its module: Python (`traceback.format_exception`, with chains and
//! `ExceptionGroup` trees), JavaScript (V8 and Firefox/Safari `error.stack`), the JVM
//! (`printStackTrace`, with `Caused by:`), Go (panics and goroutine dumps), .NET
//! (`Exception.ToString()`, with inner exceptions) and Ruby (`backtrace`, `full_message`).
//!
//! The parsers borrow from the text: a frame's path, function and source line are slices of
//! it (owned only where the text had to be joined, as a boxed group member's message). They
//! never fail: what cannot be read is left out, and a text that is no stack trace gives none.
//!
//! Order is Sentry's: the exceptions of a chain oldest first (the one that was finally raised
//! last), the frames of each one oldest call first (the frame that raised last), whatever order
//! the language prints them in.
//!
//! What a frame is called and whether it is the application's (`InApp`) is decided here too,
//! so that the grouping and the exporter agree.

use std::borrow::Cow;
use std::collections::HashSet;

pub mod dotnet;
pub mod go;
pub mod javascript;
pub mod jvm;
pub mod python;
pub mod ruby;

/// At most this many frames per exception ("[Previous line repeated N more times]" is expanded
/// back into frames; the recursion limit keeps real traces far below it).
pub const MAX_FRAMES: usize = 10_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Language {
    Python,
    JavaScript,
    Java,
    Go,
    DotNet,
    Ruby,
}

impl Language {
    /// From `telemetry.sdk.language` (or a platform name).
    pub fn from_hint(hint: &str) -> Option<Language> {
        Some(match hint.trim().to_ascii_lowercase().as_str() {
            "python" => Language::Python,
            "nodejs" | "node" | "webjs" | "javascript" | "js" | "typescript" => Language::JavaScript,
            "java" | "kotlin" | "scala" | "groovy" | "jvm" | "clojure" => Language::Java,
            "go" | "golang" => Language::Go,
            "dotnet" | ".net" | "csharp" | "c#" | "fsharp" => Language::DotNet,
            "ruby" => Language::Ruby,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Language::Python => "python",
            Language::JavaScript => "javascript",
            Language::Java => "java",
            Language::Go => "go",
            Language::DotNet => "dotnet",
            Language::Ruby => "ruby",
        }
    }
}

/// One frame, in the words of Sentry's stack-trace interface.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frame<'a> {
    /// the file as printed (a path or a URL)
    pub path: Option<Cow<'a, str>>,
    pub function: Option<Cow<'a, str>>,
    pub lineno: Option<u32>,
    pub colno: Option<u32>,
    /// the source line printed under the frame (Python)
    pub context_line: Option<Cow<'a, str>>,
    /// what the language prints as the frame's owner: the JVM class, the .NET type, the Go
    /// package (Python, JavaScript and Ruby frames have a path instead)
    pub owner: Option<Cow<'a, str>>,
}

/// One exception of a chain or of a group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Exception<'a> {
    /// the type as printed, qualified or not (`requests.exceptions.ConnectionError`)
    pub type_name: Option<Cow<'a, str>>,
    pub value: Option<Cow<'a, str>>,
    /// oldest call first
    pub frames: Vec<Frame<'a>>,
    /// how it hangs off the exception after it: `__cause__`, `__context__` (Python), `cause`
    /// (JVM, JavaScript), `InnerException` (.NET), `exceptions[i]` (member i of a group)
    pub source: Option<&'static str>,
    /// tree ids (Sentry's mechanism), set only when the trace holds a group
    pub exception_id: Option<usize>,
    pub parent_id: Option<usize>,
    pub is_group: bool,
}

impl Exception<'_> {
    /// The type's name without its module or namespace.
    pub fn class_name(&self) -> Option<&str> {
        self.type_name.as_deref().map(class_name)
    }
}

/// The exceptions of a trace, oldest first: the last one is the exception that was raised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trace<'a> {
    pub language: Language,
    pub exceptions: Vec<Exception<'a>>,
}

impl<'a> Trace<'a> {
    /// The exception that was raised in the end (the event's own).
    pub fn last(&self) -> Option<&Exception<'a>> {
        self.exceptions.last()
    }
}

/// `java.net.ConnectException` -> `ConnectException`, `Errno::ECONNREFUSED` -> `ECONNREFUSED`,
/// `<class 'KeyError'>` -> `KeyError`.
pub fn class_name(type_name: &str) -> &str {
    let t = type_name.trim_ascii();
    let t = t.strip_prefix("<class '").and_then(|r| r.strip_suffix("'>")).unwrap_or(t);
    // after the last `.` or `::`
    let at = t.bytes().rposition(|b| b == b'.' || b == b':').map_or(0, |i| i + 1);
    &t[at..]
}

/// The language of a trace: the hint when it names one the text does not contradict, else
/// the text's shape.
pub fn detect(text: &str, hint: Option<&str>) -> Option<Language> {
    let shaped = detect_shape(text);
    match hint.and_then(Language::from_hint) {
        // A hint that contradicts the shape loses (a JVM trace re-raised through a Python
        // gateway still reads as Java).
        Some(hinted) if shaped.is_none_or(|s| s == hinted) => Some(hinted),
        _ => shaped,
    }
}

fn detect_shape(text: &str) -> Option<Language> {
    static TRACEBACK: std::sync::OnceLock<memchr::memmem::Finder<'static>> = std::sync::OnceLock::new();
    let traceback = TRACEBACK.get_or_init(|| memchr::memmem::Finder::new("Traceback (most recent call last):"));
    if traceback.find(text.as_bytes()).is_some() || python::has_frame(text) {
        return Some(Language::Python);
    }
    if text.contains("goroutine ") && go::has_frame(text) {
        return Some(Language::Go);
    }
    if dotnet::has_frame(text) {
        return Some(Language::DotNet);
    }
    if jvm::has_frame(text) {
        return Some(Language::Java);
    }
    if ruby::has_frame(text) {
        return Some(Language::Ruby);
    }
    if javascript::has_frame(text) {
        return Some(Language::JavaScript);
    }
    None
}

/// The exceptions of a stack trace (`hint`: `telemetry.sdk.language`); None when the text is
/// no stack trace of a language known here.
pub fn parse<'a>(text: &'a str, hint: Option<&str>) -> Option<Trace<'a>> {
    if text.trim().is_empty() {
        return None;
    }
    let language = detect(text, hint)?;
    let exceptions = match language {
        Language::Python => python::parse(text),
        Language::JavaScript => javascript::parse(text),
        Language::Java => jvm::parse(text),
        Language::Go => go::parse(text),
        Language::DotNet => dotnet::parse(text),
        Language::Ruby => ruby::parse(text),
    };
    // a text only a hint calls a stack trace is one when something in it reads as one
    let read = exceptions.iter().any(|e| !e.frames.is_empty() || e.type_name.is_some());
    if exceptions.is_empty() || !read {
        return None;
    }
    Some(Trace { language, exceptions })
}

/// Lines of a text, without their `\r` (split on `\n` as `str::split` does, found by memchr).
pub(crate) fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut start = 0;
    let mut breaks = memchr::memchr_iter(b'\n', text.as_bytes());
    let mut done = false;
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        let line = match breaks.next() {
            Some(end) => {
                let line = &text[start..end];
                start = end + 1;
                line
            }
            None => {
                done = true;
                &text[start..]
            }
        };
        Some(line.strip_suffix('\r').unwrap_or(line))
    })
}

pub(crate) fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches([' ', '\t']).len()
}

pub(crate) fn parse_u32(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Lines joined with `\n` (borrowed when there is one).
pub(crate) fn join<'a>(parts: &[&'a str]) -> Option<Cow<'a, str>> {
    match parts {
        [] => None,
        [one] => Some(Cow::Borrowed(one)),
        many => Some(Cow::Owned(many.join("\n"))),
    }
}

// ------------------------------------------------------------------------------------------
// What a frame is called, and whether it is the application's
// ------------------------------------------------------------------------------------------

/// Which frames are the application's. Library code is recognized by where it lives (Python's
/// `site-packages` and standard library, `node_modules`, Ruby's gems, Go's module cache and
/// GOROOT) and by the names of known libraries (`libraries`: top-level Python packages, JVM and
/// .NET namespace prefixes). Python code installed as a package (`site-packages/app/…`) is the
/// application's unless its top-level package is a known library: that keeps an application's
/// frames its own in every deployment layout.
///
/// `include` / `exclude` (module prefixes, as Sentry's SDKs' `in_app_include`/`in_app_exclude`)
/// overrule all of it.
#[derive(Clone, Debug, Default)]
pub struct InApp {
    python: HashSet<String>,
    prefixes: Vec<String>,
    include: Vec<String>,
    exclude: Vec<String>,
}

/// A dotted module with a prefix list: `prefix` matches `prefix` and `prefix.…` (a prefix
/// ending in `.` or `/` matches what starts with it).
fn has_prefix(module: &str, prefixes: &[String]) -> bool {
    prefixes.iter().any(|p| {
        module.starts_with(p.as_str())
            && (p.ends_with('.') || p.ends_with('/') || module.len() == p.len() || {
                let next = module.as_bytes().get(p.len()).copied();
                matches!(next, Some(b'.') | Some(b'/') | Some(b':'))
            })
    })
}

impl InApp {
    /// `python`: top-level packages of Python libraries (`requests`, `httpx`) and of the
    /// standard library; `prefixes`: JVM, .NET and Go namespaces of libraries (`java.`,
    /// `org.springframework.`, `System.`); `include`/`exclude`: module prefixes that are always /
    /// never the application's.
    pub fn new(python: Vec<String>, prefixes: Vec<String>, include: Vec<String>, exclude: Vec<String>) -> InApp {
        InApp { python: python.into_iter().collect(), prefixes, include, exclude }
    }

    /// Whether `frame` (of a `language` trace) is the application's code. For Python,
    /// JavaScript and Ruby it depends on the frame's path alone (what `module` and `in_app`
    /// give may be remembered per path); for the JVM, .NET and Go on its owner.
    pub fn in_app(&self, language: Language, frame: &Frame<'_>) -> bool {
        if !self.include.is_empty() || !self.exclude.is_empty() {
            if let Some(module) = module(language, frame) {
                if has_prefix(&module, &self.include) {
                    return true;
                }
                if has_prefix(&module, &self.exclude) {
                    return false;
                }
            }
        }
        match language {
            Language::Python => self.python_in_app(frame),
            Language::JavaScript => javascript::in_app(frame),
            Language::Java | Language::DotNet => {
                frame.owner.as_deref().is_some_and(|owner| !has_prefix(strip_jvm_module(owner), &self.prefixes))
            }
            Language::Go => go::in_app(frame, &self.prefixes),
            Language::Ruby => ruby::in_app(frame),
        }
    }

    fn python_in_app(&self, frame: &Frame<'_>) -> bool {
        let Some(path) = frame.path.as_deref() else { return false };
        if path.starts_with('<') {
            return false; // <frozen …>, <string>, <stdin>: the interpreter's or generated code
        }
        match python_location(path) {
            PyLocation::Stdlib => false,
            PyLocation::Packages(rest) => {
                let top = rest.split(['/', '\\']).next().unwrap_or(rest);
                let top = top.strip_suffix(".py").unwrap_or(top);
                !self.python.contains(top) && !top.ends_with(".dist-info")
            }
            // Compiled (Cython) frames print the path relative to their build directory and a
            // qualified function: `lib/sqlalchemy/engine/_result_cy.py`, `sqlalchemy.engine.…`
            PyLocation::Other => {
                if path.starts_with('/') || path.as_bytes().get(1) == Some(&b':') {
                    return true;
                }
                let top = path.trim_start_matches("./").split('/').find(|p| !matches!(*p, "lib" | "src" | "build"));
                !top.is_some_and(|top| self.python.contains(top))
            }
        }
    }
}

fn strip_jvm_module(owner: &str) -> &str {
    // `java.base/java.net.Socket`, `app//com.acme.Foo`: the JPMS module or class loader
    owner.rsplit('/').next().unwrap_or(owner)
}

enum PyLocation<'p> {
    /// the standard library (`lib/python3.12/…` outside site-packages, Windows `PythonXY\Lib\`)
    Stdlib,
    /// installed packages: the path after `site-packages/` or `dist-packages/`
    Packages(&'p str),
    Other,
}

fn python_location(path: &str) -> PyLocation<'_> {
    let bytes = path.as_bytes();
    if let Some(at) = memchr::memmem::rfind(bytes, b"-packages") {
        let sep = bytes.get(at + 9).copied();
        let owner = at.checked_sub(4).map(|s| &bytes[s..at]);
        if matches!(sep, Some(b'/') | Some(b'\\')) && matches!(owner, Some(b"site") | Some(b"dist")) {
            return PyLocation::Packages(&path[at + 10..]);
        }
    }
    if stdlib_rest(path).is_some() {
        return PyLocation::Stdlib;
    }
    PyLocation::Other
}

/// The path after a standard library directory: `…/lib/python3.12/`, `…/lib/python312.zip/`,
/// `C:\\Python312\\Lib\\`.
fn stdlib_rest(path: &str) -> Option<&str> {
    let bytes = path.as_bytes();
    let mut found = None;
    // each "python" after a separator: `lib/python3.12/`, or Windows' `Python312\Lib\`
    for at in memchr::memmem::find_iter(bytes, b"ython") {
        let Some(start) = at.checked_sub(1) else { continue };
        if !matches!(bytes[start], b'p' | b'P') || start == 0 || !matches!(bytes[start - 1], b'/' | b'\\') {
            continue;
        }
        let rest = &path[at + 5..];
        let version_len = rest.bytes().take_while(|b| b.is_ascii_digit() || *b == b'.').count();
        if version_len == 0 {
            continue;
        }
        let after = &rest[version_len..];
        let lib_before = start >= 4 && matches!(&bytes[start - 4..start - 1], b"lib");
        if lib_before {
            let after = after.strip_prefix(".zip").unwrap_or(after);
            if let Some(r) = after.strip_prefix('/').or_else(|| after.strip_prefix('\\')) {
                found = Some(r);
            }
        } else if let Some(r) = after.strip_prefix("\\Lib\\").or_else(|| after.strip_prefix("/Lib/")) {
            found = Some(r);
        }
    }
    found
}

/// Where a Python path's module path starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Root {
    /// installed packages, the standard library, a zipapp: the rest is the module exactly
    Import,
    /// an application root (`/app/`, `src/`, a checkout under `/home/<user>/<project>/`)
    App,
    /// a relative path, or an absolute one under no root known here
    Unknown,
}

/// Application roots: the directory a deployment puts the code in, whose contents are on
/// `sys.path` (`*` is one directory of any name).
const APP_ROOTS: &[&str] = &[
    "/app/",
    "/code/",
    "/usr/src/app/",
    "/usr/src/*/",
    "/var/task/",
    "/var/app/current/",
    "/var/www/*/",
    "/srv/*/",
    "/opt/*/",
    "/workspace/*/",
    "/workspaces/*/",
    "/github/workspace/",
];

/// Matches `pattern` (see `APP_ROOTS`) at the start of `path`; returns the rest.
fn strip_root<'p>(path: &'p str, pattern: &str) -> Option<&'p str> {
    let mut rest = path;
    for part in pattern.trim_matches('/').split('/') {
        rest = rest.strip_prefix('/')?;
        let end = rest.find('/')?;
        if part != "*" && &rest[..end] != part {
            return None;
        }
        rest = &rest[end..];
    }
    rest.strip_prefix('/')
}

fn is_identifier(part: &str) -> bool {
    let mut chars = part.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_') && chars.all(|c| c.is_alphanumeric() || c == '_')
}

/// After the last directory that cannot be a package (a release stamp, `my-project`).
fn after_non_packages(rest: &str) -> &str {
    let mut start = 0;
    let mut at = 0;
    for part in rest.split('/') {
        let end = at + part.len();
        if end < rest.len() && !is_identifier(part) {
            start = end + 1;
        }
        at = end + 1;
    }
    rest.get(start..).unwrap_or(rest)
}

/// A Python path relative to where it is imported from, and what kind of root that was.
fn python_relative(path: &str) -> Option<(Cow<'_, str>, Root)> {
    let mut p: Cow<'_, str> =
        if path.contains('\\') { Cow::Owned(path.replace('\\', "/")) } else { Cow::Borrowed(path) };
    if p.len() > 2 && p.as_bytes()[1] == b':' && p.as_bytes()[0].is_ascii_alphabetic() {
        p = Cow::Owned(p[2..].to_owned()); // a Windows drive
    }
    let (start, root) = python_start(&p);
    Some((
        match p {
            Cow::Borrowed(b) => Cow::Borrowed(&b[start..]),
            Cow::Owned(o) => Cow::Owned(o[start..].to_owned()),
        },
        root,
    ))
}

/// Where the module path starts in a path with `/` separators.
fn python_start(p: &str) -> (usize, Root) {
    // installed packages, the standard library, zipapps and eggs: the rest is the module
    let mut import_at: Option<usize> = None;
    for marker in ["/site-packages/", "/dist-packages/"] {
        if let Some(at) = p.rfind(marker) {
            let end = at + marker.len();
            import_at = Some(import_at.map_or(end, |e: usize| e.max(end)));
        }
    }
    // zipapps, pex files, eggs, wheels: an archive on sys.path, the module inside it
    for at in memchr::memchr_iter(b'.', p.as_bytes()) {
        let rest = &p[at..];
        for marker in [".pyz/", ".pex/", ".zip/", ".egg/", ".whl/"] {
            if rest.starts_with(marker) {
                let end = at + marker.len();
                import_at = Some(import_at.map_or(end, |e: usize| e.max(end)));
            }
        }
    }
    if let Some(rest) = stdlib_rest(p) {
        let end = p.len() - rest.len();
        import_at = Some(import_at.map_or(end, |e| e.max(end)));
    }
    if let Some(end) = import_at {
        return (end, Root::Import);
    }
    // a src/ layout: the packages are under src/ (not /usr/src/, a root: /usr/src/app/)
    let src_layout = p
        .rfind("/src/")
        .filter(|&a| !matches!(&p[..a], "/usr" | "/usr/local"))
        .map(|a| a + 5)
        .or_else(|| p.starts_with("src/").then_some(4));
    if let Some(at) = src_layout {
        if at < p.len() {
            return (at, Root::App);
        }
    }
    if p.starts_with('/') {
        for root in APP_ROOTS {
            if let Some(rest) = strip_root(p, root) {
                return (p.len() - after_non_packages(rest).len(), Root::App);
            }
        }
        // Under a root not known here (a checkout in a home directory, a CI workspace) the
        // package is unknown: the file's stem, as a script run from its directory is imported.
        return (p.rfind('/').map_or(0, |i| i + 1), Root::Unknown);
    }
    let rel = p.trim_start_matches("./");
    (p.len() - after_non_packages(rel).len(), Root::Unknown)
}

const PY_EXTENSIONS: &[&str] = &[".py", ".pyc", ".pyw", ".pyx", ".pyi", ".pyo"];
const JS_EXTENSIONS: &[&str] = &[".js", ".mjs", ".cjs", ".jsx", ".ts", ".tsx", ".mts", ".cts", ".vue", ".svelte"];

/// `a/b/c.py` -> `a.b.c` (`__init__` dropped); None when nothing is left.
fn dotted(rel: &str, extensions: &[&str]) -> Option<String> {
    let mut stem = rel;
    for ext in extensions {
        if let Some(s) = stem.strip_suffix(ext) {
            stem = s;
            break;
        }
    }
    let mut parts: Vec<&str> = stem.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
    if parts.last() == Some(&"__init__") {
        parts.pop();
    }
    if parts.is_empty() {
        return None;
    }
    Some(parts.join("."))
}

/// A frame's module as its language names it: Python as it is imported (`app.api.orders`,
/// the same for a package in site-packages, under `src/`, `/app`, `/srv/<name>/releases/<stamp>`
/// or a zipapp), JavaScript by its path (`node_modules/express/lib/x.js` -> `express.lib.x`,
/// bundle hashes dropped), the JVM class, the .NET type, the Go package, Ruby by its path.
pub fn module(language: Language, frame: &Frame<'_>) -> Option<String> {
    match language {
        Language::Python => {
            let path = frame.path.as_deref()?;
            if let Some(inner) = path.strip_prefix("<frozen ").and_then(|r| r.strip_suffix('>')) {
                return Some(inner.to_owned());
            }
            if path.starts_with('<') {
                return None;
            }
            let (rel, _) = python_relative(path)?;
            dotted(&rel, PY_EXTENSIONS)
        }
        Language::JavaScript => javascript::module(frame.path.as_deref()?),
        Language::Java => frame.owner.as_deref().map(|o| strip_jvm_module(o).to_owned()).filter(|o| !o.is_empty()),
        Language::DotNet | Language::Go => frame.owner.as_deref().map(str::to_owned).filter(|o| !o.is_empty()),
        Language::Ruby => ruby::module(frame.path.as_deref()?),
    }
}

/// A frame's file relative to its root (Sentry's `filename`): `shop/orders.py`,
/// `express/lib/router/layer.js`; the path as printed when there is no root to take off.
pub fn filename(language: Language, frame: &Frame<'_>) -> Option<String> {
    let path = frame.path.as_deref()?;
    match language {
        Language::Python => {
            if path.starts_with('<') {
                return Some(path.to_owned());
            }
            python_relative(path).map(|(rel, _)| rel.into_owned())
        }
        Language::JavaScript => javascript::filename(path),
        Language::Ruby => Some(ruby::relative(path).to_owned()),
        _ => Some(path.rsplit(['/', '\\']).next().unwrap_or(path).to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn py_module(path: &str) -> Option<String> {
        module(Language::Python, &Frame { path: Some(Cow::Borrowed(path)), ..Default::default() })
    }

    #[test]
    fn python_modules_are_what_python_imports() {
        for (path, expected) in [
            ("/usr/local/lib/python3.12/site-packages/app/carts.py", "app.carts"),
            ("/app/app/carts.py", "app.carts"),
            ("/opt/app-root/src/app/carts.py", "app.carts"),
            ("/home/deploy/billing/src/billing/storage.py", "billing.storage"),
            ("/srv/billing/releases/20250611T0930/billing/storage.py", "billing.storage"),
            ("/workspace/agent/src/agent/llm/chat.py", "agent.llm.chat"),
            ("/var/task/agent/llm/chat.py", "agent.llm.chat"),
            ("/opt/gateway/gateway-2.0.pyz/gateway/auth/tokens.py", "gateway.auth.tokens"),
            ("/usr/lib/python3/dist-packages/gateway/auth/tokens.py", "gateway.auth.tokens"),
            ("/home/deploy/svc/app/services/billing.py", "billing"),
            ("/srv/releases/20240102/app/api/health.py", "app.api.health"),
            ("/usr/lib/python3.12/asyncio/tasks.py", "asyncio.tasks"),
            ("C:\\Python312\\Lib\\json\\decoder.py", "json.decoder"),
            ("C:\\Users\\bob\\proj\\app\\cli.py", "cli"),
            ("/srv/app/main.py", "main"),
            ("/usr/src/app/worker/tasks/misc.py", "worker.tasks.misc"),
            ("/usr/src/billing/src/billing/api.py", "billing.api"),
            ("/somewhere/else/deep/pkg/mod.py", "mod"),
            ("/work/wt-v2/tests/test_x.py", "test_x"),
            ("app/jobs/nightly.py", "app.jobs.nightly"),
            ("/app/app/__init__.py", "app"),
            ("<frozen importlib._bootstrap>", "importlib._bootstrap"),
        ] {
            assert_eq!(py_module(path).as_deref(), Some(expected), "{path}");
        }
        assert_eq!(py_module("<string>"), None);
    }

    #[test]
    fn python_frames_in_site_packages_are_libraries_only_when_known() {
        let in_app = InApp::new(vec!["httpx".into(), "json".into()], vec![], vec![], vec![]);
        let frame = |p: &str| Frame { path: Some(Cow::Owned(p.to_owned())), ..Default::default() };
        assert!(in_app.in_app(Language::Python, &frame("/usr/local/lib/python3.12/site-packages/app/carts.py")));
        assert!(!in_app.in_app(Language::Python, &frame("/venv/lib/python3.11/site-packages/httpx/_models.py")));
        assert!(!in_app.in_app(Language::Python, &frame("/usr/lib/python3.12/_strptime.py")));
        assert!(!in_app.in_app(Language::Python, &frame("<frozen runpy>")));
        assert!(in_app.in_app(Language::Python, &frame("/app/app/carts.py")));
        let configured = InApp::new(vec![], vec![], vec![], vec!["app.vendor".into()]);
        assert!(!configured.in_app(Language::Python, &frame("/app/app/vendor/x.py")));
    }

    #[test]
    fn class_names() {
        assert_eq!(class_name("java.net.ConnectException"), "ConnectException");
        assert_eq!(class_name("Errno::ECONNREFUSED"), "ECONNREFUSED");
        assert_eq!(class_name("<class 'KeyError'>"), "KeyError");
        assert_eq!(class_name("ValueError"), "ValueError");
    }
}
