//! The DARTS recurrent space as a ranking space: genotypes of the 8-node cell whose output averages
//! all nodes (the search space of DARTS on Penn Treebank), keyed by their reference repr, drawn node
//! by node (a predecessor and an activation each, uniformly), described by their activation mix and
//! depth.
//!
//! Every genotype of this space has the same weights (each node owns one `hidden x 2·hidden` map
//! whatever it chooses), so `params` is the same for all of them; the report says so rather than
//! leaving the feature out, so that tables of every space have the column.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::{ArchError, Feature, Metric, RankSpace};
use crate::darts_rnn::{cost::LmSize, resolve, RnnGenotype, RnnOp, STEPS};

const FEATURES: [Feature; 6] = [
    Feature {
        name: "identity_count",
        high: "cells with more identity nodes (no nonlinearity on the candidate)",
        low: "cells with fewer identity nodes",
    },
    Feature { name: "tanh_count", high: "cells with more tanh nodes", low: "cells with fewer tanh nodes" },
    Feature { name: "relu_count", high: "cells with more relu nodes", low: "cells with fewer relu nodes" },
    Feature { name: "sigmoid_count", high: "cells with more sigmoid nodes", low: "cells with fewer sigmoid nodes" },
    Feature {
        name: super::PARAMS,
        high: "larger models (the same for every genotype of this space)",
        low: "smaller models (the same for every genotype of this space)",
    },
    Feature {
        name: "depth",
        high: "deeper cells (longer chains of nodes from the initial state)",
        low: "shallower cells (shorter chains of nodes from the initial state)",
    },
];

/// The single-path space; `size` is where the `params` feature is counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DartsRnnRankSpace {
    pub size: LmSize,
}

impl Default for DartsRnnRankSpace {
    /// Penn Treebank's evaluation size (vocabulary 10,000, embedding = hidden = 850).
    fn default() -> Self {
        DartsRnnRankSpace { size: LmSize::PTB_EVAL }
    }
}

impl DartsRnnRankSpace {
    pub fn parse(&self, text: &str) -> Result<RnnGenotype, ArchError> {
        let err = |reason: String| ArchError { space: "darts-rnn", text: text.to_string(), reason };
        let g = resolve(text).map_err(|e| err(e.to_string()))?;
        if g.steps() != STEPS || g.concat != (1..=STEPS).collect::<Vec<_>>() {
            return Err(err(format!(
                "the single-path space has {STEPS} nodes averaged by concat=range(1, {}); this genotype has {} nodes \
                 and concat {:?}",
                STEPS + 1,
                g.steps(),
                g.concat
            )));
        }
        Ok(g)
    }

    /// A genotype drawn uniformly: node `i` takes each of its `i + 1` predecessors and each of the
    /// 4 activations with equal probability, independently of the other nodes.
    pub fn sample_genotype(&self, rng: &mut ChaCha8Rng) -> RnnGenotype {
        let recurrent = (0..STEPS)
            .map(|i| (RnnOp::REAL[rng.random_range(0..RnnOp::REAL.len())], rng.random_range(0..=i)))
            .collect();
        RnnGenotype { recurrent, concat: (1..=STEPS).collect() }
    }
}

/// Nodes on the longest chain from the initial state (node 0) to any node.
fn depth(g: &RnnGenotype) -> usize {
    let mut d = vec![0usize; g.steps() + 1];
    for (i, &(_, pred)) in g.recurrent.iter().enumerate() {
        d[i + 1] = d[pred] + 1;
    }
    d.into_iter().max().unwrap_or(0)
}

impl RankSpace for DartsRnnRankSpace {
    fn name(&self) -> &'static str {
        "darts-rnn"
    }

    fn canonical(&self, text: &str) -> Result<String, ArchError> {
        Ok(self.parse(text)?.to_string())
    }

    fn sample(&self, rng: &mut ChaCha8Rng) -> String {
        self.sample_genotype(rng).to_string()
    }

    fn features(&self) -> &'static [Feature] {
        &FEATURES
    }

    fn feature_values(&self, canonical: &str) -> Result<Vec<f64>, ArchError> {
        let g = self.parse(canonical)?;
        let count = |op: RnnOp| g.recurrent.iter().filter(|(o, _)| *o == op).count() as f64;
        let params = self.size.eval_params(&g) as f64;
        Ok(vec![
            count(RnnOp::Identity),
            count(RnnOp::Tanh),
            count(RnnOp::Relu),
            count(RnnOp::Sigmoid),
            params,
            depth(&g) as f64,
        ])
    }

    fn params_note(&self) -> String {
        let s = self.size;
        format!(
            "exact, whole model at vocabulary {}, embedding = hidden = {}; the same for every genotype of this space",
            s.vocab, s.hidden
        )
    }

    fn metric(&self) -> Metric {
        Metric::PERPLEXITY
    }

    fn slots(&self) -> Vec<String> {
        (1..=STEPS).map(|i| format!("node{i}")).collect()
    }

    fn choices(&self, canonical: &str) -> Result<Vec<String>, ArchError> {
        Ok(self.parse(canonical)?.recurrent.iter().map(|(op, pred)| format!("{op}<-{pred}")).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn keeps_the_space_contract() {
        super::super::contract::check(&DartsRnnRankSpace::default());
    }

    #[test]
    fn features_and_choices_by_hand() {
        let s = DartsRnnRankSpace::default();
        // DARTS_V2: sigmoid<-0, relu<-1, relu<-1, identity<-1, tanh<-2, sigmoid<-5, tanh<-3, relu<-5.
        // Depths: n1=1, n2..n4=2, n5=3, n6=3 (n4 is at 2), n7=3, n8=4 (n5 is at 3): depth 4.
        assert_eq!(s.feature_values("DARTS_V2").unwrap(), vec![1.0, 2.0, 3.0, 2.0, 22_960_000.0, 4.0]);
        assert_eq!(s.canonical("darts").unwrap(), s.canonical("DARTS_V2").unwrap());
        let choices = s.choices("DARTS_V2").unwrap();
        assert_eq!((choices[0].as_str(), choices[7].as_str()), ("sigmoid<-0", "relu<-5"));
        let e = s.canonical("ENAS").unwrap_err().to_string();
        assert!(e.contains("has 11 nodes"), "{e}");
        let e = s.canonical("|nor_conv_3x3~0|+|skip_connect~0|none~1|+|none~0|none~1|none~2|").unwrap_err();
        assert!(e.to_string().starts_with("'|nor_conv_3x3~0|"), "{e}");
    }

    #[test]
    fn sampling_is_uniform_per_node() {
        let s = DartsRnnRankSpace::default();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let n = 8000;
        let mut preds = vec![vec![0usize; STEPS]; STEPS];
        let mut ops = [0usize; 5];
        for _ in 0..n {
            for (i, &(op, pred)) in s.sample_genotype(&mut rng).recurrent.iter().enumerate() {
                preds[i][pred] += 1;
                ops[op.primitive_index()] += 1;
            }
        }
        assert_eq!(ops[0], 0, "never none");
        for &c in &ops[1..] {
            assert!((c as f64 - (n * STEPS) as f64 / 4.0).abs() < 0.05 * (n * STEPS) as f64 / 4.0, "{ops:?}");
        }
        for (i, row) in preds.iter().enumerate() {
            let expected = n as f64 / (i + 1) as f64;
            assert!(row[i + 1..].iter().all(|&c| c == 0), "node {i} takes only earlier nodes");
            for &c in &row[..=i] {
                assert!((c as f64 - expected).abs() < 0.15 * expected, "node {i}: {row:?}");
            }
        }
    }
}
