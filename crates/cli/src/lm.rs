//! `oxnas lm train`: retrain a DARTS recurrent cell as a word-level language model (NT-ASGD), on the
//! embedded corpus or on Penn Treebank files.

use crate::args::Overrides;
use crate::progress::EpochBar;
use crate::runs::default_dir;
use anyhow::Result;
use clap::{Args, Subcommand};
use oxnas_core::config::{ConfigFile, LmTrainConfig};
use oxnas_engine::lm::{LmEpoch, LmTrainer};
use oxnas_engine::progress::Progress;
use oxnas_engine::train::Start;
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum LmCommand {
    /// Retrain a recurrent genotype as a language model and report test perplexity (or continue a
    /// run with --resume).
    Train(LmTrainArgs),
}

#[derive(Args)]
pub struct LmTrainArgs {
    /// Preset name (see `oxnas presets`) or a path to a preset TOML file.
    #[arg(long, default_value = "cpu-darts-rnn")]
    preset: String,
    /// Recurrent genotype: DARTS_V1, DARTS_V2, DARTS, ENAS, the reference string form, JSON, or a
    /// file holding one (sets model.genotype).
    #[arg(long)]
    genotype: Option<String>,
    #[command(flatten)]
    overrides: Overrides,
    /// Run directory (default: runs/lm-<preset>-<timestamp>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Continue the run in this directory from its last checkpoint, with its own config.
    #[arg(long, value_name = "RUN_DIR", conflicts_with_all = ["out", "genotype", "config", "sets", "epochs", "seed", "data_dir"])]
    resume: Option<PathBuf>,
}

pub fn run(c: LmCommand) -> Result<()> {
    match c {
        LmCommand::Train(a) => train(a),
    }
}

fn resolve(a: &LmTrainArgs) -> Result<LmTrainConfig> {
    let mut sets = Vec::new();
    if let Some(g) = &a.genotype {
        sets.push(format!("model.genotype={}", crate::args::toml_string(g)));
    }
    sets.extend(a.overrides.text_sets());
    Ok(LmTrainConfig::resolve(&a.preset, a.overrides.config.as_deref(), &sets)?)
}

fn train(a: LmTrainArgs) -> Result<()> {
    let (dir, start) = match &a.resume {
        Some(dir) => (dir.clone(), Start::Resume),
        None => (a.out.clone().unwrap_or_else(|| default_dir("lm", &a.preset)), Start::Fresh(Box::new(resolve(&a)?))),
    };
    train_and_report(&dir, start)
}

/// Trains (or continues) the language model in `dir` and prints its test perplexity.
pub(crate) fn train_and_report(dir: &Path, start: Start<LmTrainConfig>) -> Result<()> {
    let trainer = LmTrainer::new(dir, start)?;
    eprintln!("run directory: {}", dir.display());
    eprintln!("genotype: {}", trainer.genotype());
    let mut reporter = LmReporter { bar: EpochBar::default(), epochs: 0, dir: dir.to_path_buf() };
    let s = trainer.run(&mut reporter)?;
    println!(
        "test perplexity {:.2} (validation {:.2}) at epoch {}, the best of {} by validation; {} parameters, {} words",
        s.best.test_ppl,
        s.best.valid_ppl,
        s.best.epoch + 1,
        s.history.len(),
        s.params,
        s.vocab
    );
    println!("results: {}", dir.display());
    println!("  config.toml, genotype.txt/.json, metrics.jsonl, curves.png, summary.json, checkpoints/{{last,best}}.safetensors");
    Ok(())
}

struct LmReporter {
    bar: EpochBar,
    epochs: usize,
    dir: PathBuf,
}

impl Progress<LmEpoch> for LmReporter {
    fn epoch_start(&mut self, epoch: usize, epochs: usize, windows: usize) {
        self.epochs = epochs;
        self.bar.start(epoch, epochs, windows, "windows");
    }

    fn batch(&mut self, done: usize, loss: f64) {
        self.bar.update(done, loss);
    }

    fn epoch_end(&mut self, m: &LmEpoch) {
        self.bar.finish();
        eprintln!(
            "epoch {:>3}/{}  {}  train ppl {:8.2}  valid ppl {:8.2}  test ppl {:8.2}  {:.1}s, {:.0} tokens/s",
            m.epoch + 1,
            self.epochs,
            if m.averaging { "ASGD" } else { "SGD " },
            m.train_ppl,
            m.valid_ppl,
            m.test_ppl,
            m.epoch_time_s,
            m.tokens_per_s
        );
        let (metrics, png) = (self.dir.join("metrics.jsonl"), self.dir.join("curves.png"));
        if let Err(e) = crate::plots::perplexity_curves(&metrics, &png) {
            eprintln!("warning: could not draw {}: {e}", png.display());
        }
    }

    fn message(&mut self, msg: &str) {
        self.bar.println(msg);
    }

    fn interrupted(&mut self) -> bool {
        crate::signals::requested().is_some()
    }
}
