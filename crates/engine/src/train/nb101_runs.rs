//! End-to-end runs of the NB101 presets: a cut-down run of each that must learn, and the full
//! presets (ignored; they time the preset comments' numbers:
//! `cargo test -p oxnas-engine --lib nb101_runs -- --ignored --nocapture`).

use crate::oneshot::train::SupernetTrainer;
use crate::progress::Quiet;
use crate::train::trainer::{Start, Trainer};
use oxnas_core::config::{ConfigFile, SupernetTrainConfig, TrainConfig};
use std::time::Instant;

fn train_config(extra: &[&str]) -> TrainConfig {
    let sets: Vec<String> =
        ["run.device=\"cpu\"", "run.threads=2"].iter().chain(extra).map(|s| s.to_string()).collect();
    TrainConfig::resolve("cpu-nb101", None, &sets).unwrap()
}

fn supernet_config(extra: &[&str]) -> SupernetTrainConfig {
    let sets: Vec<String> =
        ["run.device=\"cpu\"", "run.threads=2"].iter().chain(extra).map(|s| s.to_string()).collect();
    SupernetTrainConfig::resolve("cpu-nb101", None, &sets).unwrap()
}

#[test]
fn a_short_nb101_training_learns() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = train_config(&["model.channels=4", "data.train_limit=512", "data.test_limit=256", "optim.epochs=2"]);
    let s = Trainer::new(dir.path(), Start::Fresh(Box::new(cfg))).unwrap().run(&mut Quiet).unwrap();
    assert_eq!(s.history.len(), 2);
    // Ten classes: chance is 10%.
    assert!(s.final_eval.top1 > 20.0, "{:?}", s.final_eval);
}

#[test]
fn a_short_nb101_supernet_trains() {
    let dir = tempfile::tempdir().unwrap();
    let cfg =
        supernet_config(&["supernet.channels=2", "data.train_limit=256", "optim.epochs=2", "optim.batch_size=32"]);
    let epochs = SupernetTrainer::new(dir.path(), Some(cfg)).unwrap().run(&mut Quiet).unwrap();
    assert_eq!(epochs.len(), 2);
    assert!(epochs.iter().all(|e| e.train_loss.is_finite()));
}

#[test]
#[ignore = "the full presets take minutes"]
fn time_the_cpu_presets() {
    let dir = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let s = Trainer::new(&dir.path().join("train"), Start::Fresh(Box::new(train_config(&[]))))
        .unwrap()
        .run(&mut Quiet)
        .unwrap();
    eprintln!("train cpu-nb101: {:.0} s, test accuracy {:.2}%", t.elapsed().as_secs_f64(), s.final_eval.top1);
    let t = Instant::now();
    let e = SupernetTrainer::new(&dir.path().join("supernet"), Some(supernet_config(&[])))
        .unwrap()
        .run(&mut Quiet)
        .unwrap();
    eprintln!("supernet cpu-nb101: {:.0} s, last epoch {:?}", t.elapsed().as_secs_f64(), e.last());
}
