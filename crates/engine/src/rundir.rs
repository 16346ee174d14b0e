//! Run directories, shared by `train`, `search` and `supernet train`: a run owns its directory (an
//! exclusive lock for its whole life), a fresh run refuses a directory that already holds a run or
//! that is not an oxnas run directory, writes its resolved config first, and a resumed run reads
//! that config back. Both sweep the temporary files that dead writers left behind.

use oxnas_core::config::{ConfigError, ConfigFile};
use oxnas_core::fsutil::{sweep_dead_temps, write_atomic};
use oxnas_core::lock::{Lock, LockError, LOCK_FILE};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The kinds of run directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunKind {
    Train,
    Search,
    Supernet,
    /// Supernet-guided pruning (`oxnas prune`): rounds, each with a supernet run inside.
    Prune,
    /// Few-shot supernets (`oxnas supernet fewshot`): a warm-up and one supernet run per group inside.
    FewShot,
    /// A recurrent cell retrained as a language model (`oxnas lm train`).
    Lm,
}

impl RunKind {
    /// What a user calls it: "training run", "search run", "supernet run".
    pub fn noun(self) -> &'static str {
        match self {
            RunKind::Train => "training run",
            RunKind::Search => "search run",
            RunKind::Supernet => "supernet run",
            RunKind::Prune => "pruning run",
            RunKind::FewShot => "few-shot run",
            RunKind::Lm => "language-model run",
        }
    }

    /// The command that continues it.
    pub fn command(self) -> &'static str {
        match self {
            RunKind::Train => "oxnas train",
            RunKind::Search => "oxnas search",
            RunKind::Supernet => "oxnas supernet train",
            RunKind::Prune => "oxnas prune",
            RunKind::FewShot => "oxnas supernet fewshot",
            RunKind::Lm => "oxnas lm train",
        }
    }

    fn log(self) -> &'static str {
        match self {
            RunKind::Train | RunKind::Lm => "metrics.jsonl",
            RunKind::Search => "search.jsonl",
            RunKind::Supernet => "supernet.jsonl",
            RunKind::Prune => "prune.jsonl",
            RunKind::FewShot => "fewshot.jsonl",
        }
    }

    /// The kind of run `dir` holds, from the sections of its config.toml; `None` when it has none
    /// that oxnas can read.
    pub fn detect(dir: &Path) -> Option<RunKind> {
        let table: toml::Table = std::fs::read_to_string(dir.join("config.toml")).ok()?.parse().ok()?;
        if table.contains_key("prune") {
            Some(RunKind::Prune)
        } else if table.contains_key("fewshot") {
            Some(RunKind::FewShot)
        } else if table.get("optim").and_then(|o| o.get("bptt")).is_some() {
            Some(RunKind::Lm)
        } else if table.contains_key("model") {
            Some(RunKind::Train)
        } else if table.contains_key("track") {
            Some(RunKind::Supernet)
        } else if table.contains_key("decision") || table.contains_key("arch") {
            Some(RunKind::Search)
        } else {
            None
        }
    }
}

/// Where a run keeps its files. The three kinds of run share one layout (config.toml, a JSON-lines log,
/// checkpoints/last.safetensors, ...) and differ only in the log's name.
#[derive(Debug, Clone)]
pub struct RunFiles {
    pub dir: PathBuf,
    pub kind: RunKind,
}

impl RunFiles {
    /// A retraining run (`oxnas train`): per-epoch metrics in metrics.jsonl.
    pub fn train(dir: &Path) -> Self {
        RunFiles { dir: dir.to_path_buf(), kind: RunKind::Train }
    }
    /// A search (`oxnas search`): per-epoch records in search.jsonl.
    pub fn search(dir: &Path) -> Self {
        RunFiles { dir: dir.to_path_buf(), kind: RunKind::Search }
    }
    /// A pruning run (`oxnas prune`): per-round records in prune.jsonl.
    pub fn prune(dir: &Path) -> Self {
        RunFiles { dir: dir.to_path_buf(), kind: RunKind::Prune }
    }
    /// A few-shot run (`oxnas supernet fewshot`): per-stage records in fewshot.jsonl.
    pub fn fewshot(dir: &Path) -> Self {
        RunFiles { dir: dir.to_path_buf(), kind: RunKind::FewShot }
    }
    /// A language-model run (`oxnas lm train`): per-epoch perplexities in metrics.jsonl.
    pub fn lm(dir: &Path) -> Self {
        RunFiles { dir: dir.to_path_buf(), kind: RunKind::Lm }
    }
    /// A single-path supernet (`oxnas supernet train`): per-epoch records in supernet.jsonl.
    pub fn supernet(dir: &Path) -> Self {
        RunFiles { dir: dir.to_path_buf(), kind: RunKind::Supernet }
    }
    pub fn config(&self) -> PathBuf {
        self.dir.join("config.toml")
    }
    /// The run's JSON-lines log, one record per finished epoch.
    pub fn log(&self) -> PathBuf {
        self.dir.join(self.kind.log())
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
    #[error(transparent)]
    Lock(#[from] LockError),
}

fn refused(dir: &Path, why: String) -> RunDirError {
    RunDirError::Refused { dir: dir.display().to_string(), why }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RunDirError {
    let path = path.display().to_string();
    move |source| RunDirError::Io { path, source }
}

/// What `dir` holds besides the lock file and temporary files: a directory with nothing else is
/// free for a run.
fn foreign_entries(dir: &Path) -> Result<Vec<String>, RunDirError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(io(dir)(e)),
    };
    let mut names = vec![];
    for entry in entries {
        let name = entry.map_err(io(dir))?.file_name().to_string_lossy().into_owned();
        if name != LOCK_FILE && !(name.starts_with('.') && name.ends_with(".tmp")) {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// Refuses `dir` for a fresh run of `kind` when it holds another kind of run, or files that are
/// not an oxnas run's: oxnas writes only into directories it owns.
fn check_fresh(dir: &Path, kind: RunKind) -> Result<(), RunDirError> {
    match RunKind::detect(dir) {
        Some(found) if found != kind => Err(refused(
            dir,
            format!(
                "it holds a {}, not a {}; continue it with `{} --resume {}`, or choose another --out",
                found.noun(),
                kind.noun(),
                found.command(),
                dir.display()
            ),
        )),
        Some(_) => Ok(()),
        None if dir.join("config.toml").exists() => {
            Err(refused(dir, "its config.toml is not an oxnas run's config; choose another --out".into()))
        }
        None => {
            let names = foreign_entries(dir)?;
            if names.is_empty() {
                return Ok(());
            }
            let shown: Vec<&str> = names.iter().take(5).map(String::as_str).collect();
            Err(refused(
                dir,
                format!(
                    "it is not empty ({}{}) and is not an oxnas run directory; oxnas writes only into a new or empty directory, so choose another --out",
                    shown.join(", "),
                    if names.len() > 5 { ", ..." } else { "" }
                ),
            ))
        }
    }
}

/// Takes the run's lock and removes what dead writers left behind.
fn own(dir: &Path) -> Result<Lock, RunDirError> {
    let lock = Lock::dir(dir)?;
    for path in sweep_dead_temps(dir, 2).map_err(io(dir))? {
        tracing::info!("removed {}, left by an interrupted write", path.display());
    }
    Ok(lock)
}

/// Prepares `files.dir` for a fresh run: refuses it if it holds a run with a checkpoint, another
/// kind of run, or someone else's files; locks it; creates `subdirs`; writes `config.toml`. The
/// returned lock must live as long as the run.
pub fn create<C: ConfigFile>(files: &RunFiles, subdirs: &[&str], cfg: &C) -> Result<Lock, RunDirError> {
    let dir = files.dir.as_path();
    check_fresh(dir, files.kind)?;
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let lock = own(dir)?;
    if files.last().exists() {
        return Err(refused(
            dir,
            format!("it already holds a {}; pass --resume to continue it or choose another --out", files.kind.noun()),
        ));
    }
    // The config first: from then on another run sees whose directory this is.
    let config = files.config();
    write_atomic(&config, cfg.to_toml().as_bytes()).map_err(io(&config))?;
    for sub in subdirs {
        std::fs::create_dir_all(dir.join(sub)).map_err(io(dir))?;
    }
    Ok(lock)
}

/// Refuses `dir` unless it holds a run of `kind`, naming the command for the kind it does hold.
pub fn expect_kind(dir: &Path, kind: RunKind) -> Result<(), RunDirError> {
    if !dir.join("config.toml").is_file() {
        return Err(refused(dir, format!("no config.toml; is this an oxnas {} directory?", kind.noun())));
    }
    match RunKind::detect(dir) {
        Some(found) if found != kind => Err(refused(
            dir,
            format!(
                "this is a {}, not a {}; use `{} --resume {}`",
                found.noun(),
                kind.noun(),
                found.command(),
                dir.display()
            ),
        )),
        _ => Ok(()),
    }
}

/// The resolved config of an existing run directory, with the run's lock.
pub fn open<C: ConfigFile>(files: &RunFiles) -> Result<(C, Lock), RunDirError> {
    let dir = files.dir.as_path();
    expect_kind(dir, files.kind)?;
    let lock = own(dir)?;
    let config = files.config();
    let text = std::fs::read_to_string(&config).map_err(|e| {
        refused(dir, format!("no readable config.toml ({e}); is this an oxnas {} directory?", files.kind.noun()))
    })?;
    Ok((C::from_toml_str(&text, &config.display().to_string())?, lock))
}

/// The config of an existing run directory, read while holding it shared: for analyses that only
/// read the run (no training may write it meanwhile; other readers may).
pub fn open_shared<C: ConfigFile>(files: &RunFiles) -> Result<(C, Lock), RunDirError> {
    let dir = files.dir.as_path();
    expect_kind(dir, files.kind)?;
    let lock = Lock::dir_shared(dir)?;
    let config = files.config();
    let text = std::fs::read_to_string(&config).map_err(|e| {
        refused(dir, format!("no readable config.toml ({e}); is this an oxnas {} directory?", files.kind.noun()))
    })?;
    Ok((C::from_toml_str(&text, &config.display().to_string())?, lock))
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxnas_core::config::{SearchConfig, TrainConfig};

    #[test]
    fn create_then_open_and_refuse_twice() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = TrainConfig::resolve("cpu-smoke", None, &[]).unwrap();
        let files = RunFiles::train(dir.path());
        drop(create(&files, &["checkpoints"], &cfg).unwrap());
        let (back, _lock): (TrainConfig, _) = open(&files).unwrap();
        assert_eq!(back, cfg);
        std::fs::write(files.last(), b"x").unwrap();
        drop(_lock);
        let e = create(&files, &[], &cfg).unwrap_err().to_string();
        assert!(e.contains("--resume"), "{e}");
        let e = open::<TrainConfig>(&RunFiles::search(&dir.path().join("nope"))).unwrap_err().to_string();
        assert!(e.contains("oxnas search run directory"), "{e}");
    }

    #[test]
    fn a_run_directory_is_owned_by_one_run_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = TrainConfig::resolve("cpu-smoke", None, &[]).unwrap();
        let files = RunFiles::train(dir.path());
        let lock = create(&files, &["checkpoints"], &cfg).unwrap();
        let pid = format!("PID {}", std::process::id());
        let e = create(&files, &["checkpoints"], &cfg).unwrap_err().to_string();
        assert!(e.contains(&pid), "{e}");
        let e = open::<TrainConfig>(&files).unwrap_err().to_string();
        assert!(e.contains(&pid), "{e}");
        drop(lock);
        assert!(open::<TrainConfig>(&files).is_ok(), "released with its holder");
    }

    #[test]
    fn foreign_and_other_kinds_of_directories_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = TrainConfig::resolve("cpu-smoke", None, &[]).unwrap();
        let foreign = dir.path().join("mine");
        std::fs::create_dir_all(&foreign).unwrap();
        std::fs::write(foreign.join("metrics.jsonl"), b"precious\n").unwrap();
        let e = create(&RunFiles::train(&foreign), &[], &cfg).unwrap_err().to_string();
        assert!(e.contains("not an oxnas run directory") && e.contains("metrics.jsonl"), "{e}");
        assert_eq!(std::fs::read(foreign.join("metrics.jsonl")).unwrap(), b"precious\n");
        assert!(!foreign.join(LOCK_FILE).exists(), "nothing is written into a directory oxnas does not own");

        let search = dir.path().join("search");
        let scfg = SearchConfig::resolve("cpu-demo", None, &[]).unwrap();
        drop(create(&RunFiles::search(&search), &[], &scfg).unwrap());
        let e = create(&RunFiles::train(&search), &[], &cfg).unwrap_err().to_string();
        assert!(e.contains("holds a search run") && e.contains("oxnas search --resume"), "{e}");
        let e = open::<TrainConfig>(&RunFiles::train(&search)).unwrap_err().to_string();
        assert!(e.contains("this is a search run") && e.contains("oxnas search --resume"), "{e}");
        let train = dir.path().join("train");
        drop(create(&RunFiles::train(&train), &[], &cfg).unwrap());
        let e = open::<SearchConfig>(&RunFiles::search(&train)).unwrap_err().to_string();
        assert!(e.contains("this is a training run") && e.contains("oxnas train --resume"), "{e}");
        let e = create(&RunFiles::supernet(&train), &[], &scfg).unwrap_err().to_string();
        assert!(e.contains("holds a training run"), "{e}");
    }

    #[test]
    fn dead_writers_temp_files_are_swept_at_start_and_resume() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = TrainConfig::resolve("cpu-smoke", None, &[]).unwrap();
        let files = RunFiles::train(dir.path());
        let dead = "4294967294";
        let stale = dir.path().join(format!(".last.safetensors.{dead}.tmp"));
        std::fs::write(&stale, b"partial").unwrap();
        drop(create(&files, &["checkpoints"], &cfg).unwrap());
        assert!(!stale.exists(), "swept at the start of a run");
        let stale = dir.path().join(format!("checkpoints/.last.safetensors.{dead}.tmp"));
        std::fs::write(&stale, b"partial").unwrap();
        drop(open::<TrainConfig>(&files).unwrap());
        assert!(!stale.exists(), "swept on resume");
    }
}
