//! `oxnas prune`: supernet-guided pruning of a search space, round by round, or its random baseline.

use crate::args::Overrides;
use crate::plots;
use crate::runs::start;
use anyhow::Result;
use clap::Args;
use oxnas_core::config::PruneConfig;
use oxnas_core::prune::RoundRecord;
use oxnas_engine::oneshot::prune::PruneRunner;
use oxnas_engine::progress::Progress;
use std::path::PathBuf;

#[derive(Args)]
pub struct PruneArgs {
    /// A pruning preset (configs/prune/) or a TOML file.
    #[arg(long, default_value = "cpu-nb201")]
    preset: String,
    #[command(flatten)]
    overrides: Overrides,
    /// The random baseline: the same schedule, removing a random fraction (no supernet is trained).
    #[arg(long)]
    random: bool,
    #[arg(long)]
    out: Option<PathBuf>,
    /// Continue a pruning run after an interruption (Ctrl-C, kill -9): finished rounds are kept,
    /// the round in progress goes on from its last supernet epoch or scoring chunk.
    #[arg(long, value_name = "RUN_DIR", conflicts_with_all = ["out", "config", "sets", "epochs", "seed", "random"])]
    resume: Option<PathBuf>,
}

struct Reporter {
    png: PathBuf,
    records: Vec<RoundRecord>,
}

impl Progress<RoundRecord> for Reporter {
    fn epoch_end(&mut self, r: &RoundRecord) {
        eprintln!("{}", round_line(r));
        self.records.push(r.clone());
        if let Err(e) = plots::prune_plot(&self.records, &self.png) {
            eprintln!("warning: could not draw {}: {e}", self.png.display());
        }
    }
    fn message(&mut self, m: &str) {
        eprintln!("{m}");
    }
    fn interrupted(&mut self) -> bool {
        crate::signals::requested().is_some()
    }
}

/// One round in a line: survivors, the truth of the survivors, the best by score.
fn round_line(r: &RoundRecord) -> String {
    let mut line = format!("round {}: {} → {} survivors", r.round, r.survivors_before, r.survivors_after);
    if !r.removed_choices.is_empty() {
        let ops: Vec<String> = r.removed_choices.iter().map(|m| format!("{}={}", m.choice.slot, m.choice.op)).collect();
        line += &format!(" (removed {})", ops.join(" "));
    }
    if let Some(t) = &r.truth_after {
        line += &format!(
            "; truth median {:.2} (was {:.2}), top-10% kept {}/{}, top-1% kept {}/{}",
            t.median,
            r.truth_before.as_ref().map_or(f64::NAN, |b| b.median),
            t.top10_kept,
            t.top10_total,
            t.top1_kept,
            t.top1_total
        );
    }
    if let Some(b) = &r.best_by_score {
        line += &format!("; best by score {:.2}", b.score);
        if let Some(t) = b.truth {
            line += &format!(" (truth {t:.2})");
        }
    }
    line
}

pub fn prune(a: PruneArgs) -> Result<()> {
    let random: &[&str] = if a.random { &["prune.method=\"random\""] } else { &[] };
    let (dir, cfg) = start::<PruneConfig>("prune", &a.preset, &a.overrides, random, &a.out, &a.resume)?;
    let runner = PruneRunner::new(&dir, cfg)?;
    eprintln!("run directory: {}", dir.display());
    let mut reporter = Reporter { png: dir.join("prune.png"), records: vec![] };
    if let Ok(text) = std::fs::read_to_string(runner.files.log()) {
        reporter.records = text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    }
    let records = runner.run(&mut reporter)?;
    for r in &records {
        println!("{}", round_line(r));
    }
    println!("results: {} (prune.jsonl, prune.png, survivors-NN.txt)", dir.display());
    if runner.best_file().exists() {
        println!(
            "best survivor by supernet score: {} (next: oxnas train --arch \"$(cat {0})\", or --archs {0} for scoring)",
            runner.best_file().display()
        );
    }
    Ok(())
}
