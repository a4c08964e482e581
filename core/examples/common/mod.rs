//! What the benches share: the CPU clock of the calling thread, the fixtures' text fields.

use std::time::Instant;

/// CPU seconds this thread has run (`CLOCK_THREAD_CPUTIME_ID`, from the C library std links).
#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
pub fn cpu_now() -> f64 {
    #[repr(C)]
    struct Timespec {
        sec: i64,
        nsec: i64,
    }
    extern "C" {
        fn clock_gettime(clock: i32, now: *mut Timespec) -> i32;
    }
    const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
    let mut now = Timespec { sec: 0, nsec: 0 };
    // SAFETY: clock_gettime writes one timespec through the pointer, which points at one.
    if unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut now) } == 0 {
        return now.sec as f64 + now.nsec as f64 / 1e9;
    }
    wall_now()
}

/// Wall seconds since the first call, where there is no thread CPU clock to read.
#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
pub fn cpu_now() -> f64 {
    wall_now()
}

fn wall_now() -> f64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_secs_f64()
}

/// A fixture's field as `bench/*.py` writes it: `\t`, `\n` and `\\` escaped.
pub fn unescape(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}
