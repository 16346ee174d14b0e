//! The recurrent supernet's workload (quark0/darts `rnn/train_search.py`): w trains on the corpus's
//! train split, α on its validation split, both as contiguous columns read in BPTT windows whose
//! hidden states carry over from one window to the next.
//!
//! Per step, as the reference does it:
//! - the window length is `bptt`, or `bptt / 2` with probability 0.05, and the w learning rate
//!   (which the unrolled α step also uses) is scaled by length / bptt;
//! - the α batch is the validation window at the same row (modulo the validation rows), `bptt` long,
//!   read from the α stream's own hidden state, which the α step carries on;
//! - the w loss is the NLL plus the activation penalties; the α loss is the plain NLL; both run the
//!   model in training mode, dropout included;
//! - gradients of w are clipped (0.25), and the unrolled step clips as well.
//!
//! Dropout masks come from keyed streams (iteration, window, forward pass), so a run repeats exactly.

use super::architect::BilevelLosses;
use super::hessian::HessianProbe;
use super::rnn_supernet::{RnnSupernet, SearchRnnCell};
use super::state::EdgeVector;
use super::workload::{diverged_at, EpochAt, Evaluation, LambdaProbe, TrainedEpoch, Trainee, Workload};
use super::{SearchEpoch, SearchError};
use crate::nn::{mean_nll, token_ids, Dropout, RnnLm, RnnLmConfig};
use crate::progress::Progress;
use crate::run::{set_threads, stream_seed, Stream};
use crate::DeviceChoice;
use oxnas_core::config::{ConfigError, DartsRnnSupernetConfig, EigenMethod, SearchConfig, StepOrder, SupernetConfig};
use oxnas_core::text::{Columns, Corpus, SeqLen};
use tch::{Device, Tensor};

pub struct TextWorkload {
    corpus: Corpus,
    device: Device,
    bptt: usize,
    /// The train split at the w batch size, and the validation split at the same size (α).
    columns: Option<(Columns, Columns)>,
    /// The validation split at `run.eval_batch_size` columns (the end-of-epoch pass).
    eval: Columns,
    /// The last α window of the epoch just trained and the state it started from.
    probe: Option<Window>,
}

/// A window on the device: inputs `[T, B]`, targets `[T·B]`, and the hidden state it starts from.
struct Window {
    input: Tensor,
    target: Tensor,
    hidden: Tensor,
}

/// The supernet config of a text search.
fn model(cfg: &SearchConfig) -> Result<&DartsRnnSupernetConfig, SearchError> {
    match &cfg.supernet {
        SupernetConfig::DartsRnn(m) => Ok(m),
        _ => Err(SearchError::Invalid("a text corpus needs supernet.space = \"darts-rnn\"".into())),
    }
}

fn columns(tokens: &[u32], batch: usize, split: &str, key: &str) -> Result<Columns, SearchError> {
    Columns::new(tokens, batch)
        .map_err(|e| SearchError::Config(ConfigError::Invalid(format!("the {split} split with {key} = {batch}: {e}"))))
}

impl Workload for TextWorkload {
    type Net = RnnSupernet;
    const TEXT: bool = true;

    fn load(cfg: &SearchConfig) -> Result<Self, SearchError> {
        let data = cfg.data.text()?;
        let device = cfg.run.device.parse::<DeviceChoice>()?.resolve()?;
        set_threads(cfg.run.threads, "run.threads");
        let corpus = Corpus::load(data.data_dir.as_deref()).map_err(|e| SearchError::Invalid(e.to_string()))?;
        let eval = columns(&corpus.valid, cfg.run.eval_batch_size, "valid", "run.eval_batch_size")?;
        Ok(TextWorkload { corpus, device, bptt: data.bptt, columns: None, eval, probe: None })
    }

    fn build(&self, cfg: &SearchConfig) -> Result<Box<RnnSupernet>, SearchError> {
        let m = model(cfg)?;
        let lm = RnnLmConfig { vocab: self.corpus.vocab.len() as i64, hidden: m.hidden as i64, dropouts: m.dropouts };
        Ok(Box::new(RnnSupernet::new(&lm, self.device)))
    }

    fn unrolled_clip(cfg: &SearchConfig) -> Option<f64> {
        (cfg.optim.grad_clip > 0.0).then_some(cfg.optim.grad_clip)
    }

    fn set_batch_size(&mut self, _cfg: &SearchConfig, batch: usize) -> Result<(), SearchError> {
        if self.columns.as_ref().is_some_and(|(t, _)| t.batch() == batch) {
            return Ok(());
        }
        let train = columns(&self.corpus.train, batch, "train", "optim.batch_size")?;
        let valid = columns(&self.corpus.valid, batch, "valid", "optim.batch_size")?;
        self.columns = Some((train, valid));
        Ok(())
    }

    fn device(&self) -> Device {
        self.device
    }

    fn describe(&self) -> String {
        let c = &self.corpus;
        format!(
            "data: {} ({} words; w trains on {} train tokens, α on {} validation tokens)",
            c.origin,
            c.vocab.len(),
            c.train.len(),
            c.valid.len()
        )
    }

    fn steps_per_epoch(&self) -> usize {
        self.columns.as_ref().map_or(0, |(t, _)| t.rows().div_ceil(self.bptt))
    }

    fn train_epoch(
        &mut self,
        t: &mut Trainee<RnnSupernet>,
        cfg: &SearchConfig,
        at: EpochAt,
        progress: &mut dyn Progress<SearchEpoch>,
    ) -> Result<TrainedEpoch, SearchError> {
        let started = std::time::Instant::now();
        let (train, valid) = self.columns.as_ref().expect("set_batch_size runs before the first epoch");
        let lengths = SeqLen { bptt: self.bptt, max_delta: 0, seed: cfg.run.seed, spread: 0.0 };
        let m = model(cfg)?;
        let mut hidden = t.net.lm.init_hidden(train.batch() as i64);
        let mut hidden_valid = hidden.shallow_clone();
        let (mut nll_sum, mut tokens) = (0.0, 0usize);
        for (w, &(start, len)) in train.train_windows(&lengths, at.iteration).iter().enumerate() {
            let x = self.window(train, start, len, &hidden);
            let v = self.window(valid, start % (valid.rows() - 1), self.bptt, &hidden_valid);
            let step = StepKeys { seed: cfg.run.seed, iteration: at.iteration, window: w };
            let lr = at.lr * len as f64 / self.bptt as f64;
            let (nll, next, next_valid) = bilevel_step(t, cfg, m, (&x, &v), step, lr);
            if !nll.is_finite() {
                return Err(diverged_at(nll, at.epoch, w, "window"));
            }
            (hidden, hidden_valid) = (next, next_valid);
            nll_sum += nll * (len * train.batch()) as f64;
            tokens += len * train.batch();
            self.probe = Some(v);
            progress.batch(w + 1, nll);
        }
        Ok(TrainedEpoch {
            loss: nll_sum / tokens.max(1) as f64,
            accuracy: None,
            seen: tokens,
            seconds: started.elapsed().as_secs_f64(),
        })
    }

    fn evaluate(&self, net: &RnnSupernet) -> Evaluation {
        Evaluation { loss: mean_nll(&net.lm, &self.eval, self.bptt), accuracy: None }
    }

    /// λmax on the epoch's last α window, from the state it started at, in evaluation mode: no
    /// dropout, the batch norm on its running statistics, the network the validation perplexity
    /// measures. In training mode the batch statistics of one window dominate the α-curvature and
    /// make it erratic (22.5, 1.12, 4.8e6 on the CPU preset's first three epochs, against 0.0017,
    /// 0.0020, 0.0023 in evaluation mode).
    fn lambda_max(
        &self,
        t: &Trainee<RnnSupernet>,
        probe: &HessianProbe,
        method: (EigenMethod, u64),
        (warm, check): (Option<&EdgeVector>, bool),
    ) -> Result<Option<LambdaProbe>, SearchError> {
        let Some(v) = &self.probe else { return Ok(None) };
        let lm = &t.net.lm;
        let mut loss = || nll(lm, v, Dropout::Off).0;
        let mut out = t.lambda_max(probe, method, warm, &mut loss)?;
        if let Some(p) = out.as_mut().filter(|_| check) {
            p.check = Some(t.lambda_check(probe, method, &mut loss)?);
        }
        Ok(out)
    }
}

impl TextWorkload {
    fn window(&self, columns: &Columns, start: usize, len: usize, hidden: &Tensor) -> Window {
        let w = columns.window(start, len);
        Window {
            input: token_ids(&w.inputs, self.device).view([w.len as i64, columns.batch() as i64]),
            target: token_ids(&w.targets, self.device),
            hidden: hidden.detach(),
        }
    }
}

/// The mean NLL of `lm` on a window and the state it ends in.
fn nll(lm: &RnnLm<SearchRnnCell>, w: &Window, dropout: Dropout) -> (Tensor, crate::nn::LmOutput) {
    let out = lm.forward_t(&w.input, &w.hidden, dropout);
    let vocab = out.log_probs.size()[2];
    (out.log_probs.view([-1, vocab]).nll_loss(&w.target), out)
}

/// What keys a step's dropout masks.
#[derive(Clone, Copy)]
struct StepKeys {
    seed: u64,
    iteration: usize,
    window: usize,
}

impl StepKeys {
    /// Masks of forward pass `pass` of this step (the w pass is 0; α passes count from 1).
    fn dropout(&self, pass: usize) -> Dropout {
        Dropout::Seed(stream_seed(self.seed, self.iteration, self.window * 8 + pass, Stream::LmSearchDropout))
    }
}

/// The α losses of one step; the validation pass's final state is kept for the next window.
struct TextLosses<'a> {
    lm: &'a RnnLm<SearchRnnCell>,
    train: &'a Window,
    valid: &'a Window,
    keys: StepKeys,
    passes: usize,
    valid_hidden: Option<Tensor>,
}

impl TextLosses<'_> {
    fn next_dropout(&mut self) -> Dropout {
        self.passes += 1;
        self.keys.dropout(self.passes)
    }
}

impl BilevelLosses for TextLosses<'_> {
    fn train(&mut self) -> Tensor {
        let dropout = self.next_dropout();
        nll(self.lm, self.train, dropout).0
    }

    fn valid(&mut self) -> Tensor {
        let dropout = self.next_dropout();
        let (loss, out) = nll(self.lm, self.valid, dropout);
        self.valid_hidden = Some(out.hidden.detach());
        loss
    }
}

/// One α step and one w step; the w window's NLL and the next states of both streams.
fn bilevel_step(
    t: &mut Trainee<RnnSupernet>,
    cfg: &SearchConfig,
    m: &DartsRnnSupernetConfig,
    (train, valid): (&Window, &Window),
    keys: StepKeys,
    lr: f64,
) -> (f64, Tensor, Tensor) {
    let mut next_valid = valid.hidden.shallow_clone();
    let mut alpha_step = |t: &mut Trainee<RnnSupernet>| {
        if !t.train_alpha {
            return;
        }
        let mut losses = TextLosses { lm: &t.net.lm, train, valid, keys, passes: 0, valid_hidden: None };
        t.architect.step(t.net.as_ref(), &mut losses, lr, &t.w_opt);
        if let Some(h) = losses.valid_hidden {
            next_valid = h;
        }
    };
    if cfg.arch.step_order == StepOrder::AlphaFirst {
        alpha_step(t);
    }
    let (loss, out) = nll(&t.net.lm, train, keys.dropout(0));
    let value = loss.double_value(&[]);
    if !value.is_finite() {
        return (value, out.hidden.detach(), next_valid);
    }
    let total = match out.penalties(m.activation_reg, m.temporal_reg) {
        Some(p) => &loss + p,
        None => loss,
    };
    t.weight_step(&total, cfg.optim.grad_clip, lr);
    if cfg.arch.step_order == StepOrder::WeightsFirst {
        alpha_step(t);
    }
    (value, out.hidden.detach(), next_valid)
}

#[cfg(test)]
mod tests {
    use crate::progress::Quiet;
    use crate::search::test_support::StopAfter;
    use crate::search::{Search, SearchEpoch, SearchError, SearchStart};
    use oxnas_core::arch::Architecture;
    use oxnas_core::config::{ConfigFile, SearchConfig};
    use std::path::Path;

    /// Random words in PTB form: 40 train lines, 12 validation lines of 8 words from 12.
    fn corpus(dir: &Path) -> std::path::PathBuf {
        crate::lm::test_support::random_corpus(dir, 5, [("train", 40), ("valid", 12), ("test", 10)])
    }

    /// The CPU preset on the tiny corpus (hidden 4, batch 8, windows of 6) as SGAS-es: phases of at most
    /// 3 epochs with the λ rule at factor 0.5 (it fires whenever it may), λmax by Lanczos.
    fn tiny(data: &Path, extra: &[&str]) -> SearchConfig {
        let mut sets = vec![
            format!("data.data_dir={:?}", data.display().to_string()),
            "supernet.hidden=4".into(),
            "optim.batch_size=8".into(),
            "data.bptt=6".into(),
            "run.eval_batch_size=4".into(),
            "run.threads=1".into(),
            "run.device=\"cpu\"".into(),
            "decision.policy=\"sgas-es\"".into(),
            "decision.frequency=3".into(),
            "decision.post_train=1".into(),
            "early_stop.window=1".into(),
            "early_stop.delta=2".into(),
            "early_stop.factor=0.5".into(),
            "early_stop.start_epoch=0".into(),
            "hessian.iters=8".into(),
            "optim.epochs=40".into(),
        ];
        sets.extend(extra.iter().map(|s| s.to_string()));
        SearchConfig::resolve("cpu-darts-rnn", None, &sets).unwrap()
    }

    fn strip(trace: &[SearchEpoch]) -> Vec<SearchEpoch> {
        trace
            .iter()
            .map(|e| SearchEpoch { epoch_time_s: 0.0, tokens_per_s: None, hessian_s: None, ..e.clone() })
            .collect()
    }

    /// SGAS-es on the recurrent cell decides one node per decision (its input and op, the node's other
    /// inputs pruned), logs perplexities and λmax, and an interrupted run resumes to the same trace.
    #[test]
    fn sgas_es_decides_node_by_node_and_resumes_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let data = corpus(dir.path());
        let full = Search::new(&dir.path().join("a"), SearchStart::Fresh(Box::new(tiny(&data, &[]))))
            .unwrap()
            .run(&mut Quiet)
            .unwrap();
        let decisions: Vec<_> = full.trace.iter().flat_map(|e| e.decisions.iter()).collect();
        assert_eq!(decisions.len(), 8, "one decision per node");
        // Edge e belongs to node i when i(i+1)/2 <= e < (i+1)(i+2)/2.
        let node_of = |e: usize| (0..8).find(|&i| e < (i + 1) * (i + 2) / 2).unwrap();
        let mut nodes: Vec<usize> = decisions.iter().map(|d| node_of(d.edge)).collect();
        nodes.sort();
        assert_eq!(nodes, (0..8).collect::<Vec<_>>());
        for d in &decisions {
            let node = node_of(d.edge);
            assert_eq!(d.pruned.len(), node, "node {node} keeps one of its {} inputs", node + 1);
            assert!(d.pruned.iter().all(|&p| node_of(p) == node));
            assert_ne!(d.op, "none");
        }
        let Architecture::DartsRnn(g) = &full.architecture else { panic!("{:?}", full.architecture) };
        for d in &decisions {
            let node = node_of(d.edge);
            assert_eq!(
                (g.recurrent[node].0.name(), g.recurrent[node].1),
                (d.op.as_str(), d.edge - node * (node + 1) / 2)
            );
        }
        let first = &full.trace[0];
        assert!(first.train_acc.is_none() && first.valid_ppl.unwrap() > 1.0 && first.tokens_per_s.is_some());
        assert!(first.lambda_max.is_some_and(f64::is_finite));
        assert!(full.trace.iter().any(|e| e.rolled_back), "factor 0.5 makes the λ rule roll back");

        let cut = dir.path().join("c");
        let err = Search::new(&cut, SearchStart::Fresh(Box::new(tiny(&data, &[]))))
            .unwrap()
            .run(&mut StopAfter(4))
            .err()
            .unwrap();
        assert!(matches!(err, SearchError::Interrupted { .. }), "{err}");
        let resumed = Search::new(&cut, SearchStart::Resume).unwrap().run(&mut Quiet).unwrap();
        assert_eq!(strip(&resumed.trace), strip(&full.trace));
        assert_eq!(resumed.architecture, full.architecture);
    }

    /// DARTS-V2 on the recurrent cell: the unrolled, clipped α step runs and the argmax derives a cell.
    #[test]
    fn second_order_darts_derives_a_recurrent_cell() {
        let dir = tempfile::tempdir().unwrap();
        let data = corpus(dir.path());
        let cfg = tiny(
            &data,
            &["decision.policy=\"argmax\"", "early_stop=false", "hessian.mode=\"off\"", "arch.order=\"second\""],
        );
        let cfg = SearchConfig { optim: oxnas_core::config::OptimConfig { epochs: 2, ..cfg.optim }, ..cfg };
        let out =
            Search::new(&dir.path().join("v2"), SearchStart::Fresh(Box::new(cfg))).unwrap().run(&mut Quiet).unwrap();
        assert!(matches!(out.architecture, Architecture::DartsRnn(_)));
        assert!(out.trace.iter().all(|e| e.valid_loss.is_finite() && e.lambda_max.is_none()));
        // α moved away from its 1e-3-scale initialisation.
        let alpha = &out.trace[1].alphas[0].alpha;
        assert!(alpha.iter().flatten().any(|a| a.abs() > 1e-2), "{alpha:?}");
    }

    #[test]
    fn a_corpus_too_short_for_the_batch_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let data = corpus(dir.path());
        let cfg = tiny(&data, &["optim.batch_size=1000"]);
        let err = Search::new(&dir.path().join("x"), SearchStart::Fresh(Box::new(cfg)))
            .unwrap()
            .run(&mut Quiet)
            .err()
            .unwrap();
        assert!(err.to_string().contains("the train split with optim.batch_size = 1000"), "{err}");
    }
}
