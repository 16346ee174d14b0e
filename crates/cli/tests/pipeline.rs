//! The search and ranking pipelines as a user runs them, at sizes that fit CI.

mod common;
use common::*;

use std::path::Path;
use std::process::{Command, Stdio};

/// A small SGAS-es search on NB201 (C=2, 12x12 images), with the λ rule made eager so that a
/// rollback happens: phase 0 rolls back at its 6th epoch (no warm-up, the full Hessian).
const SEARCH: &[&str] = &[
    "search",
    "--preset",
    "cpu-demo",
    "--device",
    "cpu",
    "--set",
    "supernet.channels=2",
    "--set",
    "data.train_limit=128",
    "--set",
    "optim.batch_size=32",
    "--set",
    "split.valid_eval_limit=32",
    "--set",
    "run.eval_batch_size=32",
    "--set",
    "run.threads=1",
    "--set",
    "decision.frequency=7",
    "--set",
    "early_stop.factor=0.5",
    "--set",
    "optim.epochs=44",
    "--set",
    "decision.weight_warmup=0",
    "--set",
    "hessian.mode=\"full\"",
    "--set",
    "data.train_transform=[{kind=\"resize\",size=12},{kind=\"to_float\"}]",
    "--set",
    "data.eval_transform=[{kind=\"resize\",size=12},{kind=\"to_float\"}]",
];

fn with_out(base: &[&str], out: &Path) -> Vec<String> {
    base.iter().map(|s| s.to_string()).chain(["--out".to_string(), out.display().to_string()]).collect()
}

#[test]
fn search_prints_ground_truth_and_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full");
    let args = with_out(SEARCH, &full);
    let stdout = ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(stdout.contains("genotype: |"), "{stdout}");
    assert!(stdout.contains("cifar10_test_200ep") && stdout.contains("rank"), "{stdout}");
    for f in [
        "search.jsonl",
        "result.json",
        "genotype.txt",
        "genotype.json",
        "lambda.png",
        "alphas.png",
        "cell.dot",
        "cell.png",
        "config.toml",
    ] {
        assert!(full.join(f).exists(), "{f} missing");
    }
    let log = std::fs::read_to_string(full.join("search.jsonl")).unwrap();
    assert!(log.contains("rolled back to epoch 1 "), "the eager rule should roll back");
    // The finished search has decided every edge: `oxnas hessian` says so and what to do instead
    // (its values are checked against the logged λmax in the engine's sharpness test).
    let e = fails(&["hessian", "--run", full.to_str().unwrap(), "--device", "cpu"]);
    assert!(e.contains("every edge of this checkpoint is decided") && e.contains("epoch-N"), "{e}");

    // A search's (DARTS-style, mixed-op) supernet can be scored like a single-path one.
    let scores = dir.path().join("search-scores.csv");
    let score = |bn: &str| {
        [
            "supernet",
            "score",
            "--run",
            full.to_str().unwrap(),
            "--archs",
            "sample:5",
            "--bn",
            bn,
            "--recal-batches",
            "2",
            "--eval-images",
            "32",
            "--device",
            "cpu",
            "--out",
            scores.to_str().unwrap(),
        ]
        .map(String::from)
    };
    let run = |bn: &str| oxnas(&score(bn).iter().map(String::as_str).collect::<Vec<_>>());
    // cpu-demo's search supernet keeps no BN running statistics: `running` has none to use, while
    // `recalibrate` estimates them per cell, and gives other scores than train-mode BN.
    let err = run("running");
    assert!(!err.status.success());
    assert!(String::from_utf8_lossy(&err.stderr).contains("--bn running needs BN running statistics"));
    let mut csvs = vec![];
    for bn in ["train", "recalibrate"] {
        let out = run(bn);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stdout).contains("scored 5 architectures"));
        csvs.push(std::fs::read_to_string(&scores).unwrap());
    }
    assert_ne!(csvs[0], csvs[1], "recalibrated statistics should change the scores");
    assert_eq!(std::fs::read_to_string(&scores).unwrap().lines().count(), 6, "header + 5 cells");

    // kill -9 in the middle, then --resume: the same log and the same genotype.
    let cut = dir.path().join("cut");
    let args = with_out(SEARCH, &cut);
    let mut child = Command::new(env!("CARGO_BIN_EXE_oxnas"))
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let log = cut.join("search.jsonl");
    let start = std::time::Instant::now();
    loop {
        let n = std::fs::read_to_string(&log).map(|t| t.lines().count()).unwrap_or(0);
        if n >= 8 {
            break;
        }
        assert!(start.elapsed().as_secs() < 600, "search made no progress");
        assert!(child.try_wait().unwrap().is_none(), "search ended before it could be killed");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!cut.join("result.json").exists());
    // The resumed run also retrains what it found (`--then-train`): one command from search to model.
    let stdout = ok(&[
        "search",
        "--resume",
        cut.to_str().unwrap(),
        "--then-train",
        "cpu-smoke",
        "--train-set",
        "optim.epochs=1",
        "--train-set",
        "model.channels=2",
        "--train-set",
        "data.train_limit=128",
        "--train-set",
        "data.test_limit=64",
        "--train-set",
        "run.threads=1",
        "--train-set",
        "run.device=\"cpu\"",
    ]);
    assert_eq!(lines_without_times(&cut.join("search.jsonl")), lines_without_times(&full.join("search.jsonl")));
    let genotype = std::fs::read_to_string(cut.join("genotype.txt")).unwrap();
    assert_eq!(genotype, std::fs::read_to_string(full.join("genotype.txt")).unwrap());
    assert!(stdout.contains("retrained: test accuracy"), "{stdout}");
    // The retrained network is the searched cell, not the preset's own (NB201's best CIFAR-10 cell).
    let retrain = cut.join("retrain");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(retrain.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["epochs"].as_u64(), Some(1), "{summary}");
    assert_eq!(summary["arch"].as_str(), Some(genotype.trim()), "{summary}");
    assert_eq!(std::fs::read_to_string(retrain.join("genotype.txt")).unwrap().trim(), genotype.trim());
    assert!(retrain.join("checkpoints/best.safetensors").exists());
}

#[test]
fn supernet_score_rank_and_groundtruth() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("supernet");
    ok(&[
        "supernet",
        "train",
        "--preset",
        "cpu-nb201",
        "--device",
        "cpu",
        "--epochs",
        "2",
        "--set",
        "supernet.channels=2",
        "--set",
        "data.train_limit=256",
        "--set",
        "optim.batch_size=32",
        "--set",
        "track.sample=8",
        "--set",
        "track.every=1",
        "--set",
        "track.eval_images=64",
        "--set",
        "run.threads=1",
        "--set",
        "data.train_transform=[{kind=\"resize\",size=12},{kind=\"to_float\"}]",
        "--set",
        "data.eval_transform=[{kind=\"resize\",size=12},{kind=\"to_float\"}]",
        "--out",
        run.to_str().unwrap(),
    ]);
    assert!(run.join("tau.png").exists());
    let scores = dir.path().join("scores.csv");
    let out = ok(&[
        "supernet",
        "score",
        "--run",
        run.to_str().unwrap(),
        "--archs",
        "sample:40",
        "--bn",
        "recalibrate",
        "--recal-batches",
        "2",
        "--eval-images",
        "64",
        "--device",
        "cpu",
        "--out",
        scores.to_str().unwrap(),
    ]);
    assert!(out.contains("scored 40 architectures"), "{out}");
    let csv = std::fs::read_to_string(&scores).unwrap();
    assert_eq!(csv.lines().count(), 41, "header + 40 cells");

    let v: serde_json::Value = serde_json::from_str(&ok(&[
        "rank",
        "--scores",
        scores.to_str().unwrap(),
        "--truth",
        "cifar10_test_200ep",
        "-k",
        "1,5,10",
        "--json",
    ]))
    .unwrap();
    let tau = v["rank"]["kendall_tau_b"].as_f64().unwrap();
    assert!((-1.0..=1.0).contains(&tau));
    assert_eq!(v["rank"]["n"], 40);
    assert!(Path::new(&format!("{}.rank/scatter.png", scores.display())).exists());
    assert!(Path::new(&format!("{}.rank/rank-rank.png", scores.display())).exists());
    // Scores outside the run: no supernet in the summary. Inside it (where `supernet score` writes by
    // default), the summary carries the run's epochs and its τ per epoch from supernet.jsonl.
    assert!(v["summary"].get("supernet").is_none(), "{}", v["summary"]);
    let inside = run.join("scores.csv");
    std::fs::copy(&scores, &inside).unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&ok(&["rank", "--scores", inside.to_str().unwrap(), "--json"])).unwrap();
    let log: Vec<serde_json::Value> = std::fs::read_to_string(run.join("supernet.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let taus: Vec<serde_json::Value> =
        log.iter().map(|e| serde_json::json!({ "epoch": e["epoch"], "tau": e["tau"] })).collect();
    assert_eq!(v["summary"]["supernet"]["epochs"], 2);
    assert_eq!(v["summary"]["supernet"]["tau_per_epoch"], serde_json::Value::Array(taus));

    // Settings that could only give meaningless scores, or lose them at the end, fail up front.
    let base = ["supernet", "score", "--run", run.to_str().unwrap(), "--archs", "1835", "--device", "cpu"];
    let err = fails(&[&base[..], &["--eval-images", "0"]].concat());
    assert!(err.contains("--eval-images 0"), "{err}");
    let err = fails(&[&base[..], &["--bn", "recalibrate", "--recal-batches", "0"]].concat());
    assert!(err.contains("--recal-batches 0"), "{err}");
    let err = fails(&[&base[..], &["--out", dir.path().to_str().unwrap()]].concat());
    assert!(err.contains("is a directory"), "{err}");

    // kill -9 while scoring, then the same command: it resumes from <out>.partial and writes the
    // same file as an uninterrupted run.
    let many = |out: &Path| -> Vec<String> {
        ["supernet", "score", "--run", run.to_str().unwrap(), "--archs", "sample:2000", "--eval-images", "64"]
            .into_iter()
            .chain(["--flush-every", "20", "--device", "cpu", "--out", out.to_str().unwrap()])
            .map(String::from)
            .collect()
    };
    let whole = dir.path().join("whole.csv");
    ok(&many(&whole).iter().map(String::as_str).collect::<Vec<_>>());
    let cut = dir.path().join("cut.csv");
    let partial = dir.path().join("cut.csv.partial");
    let mut child = Command::new(env!("CARGO_BIN_EXE_oxnas"))
        .args(many(&cut))
        .env("OMP_NUM_THREADS", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    while !partial.exists() {
        assert!(child.try_wait().unwrap().is_none(), "scoring ended before it could be killed");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!cut.exists());
    let out = ok(&many(&cut).iter().map(String::as_str).collect::<Vec<_>>());
    assert!(out.contains("resumed: "), "{out}");
    assert_eq!(std::fs::read(&cut).unwrap(), std::fs::read(&whole).unwrap());
    assert!(!partial.exists());

    // A ground truth of our own for 2 cells (1 epoch each), resumable: a second call trains nothing.
    let gt = dir.path().join("gt.csv");
    let gt_args = [
        "groundtruth",
        "--archs",
        "1835,6111",
        "--preset",
        "cpu-smoke",
        "--set",
        "run.device=\"cpu\"",
        "--set",
        "optim.epochs=1",
        "--set",
        "model.channels=2",
        "--set",
        "data.train_limit=128",
        "--set",
        "data.test_limit=64",
        "--set",
        "run.threads=1",
        "--out",
        gt.to_str().unwrap(),
    ];
    ok(&gt_args);
    let first = std::fs::read_to_string(&gt).unwrap();
    assert_eq!(first.lines().count(), 3, "{first}");
    let out = oxnas(&gt_args);
    assert!(String::from_utf8_lossy(&out.stderr).contains("2 already in"), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(&gt).unwrap(), first);
    // Ranking against our own ground truth joins the cells both files have.
    let scores2 = dir.path().join("two.csv");
    ok(&[
        "supernet",
        "score",
        "--run",
        run.to_str().unwrap(),
        "--archs",
        "1835,6111,9930",
        "--eval-images",
        "64",
        "--device",
        "cpu",
        "--out",
        scores2.to_str().unwrap(),
    ]);
    let out = ok(&["rank", "--scores", scores2.to_str().unwrap(), "--truth", gt.to_str().unwrap(), "-k", "1"]);
    assert!(out.contains("matched 2 of 3"), "{out}");
}
