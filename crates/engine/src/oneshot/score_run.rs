//! Scoring many cells into a scores CSV, resumably. Scoring all 6,466 NAS-Bench-201 classes of a
//! C=16 supernet takes hours on a CPU; a killed run keeps what it had scored and a second call with
//! the same settings scores only the rest.
//!
//! The scores so far go atomically to `<out>.partial` (a scores CSV) every `flush_every` cells, with
//! the settings that produced them in `<out>.partial.json`. A cell's score depends only on the
//! weights and the fixed batches (BN state is reset or unused per cell), never on which cells came
//! before it, so on the CPU a resumed run writes byte for byte the file an uninterrupted run writes
//! (on CUDA, cuDNN's non-deterministic kernels may change the last bits of a score either way).

use super::score::{ArchScorer, CellScore};
use oxnas_core::fsutil::write_atomic;
use oxnas_core::oneshot::{ArchError, RankSpace};
use oxnas_core::rank::{ArchScores, RankError};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ScoreRunError {
    #[error(transparent)]
    Scores(#[from] RankError),
    #[error(transparent)]
    Arch(#[from] ArchError),
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error(
        "{partial} holds scores from other settings ({why}); delete it (and its .json) to start afresh, \
         or pass another --out"
    )]
    OtherSettings { partial: String, why: String },
    #[error("stopped after {done} of {total} cells; the same command continues from {partial}")]
    Interrupted { done: usize, total: usize, partial: String },
}

/// How a scoring run went.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreRun {
    /// Scores of the distinct cells asked for, in first-mention order (as in the CSV).
    pub scores: Vec<CellScore>,
    /// Distinct cells whose scores came from an earlier, interrupted run.
    pub resumed: usize,
    /// Distinct cells asked for.
    pub distinct: usize,
}

/// `<out>.partial` and `<out>.partial.json`.
pub fn partial_paths(out: &Path) -> (PathBuf, PathBuf) {
    let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    (out.with_file_name(format!("{name}.partial")), out.with_file_name(format!("{name}.partial.json")))
}

/// Scores `cells` and writes them to `out` (a scores CSV with the space's metric as `score`, and `loss`).
/// `settings` describes everything the scores depend on (run, checkpoint, BN mode, images...); a
/// partial file is resumed only when its settings are equal. `progress(done, total)` is called after
/// every cell; returning false stops the run after saving what is scored (tests, Ctrl-C).
#[allow(clippy::too_many_arguments)]
pub fn score_to_csv(
    scorer: &mut dyn ArchScorer,
    space: &dyn RankSpace,
    cells: &[String],
    out: &Path,
    settings: &serde_json::Value,
    flush_every: usize,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Result<ScoreRun, ScoreRunError> {
    let (partial, meta) = partial_paths(out);
    let io = |p: &Path| {
        let path = p.display().to_string();
        move |source| ScoreRunError::Io { path, source }
    };
    let mut done: BTreeMap<String, CellScore> = BTreeMap::new();
    if partial.exists() {
        let refuse = |why: String| ScoreRunError::OtherSettings { partial: partial.display().to_string(), why };
        let text = std::fs::read_to_string(&meta)
            .map_err(|e| refuse(format!("its settings file {} cannot be read: {e}", meta.display())))?;
        let saved: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| refuse(format!("{} is not readable JSON: {e}", meta.display())))?;
        if &saved != settings {
            return Err(refuse(format!("they were {saved}, now {settings}")));
        }
        for row in ArchScores::read_csv(&partial, space)?.rows {
            done.insert(row.arch, CellScore { score: row.score, loss: row.loss.unwrap_or(f64::NAN) });
        }
    }
    // A list may name a cell twice: it is scored, counted and written once, in first-mention order
    // (`oxnas rank` refuses a cell listed twice).
    let order: Vec<&String> = {
        let mut seen = BTreeSet::new();
        cells.iter().filter(|c| seen.insert(c.as_str())).collect()
    };
    let resumed = order.iter().filter(|c| done.contains_key(c.as_str())).count();
    let todo: Vec<String> = order.iter().filter(|c| !done.contains_key(c.as_str())).map(|c| c.to_string()).collect();

    let save = |done: &BTreeMap<String, CellScore>| -> Result<(), ScoreRunError> {
        write_atomic(&meta, serde_json::to_string_pretty(settings).expect("json").as_bytes()).map_err(io(&meta))?;
        to_table(space, done.iter().map(|(a, s)| (a.as_str(), *s))).write_csv(&partial)?;
        Ok(())
    };
    let total = order.len();
    let mut count = resumed;
    for chunk in todo.chunks(flush_every.max(1)) {
        let mut stop = false;
        // One chunk per `score_all` call: it restores the BN buffers once per call, and calling it
        // per chunk keeps saving and stopping at chunk boundaries.
        let scores = scorer.score_all(chunk, &mut |i| stop |= !progress(count + i, total))?;
        count += chunk.len();
        for (c, s) in chunk.iter().zip(scores) {
            done.insert(c.clone(), s);
        }
        // Saved after the last chunk too: should writing `out` fail, nothing scored is lost.
        save(&done)?;
        if stop && count < total {
            return Err(ScoreRunError::Interrupted { done: count, total, partial: partial.display().to_string() });
        }
    }
    let scores: Vec<CellScore> = order.iter().map(|c| done[c.as_str()]).collect();
    to_table(space, order.iter().map(|c| c.as_str()).zip(scores.iter().copied())).write_csv(out)?;
    for p in [&partial, &meta] {
        if p.exists() {
            std::fs::remove_file(p).map_err(io(p))?;
        }
    }
    Ok(ScoreRun { scores, resumed, distinct: total })
}

fn to_table<'a>(space: &dyn RankSpace, rows: impl Iterator<Item = (&'a str, CellScore)>) -> ArchScores {
    let mut table = ArchScores::new();
    for (arch, s) in rows {
        table.push(space, arch, s.score).loss = Some(s.loss);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oneshot::nb201_cells;
    use crate::oneshot::score::{BnScoring, ImageScoring, Scorer};
    use crate::search::Nb201Supernet;
    use oxnas_core::oneshot::Nb201RankSpace;
    use tch::{Device, Kind, Tensor};

    fn setup() -> (ImageScoring, Vec<String>) {
        tch::manual_seed(5);
        let cfg = crate::oneshot::tiny_config(true);
        let net = Nb201Supernet::new(&cfg, Device::Cpu);
        let x = Tensor::randn([16, 1, 12, 12], (Kind::Float, Device::Cpu));
        let y = Tensor::randint(10, [16], (Kind::Int64, Device::Cpu));
        let scorer = Scorer::new(vec![(x.shallow_clone(), y)], vec![x.narrow(0, 0, 8)], BnScoring::Recalibrate);
        let cells: Vec<String> = nb201_cells().into_iter().step_by(1000).collect();
        (ImageScoring { scorer, net: Box::new(net) }, cells)
    }

    #[test]
    fn an_interrupted_run_resumes_to_the_same_file() {
        let (mut scoring, cells) = setup();
        assert_eq!(cells.len(), 16);
        let dir = tempfile::tempdir().unwrap();
        let settings = serde_json::json!({ "bn": "recalibrate", "eval_images": 16 });

        let full = dir.path().join("full.csv");
        let run = score_to_csv(&mut scoring, &Nb201RankSpace::default(), &cells, &full, &settings, 5, &mut |_, _| true)
            .unwrap();
        assert_eq!(run.resumed, 0);
        assert!(!partial_paths(&full).0.exists(), "a finished run leaves no partial file");

        // Stop during the second chunk: the first two chunks (10 cells) are saved.
        let cut = dir.path().join("cut.csv");
        let err =
            score_to_csv(&mut scoring, &Nb201RankSpace::default(), &cells, &cut, &settings, 5, &mut |done, _| done < 7)
                .unwrap_err();
        assert!(matches!(err, ScoreRunError::Interrupted { done: 10, total: 16, .. }), "{err}");
        assert!(!cut.exists());
        assert_eq!(ArchScores::read_csv(&partial_paths(&cut).0, &Nb201RankSpace::default()).unwrap().len(), 10);

        // Other settings refuse the partial file instead of mixing scores.
        let other = serde_json::json!({ "bn": "train", "eval_images": 16 });
        let err = score_to_csv(&mut scoring, &Nb201RankSpace::default(), &cells, &cut, &other, 5, &mut |_, _| true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("other settings") && err.contains("--out"), "{err}");
        // So does a partial file whose settings file is gone.
        let lost = dir.path().join("lost.csv");
        std::fs::copy(partial_paths(&cut).0, partial_paths(&lost).0).unwrap();
        let err = score_to_csv(&mut scoring, &Nb201RankSpace::default(), &cells, &lost, &settings, 5, &mut |_, _| true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("settings file") && err.contains("delete it"), "{err}");

        let mut calls = vec![];
        let resumed =
            score_to_csv(&mut scoring, &Nb201RankSpace::default(), &cells, &cut, &settings, 5, &mut |done, total| {
                calls.push((done, total));
                true
            })
            .unwrap();
        assert_eq!(resumed.resumed, 10);
        assert_eq!(calls.first(), Some(&(11, 16)), "progress counts the resumed cells");
        assert_eq!(resumed.scores, run.scores);
        assert_eq!(std::fs::read(&cut).unwrap(), std::fs::read(&full).unwrap());
        let (p, m) = partial_paths(&cut);
        assert!(!p.exists() && !m.exists());

        // A cell named twice is scored once, written once and counted once.
        let twice: Vec<String> = cells.iter().chain(&cells[..3]).cloned().collect();
        let mut last = (0, 0);
        let run2 = score_to_csv(
            &mut scoring,
            &Nb201RankSpace::default(),
            &twice,
            &dir.path().join("twice.csv"),
            &settings,
            5,
            &mut |d, t| {
                last = (d, t);
                true
            },
        )
        .unwrap();
        assert_eq!(last, (16, 16));
        assert_eq!((run2.distinct, run2.scores), (16, run.scores.clone()));
        assert_eq!(std::fs::read(dir.path().join("twice.csv")).unwrap(), std::fs::read(&full).unwrap());
    }
}
