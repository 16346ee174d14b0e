//! Single-path weight sharing on the DARTS recurrent cell (the DARTS-PTB space of "How Does Supernet
//! Help in NAS?"): the search language model of quark0/darts `rnn/model_search.py`, where each BPTT
//! window runs one uniformly drawn genotype (every node's input and activation) on the shared
//! weights instead of the softmax mixture.
//!
//! Training follows the reference search's w step: windows of `bptt` rows (half of it with
//! probability 0.05), the learning rate scaled by window length / bptt, the hidden state carried
//! from window to window, the NLL plus the temporal activation penalty, gradients clipped. Dropout
//! masks and the genotype of a window come from keyed streams (epoch, window), so a run repeats
//! exactly and resumes to the same trace.
//!
//! A genotype's score is its validation perplexity with the inherited weights. The cell's batch norm
//! (shared by all nodes, as in the reference) holds running statistics mixed over every path that
//! trained it; [`BnScoring`] says whether scoring uses them, each batch's own statistics, or
//! statistics re-estimated on training windows of the scored genotype alone.

use super::score::{ArchScorer, BnScoring, BnStats, CellScore};
use super::train::{draw_path, State, SupernetEpoch, SupernetTrainer};
use crate::nn::{token_ids, Dropout};
use crate::progress::Progress;
use crate::run::{set_threads, stream_seed, Stream};
use crate::search::rnn_supernet::RnnSupernet;
use crate::search::supernet::sorted_trainable;
use crate::search::Supernet;
use crate::train::optim::{clip_grads, cosine_lr, Sgd, SgdConfig};
use crate::train::trainer::TrainError;
use crate::DeviceChoice;
use oxnas_core::config::{ConfigError, DartsRnnSupernetConfig, OneShotConfig, TextSearchData};
use oxnas_core::oneshot::{ArchError, DartsRnnRankSpace};
use oxnas_core::text::{Columns, Corpus, SeqLen};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::time::Instant;
use tch::nn::VarStore;
use tch::{Device, Tensor};

/// The search language model running one genotype's path at a time.
pub struct TextSupernet {
    net: RnnSupernet,
    space: DartsRnnRankSpace,
}

impl TextSupernet {
    /// Weights from libtorch's generator seeded with `seed`, as the other spaces' supernets.
    pub fn new(cfg: &DartsRnnSupernetConfig, vocab: usize, seed: u64, device: Device) -> Self {
        tch::manual_seed(seed as i64);
        let lm = crate::nn::RnnLmConfig { vocab: vocab as i64, hidden: cfg.hidden as i64, dropouts: cfg.dropouts };
        TextSupernet { net: RnnSupernet::new(&lm, device), space: DartsRnnRankSpace::default() }
    }

    /// Runs only `arch`'s path (a recurrent genotype) from now on.
    pub fn set_path(&mut self, arch: &str) -> Result<(), ArchError> {
        self.net.lm.cell.path = Some(self.space.parse(arch)?);
        Ok(())
    }

    /// All weights and the batch norm's running statistics, named as checkpoints store them.
    pub fn weights(&self) -> &VarStore {
        self.net.weights()
    }

    /// The mean NLL of the current path on `w`, from `hidden`, and the state it ends in.
    fn nll(&self, w: &Batch, hidden: &Tensor, dropout: Dropout) -> (Tensor, crate::nn::LmOutput) {
        let out = self.net.lm.forward_t(&w.input, hidden, dropout);
        let vocab = out.log_probs.size()[2];
        (out.log_probs.view([-1, vocab]).nll_loss(&w.target), out)
    }
}

/// The recurrent supernet config of a text run.
fn model(cfg: &OneShotConfig) -> Result<&DartsRnnSupernetConfig, ConfigError> {
    match cfg {
        OneShotConfig::DartsRnn(m) => Ok(m),
        _ => Err(ConfigError::Invalid("a text corpus needs supernet.space = \"darts-rnn\"".into())),
    }
}

/// The corpus a text run reads.
pub fn corpus(data: &TextSearchData) -> Result<Corpus, TrainError> {
    Corpus::load(data.data_dir.as_deref()).map_err(TrainError::Text)
}

/// `tokens` as `batch` columns, or an error naming the split and the setting.
pub fn columns(tokens: &[u32], batch: usize, split: &str, key: &str) -> Result<Columns, TrainError> {
    Columns::new(tokens, batch)
        .map_err(|e| TrainError::Config(ConfigError::Invalid(format!("the {split} split with {key} = {batch}: {e}"))))
}

/// A window on the device: inputs `[T, B]` and targets `[T·B]`.
struct Batch {
    input: Tensor,
    target: Tensor,
    len: usize,
}

impl Batch {
    fn of(columns: &Columns, start: usize, len: usize, device: Device) -> Batch {
        let w = columns.window(start, len);
        Batch {
            input: token_ids(&w.inputs, device).view([w.len as i64, columns.batch() as i64]),
            target: token_ids(&w.targets, device),
            len: w.len,
        }
    }

    /// The evaluation windows of `columns` (`bptt` rows each, in order).
    fn evaluation(columns: &Columns, bptt: usize, device: Device) -> Vec<Batch> {
        columns.eval_windows(bptt).map(|w| Batch::of(columns, w.start, w.len, device)).collect()
    }
}

/// Trains the text supernet of `trainer`'s config on `data` (called by [`SupernetTrainer::run`]).
pub(super) fn train(
    trainer: &SupernetTrainer,
    data: &TextSearchData,
    progress: &mut dyn Progress<SupernetEpoch>,
) -> Result<Vec<SupernetEpoch>, TrainError> {
    let cfg = &trainer.cfg;
    let m = model(&cfg.supernet)?;
    let device = cfg.run.device.parse::<DeviceChoice>()?.resolve()?;
    set_threads(cfg.run.threads, "run.threads");
    let corpus = corpus(data)?;
    let train = columns(&corpus.train, cfg.optim.batch_size, "train", "optim.batch_size")?;
    progress.message(&format!(
        "data: {} ({} words; the supernet trains on {} train tokens, scoring reads the {} validation tokens)",
        corpus.origin,
        corpus.vocab.len(),
        corpus.train.len(),
        corpus.valid.len()
    ));
    let mut net = TextSupernet::new(m, corpus.vocab.len(), cfg.run.seed, device);
    let o = &cfg.optim;
    let mut opt = Sgd::new(
        SgdConfig { lr: o.lr, momentum: o.momentum, weight_decay: o.weight_decay, nesterov: o.nesterov },
        sorted_trainable(net.weights()),
    );
    let mut state = trainer.start_state(net.weights(), &mut opt, progress)?;
    for epoch in state.epochs_done..o.epochs {
        let lr = cosine_lr(o.lr, o.lr_min, epoch, o.epochs);
        let started = Instant::now();
        let epoch_run = EpochRun { trainer, model: m, columns: &train, bptt: data.bptt, epoch, lr };
        let (nll, tokens) = epoch_run.run(&mut net, &mut opt, &state, progress)?;
        let seconds = started.elapsed().as_secs_f64();
        let record = SupernetEpoch {
            epoch,
            lr,
            train_loss: nll,
            train_acc: None,
            train_ppl: Some(nll.exp()),
            tau: None,
            rho: None,
            tracked_mean_acc: None,
            epoch_time_s: seconds,
            images_per_s: None,
            tokens_per_s: Some(tokens as f64 / seconds.max(1e-9)),
        };
        trainer.finish_epoch(&mut state, record, net.weights(), &opt, progress)?;
    }
    Ok(state.history)
}

/// One epoch of single-path training.
struct EpochRun<'a> {
    trainer: &'a SupernetTrainer,
    model: &'a DartsRnnSupernetConfig,
    columns: &'a Columns,
    bptt: usize,
    epoch: usize,
    lr: f64,
}

impl EpochRun<'_> {
    /// Trains every window once; the mean training NLL per token and the number of tokens.
    fn run(
        &self,
        net: &mut TextSupernet,
        opt: &mut Sgd,
        state: &State,
        progress: &mut dyn Progress<SupernetEpoch>,
    ) -> Result<(f64, usize), TrainError> {
        let seed = self.trainer.cfg.run.seed;
        let lengths = SeqLen { bptt: self.bptt, max_delta: 0, seed, spread: 0.0 };
        let device = net.weights().device();
        let mut hidden = net.net.lm.init_hidden(self.columns.batch() as i64);
        let (mut nll_sum, mut tokens) = (0.0, 0usize);
        for (w, &(start, len)) in self.columns.train_windows(&lengths, self.epoch).iter().enumerate() {
            let mut rng = ChaCha8Rng::seed_from_u64(stream_seed(seed, self.epoch, w, Stream::PathSampling));
            net.set_path(&draw_path(self.trainer.pool.as_deref(), &net.space, &mut rng))?;
            let batch = Batch::of(self.columns, start, len, device);
            let (nll, next) = self.step(net, opt, &batch, &hidden, w);
            if !nll.is_finite() {
                return Err(self.trainer.diverged(state, nll, self.epoch, w));
            }
            hidden = next;
            nll_sum += nll * (batch.len * self.columns.batch()) as f64;
            tokens += batch.len * self.columns.batch();
            progress.batch(w + 1, nll);
        }
        Ok((nll_sum / tokens.max(1) as f64, tokens))
    }

    /// One SGD step of window `w` on the current path; its NLL and the state it ends in.
    fn step(&self, net: &TextSupernet, opt: &mut Sgd, batch: &Batch, hidden: &Tensor, w: usize) -> (f64, Tensor) {
        let seed = self.trainer.cfg.run.seed;
        let dropout = Dropout::Seed(stream_seed(seed, self.epoch, w, Stream::LmSupernetDropout));
        let (nll, out) = net.nll(batch, hidden, dropout);
        let value = nll.double_value(&[]);
        if value.is_finite() {
            let total = match out.penalties(self.model.activation_reg, self.model.temporal_reg) {
                Some(p) => &nll + p,
                None => nll,
            };
            let grads = opt.grads(&total);
            let clip = self.trainer.cfg.optim.grad_clip;
            if clip > 0.0 {
                clip_grads(&grads, clip);
            }
            opt.step_with(&grads, self.lr * batch.len as f64 / self.bptt as f64);
        }
        (value, out.hidden.detach())
    }
}

/// How a text supernet scores genotypes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TextScoring {
    /// Validation tokens per column read (0: the whole split).
    pub eval_rows: usize,
    pub bn: BnScoring,
    /// Training windows (`bptt` rows at the training batch size) for [`BnScoring::Recalibrate`].
    pub recal_batches: usize,
}

/// Scores genotypes by validation perplexity with a text supernet's inherited weights.
pub struct TextScorer {
    net: TextSupernet,
    eval: Vec<Batch>,
    recal: Vec<Batch>,
    bn: BnScoring,
    batch: i64,
}

impl TextScorer {
    /// The validation split at `eval_batch` columns, windows of `bptt`, cut to the first
    /// `scoring.eval_rows` rows when that is not 0; recalibration reads the first windows of the
    /// training split at `train_batch` columns.
    pub fn new(
        net: TextSupernet,
        corpus: &Corpus,
        (bptt, eval_batch, train_batch): (usize, usize, usize),
        scoring: TextScoring,
    ) -> Result<TextScorer, TrainError> {
        let device = net.weights().device();
        let valid = columns(&corpus.valid, eval_batch, "valid", "run.eval_batch_size")?;
        let mut eval = Batch::evaluation(&valid, bptt, device);
        if scoring.eval_rows > 0 {
            let mut rows = 0;
            eval.retain(|b| {
                let keep = rows < scoring.eval_rows;
                rows += b.len;
                keep
            });
        }
        let recal = match scoring.bn {
            BnScoring::Recalibrate => {
                let train = columns(&corpus.train, train_batch, "train", "optim.batch_size")?;
                let mut windows = Batch::evaluation(&train, bptt, device);
                windows.truncate(scoring.recal_batches);
                windows
            }
            _ => vec![],
        };
        Ok(TextScorer { net, eval, recal, bn: scoring.bn, batch: eval_batch as i64 })
    }

    /// Validation tokens each genotype is scored on.
    pub fn tokens(&self) -> usize {
        self.eval.iter().map(|b| b.len).sum::<usize>() * self.batch as usize
    }

    fn score(&mut self, arch: &str, stats: &BnStats) -> Result<CellScore, ArchError> {
        self.net.set_path(arch)?;
        Ok(tch::no_grad(|| {
            if self.bn == BnScoring::Recalibrate {
                stats.reset();
                self.recalibrate();
            }
            let mode = match self.bn {
                BnScoring::Train => Dropout::BatchStats,
                BnScoring::Running | BnScoring::Recalibrate => Dropout::Off,
            };
            let (mut hidden, mut sum, mut count) = (self.net.net.lm.init_hidden(self.batch), 0.0, 0usize);
            for b in &self.eval {
                let (nll, out) = self.net.nll(b, &hidden, mode);
                sum += nll.double_value(&[]) * (b.len * self.batch as usize) as f64;
                count += b.len * self.batch as usize;
                hidden = out.hidden;
            }
            let loss = sum / count.max(1) as f64;
            CellScore { score: loss.exp(), loss }
        }))
    }

    /// Re-estimates the (reset) running statistics on the training windows with this path alone:
    /// the plain average of the batch statistics over every use of the (shared) batch norm,
    /// all nodes and time steps. Training's momentum of 0.1 per use would keep only the last few
    /// uses, the last nodes of the last time step, and such statistics let some genotypes' states
    /// grow without bound over a long validation pass.
    fn recalibrate(&self) {
        let mut hidden = self.net.net.lm.init_hidden(self.recal.first().map_or(1, |b| b.input.size()[1]));
        crate::nn::layers::with_bn_average(|| {
            for b in &self.recal {
                hidden = self.net.nll(b, &hidden, Dropout::BatchStats).1.hidden;
            }
        });
    }
}

impl ArchScorer for TextScorer {
    fn score_all(&mut self, archs: &[String], progress: &mut dyn FnMut(usize)) -> Result<Vec<CellScore>, ArchError> {
        let stats = BnStats::of(self.net.weights());
        stats.preserved(|| {
            let mut score = |(i, arch): (usize, &String)| {
                let s = self.score(arch, &stats);
                progress(i + 1);
                s
            };
            archs.iter().enumerate().map(&mut score).collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::mean_nll;
    use crate::progress::Quiet;
    use oxnas_core::config::{ConfigFile, SupernetTrainConfig};
    use oxnas_core::oneshot::RankSpace;
    use std::collections::BTreeMap;
    use std::path::Path;

    fn corpus_dir(dir: &Path) -> std::path::PathBuf {
        crate::lm::test_support::random_corpus(dir, 9, [("train", 60), ("valid", 12), ("test", 6)])
    }

    /// The CPU preset on the tiny corpus: hidden 6, 8 columns, windows of 6.
    fn tiny(data: &Path) -> SupernetTrainConfig {
        let sets: Vec<String> = [
            format!("data.data_dir={:?}", data.display().to_string()),
            "supernet.hidden=6".into(),
            "optim.batch_size=8".into(),
            "optim.epochs=3".into(),
            "data.bptt=6".into(),
            "run.eval_batch_size=4".into(),
            "run.threads=1".into(),
            "run.device=\"cpu\"".into(),
        ]
        .into_iter()
        .collect();
        SupernetTrainConfig::resolve("cpu-darts-rnn", None, &sets).unwrap()
    }

    use crate::oneshot::test_support::{strip, StopAfterFirst};

    fn weights(dir: &Path) -> BTreeMap<String, Tensor> {
        crate::checkpoint::load(&dir.join("checkpoints/last.safetensors")).unwrap().0.into_iter().collect()
    }

    /// Two runs of one config log the same perplexities and end with the same weights; a run stopped
    /// after its first epoch resumes to both.
    #[test]
    fn trains_deterministically_and_resumes_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let data = corpus_dir(dir.path());
        let run = |name: &str| SupernetTrainer::new(&dir.path().join(name), Some(tiny(&data))).unwrap().run(&mut Quiet);
        let a = run("a").unwrap();
        let b = run("b").unwrap();
        assert_eq!(a.len(), 3);
        assert!(a.iter().all(|e| e.train_acc.is_none() && e.tokens_per_s.is_some()));
        assert!(a.iter().all(|e| e.train_ppl.is_some_and(|p| p.is_finite() && p > 1.0)));
        assert!((a[0].train_ppl.unwrap() - a[0].train_loss.exp()).abs() < 1e-9);
        assert_eq!(strip(&a), strip(&b));
        let (wa, wb) = (weights(&dir.path().join("a")), weights(&dir.path().join("b")));
        assert!(wa.iter().all(|(k, t)| t.equal(&wb[k])), "the same config ends with the same weights");

        let cut = dir.path().join("c");
        let err = SupernetTrainer::new(&cut, Some(tiny(&data))).unwrap().run(&mut StopAfterFirst).unwrap_err();
        assert!(matches!(err, TrainError::Interrupted { epoch: 0 }), "{err}");
        let resumed = SupernetTrainer::new(&cut, None).unwrap().run(&mut Quiet).unwrap();
        assert_eq!(strip(&resumed), strip(&a));
        let wc = weights(&cut);
        assert!(wa.iter().all(|(k, t)| t.equal(&wc[k])), "the resumed run ends with the same weights");
    }

    /// A supernet whose batch norm has trained statistics, the tiny corpus, and three genotypes.
    fn scored_setup(dir: &Path) -> (TextSupernet, Corpus, Vec<String>) {
        let data = corpus_dir(dir);
        let cfg = tiny(&data);
        let corpus = Corpus::from_dir(&data).unwrap();
        let OneShotConfig::DartsRnn(m) = &cfg.supernet else { unreachable!() };
        let mut net = TextSupernet::new(m, corpus.vocab.len(), 4, Device::Cpu);
        let train = columns(&corpus.train, 8, "train", "b").unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let archs: Vec<String> = (0..3).map(|_| net.space.sample(&mut rng)).collect();
        net.set_path(&archs[0]).unwrap();
        let mut hidden = net.net.lm.init_hidden(8);
        for b in Batch::evaluation(&train, 6, Device::Cpu).iter().take(3) {
            hidden = tch::no_grad(|| net.nll(b, &hidden, Dropout::BatchStats).1.hidden);
        }
        (net, corpus, archs)
    }

    fn statistics(net: &TextSupernet) -> BTreeMap<String, Tensor> {
        net.weights().variables().into_iter().map(|(k, t)| (k, t.copy())).collect()
    }

    /// With the trained statistics, a genotype's score is the validation perplexity of the search
    /// language model running that path, as the language-model trainer's evaluation loop
    /// (`mean_nll`) computes it; every mode repeats, differs from the others, and leaves the
    /// supernet's weights and statistics as they were, also when a genotype is refused.
    #[test]
    fn scores_are_validation_perplexities_and_leave_the_supernet_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let (net, corpus, archs) = scored_setup(dir.path());
        let before = statistics(&net);
        let mut scorer = None;
        let mut results = vec![];
        for bn in [BnScoring::Running, BnScoring::Train, BnScoring::Recalibrate] {
            let net = scorer.take().map_or_else(|| net_from(&before, &corpus), |s: TextScorer| s.net);
            let scoring = TextScoring { eval_rows: 0, bn, recal_batches: 2 };
            let mut s = TextScorer::new(net, &corpus, (6, 4, 8), scoring).unwrap();
            let first = s.score_all(&archs, &mut |_| {}).unwrap();
            let again = s.score_all(&archs, &mut |_| {}).unwrap();
            assert_eq!(first, again, "{bn:?} scoring is not repeatable");
            assert!(first.iter().all(|c| (c.score - c.loss.exp()).abs() < 1e-9 * c.score));
            let after = statistics(&s.net);
            assert!(before.iter().all(|(k, t)| t.equal(&after[k])), "{bn:?} scoring changed the supernet");
            results.push(first);
            scorer = Some(s);
        }
        let mut s = scorer.unwrap();
        let valid = columns(&corpus.valid, 4, "valid", "b").unwrap();
        for (arch, got) in archs.iter().zip(&results[0]) {
            s.net.set_path(arch).unwrap();
            let want = mean_nll(&s.net.net.lm, &valid, 6);
            assert!((got.loss - want).abs() < 1e-9, "{arch}: {} vs {want}", got.loss);
        }
        assert_ne!(results[0], results[1], "batch statistics differ from the trained ones");
        assert_ne!(results[0], results[2], "recalibration re-estimates the statistics");
        let bad = vec![archs[0].clone(), "Genotype(recurrent=[('tanh', 0)], concat=range(1, 2))".to_string()];
        let err = s.score_all(&bad, &mut |_| {}).unwrap_err().to_string();
        assert!(err.contains("8 nodes"), "{err}");
        let after = statistics(&s.net);
        assert!(before.iter().all(|(k, t)| t.equal(&after[k])), "a refused genotype changed the supernet");
    }

    /// A fresh supernet holding `weights` (the setup's), for each scoring mode.
    fn net_from(weights: &BTreeMap<String, Tensor>, corpus: &Corpus) -> TextSupernet {
        let m = DartsRnnSupernetConfig {
            hidden: 6,
            dropouts: oxnas_core::darts_rnn::Dropouts::SEARCH,
            temporal_reg: 0.0,
            activation_reg: 0.0,
        };
        let net = TextSupernet::new(&m, corpus.vocab.len(), 0, Device::Cpu);
        crate::nn::state_dict::import(net.weights(), weights).unwrap();
        net
    }

    /// `eval_rows` cuts the validation split to whole windows covering at least that many rows.
    #[test]
    fn the_evaluation_can_be_cut_short() {
        let dir = tempfile::tempdir().unwrap();
        let (net, corpus, _) = scored_setup(dir.path());
        let scoring = TextScoring { eval_rows: 7, bn: BnScoring::Running, recal_batches: 0 };
        let s = TextScorer::new(net, &corpus, (6, 4, 8), scoring).unwrap();
        assert_eq!(s.tokens(), 2 * 6 * 4, "two windows of 6 rows at 4 columns");
    }
}
