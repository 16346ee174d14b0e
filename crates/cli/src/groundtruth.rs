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
use anyhow::{bail, Context, Result};
use clap::Args;
use oxnas_core::config::{ConfigFile, TrainConfig};
use oxnas_core::nb201::set::ArchSet;
use oxnas_core::nb201::{Nb201Arch, Nb201Op};
use oxnas_core::shard::{append_row, read_rows, ShardDir, ShardMeta};
use oxnas_engine::rundir::RunFiles;
use oxnas_engine::train::{Start, Trainer};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

pub const HEADER: &str = "index,arch_str,accuracy,top5,params,epochs";
/// The header of files written before sharding: its wall-time column made every run's file differ,
/// so merged shards could never equal a single run's file.
const OLD_HEADER: &str = "index,arch_str,accuracy,top5,params,epochs,seconds";

#[derive(Args)]
pub struct GroundTruthArgs {
    /// Cells to train: all, classes, sample:N, a file (one arch or index per line) or a comma list.
    #[arg(long)]
    archs: String,
    /// Train preset for each cell (its model.arch is replaced by the cell).
    #[arg(long, default_value = "cpu-smoke")]
    preset: String,
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

/// Indices already in a ground-truth CSV (none if it does not exist).
fn done_indices(csv: &Path) -> Result<BTreeSet<u64>> {
    let first = std::fs::read_to_string(csv).ok().and_then(|t| t.lines().next().map(str::to_string));
    match first.as_deref().map(str::trim) {
        Some(OLD_HEADER) => bail!(
            "{} was written by an older oxnas, with a `seconds` column (wall time, which made files of equal runs differ); \
             drop that column to continue it: cut -d, -f1-6 {0} > new.csv && mv new.csv {0}",
            csv.display()
        ),
        Some(h) if !h.is_empty() && h != HEADER => {
            bail!("{} has header '{h}', not oxnas groundtruth's '{HEADER}'; choose another --out", csv.display())
        }
        _ => {}
    }
    Ok(read_rows(csv, HEADER)?.into_iter().map(|(k, _)| k).collect())
}

pub fn groundtruth(a: GroundTruthArgs) -> Result<()> {
    let mode = a.shard.mode()?;
    let set: ArchSet = a.archs.parse()?;
    // A list may name a cell twice: it is trained and written once, in first-mention order.
    let mut seen = BTreeSet::new();
    let cells: Vec<Nb201Arch> =
        set.resolve(&Nb201Op::ALL, a.sample_seed)?.into_iter().filter(|c| seen.insert(c.to_index())).collect();
    // Fail on a bad preset or override before training (or submitting) anything.
    let base = TrainConfig::resolve(&a.preset, None, &a.sets)?;
    let runs = a.runs_dir.clone().unwrap_or_else(|| PathBuf::from(format!("{}.runs", a.out.display())));
    // Two jobs appending to one CSV would lose each other's rows: the CSV (or a shard's rows) and
    // its cells' runs belong to one process at a time, locked through a directory that is ours.
    std::fs::create_dir_all(&runs).with_context(|| format!("creating {}", runs.display()))?;
    match mode {
        Mode::Whole => {
            let _lock = oxnas_core::lock::Lock::dir(&runs)?;
            oxnas_core::fsutil::sweep_dead_temps_of(&a.out)
                .with_context(|| format!("cleaning up beside {}", a.out.display()))?;
            let done = done_indices(&a.out)?;
            train_cells(&a, &cells, &a.out, &done, &runs)
        }
        Mode::One(shard) => {
            let dir = ShardDir::for_output(&a.out);
            let mine = &cells[shard.range(cells.len())];
            let meta = ShardMeta {
                shard,
                header: HEADER.into(),
                keys: mine.iter().map(|c| c.to_index() as u64).collect(),
                settings: serde_json::json!({
                    "command": "groundtruth",
                    "archs": a.archs,
                    "sample_seed": a.sample_seed,
                    "cells": cells.len(),
                    "config": base.to_toml(),
                }),
            };
            let lock_dir = runs.join(format!(".shard-{}-of-{}", shard.index, shard.count));
            std::fs::create_dir_all(&lock_dir).with_context(|| format!("creating {}", lock_dir.display()))?;
            let _lock = oxnas_core::lock::Lock::dir(&lock_dir)?;
            let done = meta.begin(&dir)?;
            train_cells(&a, mine, &dir.rows(shard), &done, &runs)
        }
        Mode::All(n) => jobs::launch("groundtruth", &a.out, n, vec![], &a.shard.exec),
    }
}

/// Trains the cells not in `done`, appending a row to `out` after each.
fn train_cells(a: &GroundTruthArgs, cells: &[Nb201Arch], out: &Path, done: &BTreeSet<u64>, runs: &Path) -> Result<()> {
    let todo: Vec<&Nb201Arch> = cells.iter().filter(|c| !done.contains(&(c.to_index() as u64))).collect();
    eprintln!(
        "{} cells, {} already in {}, {} to train with preset '{}'",
        cells.len(),
        cells.len() - todo.len(),
        out.display(),
        todo.len(),
        a.preset
    );
    for (k, cell) in todo.iter().enumerate() {
        if let Some(sig) = signals::requested() {
            bail!(
                "stopped by {} before cell {}; the cells trained so far are in {}",
                signals::name(sig),
                cell.to_index(),
                out.display()
            );
        }
        let index = cell.to_index();
        let mut sets = vec!["model.space=\"nb201\"".to_string(), format!("model.arch=\"{cell}\"")];
        sets.extend(a.sets.iter().cloned());
        let cfg = TrainConfig::resolve(&a.preset, None, &sets)?;
        let dir = runs.join(index.to_string());
        let start = if RunFiles::train(&dir).last().exists() { Start::Resume } else { Start::Fresh(Box::new(cfg)) };
        let started = std::time::Instant::now();
        eprintln!("[{}/{}] cell {index} {cell}", k + 1, todo.len());
        let summary = Trainer::new(&dir, start)?
            .run(&mut StopOnSignal)
            .with_context(|| format!("training cell {index} in {}", dir.display()))?;
        let line = format!(
            "{index},{cell},{:.4},{:.4},{},{}",
            summary.final_eval.top1,
            summary.final_eval.top5,
            summary.params,
            summary.history.len(),
        );
        // The whole (small) file is rewritten atomically: a kill can lose the cell being trained, never
        // a finished result or the file itself.
        append_row(out, HEADER, &line)?;
        eprintln!("    test accuracy {:.2}% ({:.1} s)", summary.final_eval.top1, started.elapsed().as_secs_f64());
    }
    println!("ground truth: {}", out.display());
    Ok(())
}
