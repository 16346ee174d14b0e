//! Sets of NAS-Bench-201 cells named on a command line: `all`, `classes` (one cell per isomorphism
//! class), `sample:N` (seeded, without replacement), a file (one arch string or index per line), or a
//! comma-separated list. Any set can be restricted to the cells whose ops all come from a subset.

use super::{ArchError, Nb201Arch, Nb201Op, NUM_ARCHS};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::path::Path;

#[derive(Debug, Clone, PartialEq)]
pub enum ArchSet {
    All,
    Classes,
    Sample(usize),
    List(Vec<Nb201Arch>),
}

#[derive(Debug, thiserror::Error)]
pub enum ArchSetError {
    #[error("'{0}' is not an arch set: use all, classes, sample:N, a file with one arch string or index per line, or a comma-separated list")]
    Unknown(String),
    #[error("{path}, line {line}: '{text}': {source}")]
    Line { path: String, line: usize, text: String, source: ArchError },
    #[error("{path}, line {line}: '{text}' {why}")]
    BadLine { path: String, line: usize, text: String, why: String },
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    #[error("item {item} of the list: {source}")]
    Item { item: usize, source: ArchError },
    #[error("the set is empty after restricting to the ops {0}")]
    Empty(String),
}

fn parse_one(s: &str) -> Result<Nb201Arch, ArchError> {
    let s = s.trim();
    match s.parse::<usize>() {
        Ok(i) => Nb201Arch::from_index(i),
        // A negative or otherwise numeric-looking item is a bad index, not an arch string.
        Err(_) if s.parse::<i128>().is_ok() => Err(ArchError::IndexText { text: s.to_string() }),
        Err(_) => s.parse(),
    }
}

/// The header that starts oxnas's own CSVs of cells (scores, ground truth): such a file is read by
/// its first two columns.
const CSV_HEADER: &str = "index,arch_str";

/// The cells of an arch file, strictly: each line one arch string or one index (`#` starts a
/// comment), or an oxnas CSV whose rows start with an index and its arch string. Anything else is
/// an error naming the line, never a silently skipped or half-read one.
fn parse_file(path: &str, text: &str) -> Result<Vec<Nb201Arch>, ArchSetError> {
    let mut out = vec![];
    let mut csv = false;
    let mut first = true;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let bad =
            |why: &str| ArchSetError::BadLine { path: path.into(), line: i + 1, text: line.into(), why: why.into() };
        if std::mem::take(&mut first) && line.starts_with(CSV_HEADER) {
            csv = true;
            continue;
        }
        let arch = if csv {
            csv_row(line).map_err(|why| bad(&why))?
        } else if line.contains(',') {
            return Err(bad(&format!(
                "holds more than one field; give one arch string or index per line, or a CSV whose header starts with {CSV_HEADER}"
            )));
        } else {
            parse_one(line).map_err(|source| ArchSetError::Line {
                path: path.into(),
                line: i + 1,
                text: line.into(),
                source,
            })?
        };
        out.push(arch);
    }
    Ok(out)
}

/// A CSV row `index,arch_str,...`: both fields must name the same cell.
fn csv_row(line: &str) -> Result<Nb201Arch, String> {
    let mut fields = line.split(',').map(str::trim);
    let (Some(index), Some(arch)) = (fields.next(), fields.next()) else {
        return Err(format!("has no arch_str field; rows of a {CSV_HEADER} CSV need both"));
    };
    let index: usize = index.parse().map_err(|_| format!("starts with '{index}', which is not a cell index"))?;
    let arch: Nb201Arch = arch.parse().map_err(|e: ArchError| e.to_string())?;
    if arch.to_index() != index {
        return Err(format!("gives index {index}, but its arch string is cell {}", arch.to_index()));
    }
    Ok(arch)
}

impl std::str::FromStr for ArchSet {
    type Err = ArchSetError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t == "all" {
            return Ok(ArchSet::All);
        }
        if t == "classes" {
            return Ok(ArchSet::Classes);
        }
        if let Some(n) = t.strip_prefix("sample:") {
            return n.parse().map(ArchSet::Sample).map_err(|_| ArchSetError::Unknown(s.to_string()));
        }
        if Path::new(t).is_file() {
            let text = std::fs::read_to_string(t).map_err(|e| ArchSetError::Io(t.to_string(), e))?;
            return parse_file(t, &text).map(ArchSet::List);
        }
        if t.contains('|') || t.split(',').all(|p| p.trim().parse::<usize>().is_ok()) {
            // Arch strings contain no commas, so a comma always separates items.
            let items: Result<Vec<_>, _> = t
                .split(',')
                .filter(|p| !p.trim().is_empty())
                .enumerate()
                .map(|(item, p)| parse_one(p).map_err(|source| ArchSetError::Item { item: item + 1, source }))
                .collect();
            return items.map(ArchSet::List);
        }
        Err(ArchSetError::Unknown(s.to_string()))
    }
}

impl ArchSet {
    /// The cells of the set whose ops all lie in `ops`, in a stable order (index order, or list order).
    /// `Classes` takes, per isomorphism class, its lowest-index member inside the restricted space.
    pub fn resolve(&self, ops: &[Nb201Op], seed: u64) -> Result<Vec<Nb201Arch>, ArchSetError> {
        let allowed = |a: &Nb201Arch| a.ops.iter().all(|o| ops.contains(o));
        let space = || (0..NUM_ARCHS).filter_map(|i| Nb201Arch::from_index(i).ok()).filter(allowed);
        let out: Vec<Nb201Arch> = match self {
            ArchSet::All => space().collect(),
            ArchSet::Classes => {
                let mut seen = std::collections::HashSet::new();
                space().filter(|a| seen.insert(a.unique_str())).collect()
            }
            ArchSet::Sample(n) => {
                let mut all: Vec<Nb201Arch> = space().collect();
                all.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
                all.truncate(*n);
                all
            }
            ArchSet::List(v) => v.iter().copied().filter(allowed).collect(),
        };
        if out.is_empty() {
            return Err(ArchSetError::Empty(ops.iter().map(|o| o.name()).collect::<Vec<_>>().join(", ")));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_sets_have_the_benchmark_sizes() {
        assert_eq!("all".parse::<ArchSet>().unwrap().resolve(&Nb201Op::ALL, 0).unwrap().len(), 15_625);
        assert_eq!("classes".parse::<ArchSet>().unwrap().resolve(&Nb201Op::ALL, 0).unwrap().len(), 6_466);
        // Without 'none' the space has 4^6 = 4096 cells.
        let no_none = &Nb201Op::ALL[1..];
        assert_eq!(ArchSet::All.resolve(no_none, 0).unwrap().len(), 4096);
        let s1 = "sample:25".parse::<ArchSet>().unwrap().resolve(&Nb201Op::ALL, 3).unwrap();
        let s2 = ArchSet::Sample(25).resolve(&Nb201Op::ALL, 3).unwrap();
        assert_eq!(s1, s2, "a sample is determined by its seed");
        assert_eq!(s1.iter().collect::<std::collections::HashSet<_>>().len(), 25, "no repeats");
    }

    #[test]
    fn lists_files_and_errors() {
        let l: ArchSet = "1835, |none~0|+|none~0|none~1|+|none~0|none~1|none~2|".parse().unwrap();
        let v = l.resolve(&Nb201Op::ALL, 0).unwrap();
        assert_eq!(v[0].to_index(), 1835);
        assert_eq!(v[1].to_index(), 1651);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("archs.csv");
        let row_9930 = format!("9930,{},1.5", Nb201Arch::from_index(9930).unwrap());
        std::fs::write(&p, format!("index,arch_str\n6111,|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|\n# comment\n{row_9930}\n")).unwrap();
        let v = p.to_str().unwrap().parse::<ArchSet>().unwrap().resolve(&Nb201Op::ALL, 0).unwrap();
        assert_eq!(v.iter().map(|a| a.to_index()).collect::<Vec<_>>(), vec![6111, 9930]);
        std::fs::write(&p, "7\n|bad~0|\n").unwrap();
        let e = p.to_str().unwrap().parse::<ArchSet>().unwrap_err().to_string();
        assert!(e.contains("line 2"), "{e}");
        std::fs::write(&p, "# cells to score\n\n1835\n|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|\n").unwrap();
        let v = p.to_str().unwrap().parse::<ArchSet>().unwrap().resolve(&Nb201Op::ALL, 0).unwrap();
        assert_eq!(v.iter().map(|a| a.to_index()).collect::<Vec<_>>(), vec![1835, 6111]);
        assert!("sample:x".parse::<ArchSet>().is_err());
        // Lines that used to be half-read or skipped are errors naming the line.
        for (text, line, says) in [
            ("foo,12\n", 1, "more than one field"),
            ("6111,1835\n", 1, "more than one field"),
            ("-1\n6111\n", 1, "index -1 is out of range"),
            ("cells\n6111\n", 1, "cells"),
            ("6111\nfoo\n", 2, "foo"),
            ("index,arch_str\n12,|none~0|+|none~0|none~1|+|none~0|none~1|none~2|\n", 2, "disagree"),
            ("index,arch_str\n6111\n", 2, "arch_str"),
        ] {
            std::fs::write(&p, text).unwrap();
            let e = p.to_str().unwrap().parse::<ArchSet>().unwrap_err().to_string();
            assert!(e.contains(&format!("line {line}")), "{text:?}: {e}");
            assert!(
                e.contains(says) || (says == "disagree" && e.contains("but its arch string is cell")),
                "{text:?}: {e}"
            );
        }
        assert!("everything".parse::<ArchSet>().unwrap_err().to_string().contains("sample:N"));
        let only_none = [Nb201Op::None];
        assert!(ArchSet::Sample(3).resolve(&only_none[..0], 0).is_err());
    }
}
