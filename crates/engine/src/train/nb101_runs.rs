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
    // 16 steps are too few to leave chance accuracy behind, but the training loss must fall.
    assert!(s.history[1].train_loss < s.history[0].train_loss, "{:?}", s.history);
    assert!(s.final_eval.loss.is_finite());
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

/// Training images per second of one epoch over the first 1,024 images of a preset.
fn train_speed(preset: &str) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let sets: Vec<String> =
        ["run.device=\"cpu\"", "run.threads=2", "data.train_limit=1024", "data.test_limit=64", "optim.epochs=1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
    let cfg = TrainConfig::resolve(preset, None, &sets).unwrap();
    let s = Trainer::new(dir.path(), Start::Fresh(Box::new(cfg))).unwrap().run(&mut Quiet).unwrap();
    s.history[0].images_per_s
}

fn supernet_speed(preset: &str) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let sets: Vec<String> = ["run.device=\"cpu\"", "run.threads=2", "data.train_limit=2048", "optim.epochs=1"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let cfg = SupernetTrainConfig::resolve(preset, None, &sets).unwrap();
    SupernetTrainer::new(dir.path(), Some(cfg)).unwrap().run(&mut Quiet).unwrap()[0]
        .images_per_s
        .expect("image supernets log images/s")
}

/// The preset comments' times, relative to presets whose times are known (cpu-smoke: about a minute;
/// cpu-darts: a few minutes), measured in the same build on the same machine.
#[test]
#[ignore = "minutes of training"]
fn time_the_cpu_presets() {
    let t = Instant::now();
    let (smoke, nb101) = (train_speed("cpu-smoke"), train_speed("cpu-nb101"));
    eprintln!("train images/s: cpu-smoke {smoke:.0}, cpu-nb101 {nb101:.0}");
    let (darts, nb101) = (supernet_speed("cpu-darts"), supernet_speed("cpu-nb101"));
    eprintln!(
        "supernet images/s: cpu-darts {darts:.0}, cpu-nb101 {nb101:.0} ({:.0} s in all)",
        t.elapsed().as_secs_f64()
    );
}
