//! Retraining a DARTS recurrent cell as a word-level language model: the NT-ASGD optimiser and the
//! epoch loop with exact resume.

pub mod nt_asgd;
pub mod trainer;

pub use trainer::{LmEpoch, LmSummary, LmTrainer};

/// Small corpora in Penn Treebank form for the tests of the language-model and search code.
#[cfg(test)]
pub(crate) mod test_support {
    use rand::{Rng, SeedableRng};
    use std::path::{Path, PathBuf};

    /// `dir/ptb` with `ptb.<split>.txt` of the given line counts: random 8-word lines over 12 words,
    /// nothing to learn beyond word frequencies.
    pub fn random_corpus(dir: &Path, seed: u64, splits: [(&str, usize); 3]) -> PathBuf {
        let data = dir.join("ptb");
        std::fs::create_dir_all(&data).unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        for (split, lines) in splits {
            let text: String = (0..lines)
                .map(|_| (0..8).map(|_| format!("w{}", rng.random_range(0..12))).collect::<Vec<_>>().join(" ") + "\n")
                .collect();
            std::fs::write(data.join(format!("ptb.{split}.txt")), text).unwrap();
        }
        data
    }
}
