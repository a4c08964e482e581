//! otelproc's native core (`otelproc._core`): the work that is per span and per error row.
//!
//! - `wire`, `schema`: the protobuf wire format and the OTLP message table;
//! - `scan`: one pass over a request's bytes: validate, count, detect errors, extract their rows;
//! - `columns`: the rows as Arrow columns for polars;
//! - `python`: the bindings (feature `python`), the only part that knows Python exists.

// Tests assert by panicking; the library itself never unwraps or panics (see Cargo.toml's lints).
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod arrow_in;
pub mod columns;
pub mod diagnose;
pub mod extract;
pub mod grouping_v1;
pub mod grouping_v2;
pub mod json;
pub mod parameterize;
pub mod redact;
pub mod rules;
pub mod scan;
pub mod schema;
pub mod splice;
pub mod stacktrace;
pub mod value;
pub mod wire;

#[cfg(feature = "python")]
mod python;
