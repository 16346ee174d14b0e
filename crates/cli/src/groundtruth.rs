//! `oxnas groundtruth`: train cells standalone with a short recipe and append each result to a CSV,
//! building a ground-truth table on a dataset NAS-Bench-201 does not cover.
//!
//! One architecture is one independent job, so the work spreads over processes or a cluster by
//! splitting the list: `--shard I/N` trains one block of it, `--shards N --executor local|slurm`
//! launches all blocks and merges them (docs/cluster.md). Each cell trains in its own run directory,
//! so a killed job resumes mid-cell; finished cells are skipped by reading the CSV.

use crate::jobs;
use crate::shard::{Mode, ShardArgs};
use crate::signals::{self, StopOnSignal};
use crate::spaces::SpaceArg;
use anyhow::{bail, Context, Result};
use clap::Args;
use oxnas_core::config::{ConfigFile, LmTrainConfig, TrainConfig};
use oxnas_core::oneshot::{Metric, RankSpace};
use oxnas_core::rank::scores::csv_field;
use oxnas_core::shard::{append_row, read_rows, ShardDir, ShardMeta};
use oxnas_engine::lm::LmTrainer;
use oxnas_engine::rundir::RunFiles;
use oxnas_engine::train::{Start, Trainer};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// NAS-Bench-201's rows are keyed by the benchmark index.
pub const HEADER: &str = "index,arch_str,accuracy,top5,params,epochs";
/// Spaces without benchmark indices key their rows by a hash of the canonical string (the first 8
/// bytes of its MD5), which shards and resumed runs use to find the cells already trained.
pub const KEYED_HEADER: &str = "key,arch_str,accuracy,top5,params,epochs";
/// The recurrent space's rows: test perplexity (the ground truth) and validation perplexity of the
/// epoch with the best validation loss, keyed like [`KEYED_HEADER`].
pub const LM_HEADER: &str = "key,arch_str,test_ppl,valid_ppl,params,epochs";
/// The header of files written before sharding: its wall-time column made every run's file differ,
/// so merged shards could never equal a single run's file.
const OLD_HEADER: &str = "index,arch_str,accuracy,top5,params,epochs,seconds";

#[derive(Args)]
pub struct GroundTruthArgs {
    /// The space of the architectures.
    #[arg(long, value_enum, default_value = "nb201")]
    space: SpaceArg,
    /// Architectures to train: sample:N, a file (one per line, or a CSV with an arch_str column) or
    /// one architecture; NAS-Bench-201 also takes all, classes, indices and comma lists.
    #[arg(long)]
    archs: String,
    /// Train preset for each architecture (its model.arch or model.genotype is replaced by it).
    /// Default: the space's CPU recipe (cpu-smoke for nb201, cpu-<space> for the others).
    #[arg(long)]
    preset: Option<String>,
    /// Overrides for the training config. Repeatable.
    #[arg(long = "set", value_name = "SECTION.KEY=VALUE")]
    sets: Vec<String>,
    /// Seed for `sample:N` (training seeds come from the preset).
    #[arg(long, default_value_t = 0)]
    sample_seed: u64,
    /// The CSV to append to (created with a header if missing).
    #[arg(long)]
    out: PathBuf,
    /// Where each cell's run directory goes (default: <out>.runs/).
    #[arg(long)]
    runs_dir: Option<PathBuf>,
    #[command(flatten)]
    shard: ShardArgs,
}

/// Keys already in a ground-truth CSV (none if it does not exist).
fn done_keys(csv: &Path, header: &str) -> Result<BTreeSet<u64>> {
    let first = std::fs::read_to_string(csv).ok().and_then(|t| t.lines().next().map(str::to_string));
    match first.as_deref().map(str::trim) {
        Some(OLD_HEADER) => bail!(
            "{} was written by an older oxnas, with a `seconds` column (wall time, which made files of equal runs differ); \
             drop that column to continue it: cut -d, -f1-6 {0} > new.csv && mv new.csv {0}",
            csv.display()
        ),
        Some(h) if !h.is_empty() && h != header => {
            bail!("{} has header '{h}', not oxnas groundtruth's '{header}' for this space; choose another --out", csv.display())
        }
        _ => {}
    }
    Ok(read_rows(csv, header)?.into_iter().map(|(k, _)| k).collect())
}

/// An architecture to train: its canonical string and the key of its row.
struct Target {
    arch: String,
    key: u64,
}

fn key_of(space: &dyn RankSpace, arch: &str) -> u64 {
    use md5::Digest;
    match space.index(arch) {
        Some(i) => i as u64,
        None => {
            let digest = md5::Md5::digest(arch.as_bytes());
            u64::from_be_bytes(digest[..8].try_into().expect("an MD5 digest has 16 bytes"))
        }
    }
}

/// The header of a space's ground-truth CSV.
fn header_of(space: &dyn RankSpace) -> &'static str {
    if space.metric() == Metric::PERPLEXITY {
        LM_HEADER
    } else if space.arch_at(0).is_some() {
        HEADER
    } else {
        KEYED_HEADER
    }
}

/// The standalone recipe of a space: a train config, or a language-model config for darts-rnn.
fn resolve_config(a: &GroundTruthArgs, sets: &[String]) -> Result<Recipe> {
    Ok(match a.space {
        SpaceArg::DartsRnn => Recipe::Lm(Box::new(LmTrainConfig::resolve(preset(a), None, sets)?)),
        _ => Recipe::Image(Box::new(TrainConfig::resolve(preset(a), None, sets)?)),
    })
}

enum Recipe {
    Image(Box<TrainConfig>),
    Lm(Box<LmTrainConfig>),
}

impl Recipe {
    fn to_toml(&self) -> String {
        match self {
            Recipe::Image(c) => c.to_toml(),
            Recipe::Lm(c) => c.to_toml(),
        }
    }
}

pub fn groundtruth(a: GroundTruthArgs) -> Result<()> {
    let mode = a.shard.mode()?;
    let space = a.space.rank_space(16)?;
    // A list may name an architecture twice: it is trained and written once, in first-mention order.
    let mut seen = BTreeSet::new();
    let targets: Vec<Target> = space
        .resolve_list(&a.archs, a.sample_seed)?
        .into_iter()
        .map(|arch| Target { key: key_of(space.as_ref(), &arch), arch })
        .filter(|t| seen.insert(t.key))
        .collect();
    let header = header_of(space.as_ref());
    // Fail on a bad preset or override before training (or submitting) anything.
    let base = resolve_config(&a, &a.sets)?;
    let runs = a.runs_dir.clone().unwrap_or_else(|| PathBuf::from(format!("{}.runs", a.out.display())));
    // Two jobs appending to one CSV would lose each other's rows: the CSV (or a shard's rows) and
    // its cells' runs belong to one process at a time, locked through a directory that is ours.
    std::fs::create_dir_all(&runs).with_context(|| format!("creating {}", runs.display()))?;
    match mode {
        Mode::Whole => {
            let _lock = oxnas_core::lock::Lock::dir(&runs)?;
            oxnas_core::fsutil::sweep_dead_temps_of(&a.out)
                .with_context(|| format!("cleaning up beside {}", a.out.display()))?;
            let done = done_keys(&a.out, header)?;
            train_all(&a, &targets, (&a.out, header), &done, &runs)
        }
        Mode::One(shard) => {
            let dir = ShardDir::for_output(&a.out);
            let mine = &targets[shard.range(targets.len())];
            let meta = ShardMeta {
                shard,
                header: header.into(),
                keys: mine.iter().map(|t| t.key).collect(),
                settings: serde_json::json!({
                    "command": "groundtruth",
                    "space": a.space.name(),
                    "archs": a.archs,
                    "sample_seed": a.sample_seed,
                    "cells": targets.len(),
                    "config": base.to_toml(),
                }),
            };
            let lock_dir = runs.join(format!(".shard-{}-of-{}", shard.index, shard.count));
            std::fs::create_dir_all(&lock_dir).with_context(|| format!("creating {}", lock_dir.display()))?;
            let _lock = oxnas_core::lock::Lock::dir(&lock_dir)?;
            let done = meta.begin(&dir)?;
            train_all(&a, mine, (&dir.rows(shard), header), &done, &runs)
        }
        Mode::All(n) => jobs::launch("groundtruth", &a.out, n, vec![], &a.shard.exec),
    }
}

fn preset(a: &GroundTruthArgs) -> &str {
    a.preset.as_deref().unwrap_or(a.space.groundtruth_preset())
}

/// Trains the architectures not in `done`, appending a row to `out` after each.
fn train_all(
    a: &GroundTruthArgs,
    targets: &[Target],
    (out, header): (&Path, &str),
    done: &BTreeSet<u64>,
    runs: &Path,
) -> Result<()> {
    let todo: Vec<&Target> = targets.iter().filter(|t| !done.contains(&t.key)).collect();
    eprintln!(
        "{} {} architectures, {} already in {}, {} to train with preset '{}'",
        targets.len(),
        a.space.name(),
        targets.len() - todo.len(),
        out.display(),
        todo.len(),
        preset(a)
    );
    for (k, t) in todo.iter().enumerate() {
        if let Some(sig) = signals::requested() {
            bail!(
                "stopped by {} before {}; the architectures trained so far are in {}",
                signals::name(sig),
                t.arch,
                out.display()
            );
        }
        eprintln!("[{}/{}] {} {}", k + 1, todo.len(), t.key, t.arch);
        train_one(a, t, (out, header), runs)?;
    }
    println!("ground truth: {}", out.display());
    Ok(())
}

/// Trains one architecture standalone in its own run directory (resuming it if a killed job left
/// one) and appends its row.
fn train_one(a: &GroundTruthArgs, t: &Target, (out, header): (&Path, &str), runs: &Path) -> Result<()> {
    let mut sets = a.space.model_sets(&t.arch);
    sets.extend(a.sets.iter().cloned());
    let dir = runs.join(t.key.to_string());
    let started = std::time::Instant::now();
    let (fields, result) = match resolve_config(a, &sets)? {
        Recipe::Image(cfg) => train_image(*cfg, &dir, &t.arch)?,
        Recipe::Lm(cfg) => train_lm(*cfg, &dir, &t.arch)?,
    };
    // The whole (small) file is rewritten atomically: a kill can lose the architecture being
    // trained, never a finished result or the file itself.
    append_row(out, header, &format!("{},{},{fields}", t.key, csv_field(&t.arch)))?;
    eprintln!("    {result} ({:.1} s)", started.elapsed().as_secs_f64());
    Ok(())
}

/// Whether a run directory has a checkpoint to resume from.
fn start_of<C>(last: &Path, dir: &Path, cfg: C) -> Start<C> {
    if last.exists() {
        eprintln!("    resuming {} from its last checkpoint", dir.display());
        Start::Resume
    } else {
        Start::Fresh(Box::new(cfg))
    }
}

/// An image architecture's row fields after `accuracy,top5,params,epochs`, and its result in words.
fn train_image(cfg: TrainConfig, dir: &Path, arch: &str) -> Result<(String, String)> {
    let start = start_of(&RunFiles::train(dir).last(), dir, cfg);
    let summary = Trainer::new(dir, start)?
        .run(&mut StopOnSignal)
        .with_context(|| format!("training {arch} in {}", dir.display()))?;
    let e = &summary.final_eval;
    let fields = format!("{:.4},{:.4},{},{}", e.top1, e.top5, summary.params, summary.history.len());
    Ok((fields, format!("test accuracy {:.2}%", e.top1)))
}

/// A recurrent genotype's row fields after `test_ppl,valid_ppl,params,epochs` (the epoch with the
/// best validation loss), and its result in words.
fn train_lm(cfg: LmTrainConfig, dir: &Path, arch: &str) -> Result<(String, String)> {
    let start = start_of(&RunFiles::lm(dir).last(), dir, cfg);
    let summary = LmTrainer::new(dir, start)?
        .run(&mut StopOnSignal)
        .with_context(|| format!("training {arch} in {}", dir.display()))?;
    let b = &summary.best;
    let fields = format!("{:.4},{:.4},{},{}", b.test_ppl, b.valid_ppl, summary.params, summary.history.len());
    Ok((fields, format!("test perplexity {:.2} (validation {:.2})", b.test_ppl, b.valid_ppl)))
}
