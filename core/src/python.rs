//! The Python face of the core: `otelproc._core`.
//!
//! One call per request (`Core.scan`), the GIL released for the whole pass; its rows go to
//! polars as one Arrow struct array (`__arrow_c_array__`), and the enrichment values come
//! back as an Arrow stream (a polars frame's `__arrow_c_stream__`).

use std::ffi::CString;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use arrow_data::ffi::FFI_ArrowArray;
use arrow_schema::ffi::FFI_ArrowSchema;
use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyCapsule, PyTuple};

use crate::arrow_in::{read_stream, Cell, FfiArrowArrayStream};
use crate::columns::{struct_array, Column};
use crate::diagnose::{Diagnoser, Grouper, RowColumns};
use crate::grouping_v1::{GroupingV1, Inputs};
use crate::grouping_v2::GroupingV2;
use crate::parameterize::{Check as NormalizerCheck, Parameterizer, RuleSpec};
use crate::redact::Redactor;
use crate::rules::{Check, Rule, RuleSet};
use crate::scan::{scan, ColumnSpec, ItemKind, RowField, Scan, ScanConfig, Signal, Source};
use crate::splice::{attribute, redactions, splice, Edits};
use crate::stacktrace::{self, InApp};

create_exception!(otelproc_core, WireFormatError, PyValueError, "A request that is not valid OTLP protobuf.");

fn value_error(message: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(message.to_string())
}

/// Columns handed to polars: `pl.DataFrame(rows)` imports them without a copy per row.
#[pyclass(module = "otelproc._core", frozen)]
pub struct Rows {
    columns: Vec<Column>,
    rows: usize,
}

#[pymethods]
impl Rows {
    fn __len__(&self) -> usize {
        self.rows
    }

    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_array__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let _ = requested_schema; // the columns have one natural schema
        let (data_type, data) = struct_array(&self.columns, self.rows).map_err(value_error)?;
        let schema = FFI_ArrowSchema::try_from(&data_type).map_err(value_error)?;
        let array = FFI_ArrowArray::new(&data);
        let schema = PyCapsule::new(py, schema, Some(capsule_name("arrow_schema")?))?;
        let array = PyCapsule::new(py, array, Some(capsule_name("arrow_array")?))?;
        PyTuple::new(py, [schema.into_any(), array.into_any()])
    }
}

fn capsule_name(name: &str) -> PyResult<CString> {
    CString::new(name).map_err(value_error)
}

/// One scanned request: its counts, its error rows, and what enrichment needs of its bytes.
#[pyclass(module = "otelproc._core", frozen)]
pub struct Scanned {
    scan: Mutex<Scan>,
    /// the per-row work still to do on the error rows (a scan that left it for later)
    pending: Mutex<Option<Arc<Diagnoser>>>,
    data: Py<PyBytes>,
    /// redactions of forwarded strings (opt-in), applied with the enrichment
    redacted: Mutex<Option<Edits>>,
}

#[pymethods]
impl Scanned {
    /// Spans, log records or data points in the request.
    #[getter]
    fn items(&self) -> u64 {
        self.scan().items
    }

    #[getter]
    fn error_count(&self) -> usize {
        self.scan().errors.len()
    }

    /// Per resource with items: (service.name, service.version or None, items, errors).
    #[getter]
    fn resources(&self) -> Vec<(String, Option<String>, u64, u64)> {
        self.scan()
            .resources
            .iter()
            .map(|r| (r.service_name.clone(), r.service_version.clone(), r.items, r.errors))
            .collect()
    }

    /// The error rows (one per error span or log record), after the per-row work (done now,
    /// without the GIL, when the scan left it for later).
    fn errors(&self, py: Python<'_>) -> Rows {
        self.diagnose(py);
        let scan = self.scan();
        Rows { columns: scan.columns.clone(), rows: scan.errors.len() }
    }

    /// The per-row work the scan left for later (redaction and grouping of the error rows);
    /// nothing when it is done.
    fn diagnose(&self, py: Python<'_>) {
        let Some(diagnoser) = self.pending.lock().ok().and_then(|mut p| p.take()) else { return };
        py.detach(|| diagnoser.diagnose(&mut self.scan()));
    }

    #[getter]
    fn feedback_count(&self) -> usize {
        self.scan().feedback_rows
    }

    /// The `user.feedback` log records.
    fn feedback(&self) -> Rows {
        let scan = self.scan();
        Rows { columns: scan.feedback.clone(), rows: scan.feedback_rows }
    }

    /// Whether forwarding changes the bytes even without enrichment (redacted strings).
    #[getter]
    fn redacted(&self) -> bool {
        self.redacted.lock().map(|r| r.as_ref().is_some_and(|e| !e.is_empty())).unwrap_or(false)
    }

    /// The request as it is forwarded: `frame` (any object with `__arrow_c_stream__`, e.g. a
    /// polars DataFrame) has a `row` column (index of the error row) and one column per
    /// attribute to add, named by its key; values are appended as attributes of that row's
    /// item, skipping keys the item already has and items an upstream otelproc enriched.
    /// Returns None when nothing changes (forward the bytes received).
    #[pyo3(signature = (frame=None))]
    fn enrich<'py>(&self, py: Python<'py>, frame: Option<Bound<'py, PyAny>>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let mut edits = Edits::default();
        if let Some(frame) = frame {
            read_frame(&frame, |names, columns| self.append_attributes(names, columns, &mut edits))?;
        }
        // Taken once the frame is read: after a frame that cannot be, a call without one still
        // forwards the request redacted.
        if let Some(redacted) = self.redacted.lock().ok().and_then(|mut r| r.take()) {
            edits.extend(redacted);
        }
        if edits.is_empty() {
            return Ok(None);
        }
        let data = self.data.bind(py).as_bytes();
        let request = self.scan().signal.request();
        let out = py.detach(|| splice(request, data, edits));
        Ok(Some(PyBytes::new(py, &out)))
    }
}

impl Scanned {
    /// The scan (a poisoned lock still holds a whole scan: the per-row work does not panic).
    fn scan(&self) -> MutexGuard<'_, Scan> {
        self.scan.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// One batch of enrichment values: each row's attributes, encoded for its item.
    fn append_attributes(&self, names: &[String], columns: &[Vec<Cell<'_>>], edits: &mut Edits) -> Result<(), String> {
        let row_index = names.iter().position(|n| n == "row").ok_or("the frame has no row column")?;
        let rows = columns.get(row_index).ok_or("the frame has no row column")?;
        let attributes: Vec<(&str, &Vec<Cell<'_>>)> =
            names.iter().zip(columns).filter(|(n, _)| *n != "row").map(|(n, c)| (n.as_str(), c)).collect();
        let scan = self.scan();
        for (i, row) in rows.iter().enumerate() {
            let Cell::Int(row) = row else { continue };
            let item = usize::try_from(*row)
                .ok()
                .and_then(|r| scan.errors.get(r))
                .ok_or_else(|| format!("row {row} is not an error row of this request"))?;
            if item.existing {
                continue;
            }
            let number = match item.kind {
                ItemKind::Span => 9,
                ItemKind::Log => 6,
            };
            let mut bytes = Vec::with_capacity(512);
            for (key, cells) in &attributes {
                if item.diagnostic_keys.iter().any(|k| k == key) {
                    continue;
                }
                if let Some(cell) = cells.get(i) {
                    attribute(number, key, cell, &mut bytes);
                }
            }
            edits.append(item.start, item.end, bytes);
        }
        Ok(())
    }
}

type RuleRow = (String, String, String, Option<String>);

fn rule_set(rows: Vec<RuleRow>) -> PyResult<RuleSet> {
    let mut rules = Vec::with_capacity(rows.len());
    for (name, pattern, replacement, check) in rows {
        let check = match check {
            None => None,
            Some(c) => Some(Check::parse(&c).ok_or_else(|| value_error(format!("rule {name}: unknown check {c:?}")))?),
        };
        rules.push(Rule::new(&name, &pattern, &replacement, check).map_err(value_error)?);
    }
    RuleSet::new(rules).map_err(value_error)
}

/// Redaction rules (name, regex, replacement, check or None), compiled once.
#[pyclass(module = "otelproc._core", name = "Redactor", frozen)]
pub struct PyRedactor {
    inner: Arc<Redactor>,
}

#[pymethods]
impl PyRedactor {
    #[new]
    fn new(rules: Vec<RuleRow>) -> PyResult<Self> {
        Ok(PyRedactor { inner: Arc::new(Redactor::new(rule_set(rules)?)) })
    }

    /// `texts` with every secret replaced; None stays None.
    fn redact(&self, py: Python<'_>, texts: Vec<Option<String>>) -> Vec<Option<String>> {
        let redactor = &self.inner;
        py.detach(|| texts.into_iter().map(|t| t.map(|t| redactor.redact(&t).into_owned())).collect())
    }
}

type NormalizerRow = (String, String, Option<String>, Option<String>);

/// What is the application's code in a stack trace: top-level Python packages and JVM/.NET/Go
/// namespace prefixes of libraries, and module prefixes always / never the application's.
fn in_app(libraries: Vec<String>, prefixes: Vec<String>, include: Vec<String>, exclude: Vec<String>) -> InApp {
    InApp::new(libraries, prefixes, include, exclude)
}

/// The grouping (`version` 1 or 2) with its normalizers, in order: (name, regex, replacement,
/// check). Version 1 takes replacements for every rule and no checks; version 2 takes `None` for
/// `<name>`, a check name (`host`, `user_input`) or None, and what decides the source frame
/// and the hosts (`top_level_domains`, the libraries, `in_app_include`/`in_app_exclude`).
#[pyclass(module = "otelproc._core", name = "Grouping", frozen)]
pub struct PyGrouping {
    inner: Arc<Grouper>,
}

#[pymethods]
impl PyGrouping {
    #[new]
    #[pyo3(signature = (normalizers, *, version=1, top_level_domains=Vec::new(), library_packages=Vec::new(),
                        library_prefixes=Vec::new(), in_app_include=Vec::new(), in_app_exclude=Vec::new()))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        normalizers: Vec<NormalizerRow>,
        version: u32,
        top_level_domains: Vec<String>,
        library_packages: Vec<String>,
        library_prefixes: Vec<String>,
        in_app_include: Vec<String>,
        in_app_exclude: Vec<String>,
    ) -> PyResult<Self> {
        let grouper = match version {
            1 => {
                let mut rows = Vec::with_capacity(normalizers.len());
                for (name, pattern, replacement, check) in normalizers {
                    let replacement = replacement
                        .ok_or_else(|| value_error(format!("rule {name}: version 1 needs a replacement")))?;
                    rows.push((name, pattern, replacement, check));
                }
                Grouper::new(GroupingV1::new(rule_set(rows)?).map_err(value_error)?)
            }
            2 => {
                let mut checks = Vec::with_capacity(normalizers.len());
                for (name, _, _, check) in &normalizers {
                    checks.push(match check {
                        None => None,
                        Some(c) => Some(
                            NormalizerCheck::parse(c)
                                .ok_or_else(|| value_error(format!("normalizer {name}: unknown check {c:?}")))?,
                        ),
                    });
                }
                let specs: Vec<RuleSpec<'_>> = normalizers
                    .iter()
                    .zip(checks)
                    .map(|((name, pattern, replacement, _), check)| RuleSpec {
                        name,
                        pattern,
                        replacement: replacement.as_deref(),
                        check,
                    })
                    .collect();
                let parameterizer = Parameterizer::new(&specs, top_level_domains).map_err(value_error)?;
                let in_app = in_app(library_packages, library_prefixes, in_app_include, in_app_exclude);
                Grouper::new_v2(GroupingV2::new(parameterizer, in_app))
            }
            other => return Err(value_error(format!("grouping version {other} does not exist (1 or 2)"))),
        };
        Ok(PyGrouping { inner: Arc::new(grouper) })
    }

    /// Messages -> templates (the normalizers alone).
    fn normalize(&self, py: Python<'_>, messages: Vec<Option<String>>) -> Vec<String> {
        let grouper = &self.inner;
        py.detach(|| messages.iter().map(|m| grouper.normalize(m.as_deref())).collect())
    }

    /// `frame` (with `__arrow_c_stream__`) holds any of the columns error_type, message,
    /// msg_template, stack_trace, code_namespace, code_function, code_filepath, span_name;
    /// returns its rows' error_class, message_template, source and fingerprint.
    fn group(&self, py: Python<'_>, frame: Bound<'_, PyAny>) -> PyResult<Rows> {
        const INPUTS: [&str; 8] = [
            "error_type",
            "message",
            "msg_template",
            "stack_trace",
            "code_namespace",
            "code_function",
            "code_filepath",
            "span_name",
        ];
        let mut texts: Vec<Vec<Option<String>>> = vec![Vec::new(); INPUTS.len()];
        let mut rows = 0;
        read_frame(&frame, |names, columns| {
            let batch_rows = columns.first().map_or(0, Vec::len);
            for (input, out) in INPUTS.iter().zip(texts.iter_mut()) {
                let column = names.iter().position(|n| n == input).and_then(|i| columns.get(i));
                out.extend((0..batch_rows).map(|row| match column.and_then(|c| c.get(row)) {
                    Some(Cell::Str(s)) => Some((*s).to_owned()),
                    _ => None,
                }));
            }
            rows += batch_rows;
            Ok(())
        })?;
        let grouper = &self.inner;
        let grouped = py.detach(|| {
            let text = |i: usize, row: usize| texts.get(i).and_then(|c| c.get(row)).and_then(|t| t.as_deref());
            grouper.group(rows, |row| Inputs {
                error_type: text(0, row),
                message: text(1, row),
                msg_template: text(2, row),
                stack_trace: text(3, row),
                code_namespace: text(4, row),
                code_function: text(5, row),
                code_filepath: text(6, row),
                span_name: text(7, row),
                shape: None,
            })
        });
        Ok(Rows { columns: grouped.to_vec(), rows })
    }

    /// Matches of each normalizer so far: (rule name, count) (for /metrics).
    fn normalizer_hits(&self) -> Vec<(String, u64)> {
        self.inner
            .normalizer_names()
            .into_iter()
            .zip(&self.inner.normalizer_hits)
            .map(|(name, n)| (name, n.load(Ordering::Relaxed)))
            .collect()
    }
}

/// One frame as Python gets it: (abs_path, filename, module, function, lineno, colno,
/// context_line, in_app).
type FrameTuple =
    (Option<String>, Option<String>, Option<String>, Option<String>, Option<u32>, Option<u32>, Option<String>, bool);

/// One exception as Python gets it: (type, value, frames, source, exception_id, parent_id,
/// is_exception_group).
type ExceptionTuple =
    (Option<String>, Option<String>, Vec<FrameTuple>, Option<String>, Option<usize>, Option<usize>, bool);

/// The core's stack-trace parser (one for the grouping and the exporters), with what is the
/// application's code (as `Grouping`'s lists).
#[pyclass(module = "otelproc._core", name = "StackTraceParser", frozen)]
pub struct PyStackTraceParser {
    in_app: InApp,
}

#[pymethods]
impl PyStackTraceParser {
    #[new]
    #[pyo3(signature = (*, library_packages=Vec::new(), library_prefixes=Vec::new(), in_app_include=Vec::new(), in_app_exclude=Vec::new()))]
    fn new(
        library_packages: Vec<String>,
        library_prefixes: Vec<String>,
        in_app_include: Vec<String>,
        in_app_exclude: Vec<String>,
    ) -> Self {
        PyStackTraceParser { in_app: in_app(library_packages, library_prefixes, in_app_include, in_app_exclude) }
    }

    /// The language of a trace (`hint`: telemetry.sdk.language), or None.
    #[pyo3(signature = (text, hint=None))]
    fn language(&self, text: &str, hint: Option<&str>) -> Option<&'static str> {
        stacktrace::parse(text, hint).map(|t| t.language.name())
    }

    /// The exceptions of a stack trace, oldest first, each with its frames oldest call first;
    /// [] when the text is no stack trace of a known language.
    #[pyo3(signature = (text, hint=None))]
    fn parse(&self, py: Python<'_>, text: &str, hint: Option<&str>) -> (Option<&'static str>, Vec<ExceptionTuple>) {
        py.detach(|| {
            let Some(trace) = stacktrace::parse(text, hint) else { return (None, Vec::new()) };
            let language = trace.language;
            let exceptions = trace
                .exceptions
                .iter()
                .map(|e| {
                    let frames = e
                        .frames
                        .iter()
                        .map(|f| {
                            (
                                f.path.as_deref().map(str::to_owned),
                                stacktrace::filename(language, f),
                                stacktrace::module(language, f),
                                f.function.as_deref().map(str::to_owned),
                                f.lineno,
                                f.colno,
                                f.context_line.as_deref().map(str::to_owned),
                                self.in_app.in_app(language, f),
                            )
                        })
                        .collect();
                    (
                        e.type_name.as_deref().map(str::to_owned),
                        e.value.as_deref().map(str::to_owned),
                        frames,
                        e.source.map(str::to_owned),
                        e.exception_id,
                        e.parent_id,
                        e.is_group,
                    )
                })
                .collect();
            (Some(language.name()), exceptions)
        })
    }
}

/// Reads a frame's columns through its `__arrow_c_stream__`, batch by batch.
fn read_frame(
    frame: &Bound<'_, PyAny>,
    on_batch: impl FnMut(&[String], &[Vec<Cell<'_>>]) -> Result<(), String>,
) -> PyResult<()> {
    let capsule = frame.call_method0("__arrow_c_stream__")?;
    let capsule = capsule.cast::<PyCapsule>()?;
    let pointer = capsule.pointer_checked(Some(c"arrow_array_stream"))?;
    // SAFETY: the capsule holds an ArrowArrayStream (its name says so); we move it out and
    // leave a released one behind, as the PyCapsule protocol asks of a consumer.
    let mut stream =
        unsafe { std::ptr::replace(pointer.as_ptr().cast::<FfiArrowArrayStream>(), FfiArrowArrayStream::empty()) };
    read_stream(&mut stream, on_batch).map_err(value_error)
}

/// The compiled core: the error frame's column table, the redaction and the grouping.
#[pyclass(module = "otelproc._core", frozen)]
pub struct Core {
    scan_config: ScanConfig,
    max_request_bytes: usize,
    diagnoser: Arc<Diagnoser>,
    redact_forwarded: bool,
}

#[pymethods]
impl Core {
    /// - `columns`: the error frame's columns in order, each (name, source, keys): source
    ///   "field" (an item field named like the column), "text" or "integer" (the first of
    ///   `keys` present in the item's or its resource's attributes);
    /// - `redactor` (None: nothing is redacted) and `redacted_columns`, the text columns it
    ///   rewrites (their text as received goes to `raw.<name>`); `redact_forwarded`: also
    ///   redact the strings of the forwarded request;
    /// - `grouping`: what makes the fingerprint.
    #[new]
    #[pyo3(signature = (columns, *, max_request_bytes, redactor, redacted_columns, grouping, redact_forwarded=false))]
    fn new(
        columns: Vec<(String, String, Vec<String>)>,
        max_request_bytes: usize,
        redactor: Option<PyRef<'_, PyRedactor>>,
        redacted_columns: Vec<String>,
        grouping: PyRef<'_, PyGrouping>,
        redact_forwarded: bool,
    ) -> PyResult<Self> {
        let mut specs = Vec::with_capacity(columns.len());
        for (name, source, keys) in columns {
            let source = match source.as_str() {
                "field" => Source::Field(
                    RowField::parse(&name).ok_or_else(|| value_error(format!("no item field is named {name:?}")))?,
                ),
                "text" => Source::Attribute { keys, integer: false },
                "integer" => Source::Attribute { keys, integer: true },
                other => return Err(value_error(format!("unknown column source {other:?} for {name}"))),
            };
            specs.push(ColumnSpec { name, source });
        }
        let index = |name: &str| {
            specs
                .iter()
                .position(|s| s.name == name)
                .ok_or_else(|| value_error(format!("the frame needs a {name} column")))
        };
        let row_columns = RowColumns {
            redacted: redacted_columns.iter().map(|c| index(c)).collect::<PyResult<_>>()?,
            error_type: index("error_type")?,
            message: index("message")?,
            msg_template: index("msg_template")?,
            stack_trace: index("stack_trace")?,
            code_namespace: index("code_namespace")?,
            code_function: index("code_function")?,
            code_filepath: index("code_filepath")?,
            span_name: index("span_name")?,
        };
        Ok(Core {
            scan_config: ScanConfig::new(specs),
            max_request_bytes,
            diagnoser: Arc::new(Diagnoser {
                redactor: redactor.map(|r| Arc::clone(&r.inner)),
                grouper: Arc::clone(&grouping.inner),
                columns: row_columns,
                clean_shapes: Default::default(),
            }),
            redact_forwarded,
        })
    }

    /// One pass over a serialized export request of `signal` ("traces", "logs", "metrics"),
    /// then the per-row work over its error rows, now or (`diagnose=False`) when the rows are
    /// first read (`Scanned.diagnose`, `Scanned.errors`). Raises `WireFormatError` naming the
    /// first problem.
    #[pyo3(signature = (signal, data, *, diagnose=true))]
    fn scan(&self, py: Python<'_>, signal: &str, data: Bound<'_, PyBytes>, diagnose: bool) -> PyResult<Scanned> {
        let signal = Signal::parse(signal).ok_or_else(|| value_error(format!("unknown signal {signal:?}")))?;
        let bytes = data.as_bytes();
        let result = py.detach(|| {
            let redactor = self.diagnoser.redactor.as_deref();
            let mut scan = scan(signal, bytes, &self.scan_config, self.max_request_bytes, redactor)?;
            if diagnose {
                self.diagnoser.diagnose(&mut scan);
            }
            let redacted = match redactor {
                Some(r) if self.redact_forwarded && signal != Signal::Metrics => {
                    Some(redactions(signal.request(), bytes, &|text| match r.redact(text) {
                        std::borrow::Cow::Owned(new) if new != text => Some(new),
                        _ => None,
                    }))
                }
                _ => None,
            };
            Ok::<_, crate::wire::WireError>((scan, redacted))
        });
        match result {
            Ok((scan, redacted)) => {
                let pending = (!diagnose && !scan.errors.is_empty()).then(|| Arc::clone(&self.diagnoser));
                Ok(Scanned {
                    scan: Mutex::new(scan),
                    pending: Mutex::new(pending),
                    data: data.unbind(),
                    redacted: Mutex::new(redacted),
                })
            }
            Err(error) => Err(WireFormatError::new_err(error.to_string())),
        }
    }
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Core>()?;
    m.add_class::<Scanned>()?;
    m.add_class::<Rows>()?;
    m.add_class::<PyRedactor>()?;
    m.add_class::<PyGrouping>()?;
    m.add_class::<PyStackTraceParser>()?;
    m.add("WireFormatError", m.py().get_type::<WireFormatError>())?;
    Ok(())
}
