//! Any bytes as an ExportMetricsServiceRequest: refused with a named problem, or scanned with
//! consistent counts and columns, in agreement with the message table's validator.
#![no_main]

#[path = "../../tests/common/mod.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use otelproc_core::scan::Signal;
use std::sync::OnceLock;

static CONFIG: OnceLock<otelproc_core::scan::ScanConfig> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let config = CONFIG.get_or_init(common::config);
    common::scan_and_check(Signal::Metrics, data, config);
});
