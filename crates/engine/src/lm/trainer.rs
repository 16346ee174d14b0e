//! The language-model retraining loop (quark0/darts `rnn/train.py`): one pass over the training
//! columns per epoch in variable-length BPTT windows, the hidden state carried from window to window
//! (and restarted at zero each epoch), validation and test perplexity after every epoch, NT-ASGD.
//!
//! Resume after any interruption (kill -9 included) is exact for the same reason as image
//! retraining: every random draw is keyed by (seed, epoch, window), window lengths and dropout masks
//! each by their own stream. The checkpoint holds the weights, the averaging state and the epoch
//! counter.

use super::nt_asgd::{AveragedScalars, NtAsgd};
use crate::checkpoint;
use crate::nn::{mean_nll, token_ids, Dropout, RnnLm, RnnLmConfig};
use crate::progress::Progress;
use crate::run::{set_threads, stream_seed, Stream};
use crate::rundir::{self, RunFiles};
use crate::train::optim::{clip_grads, grads_of};
use crate::train::trainer::{diverged, import_model_weights, io_err, load_last, write_log};
use crate::train::{Start, TrainError};
use crate::DeviceChoice;
use oxnas_core::config::{ConfigError, ConfigFile, LmTrainConfig};
use oxnas_core::darts_rnn::RnnGenotype;
use oxnas_core::fsutil::write_atomic;
use oxnas_core::text::{Columns, Corpus, SeqLen};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;
use tch::nn::VarStore;
use tch::{Device, Tensor};

/// One epoch, one JSON line of `metrics.jsonl`. Losses are mean negative log-likelihoods per token
/// (nats); perplexity is their exponential.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LmEpoch {
    pub epoch: usize,
    /// The base learning rate (each window's is scaled by its length / bptt).
    pub lr: f64,
    /// Whether this epoch trained with averaged SGD (its validation and test used the averages).
    pub averaging: bool,
    pub train_loss: f64,
    pub train_ppl: f64,
    pub valid_loss: f64,
    pub valid_ppl: f64,
    pub test_loss: f64,
    pub test_ppl: f64,
    pub epoch_time_s: f64,
    pub tokens_per_s: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct RunState {
    epochs_done: usize,
    steps: u64,
    best_epoch: Option<usize>,
    asgd: Option<AveragedScalars>,
    history: Vec<LmEpoch>,
}

impl RunState {
    fn best(&self) -> Option<&LmEpoch> {
        self.best_epoch.map(|e| &self.history[e])
    }
}

pub struct LmSummary {
    pub history: Vec<LmEpoch>,
    /// The epoch with the lowest validation loss: its weights are checkpoints/best.safetensors.
    pub best: LmEpoch,
    pub params: i64,
    pub vocab: usize,
    pub device: Device,
    pub corpus: String,
}

/// The model, its weights and its data, ready to train.
struct Setup {
    vs: VarStore,
    lm: RnnLm,
    corpus: Corpus,
    train: Columns,
    valid: Columns,
    test: Columns,
    device: Device,
}

pub struct LmTrainer {
    pub cfg: LmTrainConfig,
    pub files: RunFiles,
    genotype: RnnGenotype,
    _lock: oxnas_core::lock::Lock,
    resume: bool,
}

impl LmTrainer {
    pub fn new(dir: &Path, start: Start<LmTrainConfig>) -> Result<Self, TrainError> {
        let files = RunFiles::lm(dir);
        let (cfg, _lock, resume) = match start {
            Start::Fresh(cfg) => {
                let lock = rundir::create(&files, &["checkpoints"], cfg.as_ref())?;
                (*cfg, lock, false)
            }
            Start::Resume => {
                let (cfg, lock) = rundir::open(&files)?;
                (cfg, lock, true)
            }
        };
        let genotype = cfg.genotype()?;
        Ok(LmTrainer { cfg, files, genotype, _lock, resume })
    }

    pub fn genotype(&self) -> &RnnGenotype {
        &self.genotype
    }

    pub fn run(&self, progress: &mut dyn Progress<LmEpoch>) -> Result<LmSummary, TrainError> {
        let s = self.setup()?;
        progress.message(&format!(
            "data: {} ({} words; {} / {} / {} tokens)",
            s.corpus.origin,
            s.corpus.vocab.len(),
            s.corpus.train.len(),
            s.corpus.valid.len(),
            s.corpus.test.len()
        ));
        self.write_genotype()?;
        let mut params: Vec<(String, Tensor)> =
            s.vs.variables().into_iter().filter(|(_, t)| t.requires_grad()).collect();
        params.sort_by(|a, b| a.0.cmp(&b.0));
        let mut opt = NtAsgd::new(params, self.cfg.optim.weight_decay);
        let mut state = RunState { epochs_done: 0, steps: 0, best_epoch: None, asgd: None, history: vec![] };
        if self.resume {
            state = self.restore(&s.vs, &mut opt)?;
            progress.message(&format!("resumed after epoch {} of {}", state.epochs_done, self.cfg.optim.epochs));
        }
        for epoch in state.epochs_done..self.cfg.optim.epochs {
            let m = self.epoch(&s, &mut opt, &mut state, epoch, progress)?;
            progress.epoch_end(&m);
            if progress.interrupted() {
                return Err(TrainError::Interrupted { epoch });
            }
        }
        let best = state.best().cloned().expect("at least one epoch ran, so one was the best");
        let params = opt.params().iter().map(|(_, p)| p.numel() as i64).sum();
        let summary = LmSummary {
            history: state.history,
            best,
            params,
            vocab: s.corpus.vocab.len(),
            device: s.device,
            corpus: s.corpus.origin,
        };
        self.write_summary(&summary)?;
        Ok(summary)
    }

    fn setup(&self) -> Result<Setup, TrainError> {
        let (cfg, o) = (&self.cfg, &self.cfg.optim);
        let device = cfg.run.device.parse::<DeviceChoice>()?.resolve()?;
        set_threads(cfg.run.threads, "run.threads");
        let corpus = Corpus::load(cfg.data.data_dir.as_deref()).map_err(TrainError::Text)?;
        let columns = |tokens: &[u32], batch: usize, split: &str, key: &str| {
            Columns::new(tokens, batch).map_err(|e| {
                TrainError::Config(ConfigError::Invalid(format!("the {split} split with optim.{key} = {batch}: {e}")))
            })
        };
        let train = columns(&corpus.train, o.batch_size, "train", "batch_size")?;
        let valid = columns(&corpus.valid, o.eval_batch_size, "valid", "eval_batch_size")?;
        let test = columns(&corpus.test, o.test_batch_size, "test", "test_batch_size")?;
        tch::manual_seed(cfg.run.seed as i64);
        let vs = VarStore::new(device);
        let lm_cfg = RnnLmConfig {
            vocab: corpus.vocab.len() as i64,
            hidden: cfg.model.hidden as i64,
            dropouts: cfg.model.dropouts,
        };
        let lm = lm_cfg.init(&vs.root(), &self.genotype);
        Ok(Setup { vs, lm, corpus, train, valid, test, device })
    }

    fn write_genotype(&self) -> Result<(), TrainError> {
        let txt = self.files.arch_txt();
        write_atomic(&txt, format!("{}\n", self.genotype).as_bytes()).map_err(io_err(&txt))?;
        let json = self.files.arch_json();
        let text = serde_json::to_string_pretty(&self.genotype).expect("a genotype serialises");
        write_atomic(&json, text.as_bytes()).map_err(io_err(&json))
    }

    /// Trains one epoch, evaluates, applies the NT-ASGD rule and checkpoints.
    fn epoch(
        &self,
        s: &Setup,
        opt: &mut NtAsgd,
        state: &mut RunState,
        epoch: usize,
        progress: &mut dyn Progress<LmEpoch>,
    ) -> Result<LmEpoch, TrainError> {
        let o = &self.cfg.optim;
        let started = Instant::now();
        let averaging = opt.is_averaging();
        let (train_loss, tokens) = self.train_epoch(s, opt, state, epoch, progress)?;
        let train_time = started.elapsed().as_secs_f64();
        let (valid_loss, test_loss) =
            opt.with_averaged(|| (mean_nll(&s.lm, &s.valid, o.bptt), mean_nll(&s.lm, &s.test, o.bptt)));
        if !valid_loss.is_finite() {
            return Err(self.diverged(format!("the validation loss became {valid_loss} at epoch {}", epoch + 1), state));
        }
        let m = LmEpoch {
            epoch,
            lr: o.lr,
            averaging,
            train_loss,
            train_ppl: train_loss.exp(),
            valid_loss,
            valid_ppl: valid_loss.exp(),
            test_loss,
            test_ppl: test_loss.exp(),
            epoch_time_s: started.elapsed().as_secs_f64(),
            tokens_per_s: tokens as f64 / train_time,
        };
        let improved = state.best().is_none_or(|b| valid_loss < b.valid_loss);
        if self.stalled(state, valid_loss, averaging) {
            opt.start_averaging(o.lr);
            progress.message(&format!("epoch {}: validation stalled; switching to averaged SGD", epoch + 1));
        }
        state.history.push(m.clone());
        state.epochs_done = epoch + 1;
        if improved {
            state.best_epoch = Some(epoch);
        }
        self.checkpoint(s, opt, state, improved, averaging)?;
        Ok(m)
    }

    /// The reference's switch rule: still on plain SGD, more than `nonmono` earlier epochs, and
    /// this epoch's validation loss above the best of all but the last `nonmono` of them.
    fn stalled(&self, state: &RunState, valid_loss: f64, averaging: bool) -> bool {
        let o = &self.cfg.optim;
        let earlier: Vec<f64> = state.history.iter().map(|m| m.valid_loss).collect();
        o.nt_asgd
            && !averaging
            && earlier.len() > o.nonmono
            && valid_loss > earlier[..earlier.len() - o.nonmono].iter().copied().fold(f64::INFINITY, f64::min)
    }

    /// One pass over the training columns: the mean training NLL per token and the tokens seen.
    fn train_epoch(
        &self,
        s: &Setup,
        opt: &mut NtAsgd,
        state: &mut RunState,
        epoch: usize,
        progress: &mut dyn Progress<LmEpoch>,
    ) -> Result<(f64, usize), TrainError> {
        let (o, seed) = (&self.cfg.optim, self.cfg.run.seed);
        let lengths = SeqLen { bptt: o.bptt, max_delta: o.max_seq_len_delta, seed, spread: 5.0 };
        let windows = s.train.train_windows(&lengths, epoch);
        progress.epoch_start(epoch, o.epochs, windows.len());
        let mut hidden = s.lm.init_hidden(s.train.batch() as i64);
        let (mut nll_sum, mut tokens) = (0.0, 0usize);
        for (w, &(start, len)) in windows.iter().enumerate() {
            let dropout = Dropout::Seed(stream_seed(seed, epoch, w, Stream::LmDropout));
            let (nll, next) = self.train_window(s, opt, &hidden, (start, len), dropout);
            if !nll.is_finite() {
                let what = format!("the training loss became {nll} at epoch {}, window {}", epoch + 1, w + 1);
                return Err(self.diverged(what, state));
            }
            hidden = next;
            state.steps += 1;
            nll_sum += nll * (len * s.train.batch()) as f64;
            tokens += len * s.train.batch();
            progress.batch(w + 1, nll);
        }
        Ok((nll_sum / tokens.max(1) as f64, tokens))
    }

    /// One SGD step on the window of `len` rows at `start`: the NLL, plus the AR and TAR penalties.
    /// Returns the NLL and the state to carry on.
    fn train_window(
        &self,
        s: &Setup,
        opt: &mut NtAsgd,
        hidden: &Tensor,
        (start, len): (usize, usize),
        dropout: Dropout,
    ) -> (f64, Tensor) {
        let o = &self.cfg.optim;
        let w = s.train.window(start, len);
        let ids = |v: &[u32]| token_ids(v, s.device);
        let input = ids(&w.inputs).view([w.len as i64, s.train.batch() as i64]);
        let out = s.lm.forward_t(&input, &hidden.detach(), dropout);
        let nll = out.log_probs.view([-1, s.corpus.vocab.len() as i64]).nll_loss(&ids(&w.targets));
        let loss = match out.penalties(o.activation_reg, o.temporal_reg) {
            Some(p) => &nll + p,
            None => nll.shallow_clone(),
        };
        let grads = grads_of(&loss, opt.params());
        if o.grad_clip > 0.0 {
            clip_grads(&grads, o.grad_clip);
        }
        // The reference scales the rate by the window's length, so short windows take short steps.
        opt.step(&grads, o.lr * w.len as f64 / o.bptt as f64);
        (nll.double_value(&[]), out.hidden.detach())
    }

    fn diverged(&self, what: String, state: &RunState) -> TrainError {
        diverged(what, state.history.last().map(|m| m.epoch), &self.files)
    }

    /// Metrics, then last.safetensors (current weights and averages), then best.safetensors when
    /// validation improved (the weights that were evaluated: the averages while averaging).
    fn checkpoint(
        &self,
        s: &Setup,
        opt: &NtAsgd,
        state: &mut RunState,
        improved: bool,
        evaluated_averages: bool,
    ) -> Result<(), TrainError> {
        let (scalars, averages) = opt.state();
        state.asgd = scalars;
        let mut meta = BTreeMap::new();
        meta.insert("oxnas.run_state".to_string(), serde_json::to_string(state).expect("state json"));
        meta.insert("oxnas.config".to_string(), self.cfg.to_toml());
        meta.insert("oxnas.arch".to_string(), self.genotype.to_string());
        let weights = || -> Vec<(String, Tensor)> {
            s.vs.variables().into_iter().map(|(k, v)| (format!("model.{k}"), v)).collect()
        };
        write_log(&self.files, &state.history)?;
        let mut last = weights();
        last.extend(averages);
        checkpoint::save(&self.files.last(), &last, &meta)?;
        if improved {
            // The swap puts the current weights back afterwards, so the averages are copied while in place.
            let copies = || weights().into_iter().map(|(k, v)| (k, v.copy())).collect::<Vec<_>>();
            let best = if evaluated_averages { opt.with_averaged(copies) } else { weights() };
            checkpoint::save(&self.files.best(), &best, &meta)?;
        }
        Ok(())
    }

    fn restore(&self, vs: &VarStore, opt: &mut NtAsgd) -> Result<RunState, TrainError> {
        let (tensors, meta) = load_last(&self.files)?;
        let state: RunState = checkpoint::state(&self.files.last(), &meta, "oxnas.run_state", "language-model run")?;
        import_model_weights(vs, &tensors, &self.files)?;
        let dir = self.files.dir.display().to_string();
        opt.load_state(state.asgd, &tensors).map_err(|why| TrainError::Resume { dir, why })?;
        write_log(&self.files, &state.history)?;
        Ok(state)
    }

    fn write_summary(&self, s: &LmSummary) -> Result<(), TrainError> {
        let json = serde_json::json!({
            "genotype": self.genotype.to_string(),
            "params": s.params,
            "vocab": s.vocab,
            "epochs": s.history.len(),
            "best": s.best,
            "test_ppl": s.best.test_ppl,
            "device": format!("{:?}", s.device),
            "corpus": s.corpus,
            "seed": self.cfg.run.seed,
        });
        let text = serde_json::to_string_pretty(&json).expect("json");
        write_atomic(&self.files.summary(), text.as_bytes()).map_err(io_err(&self.files.summary()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Quiet;

    /// A corpus of random words in PTB form: nothing to learn beyond word frequencies, so validation
    /// soon stops improving and NT-ASGD switches within a few epochs.
    fn corpus(dir: &Path) -> std::path::PathBuf {
        crate::lm::test_support::random_corpus(dir, 4, [("train", 120), ("valid", 30), ("test", 30)])
    }

    fn tiny(data: &Path, epochs: usize) -> LmTrainConfig {
        let sets = [
            "model.hidden=8".to_string(),
            format!("data.data_dir={:?}", data.display().to_string()),
            format!("optim.epochs={epochs}"),
            "optim.batch_size=4".into(),
            "optim.eval_batch_size=2".into(),
            "optim.test_batch_size=1".into(),
            "optim.bptt=6".into(),
            "optim.nonmono=1".into(),
            "optim.lr=5.0".into(),
        ];
        LmTrainConfig::resolve("cpu-darts-rnn", None, &sets).unwrap()
    }

    fn strip_times(h: &[LmEpoch]) -> Vec<LmEpoch> {
        h.iter().map(|m| LmEpoch { epoch_time_s: 0.0, tokens_per_s: 0.0, ..m.clone() }).collect()
    }

    struct StopAfter(usize);
    impl Progress<LmEpoch> for StopAfter {
        fn epoch_end(&mut self, _m: &LmEpoch) {
            self.0 -= 1;
        }
        fn interrupted(&mut self) -> bool {
            self.0 == 0
        }
    }

    fn fresh(dir: &Path, cfg: &LmTrainConfig) -> LmTrainer {
        LmTrainer::new(dir, Start::Fresh(Box::new(cfg.clone()))).unwrap()
    }

    #[test]
    fn same_seed_same_metrics_and_resume_is_exact_across_the_switch_to_averaging() {
        let tmp = tempfile::tempdir().unwrap();
        let cfg = tiny(&corpus(tmp.path()), 6);
        let full = fresh(&tmp.path().join("full"), &cfg).run(&mut Quiet).unwrap();
        let again = fresh(&tmp.path().join("again"), &cfg).run(&mut Quiet).unwrap();
        assert_eq!(strip_times(&full.history), strip_times(&again.history), "same seed, different metrics");
        let switched = full.history.iter().position(|m| m.averaging).expect("validation stalls on random words");
        assert!(switched < 5, "the switch happens before the last epoch: {:?}", strip_times(&full.history));

        // Cut after the first averaged epoch: the resumed run must restore the averages.
        let cut = tmp.path().join("cut");
        let err = fresh(&cut, &cfg).run(&mut StopAfter(switched + 1)).err().unwrap();
        assert!(matches!(err, TrainError::Interrupted { .. }), "{err}");
        let resumed = LmTrainer::new(&cut, Start::Resume).unwrap().run(&mut Quiet).unwrap();
        assert_eq!(strip_times(&resumed.history), strip_times(&full.history), "resume diverged");
        for which in [RunFiles::last, RunFiles::best] {
            let a = checkpoint::load(&which(&RunFiles::lm(&tmp.path().join("full")))).unwrap().0;
            let b = checkpoint::load(&which(&RunFiles::lm(&cut))).unwrap().0;
            assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
            assert!(a.iter().all(|(k, t)| t.equal(&b[k])), "a tensor differs after resume");
        }
        let last = checkpoint::load(&RunFiles::lm(&cut).last()).unwrap().0;
        assert!(last.contains_key("asgd.ax.encoder.weight"), "the averages are checkpointed");
        assert_eq!(std::fs::read_to_string(RunFiles::lm(&cut).log()).unwrap().lines().count(), 6);
        // The summary's test perplexity is the best validation epoch's.
        let best = full.history.iter().min_by(|a, b| a.valid_loss.total_cmp(&b.valid_loss)).unwrap();
        assert_eq!(full.best.epoch, best.epoch);
        assert!(full.history[0].valid_ppl < 12.5 * 1.5, "near the 12-word uniform perplexity or better");
    }

    #[test]
    fn the_switch_rule_is_the_references() {
        let tmp = tempfile::tempdir().unwrap();
        let mut cfg = tiny(&corpus(tmp.path()), 1);
        cfg.optim.nonmono = 2;
        let t = fresh(&tmp.path().join("run"), &cfg);
        let epoch = |valid_loss: f64| LmEpoch {
            epoch: 0,
            lr: 1.0,
            averaging: false,
            train_loss: 0.0,
            train_ppl: 1.0,
            valid_loss,
            valid_ppl: valid_loss.exp(),
            test_loss: 0.0,
            test_ppl: 1.0,
            epoch_time_s: 0.0,
            tokens_per_s: 0.0,
        };
        let state = |losses: &[f64]| RunState {
            epochs_done: losses.len(),
            steps: 0,
            best_epoch: None,
            asgd: None,
            history: losses.iter().map(|&l| epoch(l)).collect(),
        };
        // More than 2 earlier epochs are needed; then the bar is the best of all but the last 2.
        assert!(!t.stalled(&state(&[5.0, 4.0]), 9.0, false));
        assert!(t.stalled(&state(&[5.0, 4.0, 3.0]), 5.5, false));
        assert!(!t.stalled(&state(&[5.0, 4.0, 3.0]), 4.5, false), "better than epoch 1's 5.0");
        assert!(!t.stalled(&state(&[5.0, 4.0, 3.0]), 5.5, true), "already averaging");
        cfg.optim.nt_asgd = false;
        let off = LmTrainer { cfg, ..t };
        assert!(!off.stalled(&state(&[5.0, 4.0, 3.0]), 5.5, false));
    }

    #[test]
    fn bad_corpora_and_resume_without_a_run_are_clear_errors() {
        let tmp = tempfile::tempdir().unwrap();
        let cfg = tiny(&tmp.path().join("nowhere"), 1);
        let msg = fresh(&tmp.path().join("run"), &cfg).run(&mut Quiet).err().unwrap().to_string();
        assert!(msg.contains("no train file in") && msg.contains("ptb.train.txt"), "{msg}");
        let data = corpus(tmp.path());
        std::fs::write(data.join("ptb.valid.txt"), "w1 zebra w2\n").unwrap();
        let msg = fresh(&tmp.path().join("run2"), &tiny(&data, 1)).run(&mut Quiet).err().unwrap().to_string();
        assert!(msg.contains("ptb.valid.txt:1: the word 'zebra' is not in the training vocabulary"), "{msg}");
        let msg = LmTrainer::new(&tmp.path().join("none"), Start::Resume).err().unwrap().to_string();
        assert!(msg.contains("config.toml"), "{msg}");
        // A column per test word would need more words than the file has.
        let data = corpus(&tmp.path().join("b"));
        let mut big = tiny(&data, 1);
        big.optim.test_batch_size = 10_000;
        let msg = fresh(&tmp.path().join("run3"), &big).run(&mut Quiet).err().unwrap().to_string();
        assert!(msg.contains("the test split with optim.test_batch_size = 10000: 270 tokens make fewer"), "{msg}");
    }
}
