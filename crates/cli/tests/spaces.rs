//! The ranking study on the DARTS CIFAR-10 space as a user runs it, at sizes that fit CI: single-path
//! supernet training (killed and resumed), scoring, a ground truth of our own keyed by genotype, the
//! join in `oxnas rank`, and the errors for architectures of the wrong space.

mod common;
use common::*;

use std::path::Path;
use std::process::{Command, Stdio};

const TINY_IMAGES: &str = "[{kind=\"resize\",size=12},{kind=\"to_float\"}]";

/// `supernet train --preset cpu-darts` at C=2, 3 cells, 192 images at 12x12, one thread.
fn darts_supernet(out: &Path, epochs: usize) -> Vec<String> {
    let sets = [
        "supernet.channels=2".to_string(),
        "supernet.layers=3".into(),
        "data.train_limit=192".into(),
        "optim.batch_size=32".into(),
        "run.threads=1".into(),
        format!("data.train_transform={TINY_IMAGES}"),
        format!("data.eval_transform={TINY_IMAGES}"),
    ];
    let mut args: Vec<String> =
        ["supernet", "train", "--preset", "cpu-darts", "--device", "cpu"].into_iter().map(String::from).collect();
    for s in sets {
        args.extend(["--set".to_string(), s]);
    }
    args.extend(["--epochs".to_string(), epochs.to_string(), "--out".to_string(), out.display().to_string()]);
    args
}

/// `groundtruth --space SPACE` on CPU with one thread for the architectures in `archs`, into `out`.
fn groundtruth_args(space: &str, archs: &Path, sets: &[&str], out: &Path) -> Vec<String> {
    let mut args: Vec<String> =
        ["groundtruth", "--space", space, "--archs", archs.to_str().unwrap()].map(String::from).to_vec();
    for s in sets.iter().chain(&["run.device=\"cpu\"", "run.threads=1"]) {
        args.extend(["--set".to_string(), s.to_string()]);
    }
    args.extend(["--out".to_string(), out.display().to_string()]);
    args
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn score(run: &Path, archs: &str, out: &Path) -> String {
    let run = run.to_str().unwrap();
    let out = out.to_str().unwrap();
    ok(&["supernet", "score", "--run", run, "--archs", archs, "--eval-images", "64", "--device", "cpu", "--out", out])
}

/// Kills `args`' process (SIGKILL, as kill -9) once `marker` exists.
fn kill_when(args: &[String], marker: &Path) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_oxnas"))
        .args(args)
        .env("OMP_NUM_THREADS", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while !marker.exists() {
        assert!(start.elapsed().as_secs() < 300, "{} never appeared", marker.display());
        assert!(child.try_wait().unwrap().is_none(), "the run ended before it could be killed");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn darts_single_path_study_resumes_scores_and_ranks() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full");
    ok(&strs(&darts_supernet(&full, 3)));
    // kill -9 after the first epoch's checkpoint, then --resume: the same log and the same scores.
    let cut = dir.path().join("cut");
    kill_when(&darts_supernet(&cut, 3), &cut.join("checkpoints/last.safetensors"));
    assert!(lines_without_times(&cut.join("supernet.jsonl")).len() < 3, "the run finished before the kill");
    ok(&["supernet", "train", "--resume", cut.to_str().unwrap()]);
    assert_eq!(lines_without_times(&cut.join("supernet.jsonl")), lines_without_times(&full.join("supernet.jsonl")));
    let (a, b) = (dir.path().join("a.csv"), dir.path().join("b.csv"));
    let out = score(&full, "sample:6", &a);
    assert!(out.contains("scored 6 architectures") && out.contains("--space darts"), "{out}");
    score(&cut, "sample:6", &b);
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap(), "resumed supernet scores differently");
    let csv = std::fs::read_to_string(&a).unwrap();
    assert_eq!(csv.lines().next(), Some("arch_str,score,loss"));
    assert!(csv.lines().skip(1).all(|l| l.starts_with("\"Genotype(normal=[")), "{csv}");

    // A ground truth of our own for 2 of them (keyed by the genotype's MD5), then the join.
    let gt = dir.path().join("gt.csv");
    let two = dir.path().join("two.csv");
    std::fs::write(&two, csv.lines().take(3).collect::<Vec<_>>().join("\n")).unwrap();
    let gt_args = groundtruth_args(
        "darts",
        &two,
        &["optim.epochs=1", "model.channels=2", "model.layers=3", "data.train_limit=64", "data.test_limit=32"],
        &gt,
    );
    ok(&strs(&gt_args));
    let truth = std::fs::read_to_string(&gt).unwrap();
    assert_eq!(truth.lines().next(), Some("key,arch_str,accuracy,top5,params,epochs"), "{truth}");
    assert_eq!(truth.lines().count(), 3, "{truth}");
    let v =
        json(&["rank", "--space", "darts", "--scores", a.to_str().unwrap(), "--truth", gt.to_str().unwrap(), "--json"]);
    assert_eq!(v["rank"]["n"], 2, "{v}");

    // Architectures of another space are refused with the space named.
    let nb201 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|";
    let err = fails(&["supernet", "score", "--run", full.to_str().unwrap(), "--archs", nb201, "--device", "cpu"]);
    assert!(err.contains("darts"), "{err}");
    let wrong = dir.path().join("nb201-scores.csv");
    std::fs::write(&wrong, format!("index,arch_str,score\n6111,{nb201},90.0\n")).unwrap();
    let err =
        fails(&["rank", "--space", "darts", "--scores", wrong.to_str().unwrap(), "--truth", gt.to_str().unwrap()]);
    assert!(err.contains("not an index of the darts space"), "{err}");
    std::fs::write(&wrong, format!("arch_str,score\n{nb201},90.0\n")).unwrap();
    let err =
        fails(&["rank", "--space", "darts", "--scores", wrong.to_str().unwrap(), "--truth", gt.to_str().unwrap()]);
    assert!(err.contains("is not a darts architecture") && err.contains("nor_conv_3x3"), "{err}");
}

/// The benchmark's README cell, stored in the fixture as an isomorph; 3 runs at 108 epochs, 2 at 36.
const README_CELL: &str = r#"{"matrix": [[0,1,1,1,0,1,0],[0,0,0,0,0,0,1],[0,0,0,0,0,0,1],[0,0,0,0,1,0,0],[0,0,0,0,0,0,1],[0,0,0,0,0,0,1],[0,0,0,0,0,0,0]], "ops": ["input","conv1x1-bn-relu","conv3x3-bn-relu","conv3x3-bn-relu","conv3x3-bn-relu","maxpool3x3","output"]}"#;

#[test]
fn nb101_import_query_and_rank_against_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../core/tests/fixtures/nb101-sample.tfrecord");
    let src = dir.path().join("nasbench_only108.tfrecord");
    std::fs::copy(&fixture, &src).unwrap();
    let out = ok(&["bench", "import", "nb101", src.to_str().unwrap()]);
    assert!(out.contains("imported 8 records: 2 cells, budgets [36, 108] epochs, up to 3 repeats; 298 bytes"), "{out}");
    let table = dir.path().join("nasbench_only108.oxnb101");
    let t = table.to_str().unwrap();

    let by_cell = json(&["bench", "query", "--space", "nb101", "--nb101-table", t, README_CELL, "--json"]);
    assert_eq!(by_cell["hash"], "28cfc7874f6d200472e1a9dcd8650aa0");
    assert_eq!(by_cell["trainable_parameters"], 2_694_282);
    assert_eq!(by_cell["budgets"][1]["epochs"], 108);
    assert_eq!(by_cell["budgets"][1]["runs"].as_array().unwrap().len(), 3);
    let by_hash =
        json(&["bench", "query", "--space", "nb101", "--nb101-table", t, "28CFC7874F6D200472E1A9DCD8650AA0", "--json"]);
    assert_eq!(by_hash, by_cell);
    let text = ok(&["bench", "query", "--space", "nb101", "--nb101-table", t, ":1"]);
    assert!(text.contains("043721b9c7fe8c5fad811d47d83132ec") && text.contains("108 epochs, 3 runs"), "{text}");

    let err = fails(&["bench", "query", "--space", "nb101", README_CELL]);
    assert!(err.contains("--nb101-table") && err.contains("bench import nb101"), "{err}");
    let err = fails(&["bench", "query", "--space", "nb101", "--nb101-table", t, "3:11/1"]);
    assert!(err.contains("is not in") && err.contains("2 cells"), "{err}");
    let err = fails(&["bench", "query", "--space", "nb101", "--nb101-table", t, "3:11/2"]);
    assert!(err.contains("neither a module hash nor a NAS-Bench-101 cell"), "{err}");

    // A flipped byte in a record and a cut-off file are refused with the record named.
    let mut bytes = std::fs::read(&fixture).unwrap();
    bytes[40] ^= 0x10;
    std::fs::write(&src, &bytes).unwrap();
    let err = fails(&["bench", "import", "nb101", src.to_str().unwrap(), "--out", t]);
    assert!(err.contains("record 1") && err.contains("CRC"), "{err}");
    let good = std::fs::read(&fixture).unwrap();
    std::fs::write(&src, &good[..good.len() - 5]).unwrap();
    let err = fails(&["bench", "import", "nb101", src.to_str().unwrap(), "--out", t]);
    assert!(err.contains("truncated"), "{err}");
    // The failed imports left the earlier table as it was.
    assert_eq!(json(&["bench", "query", "--space", "nb101", "--nb101-table", t, README_CELL, "--json"]), by_cell);

    // Scores of NB101 cells rank against the table's 108-epoch means.
    let scores = dir.path().join("scores.csv");
    std::fs::write(
        &scores,
        format!("arch_str,score\n{},0.9\n:1,0.5\n3:11/1,0.7\n", "1333m:111010/00001/0001/100/01/1"),
    )
    .unwrap();
    let v = json(&[
        "rank",
        "--space",
        "nb101",
        "--scores",
        scores.to_str().unwrap(),
        "--truth",
        &format!("nb101:{t}"),
        "--json",
    ]);
    assert_eq!(v["rank"]["n"], 2, "{v}");
    let err =
        fails(&["rank", "--space", "darts", "--scores", scores.to_str().unwrap(), "--truth", &format!("nb101:{t}")]);
    assert!(err.contains("darts"), "{err}");
}

/// One space's whole study at toy size: supernet (1 epoch), 3 scores, 2 standalone truths, rank.
fn tiny_study(space: &str, supernet_sets: &[&str], model_sets: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("sn");
    let common = ["data.train_limit=64", "optim.batch_size=32", "run.threads=1"];
    let mut args: Vec<String> = ["supernet", "train", "--preset", &format!("cpu-{space}"), "--device", "cpu"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for s in supernet_sets.iter().chain(&common) {
        args.extend(["--set".into(), s.to_string()]);
    }
    args.extend(["--epochs", "1", "--out", run.to_str().unwrap()].map(String::from));
    ok(&strs(&args));
    let scores = dir.path().join("scores.csv");
    let out = score(&run, "sample:3", &scores);
    assert!(out.contains("scored 3 architectures"), "{space}: {out}");
    let two = dir.path().join("two.csv");
    let csv = std::fs::read_to_string(&scores).unwrap();
    std::fs::write(&two, csv.lines().take(3).collect::<Vec<_>>().join("\n")).unwrap();
    let gt = dir.path().join("gt.csv");
    let sets: Vec<&str> =
        model_sets.iter().chain(&["optim.epochs=1", "data.test_limit=32"]).chain(&common).copied().collect();
    ok(&strs(&groundtruth_args(space, &two, &sets, &gt)));
    let truth = std::fs::read_to_string(&gt).unwrap();
    assert_eq!(truth.lines().count(), 3, "{space}: {truth}");
    // At toy size every network may sit at chance, and ranking refuses all-equal values; the files'
    // keys are what is under test here, so the values are made distinct (3, 2, 1 and 10, 20).
    distinct_last(&scores, 2, &[3.0, 2.0, 1.0]);
    distinct_last(&gt, 4, &[10.0, 20.0]);
    let v = json(&[
        "rank",
        "--space",
        space,
        "--scores",
        scores.to_str().unwrap(),
        "--truth",
        gt.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(v["rank"]["n"], 2, "{space}: {v}");
    assert_eq!(v["rank"]["kendall_tau_b"], -1.0, "{space}: {v}");
}

/// Replaces, in each data row of a CSV, the field `from_end` places before the end (1 = the last)
/// with the next of `values`.
fn distinct_last(csv: &Path, from_end: usize, values: &[f64]) {
    let text = std::fs::read_to_string(csv).unwrap();
    let mut lines = text.lines();
    let mut out = vec![lines.next().unwrap().to_string()];
    for (line, v) in lines.zip(values) {
        let mut fields: Vec<&str> = line.rsplitn(from_end + 1, ',').collect();
        fields.reverse();
        let value = v.to_string();
        fields[1] = &value;
        out.push(fields.join(","));
    }
    std::fs::write(csv, out.join("\n") + "\n").unwrap();
}

#[test]
fn nb101_study_at_toy_size() {
    tiny_study("nb101", &["supernet.channels=2"], &["model.channels=4"]);
}

#[test]
fn proxyless_study_at_toy_size() {
    tiny_study("proxyless", &[], &[]);
}
