use otelproc_core::scan::*;
fn main() {
    let path = std::env::args().nth(1).unwrap_or_default();
    let data = std::fs::read(&path).unwrap_or_default();
    let config = ScanConfig::new(vec![ColumnSpec { name: "message".into(), source: Source::Field(RowField::Message) }]);
    let n: usize = std::env::args().nth(2).and_then(|a| a.parse().ok()).unwrap_or(300);
    let t = std::time::Instant::now();
    let mut errors = 0;
    for _ in 0..n {
        let s = scan(Signal::Traces, &data, &config, 1 << 30, None).ok();
        errors += s.map(|s| s.errors.len()).unwrap_or(0);
    }
    let dt = t.elapsed().as_secs_f64() / n as f64;
    println!("{} us/request, {:.2} M spans/s, errors {}", dt * 1e6, 512.0 / dt / 1e6, errors / n);
}
