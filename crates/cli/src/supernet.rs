//! `oxnas supernet train | score` and `oxnas rank`: does weight sharing rank architectures the way
//! standalone training does?

use crate::args::Overrides;
use crate::plots;
use crate::runs::{start, start_data};
use crate::shard::{Mode, ShardArgs};
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use oxnas_core::config::ConfigError;
use oxnas_core::config::{
    ConfigFile, DataConfig, FewShotConfig, Nb201OneShot, OneShotConfig, SearchConfig, SearchData, SupernetConfig,
    SupernetTrainConfig, TextSearchData,
};
use oxnas_core::nb201::Nb201Op;
use oxnas_core::oneshot::RankSpace;
use oxnas_core::rank::bias::{BiasOptions, BiasReport};
use oxnas_core::rank::collect::{RankSummary, SupernetTrace};
use oxnas_core::rank::report::{RankOptions, RankReport};
use oxnas_core::rank::scores::BASE_COLUMNS;
use oxnas_core::rank::scores::{join, ArchScores, TruthSource};
use oxnas_core::shard::{Shard, ShardDir, ShardMeta};
use oxnas_engine::oneshot::fewshot::{FewShotRunner, StageRecord};
use oxnas_engine::oneshot::score::{ArchScorer, BnScoring, ImageScoring};
use oxnas_engine::oneshot::score_run::score_to_csv;
use oxnas_engine::oneshot::text::{self, TextScorer, TextScoring, TextSupernet};
use oxnas_engine::oneshot::train::{build_scorer, load_weights, SupernetEpoch, SupernetTrainer};
use oxnas_engine::progress::Progress;
use oxnas_engine::run::load_data;
use oxnas_engine::train::trainer::TrainError;
use oxnas_engine::DeviceChoice;
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum SupernetCommand {
    /// Train a single-path (uniformly sampled) supernet over a space (NB201, DARTS, NB101, ProxylessNAS).
    Train(TrainArgs),
    /// Score cells with the supernet's inherited weights on held-out data.
    Score(Box<ScoreArgs>),
    /// Reduced weight sharing: K sub-supernets split by the choices on chosen slots, against K = 1
    /// at the same number of training steps.
    Fewshot(FewShotArgs),
}

#[derive(Args)]
pub struct FewShotArgs {
    /// A few-shot preset (configs/fewshot/) or a TOML file.
    #[arg(long, default_value = "cpu-nb201")]
    preset: String,
    #[command(flatten)]
    overrides: Overrides,
    #[arg(long)]
    out: Option<PathBuf>,
    /// Continue a few-shot run after an interruption; finished stages are kept.
    #[arg(long, value_name = "RUN_DIR", conflicts_with_all = ["out", "config", "sets", "epochs", "seed"])]
    resume: Option<PathBuf>,
    /// Run only this stage (warmup; then group-00, group-01, ..., k1, which start from the finished
    /// warm-up), e.g. as one job of a cluster; a later plain --resume collects the finished stages.
    /// Without --resume the run directory is created first.
    #[arg(long, conflicts_with = "jobs")]
    stage: Option<String>,
    /// Run the stages after the warm-up as this many processes at a time (each `--stage`).
    #[arg(long, default_value_t = 1)]
    jobs: usize,
}

struct StageReporter;

impl Progress<StageRecord> for StageReporter {
    fn epoch_end(&mut self, r: &StageRecord) {
        eprintln!("stage {} done: {} epochs, {} architectures scored", r.stage, r.epochs, r.scored);
    }
    fn message(&mut self, m: &str) {
        eprintln!("{m}");
    }
    fn interrupted(&mut self) -> bool {
        crate::signals::requested().is_some()
    }
}

/// Runs `stages` of the few-shot run in `dir` as `jobs` processes at a time (`--stage NAME` each,
/// output in `<dir>/<stage>.log`); fails naming the stages that failed and their logs.
fn run_stages(dir: &Path, stages: &[String], jobs: usize) -> Result<()> {
    let exe = std::env::current_exe().context("finding the oxnas binary")?;
    let mut queue: std::collections::VecDeque<&String> = stages.iter().collect();
    let mut running: Vec<(&String, std::process::Child)> = vec![];
    let mut failed = vec![];
    eprintln!("running {} stages, {jobs} at a time (logs: {}/<stage>.log)", stages.len(), dir.display());
    while !queue.is_empty() || !running.is_empty() {
        while running.len() < jobs {
            let Some(stage) = queue.pop_front() else { break };
            let log = dir.join(format!("{stage}.log"));
            let file = std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
            let child = std::process::Command::new(&exe)
                .args(["supernet", "fewshot", "--resume"])
                .arg(dir)
                .args(["--stage", stage])
                .stdout(file.try_clone()?)
                .stderr(file)
                .spawn()
                .with_context(|| format!("starting stage {stage}"))?;
            running.push((stage, child));
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        let mut still = vec![];
        for (stage, mut child) in running {
            match child.try_wait()? {
                Some(status) if status.success() => eprintln!("stage {stage} finished"),
                Some(status) => failed.push(format!("{stage} ({status}; see {}/{stage}.log)", dir.display())),
                None => still.push((stage, child)),
            }
        }
        running = still;
    }
    if !failed.is_empty() {
        bail!(
            "stages failed: {}; fix the cause and run the same command again (finished stages are kept)",
            failed.join(", ")
        );
    }
    Ok(())
}

pub fn fewshot(a: FewShotArgs) -> Result<()> {
    let (dir, cfg) = start::<FewShotConfig>("fewshot", &a.preset, &a.overrides, &[], &a.out, &a.resume)?;
    if let Some(stage) = &a.stage {
        if cfg.is_some() {
            drop(FewShotRunner::new(&dir, cfg)?);
        }
        let r = FewShotRunner::for_stage(&dir)?.run_stage(stage, &mut StageReporter)?;
        println!(
            "stage {stage} ({}) is done; `oxnas supernet fewshot --resume {}` collects it",
            r.stage,
            dir.display()
        );
        return Ok(());
    }
    if a.jobs == 0 {
        bail!("--jobs 0 runs nothing; give 1 or more");
    }
    let runner = FewShotRunner::new(&dir, cfg)?;
    eprintln!("run directory: {}", dir.display());
    let jobs = a.jobs;
    let mut parallel = |stages: &[String]| -> std::result::Result<(), TrainError> {
        if jobs > 1 {
            run_stages(&dir, stages, jobs).map_err(|e| TrainError::Config(ConfigError::Invalid(format!("{e:#}"))))?;
        }
        Ok(())
    };
    let results = runner.run(&mut StageReporter, &mut parallel)?;
    println!("ranking against {} (same training steps for every K):", runner.cfg.fewshot.truth);
    for r in &results {
        let at = |v: &[oxnas_core::rank::report::PercentValue], pct: f64| {
            v.iter().find(|p| p.percent == pct).map_or(String::from("-"), |p| format!("{:.2}", p.value))
        };
        let rep = &r.report;
        println!(
            "  K = {:>2}: Kendall τ {:+.3}  Spearman ρ {:+.3}  top-10% hit {}  bottom-10% hit {}  ({} architectures; {})",
            r.k,
            rep.kendall_tau_b,
            rep.spearman_rho,
            at(&rep.top_percent_hit, 10.0),
            at(&rep.bottom_percent_hit, 10.0),
            rep.n,
            r.scores
        );
    }
    println!(
        "results: {} (fewshot.json; rank either table with `oxnas rank --scores ...` for plots and biases)",
        dir.display()
    );
    Ok(())
}

#[derive(Args)]
pub struct TrainArgs {
    #[arg(long, default_value = "cpu-nb201")]
    preset: String,
    #[command(flatten)]
    overrides: Overrides,
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long, value_name = "RUN_DIR", conflicts_with_all = ["out", "config", "sets", "epochs", "seed"])]
    resume: Option<PathBuf>,
    /// With --resume: if the checkpoint's optimiser state is missing or incomplete, continue with a
    /// fresh optimiser (and say so) instead of refusing; complete state is always loaded.
    #[arg(long, requires = "resume")]
    reset_optimizer: bool,
}

struct Reporter {
    curve: PathBuf,
    history: Vec<SupernetEpoch>,
}

impl Progress<SupernetEpoch> for Reporter {
    fn epoch_end(&mut self, e: &SupernetEpoch) {
        let tau = match (e.tau, e.rho) {
            (Some(t), Some(r)) => {
                format!("  tracked sample: τ {t:+.3} ρ {r:+.3} mean acc {:.2}%", e.tracked_mean_acc.unwrap_or(0.0))
            }
            _ => String::new(),
        };
        let metric = match (e.train_acc, e.train_ppl) {
            (Some(acc), _) => format!("acc {acc:6.2}%"),
            (None, Some(ppl)) => format!("ppl {ppl:8.2}"),
            (None, None) => String::new(),
        };
        let rate = match (e.images_per_s, e.tokens_per_s) {
            (Some(r), _) => format!(", {r:.0} images/s"),
            (None, Some(r)) => format!(", {r:.0} tokens/s"),
            (None, None) => String::new(),
        };
        eprintln!(
            "epoch {:>3}  lr {:.4}  loss {:.4}  {metric}{tau}  {:.1}s{rate}",
            e.epoch + 1,
            e.lr,
            e.train_loss,
            e.epoch_time_s
        );
        self.history.push(e.clone());
        if let Err(err) = plots::tau_plot(&self.history, &self.curve) {
            eprintln!("warning: could not draw {}: {err}", self.curve.display());
        }
    }
    fn message(&mut self, m: &str) {
        eprintln!("{m}");
    }
    fn interrupted(&mut self) -> bool {
        crate::signals::requested().is_some()
    }
}

pub fn train(a: TrainArgs) -> Result<()> {
    let reads_text = |c: &SupernetTrainConfig| matches!(c.data, SearchData::Text(_));
    let (dir, cfg) = start_data("supernet", &a.preset, &a.overrides, &a.out, &a.resume, reads_text)?;
    let mut trainer = SupernetTrainer::new(&dir, cfg)?;
    trainer.reset_optimizer = a.reset_optimizer;
    eprintln!("run directory: {}", dir.display());
    let mut reporter = Reporter { curve: dir.join("tau.png"), history: vec![] };
    if let Ok(text) = std::fs::read_to_string(trainer.files.log()) {
        reporter.history = text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    }
    let history = trainer.run(&mut reporter)?;
    if let Some(last) = history.last() {
        let metric = match (last.train_acc, last.train_ppl) {
            (Some(acc), _) => format!("final train accuracy {acc:.2}%"),
            (None, Some(ppl)) => format!("final train perplexity {ppl:.2}"),
            (None, None) => format!("final train loss {:.4}", last.train_loss),
        };
        println!("supernet trained: {} epochs, {metric} (sampled paths)", history.len());
        if let (Some(t), Some(r)) = (history.iter().rev().find_map(|e| e.tau), history.iter().rev().find_map(|e| e.rho))
        {
            println!("tracked sample vs {}: Kendall τ {t:+.3}, Spearman ρ {r:+.3}", trainer.cfg.track.truth);
        }
    }
    let curve = if dir.join("tau.png").exists() { ", tau.png" } else { "" };
    println!("results: {} (supernet.jsonl{curve}, checkpoints/last.safetensors)", dir.display());
    // Only NAS-Bench-201 is small enough to score whole (its isomorphism classes); the others sample.
    let archs = match trainer.cfg.supernet {
        oxnas_core::config::OneShotConfig::Nb201(_) => "classes",
        _ => "sample:200",
    };
    println!("next: oxnas supernet score --run {} --archs {archs}", dir.display());
    Ok(())
}

#[derive(Args)]
pub struct ScoreArgs {
    /// A run directory of `oxnas supernet train`, or of `oxnas search` on the NB201 space.
    #[arg(long)]
    run: PathBuf,
    /// Architectures to score: sample:N, all (spaces that can list themselves), classes (NB201: one per
    /// isomorphism class), a file or CSV, or one architecture. Default: classes on NB201, sample:200
    /// elsewhere.
    #[arg(long)]
    archs: Option<String>,
    /// BN statistics when scoring: train (each evaluation batch's own), running (as trained), or
    /// recalibrate (reset and re-estimate per cell on --recal-batches training batches).
    #[arg(long, default_value = "train")]
    bn: BnScoring,
    #[arg(long, default_value_t = 10)]
    recal_batches: usize,
    /// Held-out images each cell is scored on (image spaces).
    #[arg(long, default_value_t = 1000)]
    eval_images: usize,
    /// Validation tokens each genotype is scored on (darts-rnn; 0: the whole validation split), read
    /// in windows of the run's bptt at its run.eval_batch_size columns.
    #[arg(long, default_value_t = 0)]
    eval_tokens: usize,
    #[arg(long, default_value_t = 0)]
    sample_seed: u64,
    #[arg(long, default_value = "auto")]
    device: DeviceChoice,
    /// Output CSV (default: <run>/scores-<archs>-<bn>.csv). Scores so far are saved to <out>.partial
    /// every --flush-every cells; running the same command again after an interruption resumes there.
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long, default_value_t = 100)]
    flush_every: usize,
    /// CPU threads for libtorch (0: libtorch's default, OMP_NUM_THREADS or the number of cores).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    #[command(flatten)]
    shard: ShardArgs,
}

/// What scoring needs from a run directory, whichever command made it.
struct ScoreSetup {
    supernet: OneShotConfig,
    data: SearchData,
    /// The image data's share that trained the supernet (the rest is held out); none for text.
    portion: Option<f64>,
    eval_batch: usize,
    /// The training batch size (text: recalibration windows have the training width).
    train_batch: usize,
    checkpoint: PathBuf,
    seed: u64,
}

fn setup(run: &Path) -> Result<ScoreSetup> {
    let text = std::fs::read_to_string(run.join("config.toml"))
        .with_context(|| format!("{} is not an oxnas run directory (no config.toml)", run.display()))?;
    let checkpoint = run.join("checkpoints/last.safetensors");
    if !checkpoint.exists() {
        bail!("{} has no checkpoint yet; train it first", run.display());
    }
    let origin = run.join("config.toml").display().to_string();
    if let Ok(c) = SupernetTrainConfig::from_toml_str(&text, &origin) {
        return Ok(ScoreSetup {
            supernet: c.supernet,
            portion: c.split.map(|s| s.train_portion),
            eval_batch: c.run.eval_batch_size,
            train_batch: c.optim.batch_size,
            seed: c.run.seed,
            data: c.data,
            checkpoint,
        });
    }
    let c = SearchConfig::from_toml_str(&text, &origin)
        .with_context(|| format!("{origin} is neither a supernet nor a search config"))?;
    let SupernetConfig::Nb201(s) = &c.supernet else {
        bail!(
            "scoring a search run needs the NAS-Bench-201 space; {} searched the {} space",
            run.display(),
            c.supernet.space().kind().name()
        );
    };
    // A search supernet runs one cell's path when every edge is fixed to that cell's op.
    let supernet = OneShotConfig::Nb201(Nb201OneShot {
        channels: s.channels,
        cells_per_stage: s.cells_per_stage,
        track_running_stats: s.track_running_stats,
        ops: Nb201Op::ALL.iter().map(|o| o.name().to_string()).collect(),
        paths_per_step: 1,
    });
    Ok(ScoreSetup {
        supernet,
        portion: Some(c.split.as_ref().context("an image search config has a [split] section")?.train_portion),
        eval_batch: c.run.eval_batch_size,
        train_batch: c.optim.batch_size,
        seed: c.run.seed,
        data: c.data,
        checkpoint,
    })
}

/// The scorer of an image supernet, and the number of held-out images it scores on.
fn image_scorer(
    a: &ScoreArgs,
    s: &ScoreSetup,
    data_cfg: &DataConfig,
    fill_bn_stats: bool,
    device: tch::Device,
) -> Result<(ImageScoring, usize)> {
    let data = load_data(data_cfg)?;
    let kind = data_cfg.kind()?;
    let (classes, channels) = (kind.num_classes() as i64, kind.image_shape().0 as i64);
    let net = oxnas_engine::oneshot::build(&s.supernet, s.seed, classes, channels, device)?;
    load_weights(&s.checkpoint, net.weights(), fill_bn_stats)?;
    let scoring = (a.eval_images, a.bn, a.recal_batches);
    let portion = s.portion.context("image data has a [split] section")?;
    let scorer = build_scorer(&data, data_cfg, portion, s.eval_batch, s.seed, scoring, device)?;
    let images: usize = scorer.eval.iter().map(|(_, y)| y.size()[0] as usize).sum();
    Ok((ImageScoring { scorer, net }, images))
}

/// The scorer of a text supernet, and the number of validation tokens it scores on.
fn text_scorer(
    a: &ScoreArgs,
    s: &ScoreSetup,
    data: &TextSearchData,
    device: tch::Device,
) -> Result<(TextScorer, usize)> {
    let OneShotConfig::DartsRnn(m) = &s.supernet else { bail!("a text corpus needs supernet.space = \"darts-rnn\"") };
    let corpus = text::corpus(data)?;
    let net = TextSupernet::new(m, corpus.vocab.len(), s.seed, device);
    load_weights(&s.checkpoint, net.weights(), false)?;
    let scoring = TextScoring {
        eval_rows: a.eval_tokens.div_ceil(s.eval_batch.max(1)),
        bn: a.bn,
        recal_batches: a.recal_batches,
    };
    let scorer = TextScorer::new(net, &corpus, (data.bptt, s.eval_batch, s.train_batch), scoring)?;
    let tokens = scorer.tokens();
    Ok((scorer, tokens))
}

pub fn score(a: ScoreArgs) -> Result<()> {
    let mut s = setup(&a.run)?;
    // No training may write the checkpoint while it is scored; other scorings of it (the shards of
    // one scoring among them) may read it at the same time.
    let _lock = oxnas_core::lock::Lock::dir_shared(&a.run)?;
    // Without running statistics in the checkpoint, `running` has nothing to use; `recalibrate`
    // estimates them afresh per cell, so it only needs the BN layers to have the buffers.
    let fill_bn_stats = a.bn == BnScoring::Recalibrate && !s.supernet.track_running_stats();
    if a.bn == BnScoring::Running && !s.supernet.track_running_stats() {
        bail!(
            "--bn running needs BN running statistics, but this supernet was trained with track_running_stats = false \
             (set supernet.track_running_stats = true when training it); use --bn train or --bn recalibrate"
        );
    }
    if fill_bn_stats {
        s.supernet = s.supernet.with_running_stats();
    }
    let space = s.supernet.rank_space()?;
    let archs = a.archs.clone().unwrap_or_else(|| space.default_archs().to_string());
    if a.eval_images == 0 {
        bail!("--eval-images 0 would score every cell on no images; give a positive number (e.g. 1000)");
    }
    if a.bn == BnScoring::Recalibrate && a.recal_batches == 0 {
        bail!("--bn recalibrate with --recal-batches 0 re-estimates BN statistics from nothing; give a positive number (e.g. 10)");
    }
    let tag: String = archs.replace(['/', ':', ',', '|', '~', '+'], "_").chars().take(40).collect();
    let out = a.out.clone().unwrap_or_else(|| a.run.join(format!("scores-{tag}-{}.csv", a.bn.name())));
    // Fail before hours of scoring, not after: the result must be writable where asked.
    if out.is_dir() {
        bail!("--out {} is a directory; give a file name such as {}/scores.csv", out.display(), out.display());
    }
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {} for --out", parent.display()))?;
    }
    for p in [out.clone(), PathBuf::from(format!("{}.partial", out.display()))] {
        oxnas_core::fsutil::sweep_dead_temps_of(&p).with_context(|| format!("cleaning up beside {}", p.display()))?;
    }
    let mode = a.shard.mode()?;
    if let Mode::All(n) = mode {
        space.resolve_list(&archs, a.sample_seed)?;
        return crate::jobs::launch("supernet-score", &out, n, vec![], &a.shard.exec);
    }
    let device = a.device.resolve()?;
    oxnas_engine::run::set_threads(a.threads, "--threads");
    let cells = space.resolve_list(&archs, a.sample_seed)?;
    let (mut scorer, (count, unit)): (Box<dyn ArchScorer>, _) = match &s.data {
        SearchData::Images(d) => {
            let (scorer, images) = image_scorer(&a, &s, d, fill_bn_stats, device)?;
            (Box::new(scorer), (images, "eval_images"))
        }
        SearchData::Text(t) => {
            let (scorer, tokens) = text_scorer(&a, &s, t, device)?;
            (Box::new(scorer), (tokens, "eval_tokens"))
        }
    };
    let distinct = cells.iter().collect::<std::collections::BTreeSet<_>>().len();
    let what = if unit == "eval_images" { "held-out images" } else { "validation tokens" };
    eprintln!(
        "scoring {distinct} {} architectures by {} on {count} {what}, BN {}",
        space.name(),
        space.metric().name,
        a.bn.name()
    );
    let bar = indicatif::ProgressBar::new(0);
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        bar.set_style(
            indicatif::ProgressStyle::with_template("[{bar:30}] {pos}/{len} cells ({per_sec}, {eta})")
                .expect("template")
                .progress_chars("=> "),
        );
    } else {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    // Everything a cell's score depends on besides the cell itself: the weights, the held-out batches
    // (fixed by the run's config and --eval-images), the BN treatment and the device. Not the cell
    // list: scores of cells in an earlier partial file stay valid for any list.
    let ckpt = std::fs::metadata(&s.checkpoint).with_context(|| s.checkpoint.display().to_string())?;
    let modified = ckpt.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
    let settings = serde_json::json!({
        "run": std::fs::canonicalize(&a.run).unwrap_or_else(|_| a.run.clone()).display().to_string(),
        "checkpoint_bytes": ckpt.len(),
        "checkpoint_modified_ns": modified.map(|d| d.as_nanos().to_string()),
        "bn": a.bn.name(),
        "recal_batches": if a.bn == BnScoring::Recalibrate { a.recal_batches } else { 0 },
        unit: count,
        "device": format!("{device:?}"),
    });
    let (out, cells) = match mode {
        Mode::One(shard) => {
            let job = serde_json::json!({ "command": "supernet score", "scoring": settings, "archs": archs, "sample_seed": a.sample_seed });
            match shard_block(&out, shard, space.as_ref(), &cells, job)? {
                Some(block) => block,
                None => return Ok(()),
            }
        }
        _ => (out, cells),
    };
    let started = std::time::Instant::now();
    let mut first = true;
    let run =
        score_to_csv(scorer.as_mut(), space.as_ref(), &cells, &out, &settings, a.flush_every, &mut |done, total| {
            if first {
                // After a resume the first report jumps past the resumed cells; keep them out of the rate.
                first = false;
                bar.set_length(total as u64);
                bar.set_position(done.saturating_sub(1) as u64);
                bar.reset_eta();
            }
            bar.set_position(done as u64);
            // A signal stops scoring after the current chunk, which is saved to the partial file.
            crate::signals::requested().is_none()
        })?;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    let fresh = run.distinct - run.resumed;
    if run.resumed > 0 {
        println!("resumed: {} of {} cells were already scored by an interrupted run", run.resumed, run.distinct);
    }
    println!(
        "scored {fresh} architectures in {secs:.1} s ({:.1}/s); scores: {}",
        fresh as f64 / secs.max(1e-9),
        out.display()
    );
    match space.name() {
        "nb201" => println!("next: oxnas rank --scores {} --truth cifar10_test_200ep", out.display()),
        name => println!(
            "next: oxnas rank --space {name} --scores {} --truth <ground-truth CSV from `oxnas groundtruth --space {name}`>",
            out.display()
        ),
    }
    Ok(())
}

/// Shard `shard` of scoring `cells` (distinct, first-mention order) into `out`: its rows file and its
/// block of cells, or None when the shard is already finished.
fn shard_block(
    out: &Path,
    shard: Shard,
    space: &dyn RankSpace,
    cells: &[String],
    settings: serde_json::Value,
) -> Result<Option<(PathBuf, Vec<String>)>> {
    let mut seen = std::collections::BTreeSet::new();
    let distinct: Vec<&String> = cells.iter().filter(|c| seen.insert(c.as_str())).collect();
    let block: Vec<String> = distinct[shard.range(distinct.len())].iter().map(|c| c.to_string()).collect();
    let dir = ShardDir::for_output(out);
    let Some(keys) = block.iter().map(|c| space.index(c).map(|i| i as u64)).collect::<Option<Vec<u64>>>() else {
        bail!(
            "--shard needs a space whose architectures have benchmark indices (nb201); the {} space has none yet",
            space.name()
        );
    };
    let meta = ShardMeta { shard, header: BASE_COLUMNS.join(","), keys, settings };
    let done = meta.begin(&dir)?;
    if done.len() == block.len() && dir.rows(shard).exists() {
        println!("shard {shard} is already scored: {}", dir.rows(shard).display());
        return Ok(None);
    }
    Ok(Some((dir.rows(shard), block)))
}

#[derive(Args)]
pub struct RankArgs {
    /// A scores CSV (from `oxnas supernet score`, or any `index,arch_str,score` table).
    #[arg(long)]
    scores: PathBuf,
    /// Ground truth: a NAS-Bench-201 column (e.g. cifar10_test_200ep), a CSV of arch_str/index and
    /// accuracy, an NDS model file (nds:DARTS.json), or a NAS-Bench-101 table (nb101:TABLE[@EPOCHS]).
    #[arg(long, default_value = "cifar10_test_200ep")]
    truth: String,
    /// k values for precision@k (comma-separated; default 1,5,10,50,100, those above the number of
    /// ranked cells left out). A k you give must be between 1 and the number of ranked cells.
    #[arg(short, long, value_delimiter = ',')]
    k: Option<Vec<usize>>,
    /// Percentages for top-p% hit rates (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "1,5,10")]
    percent: Vec<f64>,
    /// The space of the scored architectures (as `[supernet] space` names it).
    #[arg(long, value_enum, default_value = "nb201")]
    space: crate::spaces::SpaceArg,
    /// Channel width for the bias report's approximate parameter counts (NAS-Bench-201).
    #[arg(long, default_value_t = 16)]
    channels: usize,
    /// Which end of the score column is good (default: the space's metric; higher for accuracy,
    /// lower for darts-rnn's perplexity). `lower` for a loss.
    #[arg(long, value_enum)]
    score_better: Option<BetterArg>,
    /// Which end of the truth column is good (default: the space's metric). `lower` for an error
    /// rate.
    #[arg(long, value_enum)]
    truth_better: Option<BetterArg>,
    /// Where the plots and report files go (default: next to the scores, <scores>.rank/).
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

/// `--score-better` / `--truth-better`.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BetterArg {
    Higher,
    Lower,
}

impl From<BetterArg> for oxnas_core::rank::Better {
    fn from(b: BetterArg) -> Self {
        match b {
            BetterArg::Higher => oxnas_core::rank::Better::Higher,
            BetterArg::Lower => oxnas_core::rank::Better::Lower,
        }
    }
}

/// The k values for precision@k: the defaults that fit `n` cells, or the user's, each in 1..=n.
fn rank_ks(given: &Option<Vec<usize>>, n: usize) -> Result<Vec<usize>> {
    let Some(ks) = given else { return Ok(RankOptions::default().ks.into_iter().filter(|&k| k <= n).collect()) };
    if let Some(k) = ks.iter().find(|&&k| k == 0 || k > n) {
        bail!("-k {k} is out of range: {n} cells are ranked (those in both the scores and the truth), so give k values from 1 to {n}");
    }
    Ok(ks.clone())
}

pub fn rank(a: RankArgs) -> Result<()> {
    let space = a.space.rank_space(a.channels)?;
    let scores = ArchScores::read_csv(&a.scores, space.as_ref())?;
    let (truth, note) = a.truth.parse::<TruthSource>()?.load_for(space.as_ref(), &scores)?;
    if let Some(note) = note {
        eprintln!("{note}");
    }
    let joined = join(&scores, &truth)?;
    let metric = space.metric();
    let (score_better, truth_better) =
        (a.score_better.map_or(metric.better, Into::into), a.truth_better.map_or(metric.better, Into::into));
    let source = |given: Option<BetterArg>| match given {
        Some(_) => "as given".to_string(),
        None => format!("the {} space's {}", space.name(), metric.name),
    };
    eprintln!(
        "directions: score {} ({}), truth {} ({})",
        score_better.describe(),
        source(a.score_better),
        truth_better.describe(),
        source(a.truth_better)
    );
    let opts = RankOptions {
        ks: rank_ks(&a.k, joined.rows.len())?,
        percents: a.percent.clone(),
        score_better,
        truth_better,
        ..Default::default()
    };
    let report = RankReport::from_joined(&joined, &opts)?;
    let bias_opts = BiasOptions { score_better, truth_better, ..Default::default() };
    let bias = BiasReport::compute(&joined.rows, space.as_ref(), &bias_opts)?;
    // The supernet that produced the scores, for `oxnas report ranking`: its log lies beside them
    // when `supernet score` wrote to its default place.
    let trace = SupernetTrace::beside(&a.scores)?;
    let summary = RankSummary::compute(space.as_ref(), &joined, &report, &bias, trace)?;
    let out = a.out.clone().unwrap_or_else(|| PathBuf::from(format!("{}.rank", a.scores.display())));
    std::fs::create_dir_all(&out)
        .with_context(|| format!("--out {}: cannot create the report directory", out.display()))?;
    let json = serde_json::json!({ "scores": a.scores.display().to_string(), "truth": truth.name(), "join": joined.to_string(), "rank": report, "bias": bias, "summary": summary });
    let written = |path: PathBuf, r: Result<()>| r.with_context(|| format!("--out: cannot write {}", path.display()));
    let rank_json = out.join(oxnas_core::rank::collect::RANK_JSON);
    let text = serde_json::to_string_pretty(&json)?;
    written(rank_json.clone(), oxnas_core::fsutil::write_atomic(&rank_json, text.as_bytes()).map_err(Into::into))?;
    let scatter = out.join("scatter.png");
    written(scatter.clone(), plots::score_scatter(&joined.scores(), &joined.truths(), truth.name(), &scatter))?;
    let rank_rank = out.join("rank-rank.png");
    written(rank_rank.clone(), plots::rank_rank(&joined.scores(), &joined.truths(), truth.name(), &rank_rank))?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        println!("{joined}");
        println!("{report}");
        println!("{bias}");
        println!("report and plots: {} (rank.json, scatter.png, rank-rank.png)", out.display());
    }
    Ok(())
}
