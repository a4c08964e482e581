//! The grouping alone, on one thread: the cost of each error row, version 1 against version 2
//! (see bench/grouping_core.py, which writes the fixture: `tables.tsv`, the tables as the Python
//! side has them, and `rows.tsv`, error rows of the labelled corpus, one per line:
//! error_type, message, msg_template, stack_trace, code_namespace, code_function, code_filepath,
//! span_name; `\N` for none; `\\`, `\t`, `\n` escaped).
//!
//! Rates are per CPU second of this thread (`CLOCK_THREAD_CPUTIME_ID`), medians of the runs.
//!
//!     cargo run --release --example groupbench -- DIR [SECONDS] [RUNS]

use std::error::Error;
use std::fs;
use std::hint::black_box;
use std::path::Path;

use otelproc_core::diagnose::{sha256_hex, Grouper};
use otelproc_core::grouping_v1::{GroupingV1, Inputs};
use otelproc_core::grouping_v2::{cut, GroupingV2, RowTrace};
use otelproc_core::parameterize::{Check as NormalizerCheck, Parameterizer, RuleSpec};
use otelproc_core::redact::Redactor;
use otelproc_core::rules::{Check, Rule, RuleSet};
use otelproc_core::stacktrace::InApp;

mod common;
use common::cpu_now;

type Result<T> = std::result::Result<T, Box<dyn Error>>;

/// A fixture field: `\N` is no value.
fn unescape(field: &str) -> Option<String> {
    (field != "\\N").then(|| common::unescape(field))
}

fn lines(path: &Path) -> Result<Vec<Vec<Option<String>>>> {
    let text = fs::read_to_string(path)?;
    Ok(text.lines().filter(|l| !l.is_empty()).map(|l| l.split('\t').map(unescape).collect()).collect())
}

struct Tables {
    v1: Vec<(String, String, String)>,
    v2: Vec<(String, String, Option<String>, Option<String>)>,
    redactors: Vec<(String, String, String, Option<String>)>,
    tlds: Vec<String>,
    packages: Vec<String>,
    prefixes: Vec<String>,
}

fn field(row: &[Option<String>], i: usize) -> String {
    row.get(i).cloned().flatten().unwrap_or_default()
}

fn tables(dir: &Path) -> Result<Tables> {
    let mut t = Tables { v1: vec![], v2: vec![], redactors: vec![], tlds: vec![], packages: vec![], prefixes: vec![] };
    for row in lines(&dir.join("tables.tsv"))? {
        match field(&row, 0).as_str() {
            "normalizer_v1" => t.v1.push((field(&row, 1), field(&row, 2), field(&row, 3))),
            "normalizer_v2" => t.v2.push((
                field(&row, 1),
                field(&row, 2),
                row.get(3).cloned().flatten(),
                row.get(4).cloned().flatten(),
            )),
            "redactor" => {
                t.redactors.push((field(&row, 1), field(&row, 2), field(&row, 3), row.get(4).cloned().flatten()))
            }
            "tld" => t.tlds.push(field(&row, 1)),
            "library_package" => t.packages.push(field(&row, 1)),
            "library_prefix" => t.prefixes.push(field(&row, 1)),
            other => return Err(format!("unknown table line {other:?}").into()),
        }
    }
    Ok(t)
}

fn view(r: &[Option<String>; 8]) -> Inputs<'_> {
    Inputs {
        error_type: r[0].as_deref(),
        message: r[1].as_deref(),
        msg_template: r[2].as_deref(),
        stack_trace: r[3].as_deref(),
        code_namespace: r[4].as_deref(),
        code_function: r[5].as_deref(),
        code_filepath: r[6].as_deref(),
        span_name: r[7].as_deref(),
        shape: None,
    }
}

/// Runs `work` over all rows again and again for `seconds` of CPU; microseconds per row.
fn per_row(rows: usize, seconds: f64, mut work: impl FnMut()) -> f64 {
    let start = cpu_now();
    let mut passes = 0usize;
    while passes == 0 || cpu_now() - start < seconds {
        work();
        passes += 1;
    }
    (cpu_now() - start) / (passes * rows) as f64 * 1e6
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs.get(xs.len() / 2).copied().unwrap_or(f64::NAN)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let dir = Path::new(args.get(1).ok_or("usage: groupbench DIR [SECONDS] [RUNS]")?);
    let seconds: f64 = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(2.0);
    let runs: usize = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(5);
    // a fourth argument runs only the measurements whose name holds it (for a profiler)
    let only = args.get(4).cloned().unwrap_or_default();
    let t = tables(dir)?;
    let rows = lines(&dir.join("rows.tsv"))?;
    let inputs =
        |row: &[Option<String>]| -> [Option<String>; 8] { std::array::from_fn(|i| row.get(i).cloned().flatten()) };
    let rows: Vec<[Option<String>; 8]> = rows.iter().map(|r| inputs(r)).collect();

    let v1_rules = |t: &Tables| -> Result<RuleSet> {
        let rules =
            t.v1.iter().map(|(n, p, r)| Rule::new(n, p, r, None)).collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(RuleSet::new(rules)?)
    };
    let specs: Vec<RuleSpec<'_>> =
        t.v2.iter()
            .map(|(name, pattern, replacement, check)| RuleSpec {
                name,
                pattern,
                replacement: replacement.as_deref(),
                check: check.as_deref().and_then(NormalizerCheck::parse),
            })
            .collect();
    let v2 = || -> Result<GroupingV2> {
        let parameterizer = Parameterizer::new(&specs, t.tlds.clone())?;
        Ok(GroupingV2::new(parameterizer, InApp::new(t.packages.clone(), t.prefixes.clone(), vec![], vec![])))
    };
    let redactor = Redactor::new(RuleSet::new(
        t.redactors
            .iter()
            .map(|(n, p, r, c)| Rule::new(n, p, r, c.as_deref().and_then(Check::parse)))
            .collect::<std::result::Result<Vec<_>, _>>()?,
    )?);
    let g1 = GroupingV1::new(v1_rules(&t)?)?;
    let g2 = v2()?;
    let grouper1 = Grouper::new(GroupingV1::new(v1_rules(&t)?)?);
    let grouper2 = Grouper::new_v2(v2()?);
    let n = rows.len();
    let messages: Vec<String> = rows.iter().map(|r| r[1].clone().unwrap_or_default()).collect();
    let cut_messages: Vec<String> = messages.iter().map(|m| cut(m)).collect();
    println!("{n} error rows of the labelled corpus, {runs} runs of {seconds} CPU s each; us per row (median)");

    let mut results: Vec<(&str, Vec<f64>)> = Vec::new();
    for _ in 0..runs {
        let skip = |name: &str| !name.contains(only.as_str());
        let mut push = |name: &'static str, value: f64| match results.iter_mut().find(|(k, _)| *k == name) {
            Some((_, v)) => v.push(value),
            None => results.push((name, vec![value])),
        };
        if !skip("v1 normalization (37 rules, one after another)") {
            push(
                "v1 normalization (37 rules, one after another)",
                per_row(n, seconds, || {
                    for m in &messages {
                        black_box(g1.normalize(Some(m), None));
                    }
                }),
            );
        }
        if !skip("v2 normalization (one pass over the cut message)") {
            push(
                "v2 normalization (one pass over the cut message)",
                per_row(n, seconds, || {
                    for m in &cut_messages {
                        black_box(g2.parameterizer().apply(m, None));
                    }
                }),
            );
        }
        if !skip("v2 grouping per row, nothing remembered") {
            push(
                "v2 grouping per row, nothing remembered",
                per_row(n, seconds, || {
                    for r in &rows {
                        let i = view(r);
                        let facts = g2.trace_facts(i.stack_trace);
                        let mut class = g2.error_class(i.error_type);
                        if class.is_empty() {
                            class = facts.as_ref().and_then(|f| f.class.clone()).unwrap_or_default();
                        }
                        let template = g2.template(&class, &i, facts.as_ref().map(RowTrace::of), None);
                        let source = g2.source(&i, facts.as_ref());
                        black_box(sha256_hex(&format!("{class}|{template}|{source}")));
                    }
                }),
            );
        }
        if !skip("  of which: reading the stack trace (trace_facts)") {
            push(
                "  of which: reading the stack trace (trace_facts)",
                per_row(n, seconds, || {
                    for r in &rows {
                        black_box(g2.trace_facts(r[3].as_deref()));
                    }
                }),
            );
        }
        let facts: Vec<_> = rows.iter().map(|r| g2.trace_facts(r[3].as_deref())).collect();
        if !skip("  of which: the template, given what the trace says") {
            push(
                "  of which: the template, given what the trace says",
                per_row(n, seconds, || {
                    for (r, f) in rows.iter().zip(&facts) {
                        let i = view(r);
                        black_box(g2.template(&g2.error_class(i.error_type), &i, f.as_ref().map(RowTrace::of), None));
                    }
                }),
            );
        }
        if !skip("  of which: the fingerprint (sha256)") {
            push(
                "  of which: the fingerprint (sha256)",
                per_row(n, seconds, || {
                    for m in &cut_messages {
                        black_box(sha256_hex(m));
                    }
                }),
            );
        }
        if !skip("  of which: parsing the stack trace alone") {
            push(
                "  of which: parsing the stack trace alone",
                per_row(n, seconds, || {
                    for r in &rows {
                        black_box(r[3].as_deref().and_then(|t| otelproc_core::stacktrace::parse(t, None)));
                    }
                }),
            );
        }
        if !skip("v1 through the Grouper (memos new each pass)") {
            push(
                "v1 through the Grouper (memos new each pass)",
                per_row(n, seconds, || {
                    grouper1.forget();
                    black_box(grouper1.group(n, |row| view(&rows[row])));
                }),
            );
        }
        if !skip("v2 through the Grouper (memos new each pass)") {
            push(
                "v2 through the Grouper (memos new each pass)",
                per_row(n, seconds, || {
                    grouper2.forget();
                    black_box(grouper2.group(n, |row| view(&rows[row])));
                }),
            );
        }
        if !skip("v2 through the Grouper, error sites known, every message new") {
            // each row again with a message of its own (its trace's last line too): the sites are
            // remembered from the pass before, the messages never
            let mut variant = 0u64;
            let renewed = |variant: u64| -> Vec<[Option<String>; 8]> {
                rows.iter()
                    .map(|r| {
                        let mut r = r.clone();
                        let tag = format!(" (request {variant:x})");
                        if let Some(m) = r[1].as_mut() {
                            m.push_str(&tag);
                        }
                        if let Some(t) = r[3].as_mut() {
                            let trimmed = t.trim_end().len();
                            t.truncate(trimmed);
                            t.push_str(&tag);
                        }
                        r
                    })
                    .collect()
            };
            let mut samples = Vec::new();
            grouper2.forget();
            black_box(grouper2.group(n, |row| view(&rows[row])));
            let start = cpu_now();
            while samples.is_empty() || cpu_now() - start < seconds {
                variant += 1;
                let batch = renewed(variant);
                let t0 = cpu_now();
                black_box(grouper2.group(n, |row| view(&batch[row])));
                samples.push((cpu_now() - t0) / n as f64 * 1e6);
            }
            push("v2 through the Grouper, error sites known, every message new", median(samples));
        }
        if !skip("redaction of message and stack trace") {
            push(
                "redaction of message and stack trace",
                per_row(n, seconds, || {
                    for r in &rows {
                        black_box(r[1].as_deref().map(|m| redactor.redact(m)));
                        black_box(r[3].as_deref().map(|s| redactor.redact(s)));
                    }
                }),
            );
        }
    }
    for (name, values) in &results {
        let value = median(values.clone());
        println!("  {name:55} {value:7.3} us  ({:7.0} k rows/s)", 1e3 / value);
    }
    let get = |key: &str| results.iter().find(|(k, _)| k.starts_with(key)).map(|(_, v)| median(v.clone()));
    if let (Some(redact), Some(group)) = (get("redaction"), get("v2 grouping per row")) {
        println!(
            "  {:55} {:7.3} us  ({:7.0} k rows/s)",
            "redaction + v2 grouping, nothing remembered",
            redact + group,
            1e3 / (redact + group)
        );
    }
    Ok(())
}
