//! Sharded jobs on a real Slurm: job arrays through sbatch, the afterok merge job, scancel and
//! `oxnas jobs resubmit`. `.ci/run` starts a single-node Slurm (scripts/slurm-up.sh) and sets
//! OXNAS_REQUIRE_SLURM=1, which makes these tests fail, not skip, when Slurm is unusable. Elsewhere
//! (a laptop) they are skipped with a message saying why.

mod common;
use common::*;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Whether Slurm answers; panics when it must (CI), prints why the test is skipped otherwise.
fn slurm_here(test: &str) -> bool {
    let why = match Command::new("sinfo").args(["-h", "-o", "%T"]).output() {
        Err(e) => format!("sinfo cannot run ({e}): Slurm is not installed"),
        Ok(o) if !o.status.success() => format!("sinfo failed: {}", String::from_utf8_lossy(&o.stderr).trim()),
        Ok(o) if String::from_utf8_lossy(&o.stdout).trim().is_empty() => "Slurm has no nodes".into(),
        Ok(_) => return true,
    };
    if std::env::var("OXNAS_REQUIRE_SLURM").as_deref() == Ok("1") {
        panic!("OXNAS_REQUIRE_SLURM=1 but Slurm is unusable: {why}. Start it with scripts/slurm-up.sh and export SLURM_CONF");
    }
    eprintln!(
        "skipping {test}: {why}. Run scripts/slurm-up.sh and export SLURM_CONF=/tmp/oxnas-slurm/slurm.conf to run it"
    );
    false
}

/// (array job, merge job) from the launch's stdout.
fn job_ids(stdout: &str) -> (String, String) {
    let line = stdout.lines().find(|l| l.starts_with("submitted array job")).unwrap_or_else(|| panic!("{stdout}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    let merge = words.iter().position(|w| *w == "merge").map(|i| words[i + 2]).unwrap();
    (words[3].to_string(), merge.to_string())
}

fn squeue_states(jobs: &[&str]) -> Vec<String> {
    let out = Command::new("squeue").args(["-h", "-r", "--states=all", "-o", "%F|%i|%T"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| jobs.iter().any(|j| l.starts_with(&format!("{j}|"))))
        .map(String::from)
        .collect()
}

/// Waits until no task of these jobs is pending or running; returns their final states.
fn wait_for(jobs: &[&str], logs: &Path) -> Vec<String> {
    let start = Instant::now();
    loop {
        let states = squeue_states(jobs);
        if !states.is_empty()
            && !states.iter().any(|s| {
                s.ends_with("PENDING")
                    || s.ends_with("RUNNING")
                    || s.ends_with("COMPLETING")
                    || s.ends_with("CONFIGURING")
            })
        {
            return states;
        }
        if start.elapsed() > Duration::from_secs(400) {
            let logs: Vec<String> = std::fs::read_dir(logs)
                .map(|d| {
                    d.flatten()
                        .map(|e| {
                            format!(
                                "{}:\n{}",
                                e.path().display(),
                                std::fs::read_to_string(e.path()).unwrap_or_default()
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            panic!("jobs {jobs:?} did not finish in 400 s: {states:?}\n{}", logs.join("\n"));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Long enough per cell (6 epochs) that a task can be cancelled mid-cell.
const SIX_EPOCHS: &[&str] = &["--set", "optim.epochs=6"];

fn gt(out: &Path, extra: &[&str]) -> Vec<String> {
    ["groundtruth", "--archs", "1835,6111,100,200"]
        .iter()
        .chain(TINY_GT)
        .chain(SIX_EPOCHS)
        .map(|s| s.to_string())
        .chain(["--out".to_string(), out.display().to_string()])
        .chain(extra.iter().map(|s| s.to_string()))
        .collect()
}

fn run(args: &[String]) -> String {
    ok(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

#[test]
fn slurm_groundtruth_array_merges_and_survives_scancel_and_resubmit() {
    if !slurm_here("slurm_groundtruth_array_merges_and_survives_scancel_and_resubmit") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let single = tmp.path().join("single.csv");
    run(&gt(&single, &[]));
    let expected = std::fs::read(&single).unwrap();

    // A 4-task array and its merge job: the merged CSV is the single process's, byte for byte.
    let array = tmp.path().join("array.csv");
    let (a, m) = job_ids(&run(&gt(&array, &["--shards", "4", "--executor", "slurm", "--time", "10"])));
    let logs = tmp.path().join("array.csv.shards/logs");
    let states = wait_for(&[&a, &m], &logs);
    assert!(states.iter().all(|s| s.ends_with("COMPLETED")), "{states:?}");
    assert_eq!(std::fs::read(&array).unwrap(), expected);
    let status = ok(&["jobs", "status", array.to_str().unwrap()]);
    assert_eq!(status.matches(" done ").count(), 4, "{status}");

    // scancel one task while it trains: it stops at a checkpoint, the merge job is cancelled with
    // its dependency, `jobs status` names the shard, and `jobs resubmit` runs only it.
    let cut = tmp.path().join("cut.csv");
    let (a, m) = job_ids(&run(&gt(&cut, &["--shards", "4", "--executor", "slurm"])));
    let checkpoint = tmp.path().join("cut.csv.runs/6111/checkpoints/last.safetensors");
    let start = Instant::now();
    while !checkpoint.exists() {
        assert!(start.elapsed() < Duration::from_secs(300), "shard 1 never trained an epoch");
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = Command::new("scancel").arg(format!("{a}_1")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let logs = tmp.path().join("cut.csv.shards/logs");
    let states = wait_for(&[&a, &m], &logs);
    assert!(
        states.contains(&format!("{a}|{a}_1|CANCELLED")) || states.iter().any(|s| s.contains("_1|CANCELLED")),
        "{states:?}"
    );
    assert!(states.contains(&format!("{m}|{m}|CANCELLED")), "the merge job should be cancelled: {states:?}");
    let metrics = tmp.path().join("cut.csv.runs/6111/metrics.jsonl");
    let epochs = std::fs::read_to_string(&metrics).unwrap().lines().count();
    assert!(epochs < 6, "cell 6111 finished all {epochs} epochs before scancel: no mid-run cancel tested");
    assert!(!cut.exists());
    let status = ok(&["jobs", "status", cut.to_str().unwrap()]);
    assert!(status.contains(&format!("{a}_1 ended CANCELLED")) && status.matches(" done ").count() == 3, "{status}");

    let (a2, m2) = job_ids(&ok(&["jobs", "resubmit", cut.to_str().unwrap()]));
    let states = wait_for(&[&a2, &m2], &logs);
    assert_eq!(states.len(), 2, "only shard 1 and the merge job run again: {states:?}");
    assert!(states.iter().all(|s| s.ends_with("COMPLETED")), "{states:?}");
    assert_eq!(std::fs::read(&cut).unwrap(), expected, "resumed shard: rows lost, duplicated or changed");
    let log = std::fs::read_dir(&logs)
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy() == format!("shard-1-job{a2}.out"));
    let log = std::fs::read_to_string(log.expect("the resubmitted task's log").path()).unwrap();
    assert!(log.contains("[1/1] 6111 |"), "{log}");
    assert!(log.contains("resuming") && log.contains("cut.csv.runs/6111"), "the cancelled cell resumes: {log}");
}

#[test]
fn slurm_seed_sweep_over_two_seeds() {
    if !slurm_here("slurm_seed_sweep_over_two_seeds") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let search = |out: &Path, extra: &[&str]| {
        let args = tiny_sweep("0..2", out, extra);
        run(&args)
    };
    let whole = tmp.path().join("whole");
    search(&whole, &[]);
    let swept = tmp.path().join("swept");
    let (a, m) = job_ids(&search(&swept, &["--shards", "2", "--executor", "slurm"]));
    let states = wait_for(&[&a, &m], &swept.join("seeds.csv.shards/logs"));
    assert!(states.iter().all(|s| s.ends_with("COMPLETED")), "{states:?}");
    let merged = std::fs::read_to_string(swept.join("seeds.csv")).unwrap();
    assert_eq!(merged.lines().count(), 3, "header + 2 seeds: {merged}");
    assert_eq!(merged, std::fs::read_to_string(whole.join("seeds.csv")).unwrap());
    for seed in [0, 1] {
        assert!(swept.join(format!("seed-{seed}/genotype.txt")).exists());
    }
}
