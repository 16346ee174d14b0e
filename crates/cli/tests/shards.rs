//! Sharded runs on this machine (`--shard`, `--shards N --executor local`, `oxnas merge`, `oxnas jobs`)
//! and stopping on a signal. The Slurm executor is tested against a real Slurm in slurm.rs.

mod common;
use common::*;

use std::path::Path;
use std::process::{Command, Stdio};

fn gt(archs: &str, epochs: usize, out: &Path, extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = ["groundtruth", "--archs", archs].iter().chain(TINY_GT).map(|s| s.to_string()).collect();
    v.extend(["--set".into(), format!("optim.epochs={epochs}"), "--out".into(), out.display().to_string()]);
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn groundtruth_shards_merge_into_the_single_run_file() {
    let tmp = tempfile::tempdir().unwrap();
    let archs = "1835,6111,100,200,1835";
    let single = tmp.path().join("single.csv");
    ok(&strs(&gt(archs, 1, &single, &[])));
    let text = std::fs::read_to_string(&single).unwrap();
    assert_eq!(text.lines().count(), 5, "header + 4 distinct cells (1835 is listed twice): {text}");

    // Two local shard processes, then the merge: the same bytes.
    let local = tmp.path().join("local.csv");
    let out = ok(&strs(&gt(archs, 1, &local, &["--shards", "2", "--jobs", "2"])));
    assert!(out.contains("merged 4 rows"), "{out}");
    assert_eq!(std::fs::read(&local).unwrap(), std::fs::read(&single).unwrap());
    let status = ok(&["jobs", "status", local.to_str().unwrap()]);
    assert_eq!(status.matches(" done ").count(), 2, "{status}");
    // Launching again finds nothing to do and merges to the same file.
    let again = ok(&strs(&gt(archs, 1, &local, &["--shards", "2"])));
    assert!(again.contains("all 2 shards are finished"), "{again}");

    // Shards run by hand: merging before all are there names the missing ones and the fix.
    let hand = tmp.path().join("hand.csv");
    ok(&strs(&gt(archs, 1, &hand, &["--shard", "1/3"])));
    let err = fails(&["merge", hand.to_str().unwrap()]);
    assert!(err.contains("1 of 3 shards") && err.contains("0/3 (never started") && err.contains("2/3 (never"), "{err}");
    assert!(err.contains("oxnas jobs resubmit"), "{err}");
    let status = ok(&["jobs", "status", &format!("{}.shards", hand.display())]);
    assert!(status.contains("missing") && status.contains("done"), "{status}");
    // A shard with other settings is refused when it runs into a shard of this job...
    let err = fails(&strs(&gt(archs, 2, &hand, &["--shard", "1/3"])));
    assert!(err.contains("other settings") && err.contains("epochs = 2"), "{err}");
    // ...and when the merge meets one, naming the files and the setting.
    let other = tmp.path().join("other.csv");
    ok(&strs(&gt(archs, 2, &other, &["--shard", "0/3"])));
    for ext in ["json", "csv"] {
        let name = format!("shard-0-of-3.{ext}");
        std::fs::copy(tmp.path().join("other.csv.shards").join(&name), tmp.path().join("hand.csv.shards").join(&name))
            .unwrap();
    }
    ok(&strs(&gt(archs, 1, &hand, &["--shard", "2/3"])));
    let err = fails(&["merge", hand.to_str().unwrap()]);
    assert!(
        err.contains("shard-1-of-3.json was written with other settings than") && err.contains("shard-0-of-3.json"),
        "{err}"
    );
    assert!(err.contains("epochs = 1") && err.contains("epochs = 2"), "{err}");

    // Launching flags without --shards, or Slurm flags for local processes, are errors, not ignored.
    let err = fails(&strs(&gt(archs, 1, &hand, &["--executor", "slurm"])));
    assert!(err.contains("add --shards N"), "{err}");
    let err = fails(&strs(&gt(archs, 1, &hand, &["--shards", "2", "--partition", "gpu"])));
    assert!(err.contains("--partition are Slurm options") && err.contains("--executor slurm"), "{err}");
    let err = fails(&strs(&gt(archs, 1, &hand, &["--shard", "3/3"])));
    assert!(err.contains("'3/3' is not a shard") && err.contains("below N"), "{err}");
    let err = fails(&strs(&gt(archs, 1, &hand, &["--shards", "2", "--executor", "slurm", "--time", "1h"])));
    assert!(err.contains("not a Slurm time limit"), "{err}");
}

#[test]
fn sigterm_stops_at_a_checkpoint_and_the_rerun_completes_the_same_file() {
    let tmp = tempfile::tempdir().unwrap();
    let archs = "6111,100";
    let whole = tmp.path().join("whole.csv");
    ok(&strs(&gt(archs, 6, &whole, &[])));

    let cut = tmp.path().join("cut.csv");
    let mut child = Command::new(env!("CARGO_BIN_EXE_oxnas"))
        .args(gt(archs, 6, &cut, &["--shard", "0/1"]))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let metrics = tmp.path().join("cut.csv.runs/6111/metrics.jsonl");
    let start = std::time::Instant::now();
    while !metrics.exists() {
        assert!(child.try_wait().unwrap().is_none(), "the shard ended before it could be signalled");
        assert!(start.elapsed().as_secs() < 120, "no epoch finished");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    // SAFETY: kill(2) on the id of a child this test started and has not reaped.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(128 + libc::SIGTERM), "{stderr}");
    assert!(stderr.contains("stopped by SIGTERM") && stderr.contains("run the same command again"), "{stderr}");
    let epochs = std::fs::read_to_string(&metrics).unwrap().lines().count();
    assert!((1..6).contains(&epochs), "stopped after {epochs} epochs: at a checkpoint, before the end");

    // The rerun resumes the cell from its checkpoint; the merged file equals the uninterrupted one.
    let out = ok(&strs(&gt(archs, 6, &cut, &["--shard", "0/1"])));
    assert!(out.contains("ground truth"), "{out}");
    ok(&["merge", cut.to_str().unwrap()]);
    assert_eq!(std::fs::read(&cut).unwrap(), std::fs::read(&whole).unwrap());
}

#[test]
fn supernet_scores_and_seed_sweeps_shard_to_the_same_files() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("supernet");
    let transform = "[{kind=\"resize\",size=12},{kind=\"to_float\"}]";
    ok(&[
        "supernet",
        "train",
        "--preset",
        "cpu-nb201",
        "--device",
        "cpu",
        "--epochs",
        "1",
        "--set",
        "supernet.channels=2",
        "--set",
        "data.train_limit=128",
        "--set",
        "optim.batch_size=32",
        "--set",
        "track.sample=0",
        "--set",
        "run.threads=1",
        "--set",
        &format!("data.train_transform={transform}"),
        "--set",
        &format!("data.eval_transform={transform}"),
        "--out",
        run.to_str().unwrap(),
    ]);
    let score = |out: &Path, extra: &[&str]| {
        let mut args =
            vec!["supernet", "score", "--run", run.to_str().unwrap(), "--archs", "sample:9", "--eval-images", "32"];
        args.extend(["--device", "cpu", "--threads", "1", "--out", out.to_str().unwrap()]);
        args.extend(extra);
        ok(&args)
    };
    let single = tmp.path().join("single.csv");
    score(&single, &[]);
    let sharded = tmp.path().join("sharded.csv");
    let out = score(&sharded, &["--shards", "4", "--jobs", "2"]);
    assert!(out.contains("merged 9 rows"), "{out}");
    assert_eq!(std::fs::read(&sharded).unwrap(), std::fs::read(&single).unwrap());

    let search = |out: &Path, extra: &[&str]| {
        let args = tiny_sweep("3,5", out, extra);
        ok(&strs(&args))
    };
    let whole = tmp.path().join("sweep");
    let out = search(&whole, &[]);
    assert!(out.contains("2 seeds: NAS-Bench-201 cifar10_test_200ep"), "{out}");
    let seeds = std::fs::read_to_string(whole.join("seeds.csv")).unwrap();
    let genotype = std::fs::read_to_string(whole.join("seed-5/genotype.txt")).unwrap();
    assert!(seeds.lines().nth(2).unwrap().starts_with("5,") && seeds.contains(genotype.trim()), "{seeds}");
    let sharded = tmp.path().join("sharded-sweep");
    search(&sharded, &["--shards", "2"]);
    assert_eq!(std::fs::read(sharded.join("seeds.csv")).unwrap(), seeds.as_bytes());
}

/// `--dry-run` prints the job-array and merge scripts with every pass-through option and writes
/// nothing; it needs no Slurm.
#[test]
fn slurm_dry_run_prints_the_scripts_with_the_pass_through_options() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("gt.csv");
    let script = ok(&strs(&gt(
        "sample:8",
        1,
        &out,
        &[
            "--shards",
            "8",
            "--executor",
            "slurm",
            "--jobs",
            "3",
            "--partition",
            "gpu",
            "--account",
            "nas-lab",
            "--time",
            "2:00:00",
            "--mem",
            "16G",
            "--cpus-per-task",
            "4",
            "--gres",
            "gpu:1",
            "--qos",
            "normal",
            "--sbatch-line=--constraint=a100",
            "--sbatch-line",
            "--exclusive",
            "--signal",
            "USR1@300",
            "--requeue",
            "--module",
            "cuda/12.4",
            "--libtorch",
            "/opt/torch",
            "--chdir",
            tmp.path().to_str().unwrap(),
            "--setup",
            "source ~/venv/bin/activate",
            "--dry-run",
        ],
    )));
    let dir = format!("{}.shards", out.display());
    for line in [
        "#!/bin/bash -l".to_string(),
        "#SBATCH --job-name=oxnas-groundtruth".into(),
        "#SBATCH --array=0-7%3".into(),
        format!("#SBATCH --output={dir}/logs/shard-%a-job%A.out"),
        format!("#SBATCH --chdir={}", tmp.path().display()),
        "#SBATCH --partition=gpu".into(),
        "#SBATCH --account=nas-lab".into(),
        "#SBATCH --time=2:00:00".into(),
        "#SBATCH --mem=16G".into(),
        "#SBATCH --cpus-per-task=4".into(),
        "#SBATCH --gres=gpu:1".into(),
        "#SBATCH --qos=normal".into(),
        "#SBATCH --constraint=a100".into(),
        "#SBATCH --exclusive".into(),
        "#SBATCH --signal=B:USR1@300".into(),
        "#SBATCH --requeue".into(),
        "module load cuda/12.4".into(),
        "export LIBTORCH=/opt/torch".into(),
        "export LD_LIBRARY_PATH=\"$LIBTORCH/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}\"".into(),
        "source ~/venv/bin/activate".into(),
        format!("exec {} merge {dir}", env!("CARGO_BIN_EXE_oxnas")),
        "#SBATCH --dependency=afterok".into(),
    ] {
        let found = script.lines().any(|l| l == line)
            || (line.contains("dependency") && script.contains("--dependency=afterok"));
        assert!(found, "missing `{line}` in\n{script}");
    }
    let exec = script.lines().find(|l| l.starts_with("exec ") && l.contains("groundtruth")).unwrap();
    assert!(exec.ends_with("--shard \"$SLURM_ARRAY_TASK_ID/8\""), "{exec}");
    for launching in ["--shards", "--partition", "--executor", "--dry-run", "--jobs"] {
        assert!(!exec.contains(launching), "{launching} reached the task command: {exec}");
    }
    assert!(!Path::new(&dir).exists(), "a dry run writes nothing");
}
