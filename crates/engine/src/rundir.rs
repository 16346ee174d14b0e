//! Run directories, shared by `train`, `search` and `supernet train`: a fresh run refuses a directory
//! that already holds one and writes its resolved config first; a resumed run reads that config back.

use oxnas_core::config::{ConfigError, ConfigFile};
use oxnas_core::fsutil::write_atomic;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Where a run keeps its files. The three kinds of run share one layout (config.toml, a JSON-lines log,
/// checkpoints/last.safetensors, ...) and differ only in the log's name.
#[derive(Debug, Clone)]
pub struct RunFiles {
    pub dir: PathBuf,
    log: &'static str,
}

impl RunFiles {
    /// A retraining run (`oxnas train`): per-epoch metrics in metrics.jsonl.
    pub fn train(dir: &Path) -> Self {
        RunFiles { dir: dir.to_path_buf(), log: "metrics.jsonl" }
    }
    /// A search (`oxnas search`): per-epoch records in search.jsonl.
    pub fn search(dir: &Path) -> Self {
        RunFiles { dir: dir.to_path_buf(), log: "search.jsonl" }
    }
    /// A single-path supernet (`oxnas supernet train`): per-epoch records in supernet.jsonl.
    pub fn supernet(dir: &Path) -> Self {
        RunFiles { dir: dir.to_path_buf(), log: "supernet.jsonl" }
    }
    pub fn config(&self) -> PathBuf {
        self.dir.join("config.toml")
    }
    /// The run's JSON-lines log, one record per finished epoch.
    pub fn log(&self) -> PathBuf {
        self.dir.join(self.log)
    }
    pub fn last(&self) -> PathBuf {
        self.dir.join("checkpoints/last.safetensors")
    }
    pub fn best(&self) -> PathBuf {
        self.dir.join("checkpoints/best.safetensors")
    }
    /// The per-epoch snapshot a search can roll back to.
    pub fn epoch(&self, e: usize) -> PathBuf {
        self.dir.join(format!("checkpoints/epochs/{e:04}.safetensors"))
    }
    pub fn result(&self) -> PathBuf {
        self.dir.join("result.json")
    }
    pub fn summary(&self) -> PathBuf {
        self.dir.join("summary.json")
    }
    pub fn arch_txt(&self) -> PathBuf {
        self.dir.join("genotype.txt")
    }
    pub fn arch_json(&self) -> PathBuf {
        self.dir.join("genotype.json")
    }
}

#[derive(Debug, Error)]
pub enum RunDirError {
    #[error("cannot use {dir}: {why}")]
    Refused { dir: String, why: String },
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// Prepares `dir` for a fresh run of kind `what` ("training run", "search", ...): refuses it if
/// `checkpoint` already exists, creates `subdirs`, writes `config.toml`.
pub fn create<C: ConfigFile>(
    dir: &Path,
    checkpoint: &Path,
    subdirs: &[&str],
    cfg: &C,
    what: &str,
) -> Result<(), RunDirError> {
    if checkpoint.exists() {
        return Err(RunDirError::Refused {
            dir: dir.display().to_string(),
            why: format!("it already holds a {what}; pass --resume to continue it or choose another --out"),
        });
    }
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| RunDirError::Io { path, source }
    };
    for sub in subdirs.iter().copied().chain([""]) {
        std::fs::create_dir_all(dir.join(sub)).map_err(io(dir))?;
    }
    let config = dir.join("config.toml");
    write_atomic(&config, cfg.to_toml().as_bytes()).map_err(io(&config))
}

/// The resolved config of an existing run directory of kind `what`.
pub fn open<C: ConfigFile>(dir: &Path, what: &str) -> Result<C, RunDirError> {
    let config = dir.join("config.toml");
    let text = std::fs::read_to_string(&config).map_err(|e| RunDirError::Refused {
        dir: dir.display().to_string(),
        why: format!("no readable config.toml ({e}); is this an oxnas {what} directory?"),
    })?;
    Ok(C::from_toml_str(&text, &config.display().to_string())?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxnas_core::config::TrainConfig;

    #[test]
    fn create_then_open_and_refuse_twice() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = TrainConfig::resolve("cpu-smoke", None, &[]).unwrap();
        let ckpt = dir.path().join("checkpoints/last.safetensors");
        create(dir.path(), &ckpt, &["checkpoints"], &cfg, "training run").unwrap();
        let back: TrainConfig = open(dir.path(), "training run").unwrap();
        assert_eq!(back, cfg);
        std::fs::write(&ckpt, b"x").unwrap();
        let e = create(dir.path(), &ckpt, &[], &cfg, "training run").unwrap_err().to_string();
        assert!(e.contains("--resume"), "{e}");
        let e = open::<TrainConfig>(&dir.path().join("nope"), "search").unwrap_err().to_string();
        assert!(e.contains("oxnas search directory"), "{e}");
    }
}
