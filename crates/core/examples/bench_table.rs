//! Benchmark: decoding the NAS-Bench-201 table that oxnas embeds, and parsing the CSV it was built from.
//!
//!     cargo run --release -p oxnas-core --example bench_table [-- CSV [ITERS]]
//!
//! Prints one JSON line: the compact asset's size, the decoded table's heap bytes, decode time
//! (`Nb201Table::from_compact` on the embedded asset bytes, what `Nb201Table::embedded()` does once per
//! process; min and median over ITERS, default 20) and, when CSV exists (default
//! /work/shared/data/nasbench201/nb201_accuracies.csv), `Nb201Table::from_csv_path` (min and median
//! over 5) and one lookup (`resolve` of an arch string) timed over 100k calls.
use oxnas_core::bench::{compact, Nb201Table};
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

fn stats(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(|a, b| a.partial_cmp(b).expect("finite"));
    (v[0], v[v.len() / 2])
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let csv =
        PathBuf::from(args.get(1).map(String::as_str).unwrap_or("/work/shared/data/nasbench201/nb201_accuracies.csv"));
    let iters: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(20);

    let bytes = compact::asset_bytes();
    let mut times = Vec::with_capacity(iters);
    let mut heap = 0;
    let mut cells = 0;
    for _ in 0..iters {
        let t = Instant::now();
        let table = Nb201Table::from_compact(black_box(bytes)).expect("embedded table decodes");
        times.push(t.elapsed().as_secs_f64());
        heap = table.heap_bytes();
        cells = table.len();
        black_box(&table);
    }
    let (decode_min, decode_median) = stats(times);

    let mut out = serde_json::json!({
        "cells": cells,
        "asset_bytes": bytes.len(),
        "heap_bytes": heap,
        "decode_s_min": decode_min,
        "decode_s_median": decode_median,
        "decode_iters": iters,
    });
    if csv.exists() {
        let mut t_csv = vec![];
        for _ in 0..5 {
            let t = Instant::now();
            let table = Nb201Table::from_csv_path(&csv).expect("CSV parses");
            t_csv.push(t.elapsed().as_secs_f64());
            black_box(&table);
        }
        let (csv_min, csv_median) = stats(t_csv);
        let table = Nb201Table::embedded();
        let arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|";
        let n = 100_000;
        let t = Instant::now();
        let mut acc = 0usize;
        for _ in 0..n {
            acc = acc.wrapping_add(table.resolve(black_box(arch)).expect("arch resolves"));
        }
        let lookup = t.elapsed().as_secs_f64() / n as f64;
        black_box(acc);
        out["csv"] = serde_json::json!(csv.display().to_string());
        out["csv_bytes"] = serde_json::json!(std::fs::metadata(&csv).map(|m| m.len()).unwrap_or(0));
        out["csv_parse_s_min"] = serde_json::json!(csv_min);
        out["csv_parse_s_median"] = serde_json::json!(csv_median);
        out["resolve_arch_s"] = serde_json::json!(lookup);
    }
    println!("{out}");
}
