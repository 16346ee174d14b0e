//! The language model's dropout probabilities, in AWD-LSTM's five places (Merity et al. 2018, as the
//! DARTS recurrent models use them): which units each one drops is described in the engine's
//! `nn::rnn_lm`.

use serde::{Deserialize, Serialize};

/// Dropout probabilities (not keep probabilities), as the reference's flags name them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dropouts {
    /// `dropout`: locked dropout on the cell output.
    pub output: f64,
    /// `dropouth`: on the states a node reads.
    pub hidden: f64,
    /// `dropoutx`: on the cell input `x_t`.
    pub x: f64,
    /// `dropouti`: locked dropout on the embedded input.
    pub input: f64,
    /// `dropoute`: embedding rows.
    pub embedding: f64,
}

impl Dropouts {
    /// The reference's evaluation-model defaults (`rnn/train.py`).
    pub const EVAL: Dropouts = Dropouts { output: 0.75, hidden: 0.25, x: 0.75, input: 0.2, embedding: 0.1 };
    /// The reference's search defaults (`rnn/train_search.py`).
    pub const SEARCH: Dropouts = Dropouts { output: 0.75, hidden: 0.25, x: 0.75, input: 0.2, embedding: 0.0 };
    pub const NONE: Dropouts = Dropouts { output: 0.0, hidden: 0.0, x: 0.0, input: 0.0, embedding: 0.0 };

    /// Every probability in [0, 1); the error names `section.<key>`.
    pub fn validate(&self, section: &str) -> Result<(), crate::config::ConfigError> {
        let d = self;
        for (name, p) in
            [("output", d.output), ("hidden", d.hidden), ("x", d.x), ("input", d.input), ("embedding", d.embedding)]
        {
            if !(0.0..1.0).contains(&p) {
                return Err(crate::config::ConfigError::Invalid(format!(
                    "{section}.{name} = {p}: a dropout probability is in [0, 1) (0 = off)"
                )));
            }
        }
        Ok(())
    }
}
