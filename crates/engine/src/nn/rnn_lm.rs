//! The DARTS recurrent language model (Liu et al. 2019; quark0/darts `rnn/model.py`): a word
//! embedding, one DARTS recurrent cell unrolled over the sequence, and a decoder that shares the
//! embedding matrix. The cell is described in `oxnas_core::darts_rnn`; this module runs it.
//!
//! Regularisation follows the reference (after Merity et al.'s AWD-LSTM), active in training only:
//! - embedding dropout: whole rows of the embedding matrix (words) dropped, `dropoute`;
//! - locked ("variational") dropout, one mask per sequence shared by all time steps: on the embedded
//!   input (`dropouti`) and on the cell output before the decoder (`dropout`);
//! - inside the cell, one mask per sequence on `x_t` (`dropoutx`) and on every state a node reads,
//!   `h_{t-1}` included (`dropouth`).
//!
//! Parameter names are the reference's state-dict keys: `encoder.weight`, `decoder.bias`,
//! `rnns.0._W0`, `rnns.0._Ws.{i}`; the decoder's weight is `encoder.weight` itself, counted once.

pub use oxnas_core::darts_rnn::Dropouts;
use oxnas_core::darts_rnn::{RnnGenotype, RnnOp};
use oxnas_core::text::Columns;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tch::{nn, nn::Path, Device, Kind, Tensor};

/// The reference initialises every weight uniformly in ±0.04 and the decoder bias at 0.
pub(crate) const INIT_RANGE: f64 = 0.04;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RnnLmConfig {
    pub vocab: i64,
    /// Embedding and hidden size (equal: the decoder reads the hidden state through the embedding).
    pub hidden: i64,
    pub dropouts: Dropouts,
}

impl RnnLmConfig {
    pub fn init(&self, p: &Path, genotype: &RnnGenotype) -> RnnLm {
        RnnLm::new(p, self, genotype)
    }
}

/// What one forward pass gives.
#[derive(Debug)]
pub struct LmOutput {
    /// `[T, B, vocab]` log-probabilities of the next word.
    pub log_probs: Tensor,
    /// `[1, B, hidden]`: the last state, to carry into the next window.
    pub hidden: Tensor,
    /// `[T, B, hidden]`: cell outputs before the output dropout (the reference's slowness penalty
    /// reads these).
    pub raw: Tensor,
    /// `[T, B, hidden]`: the same after the output dropout (the activation penalty reads these).
    pub dropped: Tensor,
}

impl LmOutput {
    /// AWD-LSTM's two activation penalties, as the DARTS recurrent scripts add them to the w loss:
    /// `ar · mean(dropped²)` (activation regularisation) and `tar · mean((raw_t − raw_{t−1})²)`
    /// (temporal activation regularisation, "slowness"). `None` when both weights are 0.
    pub fn penalties(&self, ar: f64, tar: f64) -> Option<Tensor> {
        let mut terms = vec![];
        if ar > 0.0 {
            terms.push(self.dropped.pow_tensor_scalar(2).mean(Kind::Float) * ar);
        }
        let steps = self.raw.size()[0];
        if tar > 0.0 && steps > 1 {
            let change = self.raw.narrow(0, 1, steps - 1) - self.raw.narrow(0, 0, steps - 1);
            terms.push(change.pow_tensor_scalar(2).mean(Kind::Float) * tar);
        }
        terms.into_iter().reduce(|a, b| a + b)
    }
}

/// Per-sequence dropout masks of the cell (absent in evaluation).
pub struct CellMasks {
    pub x: Tensor,
    pub h: Tensor,
}

/// A recurrent cell the language model can unroll: the evaluation cell of a genotype, or the search
/// cell whose edges mix every op.
pub trait RecurrentCell {
    /// The cell over `inputs` (`[T, B, input]`) from `h0` (`[1, B, hidden]`): `[T, B, hidden]`.
    fn unroll(&self, inputs: &Tensor, h0: &Tensor, masks: Option<&CellMasks>, train: bool) -> Tensor;
}

#[derive(Debug)]
pub struct DartsRnnCell {
    w0: Tensor,
    ws: Vec<Tensor>,
    recurrent: Vec<(RnnOp, usize)>,
    concat: Vec<usize>,
    hidden: i64,
}

impl DartsRnnCell {
    pub fn new(p: &Path, input: i64, hidden: i64, genotype: &RnnGenotype) -> Self {
        let init = nn::Init::Uniform { lo: -INIT_RANGE, up: INIT_RANGE };
        let w0 = p.var("_W0", &[input + hidden, 2 * hidden], init);
        let ws_path = p / "_Ws";
        let ws = (0..genotype.steps()).map(|i| ws_path.var(&i.to_string(), &[hidden, 2 * hidden], init)).collect();
        DartsRnnCell { w0, ws, recurrent: genotype.recurrent.clone(), concat: genotype.concat.clone(), hidden }
    }

    fn step(&self, x: &Tensor, h_prev: &Tensor, masks: Option<&CellMasks>) -> Tensor {
        let mut states = vec![initial_state(x, h_prev, &self.w0, self.hidden, masks)];
        for (i, &(op, pred)) in self.recurrent.iter().enumerate() {
            let s_prev = &states[pred];
            let read = match masks {
                Some(m) => s_prev * &m.h,
                None => s_prev.shallow_clone(),
            };
            let next = highway(s_prev, &read.mm(&self.ws[i]), self.hidden, op);
            states.push(next);
        }
        let chosen: Vec<&Tensor> = self.concat.iter().map(|&i| &states[i]).collect();
        Tensor::stack(&chosen, -1).mean_dim(-1, false, Kind::Float)
    }
}

impl RecurrentCell for DartsRnnCell {
    fn unroll(&self, inputs: &Tensor, h0: &Tensor, masks: Option<&CellMasks>, _train: bool) -> Tensor {
        unroll_with(inputs, h0, |x, h| self.step(x, h, masks))
    }
}

/// The time loop every cell shares: `step(x_t, h_{t-1})` gives `h_t`; the outputs are stacked.
pub fn unroll_with(inputs: &Tensor, h0: &Tensor, mut step: impl FnMut(&Tensor, &Tensor) -> Tensor) -> Tensor {
    let mut h = h0.get(0);
    let mut outputs = Vec::with_capacity(inputs.size()[0] as usize);
    for t in 0..inputs.size()[0] {
        h = step(&inputs.get(t), &h);
        outputs.push(h.shallow_clone());
    }
    Tensor::stack(&outputs, 0)
}

/// Node 0: the highway update of `h_{t-1}` from `[x_t, h_{t-1}]` (masked in training) through `W0`,
/// with tanh as the candidate's activation.
pub fn initial_state(x: &Tensor, h_prev: &Tensor, w0: &Tensor, hidden: i64, masks: Option<&CellMasks>) -> Tensor {
    let xh = match masks {
        Some(m) => Tensor::cat(&[x * &m.x, h_prev * &m.h], -1),
        None => Tensor::cat(&[x, h_prev], -1),
    };
    highway(h_prev, &xh.mm(w0), hidden, RnnOp::Tanh)
}

/// `s + sigmoid(c) * (f(h) - s)` with `[c, h]` the two halves of `ch`: every node's update.
fn highway(s: &Tensor, ch: &Tensor, hidden: i64, op: RnnOp) -> Tensor {
    let parts = ch.split(hidden, -1);
    let (c, h) = (parts[0].sigmoid(), activation(&parts[1], op));
    s + c * (h - s)
}

pub(crate) fn activation(h: &Tensor, op: RnnOp) -> Tensor {
    match op {
        RnnOp::Tanh => h.tanh(),
        RnnOp::Relu => h.relu(),
        RnnOp::Sigmoid => h.sigmoid(),
        RnnOp::Identity => h.shallow_clone(),
        // A genotype never holds `none` (RnnGenotype validates); as an op it contributes nothing.
        RnnOp::None => h.zeros_like(),
    }
}

/// The language model around a recurrent cell `C`.
pub struct RnnLm<C = DartsRnnCell> {
    encoder: Tensor,
    decoder_bias: Tensor,
    pub cell: C,
    cfg: RnnLmConfig,
}

impl RnnLm<DartsRnnCell> {
    pub fn new(p: &Path, cfg: &RnnLmConfig, genotype: &RnnGenotype) -> Self {
        RnnLm::with_cell(p, cfg, |cell_path| DartsRnnCell::new(cell_path, cfg.hidden, cfg.hidden, genotype))
    }
}

impl<C: RecurrentCell> RnnLm<C> {
    /// The embedding and decoder under `p`, the cell (built by `cell`) under `p/rnns/0`, as the
    /// reference names them.
    pub fn with_cell(p: &Path, cfg: &RnnLmConfig, cell: impl FnOnce(&Path) -> C) -> Self {
        let init = nn::Init::Uniform { lo: -INIT_RANGE, up: INIT_RANGE };
        let encoder = (p / "encoder").var("weight", &[cfg.vocab, cfg.hidden], init);
        let decoder_bias = (p / "decoder").var("bias", &[cfg.vocab], nn::Init::Const(0.0));
        let cell = cell(&(p / "rnns" / "0"));
        RnnLm { encoder, decoder_bias, cell, cfg: cfg.clone() }
    }

    pub fn init_hidden(&self, batch: i64) -> Tensor {
        Tensor::zeros([1, batch, self.cfg.hidden], (Kind::Float, self.encoder.device()))
    }

    /// `input`: `[T, B]` token ids; `hidden`: `[1, B, hidden]`. With [`Dropout::Seed`] the model is in
    /// training mode, its masks drawn from that seed.
    pub fn forward_t(&self, input: &Tensor, hidden: &Tensor, dropout: Dropout) -> LmOutput {
        let (d, mut masks) = match dropout {
            Dropout::Off | Dropout::BatchStats => (Dropouts::NONE, None),
            Dropout::Seed(seed) => (self.cfg.dropouts, Some(MaskDraw::new(seed, self.encoder.device()))),
        };
        let (batch, h) = (input.size()[1], self.cfg.hidden);
        let mut mask = |shape: &[i64], p: f64| masks.as_mut().and_then(|m| m.keep_mask(shape, p));
        let weight = match mask(&[self.cfg.vocab, 1], d.embedding) {
            Some(m) => &self.encoder * m,
            None => self.encoder.shallow_clone(),
        };
        let emb = Tensor::embedding(&weight, input, -1, false, false);
        let emb = apply(&emb, mask(&[1, batch, h], d.input));
        let ones = || Tensor::ones([batch, h], (Kind::Float, self.encoder.device()));
        let cell_masks = matches!(dropout, Dropout::Seed(_)).then(|| CellMasks {
            x: mask(&[batch, h], d.x).unwrap_or_else(ones),
            h: mask(&[batch, h], d.hidden).unwrap_or_else(ones),
        });
        let raw = self.cell.unroll(&emb, hidden, cell_masks.as_ref(), dropout != Dropout::Off);
        let last = raw.get(-1).unsqueeze(0);
        let out = apply(&raw, mask(&[1, batch, h], d.output));
        let logits = out.view([-1, self.cfg.hidden]).matmul(&self.encoder.tr()) + &self.decoder_bias;
        let log_probs = logits.log_softmax(-1, Kind::Float).view([-1, batch, self.cfg.vocab]);
        LmOutput { log_probs, hidden: last, raw, dropped: out }
    }
}

/// Mean negative log-likelihood per target token of `lm` over `columns` (evaluation mode, windows of
/// `bptt` rows from a zero state, the state carried between windows): the log of the perplexity.
///
/// The reference's `evaluate` divides the window-length-weighted sum by the number of rows rather than
/// the number of target rows (one fewer), which understates the loss by a factor (rows - 1) / rows;
/// this is the exact per-token mean.
pub fn mean_nll<C: RecurrentCell>(lm: &RnnLm<C>, columns: &Columns, bptt: usize) -> f64 {
    let device = lm.encoder.device();
    let batch = columns.batch() as i64;
    let ids = |v: &[u32]| token_ids(v, device);
    tch::no_grad(|| {
        let (mut hidden, mut sum, mut count) = (lm.init_hidden(batch), 0.0, 0usize);
        for w in columns.eval_windows(bptt) {
            let input = ids(&w.inputs).view([w.len as i64, batch]);
            let out = lm.forward_t(&input, &hidden, Dropout::Off);
            let nll = out.log_probs.view([-1, lm.cfg.vocab]).nll_loss(&ids(&w.targets));
            sum += nll.double_value(&[]) * (w.len * columns.batch()) as f64;
            count += w.len * columns.batch();
            hidden = out.hidden;
        }
        sum / count as f64
    })
}

/// Token ids as an int64 tensor on `device`, the form embedding lookups and `nll_loss` take.
pub fn token_ids(v: &[u32], device: Device) -> Tensor {
    Tensor::from_slice(&v.iter().map(|&t| t as i64).collect::<Vec<_>>()).to_device(device)
}

/// Where a forward pass's dropout masks come from: none (evaluation), or a seed. Masks are drawn on
/// the host from that seed and copied to the model's device, so that a training window computes the
/// same on every device and whatever else uses libtorch's global generator meanwhile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropout {
    Off,
    Seed(u64),
    /// No dropout, but batch normalisation (the search cell's) in training mode, on each batch's own
    /// statistics: how a single path is scored or its statistics re-estimated.
    BatchStats,
}

/// The masks of one forward pass, in a fixed order: embedding rows, input, `x_t`, states, output.
struct MaskDraw {
    rng: ChaCha8Rng,
    device: Device,
}

impl MaskDraw {
    fn new(seed: u64, device: Device) -> Self {
        MaskDraw { rng: ChaCha8Rng::seed_from_u64(seed), device }
    }

    /// Bernoulli(1 - p) / (1 - p) of `shape`, dropout's scaled keep mask; `None` when `p` is 0.
    fn keep_mask(&mut self, shape: &[i64], p: f64) -> Option<Tensor> {
        if p <= 0.0 {
            return None;
        }
        let n: i64 = shape.iter().product();
        let (keep, scale) = (1.0 - p, (1.0 / (1.0 - p)) as f32);
        let values: Vec<f32> = (0..n).map(|_| if self.rng.random::<f64>() < keep { scale } else { 0.0 }).collect();
        Some(Tensor::from_slice(&values).view(shape).to_device(self.device))
    }
}

/// `x` times a locked (`[1, B, D]`: one per sequence, the same at every step) mask, if any.
fn apply(x: &Tensor, mask: Option<Tensor>) -> Tensor {
    match mask {
        Some(m) => x * m,
        None => x.shallow_clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxnas_core::darts_rnn::{cost::LmSize, resolve};
    use tch::{nn::VarStore, Device};

    fn lm(vocab: i64, hidden: i64, name: &str) -> (VarStore, RnnLm) {
        let vs = VarStore::new(Device::Cpu);
        let cfg = RnnLmConfig { vocab, hidden, dropouts: Dropouts::EVAL };
        let model = cfg.init(&vs.root(), &resolve(name).unwrap());
        (vs, model)
    }

    #[test]
    fn parameters_equal_the_counts_derived_in_core() {
        for name in ["DARTS_V2", "DARTS_V1", "ENAS"] {
            let (vs, _) = lm(97, 24, name);
            let count: i64 = vs.trainable_variables().iter().map(|t| t.numel() as i64).sum();
            let g = resolve(name).unwrap();
            assert_eq!(count as u64, LmSize::new(97, 24, 24).unwrap().eval_params(&g), "{name}");
        }
        let (vs, _) = lm(10, 4, "DARTS_V2");
        let mut names: Vec<String> = vs.variables().into_keys().collect();
        names.sort();
        let mut want = vec!["decoder.bias".to_string(), "encoder.weight".into(), "rnns.0._W0".into()];
        want.extend((0..8).map(|i| format!("rnns.0._Ws.{i}")));
        want.sort();
        assert_eq!(names, want);
    }

    #[test]
    fn shapes_and_eval_determinism() {
        let (_vs, m) = lm(50, 16, "DARTS_V2");
        let input = Tensor::from_slice(&[1i64, 2, 3, 4, 5, 6]).view([3, 2]);
        let h = m.init_hidden(2);
        let a = m.forward_t(&input, &h, Dropout::Off);
        assert_eq!(a.log_probs.size(), [3, 2, 50]);
        assert_eq!((a.hidden.size(), a.raw.size()), (vec![1, 2, 16], vec![3, 2, 16]));
        let total = a.log_probs.exp().sum_dim_intlist(-1, false, Kind::Float);
        assert!(total.allclose(&Tensor::ones([3, 2], (Kind::Float, Device::Cpu)), 1e-5, 1e-5, false));
        let b = m.forward_t(&input, &h, Dropout::Off);
        assert!(a.log_probs.equal(&b.log_probs));
        // Carrying the state: two windows of 1 step equal one window of 2 steps.
        let first = m.forward_t(&input.narrow(0, 0, 1), &h, Dropout::Off);
        let second = m.forward_t(&input.narrow(0, 1, 1), &first.hidden, Dropout::Off);
        let both = m.forward_t(&input.narrow(0, 0, 2), &h, Dropout::Off);
        assert!(second.log_probs.allclose(&both.log_probs.narrow(0, 1, 1), 1e-6, 1e-6, false));
    }

    #[test]
    fn training_dropout_is_random_and_backpropagates() {
        let (vs, m) = lm(30, 8, "DARTS_V1");
        let input = Tensor::from_slice(&[1i64, 2, 3, 4, 5, 6, 7, 8]).view([4, 2]);
        let h = m.init_hidden(2);
        let a = m.forward_t(&input, &h, Dropout::Seed(1));
        let b = m.forward_t(&input, &h, Dropout::Seed(2));
        assert!(!a.log_probs.equal(&b.log_probs), "dropout masks differ between seeds");
        tch::manual_seed(9); // the masks do not come from libtorch's generator
        assert!(m.forward_t(&input, &h, Dropout::Seed(1)).log_probs.equal(&a.log_probs), "one seed, one mask");
        let loss = a.log_probs.view([-1, 30]).nll_loss(&input.view([-1]));
        loss.backward();
        for (name, t) in vs.variables() {
            assert!(t.grad().defined() && t.grad().abs().sum(Kind::Float).double_value(&[]) > 0.0, "{name}");
        }
    }

    /// The reference model's own outputs (bench/pytorch/darts_rnn_golden.py ran quark0/darts
    /// `rnn/model.py` in evaluation mode): same weights, same tokens, two windows with the state
    /// carried between them.
    #[test]
    fn forward_matches_the_reference_model() {
        let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let golden: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(fixtures.join("darts_rnn_golden.json")).unwrap()).unwrap();
        let params = &golden["params"];
        assert_eq!(params["DARTS_V2_ptb_850"], LmSize::PTB_EVAL.eval_params(&resolve("DARTS_V2").unwrap()));
        assert_eq!(params["DARTS_V1_ptb_850"], LmSize::PTB_EVAL.eval_params(&resolve("DARTS_V1").unwrap()));
        assert_eq!(params["search_ptb_300"], LmSize::PTB_SEARCH.search_params());

        let (mut vs, m) = lm(20, 16, "DARTS_V2");
        let weights = Tensor::read_safetensors(fixtures.join("darts_rnn_v2_v20_h16.safetensors")).unwrap();
        let weights: std::collections::HashMap<String, Tensor> = weights.into_iter().collect();
        assert!(weights["decoder.weight"].equal(&weights["encoder.weight"]), "the reference ties them");
        vs.freeze();
        tch::no_grad(|| {
            for (name, mut var) in vs.variables() {
                var.copy_(&weights[&name]);
            }
        });
        let rows: Vec<Vec<i64>> = serde_json::from_value(golden["tokens"].clone()).unwrap();
        let tokens = Tensor::from_slice2(&rows);
        let mut hidden = m.init_hidden(3);
        let mut start = 0;
        for (w, len) in [4i64, 2].into_iter().enumerate() {
            let out = m.forward_t(&tokens.narrow(0, start, len), &hidden, Dropout::Off);
            let want: Vec<Vec<Vec<f32>>> = serde_json::from_value(golden["log_probs"][w].clone()).unwrap();
            let want = Tensor::from_slice(&want.concat().concat()).view([len, 3, 20]);
            let diff = (&out.log_probs - &want).abs().max().double_value(&[]);
            assert!(diff < 1e-5, "window {w}: max |difference| {diff}");
            hidden = out.hidden;
            start += len;
        }
    }

    /// With every weight zero the model predicts the uniform distribution, so the mean NLL is
    /// ln(vocab) exactly and the perplexity is the vocabulary size.
    #[test]
    fn mean_nll_of_a_uniform_model_is_log_vocab() {
        let (vs, m) = lm(13, 8, "DARTS_V2");
        let tokens: Vec<u32> = (0..300).map(|i| (i % 13) as u32).collect();
        let cols = Columns::new(&tokens, 4).unwrap();
        tch::no_grad(|| {
            for (_, mut t) in vs.variables() {
                let _ = t.zero_();
            }
        });
        let nll = mean_nll(&m, &cols, 7);
        assert!((nll - 13f64.ln()).abs() < 1e-6, "{nll}");
    }
}
