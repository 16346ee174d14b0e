//! NAS-Bench-101 as a ground truth: a table made by `oxnas bench import nb101` from the benchmark's
//! TFRecord file, looked up by each scored cell's module hash (so any isomorph of a benchmark cell
//! finds its row).
//!
//! The benchmark stores accuracies as fractions and trains every cell 3 times per epoch budget; the
//! truth is the mean test accuracy over the repeats at one budget, in percent like oxnas's own
//! ground-truth CSVs. The table holds 423,624 cells; only the scored ones are looked up, because
//! naming every cell by its canonical string would cost seconds for rows nobody asked about.

use std::fmt;
use std::path::{Path, PathBuf};

use super::scores::GroundTruth;
use crate::nb101::table::{Nb101Table, TableError};
use crate::oneshot::{ArchError, Nb101RankSpace};

/// `nb101:TABLE` or `nb101:TABLE@EPOCHS` on a command line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Nb101TruthSpec {
    pub table: PathBuf,
    /// The epoch budget (4, 12, 36 or 108 in the benchmark); the table's largest when absent.
    pub epochs: Option<u32>,
}

impl Nb101TruthSpec {
    /// Parses what follows `nb101:`.
    pub fn parse(text: &str) -> Nb101TruthSpec {
        match text.rsplit_once('@') {
            Some((path, e)) if !path.is_empty() && e.parse::<u32>().is_ok() => {
                Nb101TruthSpec { table: path.into(), epochs: e.parse().ok() }
            }
            _ => Nb101TruthSpec { table: text.into(), epochs: None },
        }
    }
}

impl fmt::Display for Nb101TruthSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "nb101:{}", self.table.display())?;
        match self.epochs {
            Some(e) => write!(f, "@{e}"),
            None => Ok(()),
        }
    }
}

/// Why an NB101 table cannot serve as ground truth.
#[derive(Debug, thiserror::Error)]
pub enum Nb101TruthError {
    #[error(transparent)]
    Table(#[from] TableError),
    #[error("{}: the table has no {asked}-epoch results (it has {have:?}); use nb101:TABLE@EPOCHS with one of those", path.display())]
    Budget { path: PathBuf, asked: u32, have: Vec<u32> },
    #[error("{}: the table holds no cells; import the benchmark's TFRecord file again", path.display())]
    Empty { path: PathBuf },
    #[error(
        "{spec} answers per scored cell; a command that needs the truth of every cell (pruning, few-shot) \
         cannot use it: give an `arch_str,accuracy` CSV instead"
    )]
    NeedsCells { spec: String },
}

impl Nb101TruthSpec {
    /// Mean test accuracy (percent) of every cell in `archs` the table has, keyed by the given
    /// (canonical) strings, and a note of how many were found.
    pub fn lookup<'a>(
        &self,
        space: &Nb101RankSpace,
        archs: impl IntoIterator<Item = &'a str>,
    ) -> Result<(GroundTruth, String), super::RankError> {
        let table = Nb101Table::open(&self.table).map_err(Nb101TruthError::from)?;
        let epochs = self.budget(&table, &self.table)?;
        let mut pairs = vec![];
        let mut asked = 0;
        for arch in archs {
            asked += 1;
            let cell = space.parse(arch).map_err(|e: ArchError| super::RankError::Arch(e))?;
            let Some(record) = table.get_cell(&cell) else { continue };
            let record = record.map_err(Nb101TruthError::from)?;
            if let Some(runs) = record.at(epochs) {
                pairs.push((arch.to_string(), 100.0 * runs.mean(|r| r.test_acc)));
            }
        }
        let note = format!(
            "{self}: {} of {asked} scored cells found; truth = mean test accuracy over the repeats at {epochs} epochs",
            pairs.len()
        );
        Ok((GroundTruth::from_pairs(&format!("nb101_test_{epochs}ep"), pairs), note))
    }

    fn budget(&self, table: &Nb101Table, path: &Path) -> Result<u32, Nb101TruthError> {
        let have = table.budgets().to_vec();
        if table.is_empty() || have.is_empty() {
            return Err(Nb101TruthError::Empty { path: path.into() });
        }
        match self.epochs {
            None => Ok(*have.last().expect("checked non-empty")),
            Some(e) if have.contains(&e) => Ok(e),
            Some(asked) => Err(Nb101TruthError::Budget { path: path.into(), asked, have }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nb101::table::tests::{file, readme_run, sample_records, README_STORED};
    use crate::oneshot::RankSpace;
    use crate::rank::{ArchScores, RankError, TruthSource};

    /// The table test's records: the README cell (3 repeats at 108 epochs, 2 at 36) and the
    /// input→output cell `:1` (3 repeats at 108).
    fn table() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("nb.tfrecord");
        std::fs::write(&src, file(&sample_records())).unwrap();
        let out = dir.path().join("nb101.bin");
        crate::nb101::table::import(&src, &out).unwrap();
        (dir, out)
    }

    fn scores(space: &Nb101RankSpace, archs: &[&str]) -> ArchScores {
        let rows: String = archs.iter().map(|a| format!("{},1.0\n", space.canonical(a).unwrap())).collect();
        ArchScores::from_csv_str(&format!("arch_str,score\n{rows}"), "s.csv", space).unwrap()
    }

    #[test]
    fn scored_isomorphs_find_the_benchmark_mean() {
        let (_dir, path) = table();
        let space = Nb101RankSpace::default();
        // The README's own spelling is an isomorph of the stored one; "3:11/1" is not in the table.
        let readme = crate::nb101::cell::tests::README_SHORT;
        let s = scores(&space, &[readme, ":1", "3:11/1"]);
        let source: TruthSource = format!("nb101:{}", path.display()).parse().unwrap();
        let (truth, note) = source.load_for(&space, &s).unwrap();
        assert_eq!(truth.len(), 2);
        // Mean of the three 108-epoch test accuracies, in percent.
        let mean: f64 = (0..3).map(|k| readme_run(k)[3]).sum::<f64>() / 3.0;
        let got = truth.get(&space.canonical(README_STORED).unwrap()).unwrap();
        assert!((got - 100.0 * mean).abs() < 1e-9, "{got}");
        // :1 has 0.125, 0.25, 0.375 at 108 epochs.
        assert!((truth.get(":1").unwrap() - 25.0).abs() < 1e-9);
        assert!(note.unwrap().contains("2 of 3 scored cells found"));
        assert_eq!(truth.name(), "nb101_test_108ep");

        let at36: TruthSource = format!("nb101:{}@36", path.display()).parse().unwrap();
        let (truth, _) = at36.load_for(&space, &s).unwrap();
        assert_eq!(truth.len(), 1, "the skip cell has no 36-epoch runs");
        assert!((truth.get(&space.canonical(readme).unwrap()).unwrap() - 50.0).abs() < 1e-9);
    }

    #[test]
    fn wrong_budget_space_or_file_is_named() {
        let (dir, path) = table();
        let space = Nb101RankSpace::default();
        let s = scores(&space, &[":1"]);
        let at12: TruthSource = format!("nb101:{}@12", path.display()).parse().unwrap();
        let e = at12.load_for(&space, &s).unwrap_err().to_string();
        assert!(e.contains("no 12-epoch results") && e.contains("[36, 108]"), "{e}");

        let nb201 = crate::oneshot::Nb201RankSpace::default();
        let e = at12.load_for(&nb201, &ArchScores { rows: vec![] }).unwrap_err();
        assert!(matches!(e, RankError::Nb101Space { .. }), "{e}");
        let e = at12.load(&space).unwrap_err().to_string();
        assert!(e.contains("answers per scored cell"), "{e}");

        let bad = dir.path().join("bad.bin");
        std::fs::write(&bad, b"not a table").unwrap();
        let source: TruthSource = format!("nb101:{}", bad.display()).parse().unwrap();
        let e = source.load_for(&space, &s).unwrap_err().to_string();
        assert!(e.contains("not an oxnas NAS-Bench-101 table") && e.contains("bench import nb101"), "{e}");
    }

    #[test]
    fn spec_round_trips() {
        for text in ["nb101:/data/nb101.bin", "nb101:t@36", "nb101:dir@x/t.bin"] {
            let s: TruthSource = text.parse().unwrap();
            assert_eq!(s.to_string(), text);
        }
        assert_eq!(Nb101TruthSpec::parse("a@108").epochs, Some(108));
        assert_eq!(Nb101TruthSpec::parse("a@b").epochs, None);
    }
}
