//! A search space as single-path weight sharing and the ranking study see it ("How Does Supernet
//! Help in NAS?", Zhang, Zhang & Yang 2020): architectures you can draw uniformly, name by one
//! canonical string, and describe by a few features for the bias report.
//!
//! Everything downstream of a space (supernet training and scoring, score and truth tables, the
//! join, τ/ρ/precision@k, the bias report, pruning) works on canonical strings through
//! [`RankSpace`], so a new space is one implementation of this trait (and its network in the engine),
//! not a `match` in each of those places.

pub mod darts;
pub mod darts_rnn;
pub mod nb101;
pub mod nb101_oneshot;
pub mod nb201;
pub mod proxyless;

use std::fmt;

use rand_chacha::ChaCha8Rng;

pub use darts::DartsRankSpace;
pub use darts_rnn::DartsRnnRankSpace;
pub use nb101::Nb101RankSpace;
pub use nb101_oneshot::Nb101OneShotSpace;
pub use nb201::Nb201RankSpace;
pub use proxyless::ProxylessRankSpace;

/// A string that is not an architecture of the space it was given to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{text}' is not a {space} architecture: {reason}")]
pub struct ArchError {
    pub space: &'static str,
    pub text: String,
    pub reason: String,
}

/// A property of an architecture the bias report correlates with score, truth and rank error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Feature {
    /// snake_case, as reports and JSON name it.
    pub name: &'static str,
    /// Architectures with a high value, in words ("cells with more skip-connections").
    pub high: &'static str,
    /// Architectures with a low value, in words.
    pub low: &'static str,
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

/// What a space's supernet scores and ground truths measure, and which end of them is good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metric {
    /// In words, for reports.
    pub name: &'static str,
    pub better: crate::rank::Better,
    /// The column of an `oxnas groundtruth` CSV that holds the ground truth.
    pub truth_column: &'static str,
}

impl Metric {
    /// Top-1 accuracy in percent (the image spaces).
    pub const ACCURACY: Metric =
        Metric { name: "accuracy", better: crate::rank::Better::Higher, truth_column: "accuracy" };
    /// Word-level perplexity (the recurrent space): validation with inherited weights as the score,
    /// test after standalone training as the ground truth.
    pub const PERPLEXITY: Metric =
        Metric { name: "perplexity", better: crate::rank::Better::Lower, truth_column: "test_ppl" };
}

/// The feature every space reports under this name: parameters of the architecture (or of one of
/// its cells; the space says which). Callers may replace its values with exact counts.
pub const PARAMS: &str = "params";

/// The engine-free half of a space for single-path supernets and ranking.
///
/// Canonical strings are the keys of score and truth tables: two spellings of one architecture must
/// give the same string, and `canonical(canonical(x)) == canonical(x)`.
pub trait RankSpace: Send + Sync {
    /// The name users write (`[supernet] space`, `--space`).
    fn name(&self) -> &'static str;

    /// Parses any accepted spelling of an architecture and returns its canonical string.
    fn canonical(&self, text: &str) -> Result<String, ArchError>;

    /// An architecture drawn uniformly from the space (as its canonical string).
    fn sample(&self, rng: &mut ChaCha8Rng) -> String;

    /// Every architecture, for spaces small enough to list; `None` for the others.
    fn enumerate(&self) -> Option<Vec<String>> {
        None
    }

    /// The benchmark's row number of an architecture, for spaces whose tables are indexed (NAS-Bench-201);
    /// score CSVs of such a space carry it in an `index` column.
    fn index(&self, _canonical: &str) -> Option<usize> {
        None
    }

    /// The architecture at a benchmark row number, for indexed spaces.
    fn arch_at(&self, _index: usize) -> Option<String> {
        None
    }

    /// The features the bias report looks at, in report order; one of them is named [`PARAMS`].
    fn features(&self) -> &'static [Feature];

    /// The values of [`RankSpace::features`] for one architecture (a canonical string), in the same order.
    fn feature_values(&self, canonical: &str) -> Result<Vec<f64>, ArchError>;

    /// What the [`PARAMS`] feature counts, for reports ("approximate, one cell at C=16").
    fn params_note(&self) -> String;

    /// What `supernet score` scores when no `--archs` is given: a list [`RankSpace::resolve_list`]
    /// accepts. A sample of 200 unless the space has a better whole-space list.
    fn default_archs(&self) -> &'static str {
        "sample:200"
    }

    /// What scores and ground truths of this space measure; `oxnas rank` orients them by it unless
    /// told otherwise.
    fn metric(&self) -> Metric {
        Metric::ACCURACY
    }

    /// The independent decisions an architecture is made of (NB201: the op of each of its six
    /// edges), named for reports. Empty for spaces that are not a product of per-slot choices; op
    /// pruning and few-shot splits need at least one.
    fn slots(&self) -> Vec<String> {
        vec![]
    }

    /// The choice an architecture (a canonical string) makes on each of [`RankSpace::slots`], in slot order.
    fn choices(&self, canonical: &str) -> Result<Vec<String>, ArchError> {
        Err(ArchError {
            space: self.name(),
            text: canonical.to_string(),
            reason: "this space has no per-slot choices to prune or split by".into(),
        })
    }

    /// The architectures a command line names (canonical, first-mention order): `all` (spaces that
    /// can list themselves), `sample:N` (N distinct, drawn with `seed`), a file with one architecture
    /// per line (`#` starts a comment), or one architecture. Spaces may accept more forms.
    fn resolve_list(&self, spec: &str, seed: u64) -> Result<Vec<String>, ListError> {
        default_list(self, spec, seed)
    }
}

/// An architecture list that cannot be resolved.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ListError(pub String);

fn default_list<S: RankSpace + ?Sized>(space: &S, spec: &str, seed: u64) -> Result<Vec<String>, ListError> {
    let t = spec.trim();
    if t == "all" {
        return space.enumerate().ok_or_else(|| {
            ListError(format!(
                "the {} space is too large to list; use sample:N or a file of architectures",
                space.name()
            ))
        });
    }
    if let Some(n) = t.strip_prefix("sample:") {
        let n: usize = n.parse().map_err(|_| ListError(format!("'{t}': sample:N needs a whole number N")))?;
        return sample_distinct(space, n, seed);
    }
    let path = std::path::Path::new(t);
    if path.is_file() {
        let text = std::fs::read_to_string(path).map_err(|e| ListError(format!("{}: {e}", path.display())))?;
        return list_file(space, &text, &path.display().to_string());
    }
    space.canonical(t).map(|a| vec![a]).map_err(|e| {
        ListError(format!(
            "{e}; an architecture list is all, sample:N, a file with one architecture per line, or one architecture"
        ))
    })
}

/// The architectures of `spec` when it is a CSV file with an `arch_str` (or `arch`) column; `None`
/// when it is something else.
pub(crate) fn csv_list<S: RankSpace + ?Sized>(space: &S, spec: &str) -> Option<Result<Vec<String>, ListError>> {
    let path = std::path::Path::new(spec.trim());
    let text = std::fs::read_to_string(path).ok().filter(|_| path.is_file())?;
    let header = text.lines().find(|l| !l.trim().is_empty())?;
    let fields = crate::rank::scores::split_fields(header);
    (fields.len() > 1 && fields.iter().any(|f| f == "arch_str" || f == "arch"))
        .then(|| list_file(space, &text, &path.display().to_string()))
}

/// The architectures of a list file: one per line (`#` starts a comment), or a CSV whose header has
/// an `arch_str` (or `arch`) column, such as the score and ground-truth tables oxnas writes.
fn list_file<S: RankSpace + ?Sized>(space: &S, text: &str, file: &str) -> Result<Vec<String>, ListError> {
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()).peekable();
    let column = lines.peek().and_then(|(_, h)| {
        let fields = crate::rank::scores::split_fields(h);
        fields.iter().position(|f| f == "arch_str" || f == "arch").filter(|_| fields.len() > 1)
    });
    if column.is_some() {
        lines.next();
    }
    let mut out = vec![];
    for (i, raw) in lines {
        let entry = match column {
            Some(c) => crate::rank::scores::split_fields(raw).get(c).cloned().unwrap_or_default(),
            None => raw.split('#').next().unwrap_or("").trim().to_string(),
        };
        if !entry.is_empty() {
            out.push(space.canonical(&entry).map_err(|e| ListError(format!("{file}, line {}: {e}", i + 1)))?);
        }
    }
    if out.is_empty() {
        return Err(ListError(format!("{file} names no architecture")));
    }
    Ok(out)
}

/// `n` distinct architectures drawn uniformly with `seed` (all of them, shuffled, when the space has
/// no more than `n`).
fn sample_distinct<S: RankSpace + ?Sized>(space: &S, n: usize, seed: u64) -> Result<Vec<String>, ListError> {
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    if let Some(mut all) = space.enumerate().filter(|a| a.len() <= n.saturating_mul(4)) {
        all.shuffle(&mut rng);
        all.truncate(n);
        return Ok(all);
    }
    let mut seen = std::collections::HashSet::new();
    let mut out = vec![];
    // Rejection of repeats; a space this sampler cannot fill after many draws is smaller than asked.
    for _ in 0..n.saturating_mul(100).max(1000) {
        if out.len() == n {
            break;
        }
        let a = space.sample(&mut rng);
        if seen.insert(a.clone()) {
            out.push(a);
        }
    }
    if out.len() < n {
        return Err(ListError(format!(
            "the {} space gave only {} distinct architectures of the {n} asked",
            space.name(),
            out.len()
        )));
    }
    Ok(out)
}

/// Draws `n` architectures from `space` with a seeded stream (repeats possible, as in uniform sampling).
pub fn sample_n(space: &dyn RankSpace, rng: &mut ChaCha8Rng, n: usize) -> Vec<String> {
    (0..n).map(|_| space.sample(rng)).collect()
}

#[cfg(test)]
pub(crate) mod contract {
    //! Properties every [`RankSpace`] must have, run by each space's tests.
    use super::*;
    use rand::SeedableRng;

    pub fn check(space: &dyn RankSpace) {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for _ in 0..200 {
            let a = space.sample(&mut rng);
            assert_eq!(space.canonical(&a).unwrap(), a, "a sample is canonical");
            let v = space.feature_values(&a).unwrap();
            assert_eq!(v.len(), space.features().len());
            assert!(v.iter().all(|x| x.is_finite()), "{a}: {v:?}");
            if let Some(i) = space.index(&a) {
                assert_eq!(space.arch_at(i).as_deref(), Some(a.as_str()));
            }
        }
        assert_eq!(space.features().iter().filter(|f| f.name == PARAMS).count(), 1);
        let listed = space.resolve_list("sample:20", 4).unwrap();
        assert_eq!(listed.len(), 20);
        assert_eq!(listed.iter().collect::<std::collections::HashSet<_>>().len(), 20, "sample:N is distinct");
        assert_eq!(space.resolve_list("sample:20", 4).unwrap(), listed, "seeded");
        assert_eq!(space.resolve_list(&listed[3], 0).unwrap(), vec![listed[3].clone()]);
        for a in listed.iter().take(5) {
            if !space.slots().is_empty() {
                assert_eq!(space.choices(a).unwrap().len(), space.slots().len(), "{a}: one choice per slot");
            }
        }
        // A CSV with an arch_str column (as oxnas writes scores and ground truth) lists its archs.
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("gt.csv");
        let rows: String =
            listed[..3].iter().map(|a| format!("7,{},90.5\n", crate::rank::scores::csv_field(a))).collect();
        std::fs::write(&csv, format!("key,arch_str,accuracy\n{rows}")).unwrap();
        assert_eq!(space.resolve_list(csv.to_str().unwrap(), 0).unwrap(), listed[..3].to_vec());
        let e = space.canonical("not an architecture").unwrap_err();
        assert_eq!(e.space, space.name());
        assert!(!space.resolve_list(space.default_archs(), 0).unwrap().is_empty(), "the default list resolves");
    }
}
