//! `oxnas lm train` as a user runs it: a language model on a corpus in Penn Treebank form, killed with
//! SIGKILL and resumed to the same metrics, and the errors for bad genotypes and corpora.

mod common;
use common::*;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A PTB-form corpus of `lines` 10-word lines per split, drawn from 40 words with a little structure
/// (each word tends to be followed by the next one), so that a model has something to learn.
fn corpus(dir: &Path, lines: usize) -> PathBuf {
    let data = dir.join("ptb");
    std::fs::create_dir_all(&data).unwrap();
    let mut state = 7u64;
    let mut next = || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 33) as usize
    };
    for split in ["train", "valid", "test"] {
        let n = if split == "train" { lines } else { lines / 4 };
        let mut text = String::new();
        for _ in 0..n {
            let mut w = next() % 40;
            for _ in 0..10 {
                text.push_str(&format!("w{w} "));
                w = if next() % 3 == 0 { next() % 40 } else { (w + 1) % 40 };
            }
            text.push('\n');
        }
        std::fs::write(data.join(format!("ptb.{split}.txt")), text).unwrap();
    }
    data
}

fn lm_args(data: &Path, epochs: usize, out: &Path) -> Vec<String> {
    let mut args: Vec<String> = ["lm", "train", "--device", "cpu", "--data-dir"].map(String::from).to_vec();
    args.push(data.display().to_string());
    for s in ["model.hidden=12", "optim.batch_size=8", "optim.bptt=10", "optim.test_batch_size=4", "run.threads=1"] {
        args.extend(["--set".to_string(), s.to_string()]);
    }
    args.extend(["--epochs".to_string(), epochs.to_string(), "--out".to_string(), out.display().to_string()]);
    args
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn metrics(run: &Path) -> Vec<serde_json::Value> {
    lines_without_times(&run.join("metrics.jsonl"))
        .into_iter()
        .map(|mut v| {
            v["tokens_per_s"] = 0.into();
            v
        })
        .collect()
}

#[test]
fn lm_train_learns_survives_kill_9_and_resumes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let data = corpus(dir.path(), 600);
    let full = dir.path().join("full");
    let out = ok(&strs(&lm_args(&data, 6, &full)));
    assert!(out.contains("test perplexity"), "{out}");
    let m = metrics(&full);
    assert_eq!(m.len(), 6);
    // 40 words: a uniform guess has perplexity 40 (plus <eos>); the structure brings it well below.
    let last = m[5]["valid_ppl"].as_f64().unwrap();
    assert!(last < 30.0 && last < m[0]["valid_ppl"].as_f64().unwrap(), "{m:?}");
    for f in ["genotype.txt", "genotype.json", "curves.png", "summary.json", "checkpoints/best.safetensors"] {
        assert!(full.join(f).is_file(), "{f} is missing");
    }
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(full.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["vocab"], 41, "40 words and <eos>");

    let cut = dir.path().join("cut");
    let mut child = Command::new(env!("CARGO_BIN_EXE_oxnas"))
        .args(lm_args(&data, 6, &cut))
        .env("OMP_NUM_THREADS", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let marker = cut.join("checkpoints/last.safetensors");
    let start = std::time::Instant::now();
    while !marker.exists() {
        assert!(start.elapsed().as_secs() < 300, "no checkpoint appeared");
        assert!(child.try_wait().unwrap().is_none(), "the run ended before it could be killed");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(metrics(&cut).len() < 6, "the run finished before the kill");
    ok(&["lm", "train", "--resume", cut.to_str().unwrap()]);
    assert_eq!(metrics(&cut), m, "the resumed run differs from the uninterrupted one");
    let msg = fails(&["train", "--resume", cut.to_str().unwrap()]);
    assert!(msg.contains("language-model run") && msg.contains("oxnas lm train --resume"), "{msg}");
}

#[test]
fn lm_train_refuses_bad_genotypes_and_corpora_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o = out.to_str().unwrap();
    let msg =
        fails(&["lm", "train", "--genotype", "Genotype(recurrent=[('swish', 0)], concat=range(1, 2))", "--out", o]);
    assert!(msg.contains("model.genotype") && msg.contains("swish"), "{msg}");
    let msg = fails(&["lm", "train", "--genotype", "DARTS_V9", "--out", o]);
    assert!(msg.contains("model.genotype") && msg.contains("DARTS_V2"), "{msg}");
    let cnn = "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1)], normal_concat=[2], \
               reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1)], reduce_concat=[2])";
    let msg = fails(&["lm", "train", "--genotype", cnn, "--out", o]);
    assert!(msg.contains("CNN") || msg.contains("convolutional"), "{msg}");
    let msg = fails(&["lm", "train", "--data-dir", dir.path().join("none").to_str().unwrap(), "--out", o]);
    assert!(msg.contains("no train file in") && msg.contains("ptb.train.txt"), "{msg}");
    let data = corpus(dir.path(), 40);
    std::fs::write(data.join("ptb.test.txt"), "").unwrap();
    let msg =
        fails(&["lm", "train", "--data-dir", data.to_str().unwrap(), "--out", dir.path().join("r2").to_str().unwrap()]);
    assert!(msg.contains("ptb.test.txt") && msg.contains("holds no words"), "{msg}");
    let msg = fails(&["lm", "train", "--set", "optim.momentum=0.9", "--out", o]);
    assert!(msg.contains("momentum"), "{msg}");
}

#[test]
fn arch_genotypes_lists_both_darts_spaces() {
    let cnn = ok(&["arch", "genotypes"]);
    assert!(cnn.contains("DARTS_V2 = Genotype(normal=[('sep_conv_3x3', 0)"), "{cnn}");
    let rnn = ok(&["arch", "genotypes", "--space", "darts-rnn"]);
    // The reference's rnn/genotypes.py DARTS_V2, printed as Python prints it.
    assert!(rnn.contains(
        "DARTS_V2 = Genotype(recurrent=[('sigmoid', 0), ('relu', 1), ('relu', 1), ('identity', 1), ('tanh', 2), \
         ('sigmoid', 5), ('tanh', 3), ('relu', 5)], concat=range(1, 9))"
    ));
    assert_eq!(rnn.lines().count(), 4, "{rnn}");
    let v = json(&["arch", "genotypes", "--space", "darts-rnn", "--json"]);
    assert_eq!(v["ENAS"]["concat"], serde_json::json!([2, 5, 6, 9, 10, 11]));
    assert_eq!(v["DARTS_V1"]["recurrent"][0], serde_json::json!(["relu", 0]));
}

/// The recurrent pipeline as a user runs it: SGAS on the recurrent cell (one node per decision), the
/// genotype, and `--then-train` retraining it as a language model to a test perplexity.
#[test]
fn search_then_retrain_a_recurrent_cell() {
    let dir = tempfile::tempdir().unwrap();
    let data = corpus(dir.path(), 100);
    let run = dir.path().join("search");
    let mut args: Vec<String> =
        ["search", "--preset", "cpu-darts-rnn", "--device", "cpu", "--data-dir"].map(String::from).to_vec();
    args.push(data.display().to_string());
    for s in [
        "supernet.hidden=8",
        "optim.batch_size=8",
        "data.bptt=10",
        "run.eval_batch_size=4",
        "run.threads=1",
        "hessian.iters=5",
    ] {
        args.extend(["--set".to_string(), s.to_string()]);
    }
    args.extend(["--out".to_string(), run.display().to_string(), "--then-train".into(), "cpu-darts-rnn".into()]);
    for s in ["model.hidden=12", "optim.batch_size=8", "optim.bptt=10", "optim.test_batch_size=4", "optim.epochs=2"] {
        args.extend(["--train-set".to_string(), s.to_string()]);
    }
    let out = ok(&strs(&args));
    let genotype = std::fs::read_to_string(run.join("genotype.txt")).unwrap();
    assert!(genotype.starts_with("Genotype(recurrent=[(") && genotype.contains("concat=range(1, 9)"), "{genotype}");
    assert!(out.contains(genotype.trim()) && out.contains("test perplexity"), "{out}");
    let trace = lines_without_times(&run.join("search.jsonl"));
    assert_eq!(trace.len(), 10);
    let decided: usize = trace.iter().map(|e| e["decisions"].as_array().unwrap().len()).sum();
    assert_eq!(decided, 8, "one decision per node");
    assert!(trace.iter().all(|e| e["valid_ppl"].as_f64().is_some() && e["lambda_max"].as_f64().is_some()));
    let retrained = std::fs::read_to_string(run.join("retrain/genotype.txt")).unwrap();
    assert_eq!(retrained, genotype, "the retraining trains the found cell");
    assert_eq!(metrics(&run.join("retrain")).len(), 2);
    assert!(run.join("cell.png").is_file() && run.join("lambda.png").is_file());

    // An image key in a text search is named, before anything runs.
    let e = fails(&[
        "search",
        "--preset",
        "cpu-darts-rnn",
        "--set",
        "data.dataset=\"cifar10\"",
        "--out",
        &dir.path().join("x").display().to_string(),
    ]);
    assert!(e.contains("both `dataset` (images) and `bptt` (text)"), "{e}");
}

/// The DARTS-PTB ranking study as examples/rank-darts-rnn.sh runs it, at toy size: a single-path
/// supernet on a corpus in PTB form, genotypes scored by validation perplexity with inherited
/// weights, retrained standalone (test perplexity), and ranked with both directions lower-is-better
/// taken from the space; the output says which directions were used.
#[test]
fn ranking_study_on_the_recurrent_space() {
    let dir = tempfile::tempdir().unwrap();
    let data = corpus(dir.path(), 100);
    let run = dir.path().join("supernet");
    let mut args: Vec<String> =
        ["supernet", "train", "--preset", "cpu-darts-rnn", "--device", "cpu", "--data-dir"].map(String::from).to_vec();
    args.push(data.display().to_string());
    for s in ["supernet.hidden=8", "optim.batch_size=8", "data.bptt=10", "run.eval_batch_size=4", "run.threads=1"] {
        args.extend(["--set".to_string(), s.to_string()]);
    }
    args.extend(["--epochs", "2", "--out"].map(String::from));
    args.push(run.display().to_string());
    let out = ok(&strs(&args));
    assert!(out.contains("final train perplexity"), "{out}");
    let log = lines_without_times(&run.join("supernet.jsonl"));
    assert!(log.iter().all(|e| e["train_ppl"].as_f64().is_some() && e.get("train_acc").is_none()), "{log:?}");

    let scores = dir.path().join("scores.csv");
    let r = run.display().to_string();
    let s = scores.display().to_string();
    let base = ["supernet", "score", "--run", &r, "--archs", "sample:5", "--device", "cpu", "--threads", "1"];
    ok(&[&base[..], &["--bn", "recalibrate", "--recal-batches", "2", "--out", &s]].concat());
    let table = std::fs::read_to_string(&scores).unwrap();
    assert_eq!(table.lines().count(), 6, "{table}");
    assert!(table.lines().skip(1).all(|l| l.starts_with("\"Genotype(recurrent=[(")), "{table}");

    let truth = dir.path().join("truth.csv");
    let t = truth.display().to_string();
    let d = format!("data.data_dir={:?}", data.display().to_string());
    let mut gt = vec!["groundtruth", "--space", "darts-rnn", "--archs", &s, "--out", &t, "--set", &d];
    for set in [
        "model.hidden=8",
        "optim.batch_size=8",
        "optim.bptt=10",
        "optim.eval_batch_size=4",
        "optim.test_batch_size=4",
        "optim.epochs=1",
        "run.threads=1",
    ] {
        gt.extend(["--set", set]);
    }
    ok(&gt);
    let rows = std::fs::read_to_string(&truth).unwrap();
    assert!(rows.starts_with("key,arch_str,test_ppl,valid_ppl,params,epochs\n"), "{rows}");
    assert_eq!(rows.lines().count(), 6, "{rows}");

    let ranked = oxnas(&["rank", "--space", "darts-rnn", "--scores", &s, "--truth", &t, "-k", "1,3"]);
    assert!(ranked.status.success(), "{}", String::from_utf8_lossy(&ranked.stderr));
    let (stdout, stderr) = (String::from_utf8_lossy(&ranked.stdout), String::from_utf8_lossy(&ranked.stderr));
    assert!(
        stdout.contains("score: lower is better; truth: lower is better") && stdout.contains("test_ppl"),
        "{stdout}"
    );
    assert!(stderr.contains("score lower is better (the darts-rnn space's perplexity)"), "{stderr}");
    let given = oxnas(&["rank", "--space", "darts-rnn", "--scores", &s, "--truth", &t, "--score-better", "higher"]);
    assert!(String::from_utf8_lossy(&given.stderr).contains("score higher is better (as given)"));

    // A [split] belongs to image data.
    let e = fails(&["supernet", "train", "--preset", "cpu-darts-rnn", "--set", "split.train_portion=0.5"]);
    assert!(e.contains("remove [split]"), "{e}");
}
