//! The `oxnas` binary as a user runs it.

mod common;
use common::*;
use oxnas_core::logits::Logits;

use std::path::Path;
use std::process::Command;

#[test]
fn bench_query_known_cells() {
    // The DARTS collapse cell: NAS-Bench-201 paper, DARTS row: 54.30 / 15.61 / 16.32.
    let v = json(&[
        "bench",
        "query",
        "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|",
        "--json",
    ]);
    assert_eq!(v["index"], 1835);
    for (col, want) in
        [("cifar10_test_200ep", 54.30), ("cifar100_test_200ep", 15.61), ("imagenet16_120_test_200ep", 16.32)]
    {
        assert!((v[col].as_f64().unwrap() - want).abs() < 0.005, "{col}: {}", v[col]);
        assert!(v[format!("rank_{col}")].as_u64().unwrap() > 14_000);
    }
    // The best CIFAR-10 cell, 94.37.
    let v = json(&["bench", "query", "6111", "--json"]);
    assert!((v["cifar10_test_200ep"].as_f64().unwrap() - 94.37).abs() < 0.005);
    assert_eq!(v["rank_cifar10_test_200ep"], 1);
    assert!(v["unique_str"].as_str().unwrap().contains("nor_conv_3x3"));
    let top = json(&["bench", "top", "--column", "cifar100_test_200ep", "-k", "1", "--json"]);
    assert_eq!(top["entries"][0]["index"], 9930, "{top}");
}

#[test]
fn arch_info_matches_reference_parameter_count() {
    let v = json(&[
        "arch",
        "info",
        "--space",
        "darts",
        "--genotype",
        "DARTS_V2",
        "--channels",
        "36",
        "--layers",
        "20",
        "--classes",
        "10",
        "--json",
    ]);
    assert_eq!(v["params"], 3_349_342);
    assert_eq!(v["flops"], 528_359_040);
    let v = json(&[
        "arch",
        "info",
        "--space",
        "nb201",
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",
        "--json",
    ]);
    assert_eq!(v["params"], 1_531_546);
}

#[test]
fn bad_input_gets_a_clear_error() {
    let e = fails(&["bench", "query", "|nor_conv_3x3~0|+|nor_conv_3x3~0|+|none~0|none~1|none~2|"]);
    assert!(e.contains("error:") && e.contains("node"), "{e}");
    let e = fails(&["bench", "query", "15625"]);
    assert!(e.contains("15625"), "{e}");
    let e = fails(&["arch", "info", "--space", "darts", "--genotype", "DARTS_V9"]);
    assert!(e.contains("DARTS_V9") && e.contains("DARTS_V2"), "{e}");
    let e = fails(&["train", "--preset", "nope"]);
    assert!(e.contains("unknown preset 'nope'"), "{e}");
    let e = fails(&["train", "--preset", "cpu-smoke", "--set", "optim.learning_rate=0.1", "--out", "/nonexistent/x"]);
    assert!(e.contains("learning_rate"), "{e}");
    let e = fails(&["bench", "top", "--column", "cifar10_test"]);
    assert!(e.contains("cifar10_test_200ep"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let e = fails(&[
        "train",
        "--preset",
        "cpu-smoke",
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--out",
        dir.path().join("run").to_str().unwrap(),
    ]);
    assert!(e.contains("train-images-idx3-ubyte"), "{e}");
}

fn smoke_args(out: &Path, epochs: usize) -> Vec<String> {
    [
        "train",
        "--preset",
        "cpu-smoke",
        "--device",
        "cpu",
        "--set",
        "model.channels=4",
        "--set",
        "data.train_limit=640",
        "--set",
        "data.test_limit=200",
        "--set",
        "run.threads=1",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain(["--epochs".into(), epochs.to_string(), "--out".into(), out.display().to_string()])
    .collect()
}

#[test]
fn kill_9_then_resume_equals_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full");
    let args = smoke_args(&full, 3);
    ok(&args.iter().map(String::as_str).collect::<Vec<_>>());

    let cut = dir.path().join("cut");
    let args = smoke_args(&cut, 3);
    let mut child = Command::new(env!("CARGO_BIN_EXE_oxnas"))
        .args(&args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill as soon as the first epoch's checkpoint exists: mid-way through epoch 2.
    let ckpt = cut.join("checkpoints/last.safetensors");
    let start = std::time::Instant::now();
    while !ckpt.exists() {
        assert!(start.elapsed().as_secs() < 300, "no checkpoint appeared");
        if let Some(status) = child.try_wait().unwrap() {
            panic!("training ended before it could be killed: {status}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // SIGKILL: no chance to clean up, as with kill -9.
    child.kill().unwrap();
    child.wait().unwrap();
    let before = lines_without_times(&cut.join("metrics.jsonl")).len();
    assert!(before < 3, "the run finished before the kill");
    ok(&["train", "--resume", cut.to_str().unwrap()]);
    assert_eq!(lines_without_times(&cut.join("metrics.jsonl")), lines_without_times(&full.join("metrics.jsonl")));
    let a = std::fs::read_to_string(full.join("summary.json")).unwrap();
    let b = std::fs::read_to_string(cut.join("summary.json")).unwrap();
    let (a, b): (serde_json::Value, serde_json::Value) =
        (serde_json::from_str(&a).unwrap(), serde_json::from_str(&b).unwrap());
    assert_eq!(a["final"], b["final"]);
    assert_eq!(a["per_class_acc"], b["per_class_acc"]);

    // eval, export to reference names, import back: the same accuracy in both worlds.
    let e1 = json(&["eval", "--run", full.to_str().unwrap(), "--checkpoint", "last", "--device", "cpu", "--json"]);
    assert_eq!(e1["test_acc"], a["final"]["test_acc"]);
    assert!(full.join("eval/confusion.png").exists() && full.join("eval/confusion.csv").exists());
    assert!(full.join("curves.png").exists());
    let exported = dir.path().join("model.safetensors");
    ok(&["export", "--run", full.to_str().unwrap(), "--checkpoint", "last", "--out", exported.to_str().unwrap()]);
    let imported = dir.path().join("imported");
    ok(&[
        "import",
        exported.to_str().unwrap(),
        "--preset",
        "cpu-smoke",
        "--set",
        "model.channels=4",
        "--set",
        "data.test_limit=200",
        "--out",
        imported.to_str().unwrap(),
    ]);
    let e2 = json(&["eval", "--run", imported.to_str().unwrap(), "--device", "cpu", "--json"]);
    assert_eq!(e1["test_acc"], e2["test_acc"]);
    assert_eq!(e1["per_class_acc"], e2["per_class_acc"]);

    // Per-image logits through a file: .npy and .csv read back to the same numbers, their argmax
    // gives eval's accuracy, and the imported weights give bit-identical logits.
    let logits = |run: &Path, file: &str| {
        let path = dir.path().join(file);
        let p = path.to_str().unwrap();
        // An imported run has one checkpoint, `best`; `full`'s last is the one exported.
        let which = if run == imported.as_path() { "best" } else { "last" };
        ok(&["eval", "--run", run.to_str().unwrap(), "--checkpoint", which, "--device", "cpu", "--logits", p]);
        Logits::read(&path).unwrap()
    };
    let (npy, csv) = (logits(&full, "full.npy"), logits(&full, "full.csv"));
    assert_eq!((npy.rows(), npy.classes), (200, 10));
    assert_eq!(npy.values, csv.values);
    let hits = (0..csv.rows())
        .filter(|&i| {
            let row = csv.row(i);
            let best = (0..row.len()).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap();
            best as i64 == csv.labels[i]
        })
        .count();
    let acc = 100.0 * hits as f64 / csv.rows() as f64;
    assert!((acc - e1["test_acc"].as_f64().unwrap()).abs() < 1e-9, "{acc} vs {}", e1["test_acc"]);
    assert_eq!(logits(&imported, "imported.npy").values, npy.values);
    let e = fails(&["eval", "--run", full.to_str().unwrap(), "--device", "cpu", "--logits", "x.txt"]);
    assert!(e.contains(".npy or .csv"), "{e}");
    // Weights of another architecture are refused with a reason.
    let e = fails(&[
        "import",
        exported.to_str().unwrap(),
        "--preset",
        "cpu-smoke",
        "--out",
        dir.path().join("bad").to_str().unwrap(),
    ]);
    assert!(e.contains("shape") || e.contains("lack"), "{e}");
}

/// The engine-free spaces' counts through the CLI: the NAS-Bench-101 README cell has the published
/// 2,694,282 parameters and hash 28cfc787...; ProxylessNAS-Mobile's block choices on the issue's
/// backbone (first stage 24 wide) have 4,073,520 parameters and 304,227,008 MACs at 224x224 with
/// 1,000 classes, as our PyTorch port of the reference counts them (bench/pytorch/proxyless.py; the
/// published network's 32-wide first stage gives the reference's 4.08M / 320.4M, see docs/proxyless.md).
#[test]
fn arch_info_counts_nb101_and_proxyless_cells() {
    let readme = r#"{"matrix": [[0,1,1,1,0,1,0],[0,0,0,0,0,0,1],[0,0,0,0,0,0,1],[0,0,0,0,1,0,0],[0,0,0,0,0,0,1],[0,0,0,0,0,0,1],[0,0,0,0,0,0,0]], "ops": ["input","conv1x1-bn-relu","conv3x3-bn-relu","conv3x3-bn-relu","conv3x3-bn-relu","maxpool3x3","output"]}"#;
    let v = common::json(&["arch", "info", "--space", "nb101", readme, "--json"]);
    assert_eq!(v["params"], 2_694_282);
    assert_eq!(v["hash"], "28cfc7874f6d200472e1a9dcd8650aa0");
    assert!(v["flops"].as_u64().unwrap() > 0);
    let e =
        common::fails(&["arch", "info", "--space", "nb101", r#"{"matrix": [[0,1],[1,0]], "ops": ["input","output"]}"#]);
    assert!(e.contains("upper triangular"), "{e}");
    let mobile =
        "k5e3,k3e3,zero,zero,k7e3,k3e3,k5e3,k5e3,k7e6,k5e3,k5e3,k5e3,k5e6,k5e3,k5e3,k5e3,k7e6,k7e6,k7e3,k7e3,k7e6";
    let v = common::json(&[
        "arch",
        "info",
        "--space",
        "proxyless",
        mobile,
        "--classes",
        "1000",
        "--image-size",
        "224",
        "--json",
    ]);
    assert_eq!((v["params"].as_u64(), v["flops"].as_u64()), (Some(4_073_520), Some(304_227_008)));
    let e = common::fails(&["arch", "info", "--space", "proxyless", "zero,k3e3"]);
    assert!(e.contains("21"), "{e}");
}

/// `arch info --space darts-rnn`: the reference code's own counts (quark0/darts `rnn/`, logged as
/// `sum(p.nelement())`; bench/pytorch/darts_rnn_golden.py): 22,960,000 for DARTS_V2 at 850 on PTB's
/// 10,000 words (the paper's "23M"), 4,810,000 for the search model at 300; and the errors.
#[test]
fn arch_info_counts_darts_rnn_models() {
    let v = common::json(&[
        "arch",
        "info",
        "--space",
        "darts-rnn",
        "--genotype",
        "DARTS_V2",
        "--vocab",
        "10000",
        "--hidden",
        "850",
        "--json",
    ]);
    assert_eq!((v["params"].as_u64(), v["embedding"].as_u64()), (Some(22_960_000), Some(850)));
    assert!(v["arch"].as_str().unwrap().starts_with("Genotype(recurrent=[('sigmoid', 0), ('relu', 1)"), "{v}");
    let v = common::json(&["arch", "info", "--space", "darts-rnn", "--supernet", "--json"]);
    assert_eq!((v["params"].as_u64(), v["hidden"].as_u64()), (Some(4_810_000), Some(300)));
    let e = common::fails(&["arch", "info", "--space", "darts-rnn", "--genotype", "DARTS_V2", "--embedding", "400"]);
    assert!(e.contains("embedding size 400 differs from hidden size 850"), "{e}");
    let e = common::fails(&["arch", "info", "--space", "darts-rnn", "--genotype", "FashionMNIST_1"]);
    assert!(e.contains("not a known recurrent genotype name"), "{e}");
    let cnn = "Genotype(normal=[('sep_conv_3x3', 0), ('skip_connect', 1)], normal_concat=[2], reduce=[('max_pool_3x3', 0), ('dil_conv_5x5', 1)], reduce_concat=[2])";
    let e = common::fails(&["arch", "info", "--space", "darts-rnn", "--genotype", cnn]);
    assert!(e.contains("this is a DARTS CNN genotype"), "{e}");
    let e = common::fails(&[
        "arch",
        "info",
        "--space",
        "darts-rnn",
        "--genotype",
        "Genotype(recurrent=[('relu', 1)], concat=[1])",
    ]);
    assert!(e.contains("recurrent[0] takes node 1"), "{e}");
}

/// `oxnas rank --space proxyless` on scores and a truth of one's own (quoted, comma-separated subnets),
/// and a score CSV of another space refused by name.
#[test]
fn rank_handles_proxyless_tables_and_refuses_other_spaces() {
    let dir = tempfile::tempdir().unwrap();
    let subnet = |i: usize| {
        let c = ["k3e3", "k3e6", "k5e3", "k5e6", "k7e3", "k7e6"];
        // Twelve distinct subnets: the first two blocks vary, the rest are k3e3.
        let mut blocks = vec!["k3e3"; 21];
        (blocks[0], blocks[1]) = (c[i % 6], c[i / 6]);
        blocks.join(",")
    };
    let (mut scores, mut truth) = (String::from("arch_str,score\n"), String::from("arch_str,accuracy\n"));
    for i in 0..12 {
        scores += &format!("\"{}\",{}\n", subnet(i), i as f64);
        truth += &format!("\"{}\",{}\n", subnet(i), if i % 4 == 0 { 50.0 - i as f64 } else { 60.0 + i as f64 });
    }
    let (s, t) = (dir.path().join("s.csv"), dir.path().join("t.csv"));
    std::fs::write(&s, scores).unwrap();
    std::fs::write(&t, truth).unwrap();
    let v = common::json(&[
        "rank",
        "--space",
        "proxyless",
        "--scores",
        s.to_str().unwrap(),
        "--truth",
        t.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(v["rank"]["n"], 12);
    assert!(v["bias"].to_string().contains("zero_count"), "the space's own features");
    // A lower-is-better truth (a perplexity falling as the score rises): full agreement once the
    // direction is given, full disagreement when it is not.
    let ppl = dir.path().join("ppl.csv");
    let rows: String = (0..12).map(|i| format!("\"{}\",{}\n", subnet(i), 100.0 - i as f64)).collect();
    std::fs::write(&ppl, format!("arch_str,perplexity\n{rows}")).unwrap();
    let tau = |extra: &[&str]| {
        let mut args = vec!["rank", "--space", "proxyless", "--scores", s.to_str().unwrap()];
        args.extend(["--truth", ppl.to_str().unwrap(), "--json"]);
        args.extend(extra);
        common::json(&args)["rank"]["kendall_tau_b"].as_f64().unwrap()
    };
    let (agree, disagree) = (tau(&["--truth-better", "lower"]), tau(&[]));
    assert!((agree - 1.0).abs() < 1e-12 && (disagree + 1.0).abs() < 1e-12, "{agree} {disagree}");
    let nb201 = dir.path().join("nb201.csv");
    std::fs::write(&nb201, "arch_str,score\n|none~0|+|none~0|none~1|+|none~0|none~1|none~2|,1\n").unwrap();
    let e = common::fails(&[
        "rank",
        "--space",
        "proxyless",
        "--scores",
        nb201.to_str().unwrap(),
        "--truth",
        t.to_str().unwrap(),
    ]);
    assert!(e.contains("proxyless"), "{e}");
}
