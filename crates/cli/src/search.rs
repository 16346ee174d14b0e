//! `oxnas search`: run a differentiable search, print the genotype (and its NAS-Bench-201 ground truth),
//! draw its diagnostics, and optionally retrain the result (`--then-train`).

use crate::args::Overrides;
use crate::plots;
use crate::progress::EpochBar;
use crate::runs::default_dir;
use crate::shard::ShardArgs;
use anyhow::{bail, Context, Result};
use clap::Args;
use oxnas_core::bench::{Column, Nb201Table};
use oxnas_core::config::{ConfigFile, LmTrainConfig, SearchConfig, SearchData, TrainConfig};
use oxnas_core::shard::SeedList;
use oxnas_engine::progress::Progress;
use oxnas_engine::search::{Search, SearchEpoch, SearchOutcome, SearchStart};
use oxnas_engine::train::{Architecture, Start, Trainer};
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct SearchArgs {
    /// Preset name (see `oxnas presets`) or a path to a preset TOML file.
    #[arg(long, default_value = "cpu-demo")]
    pub(crate) preset: String,
    #[command(flatten)]
    pub(crate) overrides: Overrides,
    /// Run directory (default: runs/search-<preset>-<timestamp>; with --seeds, runs/sweep-<preset>-<timestamp>).
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
    /// Search once per seed (0..8, or 0,3,7), each in <out>/seed-S, with one row per seed in
    /// <out>/seeds.csv. --shard/--shards split the seeds.
    #[arg(long, value_name = "SEEDS", conflicts_with_all = ["resume", "seed", "then_train"])]
    pub(crate) seeds: Option<SeedList>,
    #[command(flatten)]
    pub(crate) shard: ShardArgs,
    /// Continue the search in this directory from its last checkpoint.
    #[arg(long, value_name = "RUN_DIR", conflicts_with_all = ["out", "config", "sets", "seed"])]
    resume: Option<PathBuf>,
    /// With --resume: if the checkpoint's optimiser state is missing or incomplete, continue with a
    /// fresh optimiser (and say so) instead of refusing; complete state is always loaded.
    #[arg(long, requires = "resume")]
    reset_optimizer: bool,
    /// After the search, retrain the found architecture with this train preset (in <run>/retrain).
    #[arg(long, value_name = "TRAIN_PRESET")]
    then_train: Option<String>,
    /// Overrides for the retraining (like `oxnas train --set`).
    #[arg(long = "train-set", value_name = "SECTION.KEY=VALUE")]
    train_sets: Vec<String>,
}

struct Reporter {
    bar: EpochBar,
}

impl Progress<SearchEpoch> for Reporter {
    fn epoch_start(&mut self, epoch: usize, epochs: usize, batches: usize) {
        self.bar.start(epoch, epochs, batches, "steps");
    }
    fn batch(&mut self, done: usize, loss: f64) {
        self.bar.update(done, loss);
    }
    fn epoch_end(&mut self, e: &SearchEpoch) {
        self.bar.finish();
        let lambda = e.lambda_max.map(|l| format!("  λmax {l:.4}")).unwrap_or_default();
        eprintln!(
            "epoch {:>3} (phase {})  lr {:.4}  {}{lambda}  skip edges {}  {:.1}s",
            e.epoch + 1,
            e.phase,
            e.lr,
            quality(e),
            e.skip_count,
            e.epoch_time_s
        );
        for d in &e.decisions {
            let pruned = if d.pruned.is_empty() { String::new() } else { format!(", pruned edges {:?}", d.pruned) };
            eprintln!("    decided {} edge {} = {} (score {:.4}{pruned})", d.cell, d.edge, d.op, d.score);
        }
        if let Some(ev) = &e.event {
            eprintln!("    {ev}");
        }
    }
    fn message(&mut self, msg: &str) {
        self.bar.println(msg);
    }
    fn interrupted(&mut self) -> bool {
        crate::signals::requested().is_some()
    }
}

/// The search config of the command line, `extra` overrides last. `--data-dir` sets an image
/// dataset's source too, and only the directory of a text corpus.
pub fn resolve(a: &SearchArgs, extra: &[String]) -> Result<SearchConfig> {
    let reads_text = |c: &SearchConfig| matches!(c.data, SearchData::Text(_));
    crate::runs::resolve_data(&a.preset, &a.overrides, extra, reads_text)
}

/// Accuracies for a classifier supernet, perplexities for a language model.
fn quality(e: &SearchEpoch) -> String {
    match (e.train_acc, e.valid_acc, e.train_ppl, e.valid_ppl) {
        (Some(t), Some(v), _, _) => format!("train acc {t:6.2}%  valid acc {v:6.2}%"),
        (_, _, Some(t), Some(v)) => format!("train ppl {t:8.2}  valid ppl {v:8.2}"),
        _ => format!("train loss {:.4}  valid loss {:.4}", e.train_loss, e.valid_loss),
    }
}

pub fn search(a: SearchArgs) -> Result<()> {
    if let Some(seeds) = &a.seeds {
        return crate::sweep::sweep(&a, seeds);
    }
    if a.shard.mode()? != crate::shard::Mode::Whole {
        bail!("--shard and --shards split a sweep over seeds; add --seeds (e.g. --seeds 0..8)");
    }
    let (dir, start) = match &a.resume {
        Some(d) => (d.clone(), SearchStart::Resume),
        None => {
            let cfg = resolve(&a, &[])?;
            (a.out.clone().unwrap_or_else(|| default_dir("search", &a.preset)), SearchStart::Fresh(Box::new(cfg)))
        }
    };
    if let Some(p) = &a.then_train {
        // Fail before hours of search, not after: the retraining preset must exist.
        let text = match &start {
            SearchStart::Fresh(cfg) => matches!(cfg.data, SearchData::Text(_)),
            SearchStart::Resume => {
                let path = dir.join("config.toml");
                let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
                let cfg = SearchConfig::from_toml_str(&text, &path.display().to_string())?;
                matches!(cfg.data, SearchData::Text(_))
            }
        };
        match text {
            true => LmTrainConfig::resolve(p, None, &[]).map(|_| ()),
            false => TrainConfig::resolve(p, None, &[]).map(|_| ()),
        }
        .with_context(|| format!("--then-train {p} (a recurrent search retrains with an `oxnas lm train` preset)"))?;
    }
    let outcome = run_and_report(&dir, start, a.reset_optimizer)?;

    if let Some(preset) = &a.then_train {
        retrain(&dir, &outcome, preset, &a.train_sets)?;
    }
    Ok(())
}

/// Runs (or continues) the search in `dir`, draws its diagnostics and prints its result.
pub(crate) fn run_and_report(dir: &Path, start: SearchStart, reset_optimizer: bool) -> Result<SearchOutcome> {
    let mut search = Search::new(dir, start)?;
    search.reset_optimizer = reset_optimizer;
    eprintln!("run directory: {}", dir.display());
    let outcome = search.run(&mut Reporter { bar: EpochBar::default() })?;
    for (what, result) in [
        ("lambda.png", plots::lambda_plot(&outcome.trace, &dir.join("lambda.png"))),
        ("alphas.png", plots::alpha_plot(&outcome.trace, &dir.join("alphas.png"))),
        ("cell diagram", plots::cell_diagram(&outcome.architecture, dir)),
    ] {
        if let Err(e) = result {
            eprintln!("warning: could not draw {what}: {e}");
        }
    }
    println!("genotype: {}", outcome.architecture.reference_string());
    if let Some(stop) = outcome.stop_epoch {
        println!("DARTS-ES stopped the search; the architecture is that of epoch {}", stop + 1);
    }
    if let Architecture::Nb201(arch) = &outcome.architecture {
        let table = Nb201Table::embedded();
        let row = table.get(table.index_of(arch)).expect("every cell is in the table");
        println!("NAS-Bench-201 ground truth (index {}, 200-epoch test accuracy, mean over seeds):", row.index());
        for c in Column::TEST_200EP {
            println!(
                "  {:<26} {:>7.2}%   rank {:>5} of {}  (top {:.2}%)",
                c.name(),
                row.value(c),
                row.rank(c),
                table.len(),
                100.0 * row.rank(c) as f64 / table.len() as f64
            );
        }
    }
    println!("results: {}", dir.display());
    println!("  config.toml, search.jsonl, result.json, genotype.txt/.json, lambda.png, alphas.png, cell.dot/cell.png");
    Ok(outcome)
}

/// `--then-train`: retrains the found architecture in <dir>/retrain (a recurrent cell as a language
/// model).
fn retrain(dir: &Path, outcome: &SearchOutcome, preset: &str, train_sets: &[String]) -> Result<()> {
    if let Architecture::DartsRnn(g) = &outcome.architecture {
        let mut sets = vec![format!("model.genotype={}", crate::args::toml_string(&g.to_string()))];
        sets.extend(train_sets.iter().cloned());
        let cfg = LmTrainConfig::resolve(preset, None, &sets)?;
        let out = dir.join("retrain");
        eprintln!("retraining the found cell as a language model with preset '{preset}' in {}", out.display());
        return crate::lm::train_and_report(&out, Start::Fresh(Box::new(cfg)));
    }
    let mut sets = architecture_sets(&outcome.architecture);
    sets.extend(train_sets.iter().cloned());
    let cfg = TrainConfig::resolve(preset, None, &sets)?;
    let out = dir.join("retrain");
    eprintln!("retraining the found architecture with preset '{preset}' in {}", out.display());
    let trainer = Trainer::new(&out, Start::Fresh(Box::new(cfg)))?;
    let mut reporter = crate::progress::Reporter::new(Some((trainer.files.log(), out.join("curves.png"))));
    let s = trainer.run(&mut reporter)?;
    println!(
        "retrained: test accuracy {:.2}% (top-5 {:.2}%) after {} epochs; results in {}",
        s.final_eval.top1,
        s.final_eval.top5,
        s.history.len(),
        out.display()
    );
    Ok(())
}

/// `--set` overrides that make a train config retrain `arch`. Values go through TOML's own string
/// quoting so that any genotype text (quotes, backslashes from a file name) survives the round trip.
fn architecture_sets(arch: &Architecture) -> Vec<String> {
    let quoted = |s: String| toml::Value::String(s).to_string();
    let space = arch.space();
    vec![
        format!("model.space={}", quoted(space.name().into())),
        format!("model.{}={}", space.arch_key(), quoted(arch.reference_string())),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The searched architecture must reach the retraining config unchanged, whatever the preset's own
    /// space was (cpu-smoke is NB201, fashion-mnist is DARTS).
    #[test]
    fn retraining_config_gets_the_searched_architecture() {
        let nb201: oxnas_core::nb201::Nb201Arch =
            "|nor_conv_3x3~0|+|skip_connect~0|avg_pool_3x3~1|+|none~0|nor_conv_1x1~1|skip_connect~2|".parse().unwrap();
        let genotype = oxnas_core::darts::resolve("DARTS_V2").unwrap();
        for arch in [Architecture::Nb201(nb201), Architecture::Darts(genotype)] {
            for preset in ["cpu-smoke", "fashion-mnist"] {
                let cfg = TrainConfig::resolve(preset, None, &architecture_sets(&arch)).unwrap();
                assert_eq!(Architecture::from_config(&cfg.model).unwrap(), arch, "preset {preset}");
            }
        }
    }
}
