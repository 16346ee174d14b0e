//! `oxnas groundtruth`: train cells standalone with a short recipe and append each result to a CSV,
//! building a ground-truth table on a dataset NAS-Bench-201 does not cover.
//!
//! One architecture is one independent job (`--archs` can name a single cell), so the work spreads
//! over machines by splitting the list. Each cell trains in its own run directory, so a killed job
//! resumes mid-cell; finished cells are skipped by reading the CSV.

use anyhow::{bail, Context, Result};
use clap::Args;
use oxnas_core::config::{ConfigFile, TrainConfig};
use oxnas_core::fsutil::write_atomic;
use oxnas_core::nb201::set::ArchSet;
use oxnas_core::nb201::{Nb201Arch, Nb201Op};
use oxnas_engine::rundir::RunFiles;
use oxnas_engine::train::{Start, Trainer};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

pub const HEADER: &str = "index,arch_str,accuracy,top5,params,epochs,seconds";

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
}

fn done_indices(csv: &Path) -> Result<BTreeSet<usize>> {
    if !csv.exists() {
        return Ok(BTreeSet::new());
    }
    let text = std::fs::read_to_string(csv).with_context(|| format!("reading {}", csv.display()))?;
    let mut lines = text.lines();
    match lines.next() {
        Some(h) if h.trim() == HEADER => {}
        Some(h) => {
            bail!("{} has header '{h}', not oxnas groundtruth's '{HEADER}'; choose another --out", csv.display())
        }
        None => return Ok(BTreeSet::new()),
    }
    lines
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            l.split(',')
                .next()
                .and_then(|f| f.parse().ok())
                .with_context(|| format!("{}, line {}: no index in '{l}'", csv.display(), i + 2))
        })
        .collect()
}

pub fn groundtruth(a: GroundTruthArgs) -> Result<()> {
    let set: ArchSet = a.archs.parse()?;
    let cells: Vec<Nb201Arch> = set.resolve(&Nb201Op::ALL, a.sample_seed)?;
    // Fail on a bad preset or override before training anything.
    TrainConfig::resolve(&a.preset, None, &a.sets)?;
    let runs = a.runs_dir.clone().unwrap_or_else(|| PathBuf::from(format!("{}.runs", a.out.display())));
    // Two jobs appending to one CSV would lose each other's rows. The CSV and its cells' runs belong
    // to one job at a time, locked through the runs directory, which is ours.
    std::fs::create_dir_all(&runs).with_context(|| format!("creating {}", runs.display()))?;
    let _lock = oxnas_core::lock::Lock::dir(&runs)?;
    oxnas_core::fsutil::sweep_dead_temps_of(&a.out)
        .with_context(|| format!("cleaning up beside {}", a.out.display()))?;
    let done = done_indices(&a.out)?;
    let todo: Vec<&Nb201Arch> = cells.iter().filter(|c| !done.contains(&c.to_index())).collect();
    eprintln!(
        "{} cells, {} already in {}, {} to train with preset '{}'",
        cells.len(),
        cells.len() - todo.len(),
        a.out.display(),
        todo.len(),
        a.preset
    );
    for (k, cell) in todo.iter().enumerate() {
        let index = cell.to_index();
        let mut sets = vec!["model.space=\"nb201\"".to_string(), format!("model.arch=\"{cell}\"")];
        sets.extend(a.sets.iter().cloned());
        let cfg = TrainConfig::resolve(&a.preset, None, &sets)?;
        let dir = runs.join(index.to_string());
        let start = if RunFiles::train(&dir).last().exists() { Start::Resume } else { Start::Fresh(Box::new(cfg)) };
        let started = std::time::Instant::now();
        eprintln!("[{}/{}] cell {index} {cell}", k + 1, todo.len());
        let summary = Trainer::new(&dir, start)?.run(&mut oxnas_engine::progress::Quiet)?;
        let line = format!(
            "{index},{cell},{:.4},{:.4},{},{},{:.1}",
            summary.final_eval.top1,
            summary.final_eval.top5,
            summary.params,
            summary.history.len(),
            started.elapsed().as_secs_f64()
        );
        // Rewrite the whole (small) file atomically: a kill can lose the cell being trained, never a
        // finished result or the file itself.
        let mut text = if a.out.exists() { std::fs::read_to_string(&a.out)? } else { format!("{HEADER}\n") };
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&line);
        text.push('\n');
        write_atomic(&a.out, text.as_bytes())?;
        eprintln!("    test accuracy {:.2}%", summary.final_eval.top1);
    }
    println!("ground truth: {}", a.out.display());
    Ok(())
}
