//! `oxnas prune` and `oxnas supernet fewshot` end to end on a tiny supernet: rounds, the random
//! baseline, resume after kill -9 between rounds, and the few-shot comparison at equal steps.

mod common;
use common::{lines_without_times, ok};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// C=2, one cell per stage, 12x12 inputs, 256 training images, one epoch per round, one thread.
const TINY: &[&str] = &[
    "--set",
    "supernet.channels=2",
    "--set",
    "data.train_limit=256",
    "--set",
    "optim.batch_size=32",
    "--set",
    "run.device=\"cpu\"",
    "--set",
    "run.threads=1",
    "--set",
    "run.eval_batch_size=32",
    "--set",
    "data.train_transform=[{kind=\"resize\",size=12},{kind=\"to_float\"}]",
    "--set",
    "data.eval_transform=[{kind=\"resize\",size=12},{kind=\"to_float\"}]",
    "--epochs",
    "1",
];

fn prune_args(out: &Path, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = ["prune", "--out", out.to_str().unwrap()].iter().map(|s| s.to_string()).collect();
    a.extend(TINY.iter().map(|s| s.to_string()));
    for s in ["prune.score_sample=24", "prune.eval_images=32", "prune.rounds=3", "prune.fraction=0.2"] {
        a.extend(["--set".to_string(), s.to_string()]);
    }
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

fn run(args: &[String]) -> String {
    ok(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// prune.jsonl with the wall-clock fields zeroed.
fn records(dir: &Path) -> Vec<serde_json::Value> {
    lines_without_times(&dir.join("prune.jsonl"))
        .into_iter()
        .map(|mut v| {
            v["train_s"] = 0.into();
            v["score_s"] = 0.into();
            v
        })
        .collect()
}

#[test]
fn pruning_rounds_resume_after_kill_9_to_the_same_records() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full");
    let out = run(&prune_args(&full, &[]));
    let recs = records(&full);
    assert_eq!(recs.len(), 3, "{out}");
    // Op pruning of NB201: 30 choices, a fifth (6) removed in round 1, and survivors shrink.
    assert_eq!(recs[0]["removed_choices"].as_array().unwrap().len(), 6);
    assert_eq!(recs[0]["survivors_before"], 15_625);
    for w in recs.windows(2) {
        assert_eq!(w[0]["survivors_after"], w[1]["survivors_before"]);
        assert!(w[1]["survivors_after"].as_u64() < w[1]["survivors_before"].as_u64());
    }
    assert_eq!(recs[0]["scored"], 24);
    assert!(recs[2]["truth_after"]["median"].is_number() && recs[0]["best_by_score"]["truth"].is_number());
    let survivors = std::fs::read_to_string(full.join("survivors-03.txt")).unwrap();
    assert_eq!(survivors.lines().count() as u64, recs[2]["survivors_after"].as_u64().unwrap());
    let best = std::fs::read_to_string(full.join("best.txt")).unwrap();
    assert!(survivors.lines().any(|l| l == best.trim()), "the best is a survivor");
    assert!(full.join("prune.png").exists());

    // kill -9 once round 1 is recorded, then --resume: the same three records.
    let cut = dir.path().join("cut");
    let mut child = Command::new(env!("CARGO_BIN_EXE_oxnas"))
        .args(prune_args(&cut, &[]))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while std::fs::read_to_string(cut.join("prune.jsonl")).map_or(0, |t| t.lines().count()) < 1 {
        assert!(start.elapsed() < Duration::from_secs(300), "round 1 never finished");
        assert!(child.try_wait().unwrap().is_none(), "the run ended before it could be killed");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(records(&cut).len() < 3, "killed before the end");
    let resumed = ok(&["prune", "--resume", cut.to_str().unwrap()]);
    assert!(resumed.contains("round 3"), "{resumed}");
    assert_eq!(records(&cut), recs);
    assert_eq!(std::fs::read(cut.join("survivors-03.txt")).unwrap(), survivors.as_bytes());
}

#[test]
fn the_random_baseline_trains_nothing_and_is_seeded() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    run(&prune_args(&a, &["--random", "--seed", "3"]));
    let recs = records(&a);
    assert_eq!(recs.len(), 3);
    assert!(recs.iter().all(|r| r["scored"] == 0 && r["best_by_score"].is_null()));
    assert!(!a.join("round-01").exists(), "no supernet for the baseline");
    assert_eq!(recs[0]["removed_choices"].as_array().unwrap().len(), 6);
    let b = dir.path().join("b");
    run(&prune_args(&b, &["--random", "--seed", "3"]));
    assert_eq!(records(&b), recs, "same seed, same removals");
    let c = dir.path().join("c");
    run(&prune_args(&c, &["--random", "--seed", "4"]));
    assert_ne!(records(&c)[0]["removed_choices"], recs[0]["removed_choices"]);
}

#[test]
fn fewshot_compares_k_groups_with_one_supernet_at_equal_steps() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("fs");
    let mut args: Vec<String> =
        ["supernet", "fewshot", "--out", out_dir.to_str().unwrap()].iter().map(|s| s.to_string()).collect();
    args.extend(TINY.iter().map(|s| s.to_string()));
    for s in ["fewshot.warmup_epochs=1", "fewshot.archs=\"sample:20\"", "fewshot.eval_images=32"] {
        args.extend(["--set".to_string(), s.to_string()]);
    }
    let printed = run(&args);
    assert!(printed.contains("K =  1") && printed.contains("K =  5"), "{printed}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("fewshot.json")).unwrap()).unwrap();
    let results = json["results"].as_array().unwrap();
    assert_eq!(results.iter().map(|r| r["k"].as_u64().unwrap()).collect::<Vec<_>>(), [1, 5]);
    assert!(results.iter().all(|r| r["report"]["n"] == 20));
    // K = 1 trains 5 groups x 1 epoch after the warm-up; each group trains 1 epoch on its 3,125 cells.
    let stages = lines_without_times(&out_dir.join("fewshot.jsonl"));
    let k1 = stages.iter().find(|s| s["stage"] == "k1").unwrap();
    assert_eq!(k1["epochs"], 5);
    let groups: Vec<_> = stages.iter().filter(|s| s["pool"] == 3125).collect();
    assert_eq!(groups.len(), 5);
    assert_eq!(groups.iter().map(|g| g["scored"].as_u64().unwrap()).sum::<u64>(), 20, "each cell in one group");
    let k1_log = std::fs::read_to_string(out_dir.join("k1/supernet.jsonl")).unwrap();
    assert_eq!(k1_log.lines().count(), 5);
    // The K = 5 table is rankable with `oxnas rank` like any scores CSV.
    let csv = out_dir.join("scores-k5.csv");
    let rank = ok(&["rank", "--scores", csv.to_str().unwrap(), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&rank).unwrap();
    assert_eq!(v["rank"]["kendall_tau_b"], results[1]["report"]["kendall_tau_b"]);

    // The stages as separate processes (--jobs 3, each `--stage`) give the same tables.
    let par = dir.path().join("par");
    let mut args2: Vec<String> = args
        .iter()
        .map(|a| if a == out_dir.to_str().unwrap() { par.display().to_string() } else { a.clone() })
        .collect();
    args2.extend(["--jobs".to_string(), "3".to_string()]);
    run(&args2);
    for k in [1, 5] {
        let name = format!("scores-k{k}.csv");
        assert_eq!(std::fs::read(par.join(&name)).unwrap(), std::fs::read(out_dir.join(&name)).unwrap(), "{name}");
    }
    assert!(par.join("group-04.log").exists() && par.join("k1.log").exists());
    // One stage at a time, as cluster jobs would: the first creates the run and trains the warm-up.
    let st = dir.path().join("st");
    let with_out = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = args
            .iter()
            .map(|a| if a == out_dir.to_str().unwrap() { st.display().to_string() } else { a.clone() })
            .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    run(&with_out(&["--stage", "warmup"]));
    ok(&["supernet", "fewshot", "--resume", st.to_str().unwrap(), "--stage", "group-02"]);
    let g = "group-02/scores.csv";
    assert_eq!(std::fs::read(st.join(g)).unwrap(), std::fs::read(out_dir.join(g)).unwrap());
    assert!(!st.join("group-01").exists(), "only the stage asked for ran");
    // A stage before the warm-up, or an unknown one, is refused with the way forward.
    let early = dir.path().join("early");
    let mut v: Vec<String> = args
        .iter()
        .map(|a| if a == out_dir.to_str().unwrap() { early.display().to_string() } else { a.clone() })
        .collect();
    v.extend(["--stage".to_string(), "k1".to_string()]);
    let e = common::fails(&v.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(e.contains("0 of 1 epochs") && e.contains("--resume"), "{e}");
    let e = common::fails(&["supernet", "fewshot", "--resume", par.to_str().unwrap(), "--stage", "group-9"]);
    assert!(e.contains("no stage 'group-9'") && e.contains("group-04, k1"), "{e}");
}
