//! The cpu-demo search at seeds 0 and 1 reproduces the traces recorded before the search loop was
//! split into spaces and policies (`tests/golden/`, written by the oxnas of commit d08a8f5 on a
//! 2-core x86-64 machine, timings removed). Floats are compared exactly: libtorch's CPU kernels
//! are deterministic for a fixed thread count on one machine type, but another CPU may differ in
//! the last bits, so this runs on demand (minutes), not in the suite. Since the recording, event
//! texts count epochs from 1 (messages are 1-based; the `epoch` fields stay 0-based), so the
//! recorded events are read with their epoch numbers shifted by one:
//!
//!     cargo test --release -p oxnas-engine --test golden -- --ignored

use oxnas_core::config::{ConfigFile, SearchConfig};
use oxnas_engine::progress::Quiet;
use oxnas_engine::search::{Search, SearchStart};
use serde_json::Value;

/// A recorded (0-based) event text in today's 1-based form.
fn one_based(event: &str) -> String {
    let mut out = event.to_string();
    for marker in ["rolled back to epoch ", "architecture of epoch "] {
        if let Some(at) = out.find(marker) {
            let start = at + marker.len();
            let digits: String = out[start..].chars().take_while(|c| c.is_ascii_digit()).collect();
            let n: usize = digits.parse().expect("an epoch number follows");
            out.replace_range(start..start + digits.len(), &(n + 1).to_string());
        }
    }
    out
}

fn without_times(mut v: Value) -> Value {
    // hessian_hvps was added after the recording: a count, not a time, but absent there.
    for k in ["epoch_time_s", "images_per_s", "hessian_s", "hessian_hvps"] {
        v.as_object_mut().expect("a record is an object").remove(k);
    }
    v
}

/// The cpu-demo preset as it was at the recording: un-augmented 28x28 halves, 38 epochs, no
/// warm-up, the full Hessian, the per-edge execution (the fused one agrees to rounding, not bits).
fn recorded(seed: u64) -> Vec<String> {
    [
        "data.train_transform=\"fashion-mnist-eval\"",
        "data.eval_transform=\"fashion-mnist-eval\"",
        "optim.epochs=38",
        "decision.weight_warmup=0",
        "hessian.mode=\"full\"",
        "supernet.execution=\"per-edge\"",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([format!("run.seed={seed}")])
    .collect()
}

#[test]
#[ignore = "runs the cpu-demo search twice (minutes); see the module comment"]
fn cpu_demo_search_is_unchanged_at_seeds_0_and_1() {
    let golden = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    for seed in [0, 1] {
        let cfg = SearchConfig::resolve("cpu-demo", None, &recorded(seed)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let out = Search::new(dir.path(), SearchStart::Fresh(Box::new(cfg))).unwrap().run(&mut Quiet).unwrap();
        let want: Vec<Value> = std::fs::read_to_string(golden.join(format!("cpu-demo-seed{seed}.jsonl")))
            .unwrap()
            .lines()
            .map(|l| {
                let mut v: Value = serde_json::from_str(l).unwrap();
                if let Some(e) = v["event"].as_str() {
                    v["event"] = one_based(e).into();
                }
                v
            })
            .collect();
        assert_eq!(out.trace.len(), want.len(), "seed {seed}: number of executed epochs");
        for (i, (got, want)) in out.trace.iter().zip(&want).enumerate() {
            let got = without_times(serde_json::to_value(got).unwrap());
            assert_eq!(&got, want, "seed {seed}: record {i} (epoch {}) differs", want["epoch"]);
        }
        let genotype = std::fs::read_to_string(golden.join(format!("cpu-demo-seed{seed}.genotype.txt"))).unwrap();
        assert_eq!(out.architecture.reference_string(), genotype.trim(), "seed {seed}: genotype");
    }
}
