//! `oxnas lm train`: retrain a DARTS recurrent cell as a word-level language model, the way DARTS
//! evaluates its PTB cells (quark0/darts `rnn/train.py`, after Merity et al.'s AWD-LSTM): SGD at a
//! high learning rate on variable-length BPTT windows, switching to averaged SGD once validation
//! stops improving (NT-ASGD).

use super::{ConfigError, ConfigFile, RunConfig};
use crate::darts_rnn::{self, Dropouts, RnnGenotype};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

pub const LM_PRESETS: &[(&str, &str)] = presets!("lm": "cpu-darts-rnn", "darts-rnn-ptb", "cpu-darts-rnn-gt");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LmTrainConfig {
    /// The preset this config started from (informational).
    #[serde(default)]
    pub preset: String,
    pub model: LmModelConfig,
    #[serde(default)]
    pub data: TextDataConfig,
    pub optim: LmOptimConfig,
    #[serde(default)]
    pub run: RunConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LmModelConfig {
    /// A published cell by name (DARTS_V1, DARTS_V2, DARTS, ENAS), a genotype in the reference's
    /// string form or JSON, or the path of a file holding one (a search run's genotype.txt).
    pub genotype: String,
    /// Hidden size, also the embedding size: the decoder reads the hidden state through the
    /// embedding matrix, so the two must agree.
    pub hidden: usize,
    #[serde(default = "eval_dropouts")]
    pub dropouts: Dropouts,
}

fn eval_dropouts() -> Dropouts {
    Dropouts::EVAL
}

/// Where the corpus comes from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextDataConfig {
    /// A directory in Penn Treebank form (ptb.train.txt, ptb.valid.txt, ptb.test.txt); unset = the
    /// embedded corpus.
    #[serde(default)]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LmOptimConfig {
    pub epochs: usize,
    pub batch_size: usize,
    /// Columns of the validation data (the reference's `eval_batch_size`, 10).
    #[serde(default = "ten")]
    pub eval_batch_size: usize,
    /// Columns of the test data (the reference's 1: every word sees its full history).
    #[serde(default = "one")]
    pub test_batch_size: usize,
    /// Mean training window; windows are drawn around it (or around half of it, one time in 20).
    pub bptt: usize,
    /// How far past `bptt` a drawn window may go (the reference's `max_seq_len_delta`).
    #[serde(default = "twenty")]
    pub max_seq_len_delta: usize,
    /// Learning rate at a window of `bptt` rows; each window's rate is scaled by its length / bptt.
    pub lr: f64,
    pub weight_decay: f64,
    /// Largest gradient norm; 0 = no clipping.
    pub grad_clip: f64,
    /// Activation regularisation (AR, the reference's `alpha`): weight of the mean square of the
    /// dropped cell outputs.
    #[serde(default)]
    pub activation_reg: f64,
    /// Temporal activation regularisation (TAR, `beta`): weight of the mean square of the change of
    /// the cell output from one step to the next.
    #[serde(default)]
    pub temporal_reg: f64,
    /// Switch to averaged SGD when the validation loss is worse than the best of all but the last
    /// `nonmono` epochs (NT-ASGD); false = plain SGD to the end.
    #[serde(default = "yes")]
    pub nt_asgd: bool,
    #[serde(default = "five")]
    pub nonmono: usize,
}

fn ten() -> usize {
    10
}
fn one() -> usize {
    1
}
fn twenty() -> usize {
    20
}
fn five() -> usize {
    5
}
fn yes() -> bool {
    true
}

impl LmTrainConfig {
    /// The genotype `model.genotype` names.
    pub fn genotype(&self) -> Result<RnnGenotype, ConfigError> {
        darts_rnn::resolve(&self.model.genotype).map_err(|e| ConfigError::Invalid(format!("model.genotype: {e}")))
    }
}

impl ConfigFile for LmTrainConfig {
    const PRESETS: &'static [(&'static str, &'static str)] = LM_PRESETS;

    fn validate(&self) -> Result<(), ConfigError> {
        self.genotype()?;
        let bad = |m: &str| Err(ConfigError::Invalid(m.into()));
        let (m, o) = (&self.model, &self.optim);
        if m.hidden < 1 {
            return bad("model.hidden must be at least 1");
        }
        m.dropouts.validate("model.dropouts")?;
        if o.epochs < 1 || o.batch_size < 1 || o.eval_batch_size < 1 || o.test_batch_size < 1 {
            return bad("optim.epochs, batch_size, eval_batch_size and test_batch_size must be at least 1");
        }
        if o.bptt < 2 {
            return bad("optim.bptt must be at least 2 (windows are drawn around it, never shorter than 5)");
        }
        if !(o.lr > 0.0 && o.lr.is_finite()) {
            return bad("optim.lr must be a positive number (the reference's is 20)");
        }
        let finite_non_negative = [o.weight_decay, o.grad_clip, o.activation_reg, o.temporal_reg];
        if finite_non_negative.iter().any(|v| !(v.is_finite() && *v >= 0.0)) {
            return bad("optim.weight_decay, grad_clip, activation_reg and temporal_reg must be finite and >= 0");
        }
        if o.nt_asgd && o.nonmono < 1 {
            return bad("optim.nonmono must be at least 1 when optim.nt_asgd is on");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_resolve_and_round_trip() {
        for (name, _) in LM_PRESETS {
            let c = LmTrainConfig::resolve(name, None, &[]).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(LmTrainConfig::from_toml_str(&c.to_toml(), name).unwrap(), c);
        }
        // The reference recipe (quark0/darts rnn/train.py defaults).
        let c = LmTrainConfig::resolve("darts-rnn-ptb", None, &[]).unwrap();
        let o = &c.optim;
        assert_eq!((c.model.hidden, o.batch_size, o.eval_batch_size, o.test_batch_size), (850, 64, 10, 1));
        assert_eq!((o.bptt, o.max_seq_len_delta, o.lr, o.grad_clip), (35, 20, 20.0, 0.25));
        assert_eq!((o.weight_decay, o.temporal_reg, o.activation_reg, o.nonmono), (8e-7, 1e-3, 0.0, 5));
        assert_eq!(c.model.dropouts, Dropouts::EVAL);
        assert_eq!(c.genotype().unwrap(), RnnGenotype::named("DARTS_V2").unwrap());
        assert!(c.data.data_dir.is_some(), "the PTB preset reads a directory");
        let cpu = LmTrainConfig::resolve("cpu-darts-rnn", None, &[]).unwrap();
        assert!(cpu.data.data_dir.is_none(), "the CPU preset runs on the embedded corpus");
    }

    #[test]
    fn bad_settings_name_the_key() {
        let err = |set: &str| LmTrainConfig::resolve("cpu-darts-rnn", None, &[set.into()]).unwrap_err().to_string();
        let e = err("model.genotype=\"DARTS_V9\"");
        assert!(e.contains("model.genotype: 'DARTS_V9' is not a known recurrent genotype name (DARTS_V1"), "{e}");
        assert!(err("model.dropouts.x=1.0").contains("model.dropouts.x = 1: a dropout probability is in [0, 1)"));
        assert!(err("optim.lr=0.0").contains("optim.lr must be a positive number"));
        assert!(err("optim.bptt=1").contains("optim.bptt must be at least 2"));
        assert!(err("optim.grad_clip=-1.0").contains("grad_clip"));
        assert!(err("optim.momentum=0.9").contains("momentum"), "unknown keys are refused");
        assert!(err("model.hidden=0").contains("model.hidden must be at least 1"));
    }
}
