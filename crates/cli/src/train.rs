//! `oxnas train | eval | export | import`: the retraining stage and moving weights between oxnas and
//! the reference PyTorch implementations.

use crate::args::Overrides;
use crate::plots;
use crate::progress::Reporter;
use crate::runs::default_dir;
use anyhow::{bail, Context, Result};
use clap::Args;
use oxnas_core::config::{ConfigFile, Space, TrainConfig};
use oxnas_core::data::Loader;
use oxnas_core::fsutil::write_atomic;
use oxnas_core::logits::LogitsFormat;
use oxnas_engine::checkpoint;
use oxnas_engine::nn::state_dict;
use oxnas_engine::run::load_data;
use oxnas_engine::rundir::RunFiles;
use oxnas_engine::train::{evaluate, predict_logits, Model, Start, Trainer};
use oxnas_engine::DeviceChoice;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Options that shape a config, shared by `train` and `import`.
#[derive(Args)]
pub struct ConfigArgs {
    /// Preset name (see `oxnas presets`) or a path to a preset TOML file.
    #[arg(long, default_value = "cpu-smoke")]
    preset: String,
    /// nb201 or darts (sets model.space).
    #[arg(long)]
    space: Option<Space>,
    /// NAS-Bench-201 arch string or benchmark index (sets model.space = nb201).
    #[arg(long, conflicts_with = "genotype")]
    arch: Option<String>,
    /// DARTS genotype: name, genotype string, or file (sets model.space = darts).
    #[arg(long)]
    genotype: Option<String>,
    #[command(flatten)]
    overrides: Overrides,
}

impl ConfigArgs {
    fn resolve(&self) -> Result<TrainConfig> {
        let mut sets = Vec::new();
        if let Some(s) = self.space {
            sets.push(format!("model.space=\"{}\"", s.name()));
        }
        if let Some(a) = &self.arch {
            let index = oxnas_core::bench::Nb201Table::embedded().resolve(a)?;
            let arch = oxnas_core::nb201::Nb201Arch::from_index(index)?;
            sets.push("model.space=\"nb201\"".into());
            sets.push(format!("model.arch=\"{arch}\""));
        }
        if let Some(g) = &self.genotype {
            let genotype = oxnas_core::darts::resolve(g)?;
            sets.push("model.space=\"darts\"".into());
            sets.push(format!("model.genotype=\"{genotype}\""));
        }
        sets.extend(self.overrides.sets());
        Ok(TrainConfig::resolve(&self.preset, self.overrides.config.as_deref(), &sets)?)
    }
}

#[derive(Args)]
pub struct TrainArgs {
    #[command(flatten)]
    cfg: ConfigArgs,
    /// Run directory (default: runs/train-<preset>-<timestamp>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Continue the run in this directory from its last checkpoint, with its own config.
    #[arg(long, value_name = "RUN_DIR", conflicts_with_all = ["out", "arch", "genotype", "config", "sets", "epochs", "seed"])]
    resume: Option<PathBuf>,
    /// With --resume: if the checkpoint's optimiser state is missing or incomplete, continue with a
    /// fresh optimiser (and say so) instead of refusing; complete state is always loaded.
    #[arg(long, requires = "resume")]
    reset_optimizer: bool,
}

pub fn train(a: TrainArgs) -> Result<()> {
    let (dir, start) = match &a.resume {
        Some(dir) => (dir.clone(), Start::Resume),
        None => {
            let cfg = a.cfg.resolve()?;
            let dir = a.out.clone().unwrap_or_else(|| default_dir("train", &a.cfg.preset));
            (dir, Start::Fresh(Box::new(cfg)))
        }
    };
    let mut trainer = Trainer::new(&dir, start)?;
    trainer.reset_optimizer = a.reset_optimizer;
    let files = &trainer.files;
    eprintln!("run directory: {}", dir.display());
    eprintln!(
        "architecture: {}",
        oxnas_engine::train::Architecture::from_config(&trainer.cfg.model)?.reference_string()
    );
    let mut reporter = Reporter::new(Some((files.log(), dir.join("curves.png"))));
    let summary = trainer.run(&mut reporter)?;
    println!(
        "test accuracy {:.2}% (top-5 {:.2}%) after {} epochs; best {:.2}% at epoch {}; {} parameters",
        summary.final_eval.top1,
        summary.final_eval.top5,
        summary.history.len(),
        summary.best_acc,
        summary.best_epoch.map(|e| e + 1).unwrap_or(0),
        summary.params
    );
    println!("results: {}", dir.display());
    println!("  config.toml, genotype.txt/.json, metrics.jsonl, curves.png, summary.json, checkpoints/{{last,best}}.safetensors");
    Ok(())
}

#[derive(Args)]
pub struct EvalArgs {
    /// A run directory made by `oxnas train` or `oxnas import`.
    #[arg(long)]
    run: PathBuf,
    /// best or last.
    #[arg(long, default_value = "best")]
    checkpoint: String,
    /// Evaluate on files from this directory instead of the run's own data setting.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    device: DeviceChoice,
    #[arg(long)]
    json: bool,
    /// Also write every test image's logits here: .npy (float32, [images, classes]) or .csv
    /// (index, label, one column per class), in test-set order.
    #[arg(long, value_name = "FILE")]
    logits: Option<PathBuf>,
}

fn run_config(dir: &Path) -> Result<TrainConfig> {
    oxnas_engine::rundir::expect_kind(dir, oxnas_engine::rundir::RunKind::Train)?;
    let path = dir.join("config.toml");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("{} is not an oxnas run directory (no readable config.toml)", dir.display()))?;
    Ok(TrainConfig::from_toml_str(&text, &path.display().to_string())?)
}

fn checkpoint_path(dir: &Path, which: &str) -> Result<PathBuf> {
    let files = RunFiles::train(dir);
    let path = match which {
        "best" => files.best(),
        "last" => files.last(),
        other => bail!("--checkpoint must be best or last, not '{other}'"),
    };
    if !path.exists() {
        bail!("{} does not exist; has the run finished an epoch?", path.display());
    }
    Ok(path)
}

/// Model weights of a checkpoint, without the optimiser state.
fn model_weights(path: &Path) -> Result<BTreeMap<String, tch::Tensor>> {
    let (tensors, _) = checkpoint::load(path)?;
    Ok(tensors.into_iter().filter_map(|(k, v)| k.strip_prefix("model.").map(|n| (n.to_string(), v))).collect())
}

pub fn eval(a: EvalArgs) -> Result<()> {
    let mut cfg = run_config(&a.run)?;
    if let Some(d) = &a.data_dir {
        cfg.data.data_dir = Some(d.clone());
        cfg.data.source = oxnas_core::config::SourceChoice::Auto;
    }
    let device = a.device.resolve()?;
    let data = load_data(&cfg.data)?;
    let num_classes = data.kind.num_classes();
    let model = Model::build(&cfg.model, num_classes as i64, data.test.channels as i64, device, cfg.run.seed)?;
    let ckpt = checkpoint_path(&a.run, &a.checkpoint)?;
    state_dict::import(&model.vs, &model_weights(&ckpt)?).with_context(|| format!("loading {}", ckpt.display()))?;
    let loader = Loader::in_order(
        data.test.clone(),
        (0..data.test.len()).collect(),
        cfg.run.eval_batch_size,
        cfg.data.eval_transform.resolve()?,
        cfg.run.seed,
    )?;
    if let Some(path) = &a.logits {
        // Checked before the evaluation so a typo costs nothing.
        let format = LogitsFormat::from_path(path)?;
        let bytes = predict_logits(&model, &loader, num_classes, device).to_bytes(format)?;
        write_atomic(path, &bytes).with_context(|| format!("writing {}", path.display()))?;
    }
    let r = evaluate(&model, &loader, num_classes, device);
    let names: Vec<String> = match data.kind.class_names() {
        Some(n) => n.iter().map(|s| s.to_string()).collect(),
        None => (0..num_classes).map(|i| i.to_string()).collect(),
    };
    let out = a.run.join("eval");
    std::fs::create_dir_all(&out)?;
    let mut csv = String::from("true\\predicted");
    for n in &names {
        csv.push(',');
        csv.push_str(n);
    }
    csv.push('\n');
    for (n, row) in names.iter().zip(&r.confusion) {
        csv.push_str(n);
        for v in row {
            csv.push_str(&format!(",{v}"));
        }
        csv.push('\n');
    }
    write_atomic(&out.join("confusion.csv"), csv.as_bytes())?;
    plots::confusion_matrix(&r.confusion, &names, &out.join("confusion.png"))?;
    let per_class = r.per_class_accuracy();
    let json = serde_json::json!({
        "checkpoint": ckpt.display().to_string(),
        "data_source": data.source.to_string(),
        "count": r.count,
        "test_acc": r.top1,
        "test_top5": r.top5,
        "test_loss": r.loss,
        "per_class_acc": names.iter().zip(&per_class).map(|(n, a)| (n.clone(), serde_json::json!(a))).collect::<serde_json::Map<_, _>>(),
    });
    write_atomic(&out.join("eval.json"), serde_json::to_string_pretty(&json)?.as_bytes())?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        println!("{} on {} test images from {}", ckpt.display(), r.count, data.source);
        println!("top-1 {:.2}%  top-5 {:.2}%  loss {:.4}", r.top1, r.top5, r.loss);
        println!("per-class accuracy:");
        for (n, acc) in names.iter().zip(&per_class) {
            match acc {
                Some(v) => println!("  {n:<14} {v:6.2}%"),
                None => println!("  {n:<14}    n/a"),
            }
        }
        println!(
            "confusion matrix: {} and {}",
            out.join("confusion.csv").display(),
            out.join("confusion.png").display()
        );
    }
    Ok(())
}

#[derive(Args)]
pub struct ExportArgs {
    #[arg(long)]
    run: PathBuf,
    /// best or last.
    #[arg(long, default_value = "best")]
    checkpoint: String,
    /// Output .safetensors file (default: <run>/export/model.safetensors).
    #[arg(long)]
    out: Option<PathBuf>,
}

pub fn export(a: ExportArgs) -> Result<()> {
    let cfg = run_config(&a.run)?;
    let ckpt = checkpoint_path(&a.run, &a.checkpoint)?;
    let (tensors, meta) = checkpoint::load(&ckpt)?;
    let num_classes = cfg.data.kind()?.num_classes() as i64;
    let in_channels = cfg.data.kind()?.image_shape().0 as i64;
    let model = Model::build(&cfg.model, num_classes, in_channels, tch::Device::Cpu, cfg.run.seed)?;
    let weights: BTreeMap<String, tch::Tensor> =
        tensors.into_iter().filter_map(|(k, v)| k.strip_prefix("model.").map(|n| (n.to_string(), v))).collect();
    state_dict::import(&model.vs, &weights)?;
    let steps = meta
        .get("oxnas.run_state")
        .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
        .and_then(|v| v["steps"].as_i64())
        .unwrap_or(0);
    let out = a.out.unwrap_or_else(|| a.run.join("export/model.safetensors"));
    let mut meta = BTreeMap::new();
    meta.insert("format".to_string(), "pt".to_string());
    meta.insert("oxnas.arch".to_string(), model.arch.reference_string());
    checkpoint::save(&out, &state_dict::export(&model.vs, steps), &meta)?;
    let reference = match cfg.model.space {
        Space::Darts => "quark0/darts cnn/model.py NetworkCIFAR",
        Space::Nb201 => "AutoDL-Projects xautodl/models/cell_infers/tiny_network.py TinyNetwork",
        // The benchmark's model is TensorFlow; the names are oxnas's own hierarchy (docs/nb101.md).
        Space::Nb101 => "oxnas's NAS-Bench-101 network (docs/nb101.md)",
        Space::Proxyless => "oxnas's ProxylessNAS network (its own names, not mit-han-lab/proxylessnas's)",
        Space::DartsRnn => "quark0/darts rnn/model.py RNNModel",
    };
    println!(
        "wrote {} ({} tensors, state_dict names of {reference})",
        out.display(),
        state_dict::export(&model.vs, steps).len()
    );
    println!("load in PyTorch: model.load_state_dict(safetensors.torch.load_file('{}'))", out.display());
    Ok(())
}

#[derive(Args)]
pub struct ImportArgs {
    /// A .safetensors file holding a reference implementation's state_dict.
    weights: PathBuf,
    #[command(flatten)]
    cfg: ConfigArgs,
    /// Run directory to create (default: runs/import-<preset>-<timestamp>).
    #[arg(long)]
    out: Option<PathBuf>,
}

pub fn import(a: ImportArgs) -> Result<()> {
    let cfg = a.cfg.resolve()?;
    let dir = a.out.clone().unwrap_or_else(|| default_dir("import", &a.cfg.preset));
    let files = RunFiles::train(&dir);
    if files.best().exists() || files.last().exists() {
        bail!("{} already holds a run; choose another --out", dir.display());
    }
    let kind = cfg.data.kind()?;
    let model = Model::build(
        &cfg.model,
        kind.num_classes() as i64,
        kind.image_shape().0 as i64,
        tch::Device::Cpu,
        cfg.run.seed,
    )?;
    // A PyTorch state_dict has no oxnas checksum; that is expected here, so no notice.
    let ((weights, _), _) = checkpoint::load_verified(&a.weights)?;
    state_dict::import(&model.vs, &weights)
        .with_context(|| format!("{} does not fit this architecture and config", a.weights.display()))?;
    let tensors: Vec<(String, tch::Tensor)> =
        model.vs.variables().into_iter().map(|(k, v)| (format!("model.{k}"), v)).collect();
    let mut meta = BTreeMap::new();
    meta.insert("oxnas.config".to_string(), cfg.to_toml());
    meta.insert("oxnas.arch".to_string(), model.arch.reference_string());
    meta.insert("oxnas.imported_from".to_string(), a.weights.display().to_string());
    // The same ownership rules as a training run (no foreign directory, one process at a time),
    // applied once the weights are known to fit, so a refused import leaves nothing behind.
    let _lock = oxnas_engine::rundir::create(&files, &["checkpoints"], &cfg)?;
    write_atomic(&files.arch_txt(), format!("{}\n", model.arch.reference_string()).as_bytes())?;
    write_atomic(&files.arch_json(), serde_json::to_string_pretty(&model.arch.to_json())?.as_bytes())?;
    checkpoint::save(&files.best(), &tensors, &meta)?;
    println!(
        "imported {} into {}; evaluate with: oxnas eval --run {}",
        a.weights.display(),
        dir.display(),
        dir.display()
    );
    Ok(())
}
