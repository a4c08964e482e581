//! Writes a starting corpus for each fuzz target: random valid requests of its signal (the
//! generator the robustness tests use), so that libFuzzer starts from real OTLP.
//! `cargo run --release --example seed_corpus [count]` (in core/fuzz).

#[path = "../../tests/common/mod.rs"]
mod common;

fn main() -> std::io::Result<()> {
    let count: u64 = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(200);
    std::fs::create_dir_all("corpus/scan_splice")?;
    for (index, (target, signal)) in
        ["scan_traces", "scan_logs", "scan_metrics"].iter().zip(common::SIGNALS).enumerate()
    {
        std::fs::create_dir_all(format!("corpus/{target}"))?;
        for seed in 0..count {
            let built = common::request(signal, &mut common::Random::new(seed));
            std::fs::write(format!("corpus/{target}/seed-{seed}"), &built.bytes)?;
            // scan_splice: the first byte picks the signal
            std::fs::write(format!("corpus/scan_splice/{target}-{seed}"), [&[index as u8][..], &built.bytes].concat())?;
        }
    }
    Ok(())
}
