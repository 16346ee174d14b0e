//! Running the `oxnas` binary from integration tests.
#![allow(dead_code)]

use std::process::{Command, Output};

pub fn oxnas(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_oxnas")).args(args).output().expect("oxnas runs")
}

/// Stdout of a command that must succeed.
pub fn ok(args: &[&str]) -> String {
    let out = oxnas(args);
    assert!(out.status.success(), "oxnas {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Stderr of a command that must fail.
pub fn fails(args: &[&str]) -> String {
    let out = oxnas(args);
    assert!(!out.status.success(), "oxnas {args:?} should fail");
    String::from_utf8(out.stderr).unwrap()
}

pub fn json(args: &[&str]) -> serde_json::Value {
    serde_json::from_str(&ok(args)).unwrap()
}

/// JSON lines of a run's log with wall-clock fields zeroed, for comparing two runs.
pub fn lines_without_times(p: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            for k in ["epoch_time_s", "images_per_s", "hessian_s"] {
                if v.get(k).is_some() {
                    v[k] = 0.into();
                }
            }
            v
        })
        .collect()
}

/// A ground-truth cell in well under a second: C=2, 128 training images, one thread (so any two runs
/// compute the same bits).
pub const TINY_GT: &[&str] = &[
    "--preset",
    "cpu-smoke",
    "--set",
    "run.device=\"cpu\"",
    "--set",
    "model.channels=2",
    "--set",
    "data.train_limit=128",
    "--set",
    "data.test_limit=64",
    "--set",
    "run.threads=1",
];

/// `oxnas search` of a tiny cpu-demo over a seed list (C=2, 96 images at 12x12, 2 epochs, one thread).
pub fn tiny_sweep(seeds: &str, out: &std::path::Path, extra: &[&str]) -> Vec<String> {
    let transform = "[{kind=\"resize\",size=12},{kind=\"to_float\"}]";
    let mut args: Vec<String> = ["search", "--preset", "cpu-demo", "--device", "cpu", "--seeds", seeds]
        .into_iter()
        .chain(["--set", "supernet.channels=2", "--set", "data.train_limit=96", "--set", "optim.batch_size=32"])
        .chain(["--set", "split.valid_eval_limit=32", "--set", "run.eval_batch_size=32", "--set", "run.threads=1"])
        .chain(["--set", "optim.epochs=2", "--set", "decision.weight_warmup=0"])
        .chain(["--set", &format!("data.train_transform={transform}")])
        .chain(["--set", &format!("data.eval_transform={transform}")])
        .map(String::from)
        .collect();
    args.extend(["--out".to_string(), out.display().to_string()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}
