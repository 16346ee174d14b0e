//! Batching a token stream as the AWD-LSTM family (and DARTS's `rnn/`) does.
//!
//! `batchify` cuts the stream into `batch` equal contiguous pieces and lays them side by side as
//! columns, dropping the tokens that do not fill a last row; the hidden state then carries over from
//! one window to the next within each column. A window is `len` consecutive rows, and its targets are
//! the same rows shifted by one token.
//!
//! Training windows vary in length so that the boundaries move between epochs: usually around `bptt`,
//! with probability 0.05 around `bptt / 2`, drawn from a normal with standard deviation 5, at least 5
//! and at most `bptt + max_delta` tokens (quark0/darts `rnn/train.py`, after Merity et al. 2018).
//! The reference search (`rnn/train_search.py`) keeps only the first draw: `bptt` or `bptt / 2`
//! rounded down, with no normal jitter ([`SeqLen::spread`] 0).
//! Each length comes from its own keyed stream (seed, epoch, window number), so a resumed epoch draws
//! the same windows.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::rng::{stream_seed, Stream};

/// Why a split cannot be batched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("batch size must be at least 1")]
    ZeroBatch,
    #[error(
        "{tokens} tokens make fewer than 2 rows of {batch} columns, so there is no (input, target) pair; \
         use a smaller batch size or a longer text"
    )]
    TooShort { tokens: usize, batch: usize },
}

/// A token stream as `batch` contiguous columns: row `t` of column `b` is token `b * rows + t`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Columns {
    /// Row-major `rows x batch`.
    data: Vec<u32>,
    rows: usize,
    batch: usize,
}

/// Rows `start..start + len` of the columns (inputs) and the rows one later (targets), row-major
/// `len x batch`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub start: usize,
    pub len: usize,
    pub inputs: Vec<u32>,
    pub targets: Vec<u32>,
}

impl Columns {
    pub fn new(tokens: &[u32], batch: usize) -> Result<Columns, BatchError> {
        if batch == 0 {
            return Err(BatchError::ZeroBatch);
        }
        let rows = tokens.len() / batch;
        if rows < 2 {
            return Err(BatchError::TooShort { tokens: tokens.len(), batch });
        }
        let data = (0..rows).flat_map(|t| (0..batch).map(move |b| tokens[b * rows + t])).collect();
        Ok(Columns { data, rows, batch })
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn batch(&self) -> usize {
        self.batch
    }

    /// The window at `start` of `len` rows, cut short where the targets run out (as `get_batch`).
    pub fn window(&self, start: usize, len: usize) -> Window {
        let len = len.min(self.rows.saturating_sub(1 + start));
        let rows = |from: usize| self.data[from * self.batch..(from + len) * self.batch].to_vec();
        Window { start, len, inputs: rows(start), targets: rows(start + 1) }
    }

    /// Evaluation windows: `bptt` rows each, from row 0, the last one shorter.
    pub fn eval_windows(&self, bptt: usize) -> impl Iterator<Item = Window> + '_ {
        (0..self.rows - 1).step_by(bptt.max(1)).map(move |start| self.window(start, bptt))
    }

    /// The (start, len) of every training window of `epoch`, lengths drawn by `lengths`. Like the
    /// reference, the epoch ends once fewer than 2 rows are left.
    pub fn train_windows(&self, lengths: &SeqLen, epoch: usize) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let mut start = 0;
        while start + 2 < self.rows {
            let len = lengths.draw(epoch, out.len()).min(self.rows - 1 - start);
            out.push((start, len));
            start += len;
        }
        out
    }
}

/// The training window lengths of a run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeqLen {
    pub bptt: usize,
    /// How far past `bptt` a drawn length may go (the reference's `max_seq_len_delta`, 20).
    pub max_delta: usize,
    pub seed: u64,
    /// Standard deviation of the normal jitter around the centre: 5 in retraining, 0 in search.
    pub spread: f64,
}

impl SeqLen {
    /// The length of window `window` of `epoch`.
    pub fn draw(&self, epoch: usize, window: usize) -> usize {
        let mut rng = ChaCha8Rng::seed_from_u64(stream_seed(self.seed, epoch, window, Stream::SeqLen));
        let centre = if rng.random::<f64>() < 0.95 { self.bptt as f64 } else { self.bptt as f64 / 2.0 };
        let jitter = if self.spread > 0.0 { self.spread * standard_normal(&mut rng) } else { 0.0 };
        let drawn = (centre + jitter).trunc();
        // `int()` of a negative value is negative; the floor of 5 applies first, as in the reference.
        let len = if drawn < 5.0 { 5 } else { drawn as usize };
        len.min(self.bptt + self.max_delta)
    }
}

/// One standard normal draw by the Box-Muller transform (rand's core crate has no normal).
fn standard_normal(rng: &mut impl Rng) -> f64 {
    let u1 = 1.0 - rng.random::<f64>(); // in (0, 1], so the log is finite
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batchify_lays_contiguous_pieces_side_by_side() {
        // 11 tokens in 3 columns: 3 rows, token 9 and 10 dropped (the reference's narrow + view + t).
        let tokens: Vec<u32> = (0..11).collect();
        let c = Columns::new(&tokens, 3).unwrap();
        assert_eq!((c.rows(), c.batch()), (3, 3));
        assert_eq!(c.data, vec![0, 3, 6, 1, 4, 7, 2, 5, 8]);
        let w = c.window(0, 5);
        assert_eq!((w.len, w.inputs, w.targets), (2, vec![0, 3, 6, 1, 4, 7], vec![1, 4, 7, 2, 5, 8]));
        let w = c.window(1, 1);
        assert_eq!((w.inputs, w.targets), (vec![1, 4, 7], vec![2, 5, 8]));
    }

    #[test]
    fn eval_windows_cover_every_target_once() {
        let tokens: Vec<u32> = (0..40).collect();
        let c = Columns::new(&tokens, 2).unwrap(); // 20 rows: 19 targets per column
        let lens: Vec<usize> = c.eval_windows(7).map(|w| w.len).collect();
        assert_eq!(lens, vec![7, 7, 5]);
        let targets: Vec<u32> = c.eval_windows(7).flat_map(|w| w.targets).collect();
        let mut expect: Vec<u32> = (1..20).flat_map(|t| [t, 20 + t]).collect();
        expect.sort();
        let mut got = targets.clone();
        got.sort();
        assert_eq!(got, expect);
    }

    #[test]
    fn training_lengths_follow_the_reference_distribution() {
        let s = SeqLen { bptt: 35, max_delta: 20, seed: 7, spread: 5.0 };
        let draws: Vec<usize> = (0..20_000).map(|i| s.draw(3, i)).collect();
        assert!(draws.iter().all(|&l| (5..=55).contains(&l)));
        // 95% around 35, 5% around 17.5: the mean is 0.95 * 34.5 + 0.05 * 17 = 33.625 (trunc takes
        // 0.5 off on average). Below 25: 0.95 * P(z < -2) + 0.05 * P(z < 1.5) = 0.95 * 0.0228 +
        // 0.05 * 0.9332 = 0.0683.
        let mean = draws.iter().sum::<usize>() as f64 / draws.len() as f64;
        assert!((mean - 33.625).abs() < 0.2, "{mean}");
        let short = draws.iter().filter(|&&l| l < 25).count() as f64 / draws.len() as f64;
        assert!((short - 0.0683).abs() < 0.005, "{short}");
        // Keyed: the same (seed, epoch, window) gives the same length, another epoch other lengths.
        assert_eq!(s.draw(3, 17), draws[17]);
        assert_ne!((0..50).map(|i| s.draw(4, i)).collect::<Vec<_>>(), draws[..50].to_vec());
        let tight = SeqLen { bptt: 6, max_delta: 0, seed: 1, spread: 5.0 };
        assert!((0..1000).all(|i| (5..=6).contains(&tight.draw(0, i))));
    }

    /// The search's rule: `int(bptt)` of 35, or of 17.5 with probability 0.05, nothing else.
    #[test]
    fn search_lengths_are_bptt_or_half_of_it() {
        let s = SeqLen { bptt: 35, max_delta: 20, seed: 7, spread: 0.0 };
        let draws: Vec<usize> = (0..20_000).map(|i| s.draw(0, i)).collect();
        assert!(draws.iter().all(|&l| l == 35 || l == 17), "{:?}", &draws[..20]);
        let half = draws.iter().filter(|&&l| l == 17).count() as f64 / draws.len() as f64;
        assert!((half - 0.05).abs() < 0.005, "{half}");
    }

    #[test]
    fn training_windows_tile_the_columns() {
        let tokens: Vec<u32> = (0..2_000).collect();
        let c = Columns::new(&tokens, 4).unwrap(); // 500 rows
        let w = c.train_windows(&SeqLen { bptt: 35, max_delta: 20, seed: 0, spread: 5.0 }, 0);
        assert_eq!(w[0].0, 0);
        for pair in w.windows(2) {
            assert_eq!(pair[0].0 + pair[0].1, pair[1].0);
        }
        let (start, len) = *w.last().unwrap();
        assert!(start + 2 < 500 && start + len <= 499, "{start} {len}");
        assert!(start + len >= 498, "the epoch stops with fewer than 2 rows left: {start} + {len}");
    }

    #[test]
    fn too_little_text_is_an_error() {
        assert_eq!(Columns::new(&[1, 2, 3], 2), Err(BatchError::TooShort { tokens: 3, batch: 2 }));
        assert_eq!(Columns::new(&[1, 2, 3], 0), Err(BatchError::ZeroBatch));
    }
}
