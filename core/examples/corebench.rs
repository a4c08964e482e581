//! The core alone, on one thread: spans scanned per second at 0% errors, and error rows per
//! second through the whole per-row work at 100% (scan with extraction, redaction,
//! normalization, source frame, fingerprint), with what each step costs per row.
//!
//! It reads a fixture directory that `bench/core.py` writes from the Python side, so it
//! always runs today's tables and the benchmark's requests:
//! - `tables.tsv`: the error frame's columns, the redacted columns, the redaction rules and
//!   the normalizers, one per line (`kind<TAB>field<TAB>…`, `\\`, `\t`, `\n` escaped);
//! - `requests-<percent>.bin`: export requests with that share of error spans, each as a
//!   little-endian u32 length and the bytes.
//!
//! Rates are per CPU second of this thread (`CLOCK_THREAD_CPUTIME_ID`; wall time where there
//! is none), so other processes on a shared machine slow the run, not the figures.
//! The grouping remembers templates and sources across calls (bounded memos); every pass
//! gets a new one, and no error repeats within a pass, so the figures are the work itself.
//!
//!     cargo run --release --example corebench -- DIR [SECONDS]

use std::error::Error;
use std::fs;
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;

use otelproc_core::diagnose::{sha256_hex, Diagnoser, Grouper, RowColumns, Version};
use otelproc_core::grouping_v1::{GroupingV1, Inputs};
use otelproc_core::redact::Redactor;
use otelproc_core::rules::{Check, Rule, RuleSet};
use otelproc_core::scan::{scan, ColumnSpec, RowField, Scan, ScanConfig, Signal, Source};

mod common;
use common::cpu_now;

type Result<T> = std::result::Result<T, Box<dyn Error>>;

const LIMIT: usize = 64 << 20;

struct Tables {
    columns: Vec<ColumnSpec>,
    redacted: Vec<String>,
    redactors: Vec<Rule>,
    normalizers: Vec<Rule>,
}

fn read_tables(path: &Path) -> Result<Tables> {
    let mut tables =
        Tables { columns: Vec::new(), redacted: Vec::new(), redactors: Vec::new(), normalizers: Vec::new() };
    for line in fs::read_to_string(path)?.lines() {
        let fields: Vec<String> = line.split('\t').map(common::unescape).collect();
        let field = |i: usize| fields.get(i).map(String::as_str).unwrap_or("");
        match field(0) {
            "column" => {
                let source = match field(2) {
                    "field" => Source::Field(RowField::parse(field(1)).ok_or(format!("no item field {}", field(1)))?),
                    kind => Source::Attribute { keys: fields[3..].to_vec(), integer: kind == "integer" },
                };
                tables.columns.push(ColumnSpec { name: field(1).to_owned(), source });
            }
            "redacted_column" => tables.redacted.push(field(1).to_owned()),
            "redactor" => {
                let check = match field(4) {
                    "" => None,
                    name => Some(Check::parse(name).ok_or(format!("unknown check {name}"))?),
                };
                tables.redactors.push(Rule::new(field(1), field(2), field(3), check)?);
            }
            "normalizer" => tables.normalizers.push(Rule::new(field(1), field(2), field(3), None)?),
            other => return Err(format!("{}: unknown line kind {other:?}", path.display()).into()),
        }
    }
    Ok(tables)
}

fn read_requests(path: &Path) -> Result<Vec<Vec<u8>>> {
    let data = fs::read(path)?;
    let mut requests = Vec::new();
    let mut at = 0;
    while at + 4 <= data.len() {
        let size = u32::from_le_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]) as usize;
        let body = data.get(at + 4..at + 4 + size).ok_or(format!("{}: truncated", path.display()))?;
        requests.push(body.to_vec());
        at += 4 + size;
    }
    Ok(requests)
}

struct Core {
    config: ScanConfig,
    redactor: Arc<Redactor>,
    normalizers: RuleSet,
    columns: Vec<String>,
    redacted: Vec<String>,
}

impl Core {
    fn index(&self, name: &str) -> Result<usize> {
        Ok(self.columns.iter().position(|c| c == name).ok_or(format!("the fixture has no {name} column"))?)
    }

    /// A diagnoser with a new grouping (empty memos), as `otelproc._core.Core` builds it.
    fn diagnoser(&self) -> Result<Diagnoser> {
        let grouper = Grouper::new(GroupingV1::new(self.normalizers.clone())?);
        Ok(Diagnoser {
            redactor: Some(Arc::clone(&self.redactor)),
            grouper: Arc::new(grouper),
            columns: RowColumns {
                redacted: self.redacted.iter().map(|c| self.index(c)).collect::<Result<_>>()?,
                error_type: self.index("error_type")?,
                message: self.index("message")?,
                msg_template: self.index("msg_template")?,
                stack_trace: self.index("stack_trace")?,
                code_namespace: self.index("code_namespace")?,
                code_function: self.index("code_function")?,
                code_filepath: self.index("code_filepath")?,
                span_name: self.index("span_name")?,
            },
            clean_shapes: Default::default(),
        })
    }

    fn scan(&self, data: &[u8]) -> Result<Scan> {
        Ok(scan(Signal::Traces, data, &self.config, LIMIT, Some(&self.redactor))?)
    }
}

/// Runs `pass` (which answers units done and CPU seconds spent) until `seconds` of CPU are
/// spent, at least 3 times; the passes' rates, sorted.
fn passes(seconds: f64, mut pass: impl FnMut() -> Result<(f64, f64)>) -> Result<Vec<f64>> {
    let mut rates = Vec::new();
    let mut spent = 0.0;
    while spent < seconds || rates.len() < 3 {
        let (units, cpu) = pass()?;
        spent += cpu;
        rates.push(units / cpu);
    }
    rates.sort_by(f64::total_cmp);
    Ok(rates)
}

fn median(sorted: &[f64]) -> f64 {
    sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let dir = Path::new(args.get(1).ok_or("usage: corebench DIR [SECONDS]")?);
    let seconds: f64 = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(3.0);
    let tables = read_tables(&dir.join("tables.tsv"))?;
    let core = Core {
        columns: tables.columns.iter().map(|c| c.name.clone()).collect(),
        config: ScanConfig::new(tables.columns),
        redactor: Arc::new(Redactor::new(RuleSet::new(tables.redactors)?)),
        normalizers: RuleSet::new(tables.normalizers)?,
        redacted: tables.redacted,
    };
    println!(
        "the core alone, one thread; {} normalizers, {} redaction rules, {} columns; rates per CPU second, medians of passes",
        core.normalizers.rules().len(),
        core.redactor.rules().rules().len(),
        core.columns.len()
    );

    // 0% errors: the scan is all there is
    let clean = read_requests(&dir.join("requests-0.bin"))?;
    let mut spans = 0;
    let mut bytes = 0;
    for request in &clean {
        spans += core.scan(request)?.items;
        bytes += request.len();
    }
    const ROUNDS: u64 = 10; // the requests are few and quick: a pass goes over them several times
    let rates = passes(seconds, || {
        let cpu = cpu_now();
        for _ in 0..ROUNDS {
            for request in &clean {
                black_box(core.scan(request)?);
            }
        }
        Ok(((spans * ROUNDS) as f64, cpu_now() - cpu))
    })?;
    let per_span = bytes as f64 / spans as f64;
    println!(
        "0% errors: {:.2} M spans/s scanned ({:.0} MB/s; passes {:.2}-{:.2} M) - target >= 5 M",
        median(&rates) / 1e6,
        median(&rates) * per_span / 1e6,
        rates[0] / 1e6,
        rates[rates.len() - 1] / 1e6
    );

    // a share of errors: everything a request costs the core (scan, then the rows' work)
    for percent in [5, 100] {
        let path = dir.join(format!("requests-{percent}.bin"));
        if !path.exists() {
            continue;
        }
        let requests = read_requests(&path)?;
        let mut spans = 0.0;
        let mut rows = 0.0;
        for request in &requests {
            let scanned = core.scan(request)?;
            spans += scanned.items as f64;
            rows += scanned.errors.len() as f64;
        }
        let mut scan_cpu = Vec::new();
        let mut diagnose_cpu = Vec::new();
        let rates = passes(seconds, || {
            let diagnoser = core.diagnoser()?; // new memos: no row was seen before
            let (mut scanning, mut diagnosing) = (0.0, 0.0);
            for request in &requests {
                let t0 = cpu_now();
                let mut scanned = core.scan(request)?;
                let t1 = cpu_now();
                diagnoser.diagnose(&mut scanned);
                let t2 = cpu_now();
                black_box(scanned);
                scanning += t1 - t0;
                diagnosing += t2 - t1;
            }
            scan_cpu.push(scanning);
            diagnose_cpu.push(diagnosing);
            Ok((rows, scanning + diagnosing))
        })?;
        scan_cpu.sort_by(f64::total_cmp);
        diagnose_cpu.sort_by(f64::total_cmp);
        let target = if percent == 100 { " - target >= 300 k" } else { "" };
        println!(
            "{percent}% errors: {:.1} k error rows/s through scan + per-row work ({:.2} M spans/s; passes {:.1}-{:.1} k rows/s){target}",
            median(&rates) / 1e3,
            median(&rates) * spans / rows / 1e6,
            rates[0] / 1e3,
            rates[rates.len() - 1] / 1e3,
        );
        println!(
            "  per error row: scan (validate, detect, extract, attributes JSON redacted) {:.1} us, \
             per-row work (redaction, grouping with its memos) {:.1} us",
            median(&scan_cpu) / rows * 1e6,
            median(&diagnose_cpu) / rows * 1e6
        );
        if percent == 100 {
            steps(&core, &requests, rows, seconds)?;
        }
    }
    Ok(())
}

fn text(scan: &Scan, column: usize, row: usize) -> Option<&str> {
    scan.columns.get(column).and_then(|col| col.str_at(row))
}

/// What the grouping reads of a row (as `Diagnoser::diagnose` passes it).
fn inputs<'a>(scan: &'a Scan, c: &RowColumns, row: usize) -> Inputs<'a> {
    Inputs {
        error_type: text(scan, c.error_type, row),
        message: text(scan, c.message, row),
        msg_template: text(scan, c.msg_template, row),
        stack_trace: text(scan, c.stack_trace, row),
        code_namespace: text(scan, c.code_namespace, row),
        code_function: text(scan, c.code_function, row),
        code_filepath: text(scan, c.code_filepath, row),
        span_name: text(scan, c.span_name, row),
        shape: None,
    }
}

/// Each step of the per-row work alone, over the scanned rows, without memos.
fn steps(core: &Core, requests: &[Vec<u8>], rows: f64, seconds: f64) -> Result<()> {
    let scans: Vec<Scan> = requests.iter().map(|r| core.scan(r)).collect::<Result<_>>()?;
    let diagnoser = core.diagnoser()?;
    let c = &diagnoser.columns;
    let Version::V1(v1) = &diagnoser.grouper.version else {
        return Err("the core bench times grouping version 1's steps (bench/grouping_core.py times version 2)".into());
    };
    let each_row = |f: &mut dyn FnMut(&Scan, usize)| -> Result<(f64, f64)> {
        let cpu = cpu_now();
        for scan in &scans {
            for row in 0..scan.errors.len() {
                f(scan, row);
            }
        }
        Ok((rows, cpu_now() - cpu))
    };
    let redactor = &core.redactor;
    let redaction = passes(seconds / 2.0, || {
        each_row(&mut |scan, row| {
            for &column in &c.redacted {
                if let Some(t) = text(scan, column, row) {
                    black_box(redactor.redact(t));
                }
            }
        })
    })?;
    let template = passes(seconds / 2.0, || {
        each_row(&mut |scan, row| {
            let inputs = inputs(scan, c, row);
            let class = v1.error_class(inputs.error_type);
            black_box(v1.message_template(&class, &inputs, None));
        })
    })?;
    let source = passes(seconds / 2.0, || {
        each_row(&mut |scan, row| {
            black_box(v1.source(&inputs(scan, c, row)));
        })
    })?;
    // the fingerprint hashes "class|template|source": take them from the grouping itself
    let keys: Vec<String> = scans
        .iter()
        .flat_map(|scan| {
            let [classes, templates, sources, _] =
                diagnoser.grouper.group(scan.errors.len(), |row| inputs(scan, c, row));
            (0..scan.errors.len())
                .map(|row| {
                    let part = |column: &otelproc_core::columns::Column| column.str_at(row).unwrap_or("").to_owned();
                    format!("{}|{}|{}", part(&classes), part(&templates), part(&sources))
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let fingerprint = passes(seconds / 2.0, || {
        let cpu = cpu_now();
        for key in &keys {
            black_box(sha256_hex(key));
        }
        Ok((keys.len() as f64, cpu_now() - cpu))
    })?;
    let us = |rates: &[f64]| 1e6 / median(rates);
    println!(
        "  each step alone, per row: redaction of the {} redacted columns {:.1} us, error class + message template \
         (normalizers) {:.1} us, source frame {:.1} us, fingerprint hash {:.1} us",
        c.redacted.len(),
        us(&redaction),
        us(&template),
        us(&source),
        us(&fingerprint)
    );
    normalizers(v1, &scans, c, seconds)
}

/// Where normalization goes: the `RegexSet` that picks the rules, then each rule alone over
/// the messages as the normalizers get them (cut to their first line).
fn normalizers(v1: &GroupingV1, scans: &[Scan], c: &RowColumns, seconds: f64) -> Result<()> {
    let messages: Vec<String> = scans
        .iter()
        .flat_map(|scan| (0..scan.errors.len()).map(move |row| inputs(scan, c, row)))
        .filter(|i| i.msg_template.is_none())
        .map(|i| v1.cut(i.message))
        .collect();
    let rules = v1.normalizers().rules();
    let timed = |f: &dyn Fn(&str)| -> Result<f64> {
        let rates = passes(seconds / 10.0, || {
            let cpu = cpu_now();
            for message in &messages {
                f(message);
            }
            Ok((messages.len() as f64, cpu_now() - cpu))
        })?;
        Ok(1e6 / median(&rates))
    };
    let all = timed(&|m| {
        black_box(v1.normalize(Some(m), None));
    })?;
    let set = match regex::RegexSet::new(rules.iter().map(|r| r.pattern())) {
        Ok(set) => {
            let matching = timed(&|m| {
                black_box(set.matches(m));
            })?;
            let per_message = messages.iter().map(|m| set.matches(m).iter().count()).sum::<usize>() as f64
                / messages.len().max(1) as f64;
            format!("one RegexSet pass {matching:.1} us, {per_message:.1} rules match a message")
        }
        Err(error) => format!("the RegexSet does not build, so every rule runs on every message: {error}"),
    };
    let mut each = Vec::with_capacity(rules.len());
    for rule in rules {
        each.push((
            timed(&|m| {
                black_box(rule.replace_all(m));
            })?,
            rule.name.as_str(),
        ));
    }
    each.sort_by(|a, b| b.0.total_cmp(&a.0));
    let top: Vec<String> = each.iter().take(6).map(|(us, name)| format!("{name} {us:.1}")).collect();
    println!(
        "  normalization of {} messages (no producer template): {all:.1} us each; {set}; each rule alone over \
         every message, the costliest (us): {}; all {} rules: {:.1} us",
        messages.len(),
        top.join(", "),
        rules.len(),
        each.iter().map(|(us, _)| us).sum::<f64>()
    );
    Ok(())
}
