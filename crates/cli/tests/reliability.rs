//! A run owns its directory, leaves no debris, and survives a full disk (issue 15): the binary as a
//! careless user and a hostile environment would drive it.

mod common;
use common::*;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn smoke(out: &Path, epochs: usize, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "train",
        "--preset",
        "cpu-smoke",
        "--device",
        "cpu",
        "--set",
        "model.channels=4",
        "--set",
        "data.train_limit=320",
        "--set",
        "data.test_limit=100",
        "--set",
        "run.threads=1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend(["--epochs".into(), epochs.to_string(), "--out".into(), out.display().to_string()]);
    args
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn wait_for(what: &str, child: &mut std::process::Child, ready: impl Fn() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < Duration::from_secs(300), "timed out waiting for {what}");
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the first run ended ({status}) before {what}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every temporary file of an atomic write (`.<name>.<pid>.tmp`) under `dir`.
fn temp_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(temp_files(&path));
        } else if path.file_name().unwrap().to_string_lossy().ends_with(".tmp") {
            out.push(path);
        }
    }
    out
}

#[test]
fn a_second_run_on_the_same_out_is_refused_and_a_dead_holders_lock_is_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let stderr = std::fs::File::create(dir.path().join("first.err")).unwrap();
    let mut first = Command::new(env!("CARGO_BIN_EXE_oxnas"))
        .args(smoke(&out, 3, &["--set", "run.threads=100000"]))
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let pid = first.id().to_string();
    let lock = out.join(".oxnas.lock");
    wait_for("the lock", &mut first, || std::fs::read_to_string(&lock).is_ok_and(|t| t.trim() == pid));

    // While the first run lives, neither a fresh run nor a resume may touch its directory.
    let holder = format!("PID {pid}");
    let e = fails(&strs(&smoke(&out, 3, &[])));
    assert!(e.contains(&holder) && e.contains("in use"), "{e}");
    let e = fails(&["train", "--resume", out.to_str().unwrap()]);
    assert!(e.contains(&holder), "{e}");
    // Another kind of run is told what the directory holds.
    let e = fails(&["search", "--preset", "cpu-demo", "--out", out.to_str().unwrap()]);
    assert!(e.contains("holds a training run") && e.contains("oxnas train --resume"), "{e}");

    // kill -9 after the first checkpoint: the kernel drops the lock, and --resume takes it over.
    wait_for("a checkpoint", &mut first, || out.join("checkpoints/last.safetensors").exists());
    first.kill().unwrap();
    first.wait().unwrap();
    let done = oxnas(&["train", "--resume", out.to_str().unwrap()]);
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    assert_eq!(std::fs::read_to_string(out.join("metrics.jsonl")).unwrap().lines().count(), 3);
    assert!(temp_files(&out).is_empty(), "{:?}", temp_files(&out));

    // run.threads above the cores was capped with a notice, not obeyed.
    let first_err = std::fs::read_to_string(dir.path().join("first.err")).unwrap();
    assert!(first_err.contains("run.threads = 100000 is more than the"), "{first_err}");
}

#[test]
fn a_non_empty_foreign_directory_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("metrics.jsonl"), "mine\n").unwrap();
    let e = fails(&strs(&smoke(dir.path(), 1, &[])));
    assert!(e.contains("not an oxnas run directory") && e.contains("metrics.jsonl"), "{e}");
    assert_eq!(std::fs::read_to_string(dir.path().join("metrics.jsonl")).unwrap(), "mine\n");
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 1, "nothing was written: {names:?}");
    let e = fails(&["train", "--resume", dir.path().to_str().unwrap()]);
    assert!(e.contains("no config.toml"), "{e}");
}

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, bytes: u64) -> Tmpfs {
        std::fs::create_dir_all(at).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs", at.to_str().unwrap()])
            .output()
            .expect("the mount command runs");
        assert!(
            out.status.success(),
            "this test needs to mount a small tmpfs (run the tests as root, or where mount -t tmpfs is allowed): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs(at.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Fill the disk, run, free space, resume: the result equals an uninterrupted run, and no failed
/// write leaves its temporary file behind to keep the disk full.
#[test]
fn a_full_disk_leaves_no_debris_and_resume_after_freeing_space_equals_an_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full");
    ok(&strs(&smoke(&full, 3, &[])));
    let ckpt = std::fs::metadata(full.join("checkpoints/last.safetensors")).unwrap().len();

    // Room for the small files plus 2.5 checkpoints: epoch 1 writes last and best, epoch 2 needs a
    // third copy (the temp file beside the old last) and runs out of space.
    let page = 4096;
    let room = ckpt * 5 / 2 + 16 * page;
    let size = (ckpt * 4 + 64 * page) / page * page;
    let disk = Tmpfs::mount(&dir.path().join("disk"), size);
    let filler = disk.0.join("filler");
    std::fs::write(&filler, vec![0u8; (size - room) as usize]).unwrap();

    let cut = disk.0.join("cut");
    let first = oxnas(&strs(&smoke(&cut, 3, &[])));
    let e = String::from_utf8_lossy(&first.stderr);
    assert!(!first.status.success(), "the run should have hit the full disk");
    assert!(e.contains("No space left on device"), "{e}");
    assert!(temp_files(&cut).is_empty(), "a failed write left {:?}", temp_files(&cut));
    assert!(cut.join("checkpoints/last.safetensors").exists(), "epoch 1 should have fitted");

    // Resuming on the still-full disk fails the same way, again without debris.
    let again = oxnas(&["train", "--resume", cut.to_str().unwrap()]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("No space left on device"));
    assert!(temp_files(&cut).is_empty(), "a failed resume left {:?}", temp_files(&cut));

    std::fs::remove_file(&filler).unwrap();
    ok(&["train", "--resume", cut.to_str().unwrap()]);
    assert_eq!(lines_without_times(&cut.join("metrics.jsonl")), lines_without_times(&full.join("metrics.jsonl")));
    let summary = |d: &Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(d.join("summary.json")).unwrap()).unwrap()
    };
    let (a, b) = (summary(&full), summary(&cut));
    assert_eq!((&a["final"], &a["per_class_acc"], &a["best"]), (&b["final"], &b["per_class_acc"], &b["best"]));
    assert!(temp_files(&cut).is_empty());
}

#[test]
fn config_mistakes_name_the_key_the_file_or_the_conflict() {
    let e = fails(&["train", "--set", "optim.lr=abc", "--out", "/nonexistent/x"]);
    assert!(e.contains("optim.lr: expected a number, got \"abc\""), "{e}");
    let e = fails(&["train", "--config", "/nonexistent/o.toml", "--out", "/nonexistent/x"]);
    assert!(e.contains("/nonexistent/o.toml") && e.contains("file not found"), "{e}");
    let e = fails(&["train", "--preset", "/nonexistent/p.toml", "--out", "/nonexistent/x"]);
    assert!(e.contains("/nonexistent/p.toml") && e.contains("file not found"), "{e}");
    let e = fails(&["train", "--arch", "1835", "--genotype", "DARTS_V2", "--out", "/nonexistent/x"]);
    assert!(e.contains("--arch") && e.contains("--genotype") && e.contains("cannot be used with"), "{e}");
}

#[test]
fn rank_refuses_what_it_cannot_rank_and_names_paths() {
    let dir = tempfile::tempdir().unwrap();
    let scores = dir.path().join("s.csv");
    let rows = [1835, 6111, 9930]
        .iter()
        .enumerate()
        .map(|(i, &idx)| {
            let arch = oxnas_core::nb201::Nb201Arch::from_index(idx).unwrap();
            format!("{idx},{arch},{}.0,\n", i + 1)
        })
        .collect::<String>();
    std::fs::write(&scores, format!("index,arch_str,score,loss\n{rows}")).unwrap();
    let s = scores.to_str().unwrap();
    let e = fails(&["rank", "--scores", s, "-k", "5"]);
    assert!(e.contains("-k 5") && e.contains("1 to 3"), "{e}");
    let e = fails(&["rank", "--scores", s, "-k", "0"]);
    assert!(e.contains("-k 0"), "{e}");
    let e = fails(&["rank", "--scores", s, "--out", "/dev/null/report"]);
    assert!(e.contains("/dev/null/report"), "{e}");
    let truth = dir.path().join("t.csv");
    std::fs::write(&truth, "index,accuracy\n1,50\n2,60\n").unwrap();
    let e = fails(&["rank", "--scores", s, "--truth", truth.to_str().unwrap()]);
    assert!(e.contains("share no rows"), "{e}");
    let out = ok(&["rank", "--scores", s, "--out", dir.path().join("r").to_str().unwrap()]);
    assert!(out.contains("too few cells (3) to call a bias"), "{out}");
    assert!(!out.contains("the supernet favours"), "{out}");
}
