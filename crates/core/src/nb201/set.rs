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
    #[error("{path}, line {line}: {source}")]
    Line { path: String, line: usize, source: ArchError },
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    #[error("item {item} of the list: {source}")]
    Item { item: usize, source: ArchError },
    #[error("the set is empty after restricting to the ops {0}")]
    Empty(String),
}

fn parse_one(s: &str) -> Result<Nb201Arch, ArchError> {
    match s.trim().parse::<usize>() {
        Ok(i) => Nb201Arch::from_index(i),
        Err(_) => s.trim().parse(),
    }
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
            let mut out = vec![];
            for (i, line) in text.lines().enumerate() {
                let line = line.split('#').next().unwrap_or("").trim();
                // A CSV with a header and the arch in its first or second column is accepted too.
                let field = line.split(',').find(|f| f.trim().starts_with('|') || f.trim().parse::<usize>().is_ok());
                match field {
                    Some(f) => out.push(parse_one(f).map_err(|source| ArchSetError::Line {
                        path: t.to_string(),
                        line: i + 1,
                        source,
                    })?),
                    None if line.is_empty() || i == 0 => continue,
                    None => return Err(ArchSetError::Unknown(format!("{t}, line {}: '{line}'", i + 1))),
                }
            }
            return Ok(ArchSet::List(out));
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
        std::fs::write(&p, "index,arch_str\n6111,|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|\n# comment\n9930\n").unwrap();
        let v = p.to_str().unwrap().parse::<ArchSet>().unwrap().resolve(&Nb201Op::ALL, 0).unwrap();
        assert_eq!(v.iter().map(|a| a.to_index()).collect::<Vec<_>>(), vec![6111, 9930]);
        std::fs::write(&p, "7\n|bad~0|\n").unwrap();
        let e = p.to_str().unwrap().parse::<ArchSet>().unwrap_err().to_string();
        assert!(e.contains("line 2"), "{e}");
        assert!("sample:x".parse::<ArchSet>().is_err());
        assert!("everything".parse::<ArchSet>().unwrap_err().to_string().contains("sample:N"));
        let only_none = [Nb201Op::None];
        assert!(ArchSet::Sample(3).resolve(&only_none[..0], 0).is_err());
    }
}
