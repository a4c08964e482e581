//! Scan, then enrichment: the first byte picks the signal, the rest is the request. What the
//! scan accepts gets `diagnostic.*` attributes of every value type on each error item, and
//! (with a redactor) its strings redacted; both must scan again as the request did, the
//! enriched one field for field the request received plus what was appended.
#![no_main]

#[path = "../../tests/common/mod.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

static CONFIG: OnceLock<otelproc_core::scan::ScanConfig> = OnceLock::new();

fuzz_target!(|input: &[u8]| {
    let Some((&first, data)) = input.split_first() else { return };
    let signal = common::SIGNALS[usize::from(first) % 3];
    let config = CONFIG.get_or_init(common::config);
    if let Some(scanned) = common::scan_and_check(signal, data, config) {
        common::check_splice(signal, data, &scanned, config, &mut common::Random::new(u64::from(first)));
        common::check_redacted_forwarding(signal, data, config);
    }
});
