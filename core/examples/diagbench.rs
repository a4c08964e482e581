//! Scratch: per-row cost of the core's work with the real tables (read from dumps).
use otelproc_core::diagnose::{Diagnoser, Grouper, RowColumns};
use otelproc_core::grouping_v1::GroupingV1;
use otelproc_core::redact::Redactor;
use otelproc_core::rules::{Check, Rule, RuleSet};
use otelproc_core::scan::*;
use std::sync::Arc;

fn load(path: &str) -> RuleSet {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let rules = text
        .lines()
        .filter_map(|line| {
            let parts: Vec<String> = line.split('\x1f').map(|p| p.replace('\x1e', "\n")).collect();
            let check = parts.get(3).and_then(|c| Check::parse(c));
            Rule::new(parts.first()?, parts.get(1)?, parts.get(2)?, check).ok()
        })
        .collect();
    RuleSet::new(rules).unwrap_or_else(|_| RuleSet::new(vec![]).unwrap_or_else(|_| std::process::exit(1)))
}

fn main() {
    let data = std::fs::read("/tmp/req100.bin").unwrap_or_default();
    let names = ["row", "kind", "occurred_at", "trace_id", "span_id", "parent_span_id", "scope_name", "span_name", "span_kind", "status_message", "severity_number", "severity_text", "error_type", "message", "stack_trace", "attributes", "existing_diagnostics"];
    let mut specs: Vec<ColumnSpec> = names.iter().map(|n| ColumnSpec { name: n.to_string(), source: Source::Field(RowField::parse(n).unwrap_or(RowField::Row)) }).collect();
    for (n, k) in [("msg_template", "logfire.msg_template"), ("code_namespace", "code.namespace"), ("code_function", "code.function"), ("code_filepath", "code.filepath"), ("http_route", "http.route"), ("request_id", "request_id")] {
        specs.push(ColumnSpec { name: n.into(), source: Source::Attribute { keys: vec![k.into()], integer: false } });
    }
    let idx = |n: &str| specs.iter().position(|s| s.name == n).unwrap_or(0);
    let cols = RowColumns {
        redacted: ["message", "stack_trace", "status_message", "span_name", "http_route", "request_id"].iter().map(|n| idx(n)).collect(),
        error_type: idx("error_type"), message: idx("message"), msg_template: idx("msg_template"), stack_trace: idx("stack_trace"),
        code_namespace: idx("code_namespace"), code_function: idx("code_function"), code_filepath: idx("code_filepath"), span_name: idx("span_name"),
    };
    let config = ScanConfig::new(specs);
    let redactor = Arc::new(Redactor::new(load("/tmp/prof/redactors.tsv")));
    let grouper = Arc::new(Grouper::new(GroupingV1::new(load("/tmp/prof/normalizers.tsv")).unwrap_or_else(|_| std::process::exit(2))));
    let d = Diagnoser { redactor: Some(redactor.clone()), grouper, columns: cols };
    let mode = std::env::args().nth(1).unwrap_or_default();
    let n: usize = std::env::args().nth(2).and_then(|a| a.parse().ok()).unwrap_or(20);
    let t = std::time::Instant::now();
    let mut rows = 0;
    for _ in 0..n {
        let with = if mode == "plain" { None } else { Some(redactor.as_ref()) };
        if let Ok(mut s) = scan(Signal::Traces, &data, &config, 1 << 30, with) {
            if mode == "full" { d.diagnose(&mut s); }
            rows += s.errors.len();
        }
    }
    let dt = t.elapsed().as_secs_f64();
    println!("{mode}: {:.2} us per error row ({rows} rows)", dt / rows as f64 * 1e6);
}
