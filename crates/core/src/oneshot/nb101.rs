//! NAS-Bench-101 as a ranking space: cells named by the short form of their canonical isomorph.
//!
//! Canonical string: [`Cell::canonical`]'s vertex order printed in oxnas's short form
//! (`1333m:110110/00001/1000/001/01/1`). Isomorphic spellings of a cell, JSON or short, map to the
//! same string, and the string parses back to the cell, which features and the engine need; the
//! module hash (the benchmark's key) is computed from it when a table is joined.
//!
//! Sampling is uniform over the benchmark's 423,624 cells (isomorphism classes), by rejection
//! ([`crate::nb101::sample`]); the benchmark's own random-search sampler favours tiny cells.

use rand_chacha::ChaCha8Rng;

use super::{ArchError, Feature, RankSpace};
use crate::nb101::{network_cost, sample, Cell, Nb101Op, NetConfig};

/// The NAS-Bench-101 space with the benchmark's evaluation network for the `params` feature.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Nb101RankSpace {
    pub net: NetConfig,
}

const FEATURES: [Feature; 8] = [
    Feature {
        name: "param_free_count",
        high: "cells with more parameter-free ops (max-pools)",
        low: "cells with fewer parameter-free ops (max-pools)",
    },
    Feature { name: "conv_count", high: "cells with more convolutions", low: "cells with fewer convolutions" },
    Feature {
        name: "conv3x3_count",
        high: "cells with more 3x3 convolutions",
        low: "cells with fewer 3x3 convolutions",
    },
    Feature {
        name: "conv1x1_count",
        high: "cells with more 1x1 convolutions",
        low: "cells with fewer 1x1 convolutions",
    },
    Feature {
        name: super::PARAMS,
        high: "larger networks (more parameters)",
        low: "smaller networks (fewer parameters)",
    },
    Feature {
        name: "depth",
        high: "deeper cells (longer input-output paths)",
        low: "shallower cells (shorter input-output paths)",
    },
    Feature { name: "edges", high: "cells with more edges", low: "cells with fewer edges" },
    Feature { name: "vertices", high: "cells with more vertices", low: "cells with fewer vertices" },
];

impl Nb101RankSpace {
    pub fn parse(&self, text: &str) -> Result<Cell, ArchError> {
        Cell::parse(text).map_err(|e| ArchError { space: "nb101", text: text.to_string(), reason: e.to_string() })
    }

    /// The feature values of one cell, in [`FEATURES`] order.
    pub fn cell_features(&self, c: &Cell) -> Vec<f64> {
        let n = |op| c.count(op) as f64;
        vec![
            n(Nb101Op::MaxPool3x3),
            n(Nb101Op::Conv3x3) + n(Nb101Op::Conv1x1),
            n(Nb101Op::Conv3x3),
            n(Nb101Op::Conv1x1),
            network_cost(c, &self.net).params as f64,
            c.depth() as f64,
            c.num_edges() as f64,
            c.vertices() as f64,
        ]
    }
}

impl RankSpace for Nb101RankSpace {
    fn name(&self) -> &'static str {
        "nb101"
    }

    fn canonical(&self, text: &str) -> Result<String, ArchError> {
        Ok(self.parse(text)?.canonical().short())
    }

    fn sample(&self, rng: &mut ChaCha8Rng) -> String {
        sample::sample_uniform(rng).canonical().short()
    }

    fn features(&self) -> &'static [Feature] {
        &FEATURES
    }

    fn feature_values(&self, canonical: &str) -> Result<Vec<f64>, ArchError> {
        Ok(self.cell_features(&self.parse(canonical)?))
    }

    fn params_note(&self) -> String {
        format!(
            "exact, the whole evaluation network ({}-channel stem, {} stacks of {} cells, {} classes)",
            self.net.stem_channels, self.net.stacks, self.net.cells_per_stack, self.net.classes
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const README_JSON: &str = r#"{"matrix": [[0,1,1,1,0,1,0],[0,0,0,0,0,0,1],[0,0,0,0,0,0,1],[0,0,0,0,1,0,0],
        [0,0,0,0,0,0,1],[0,0,0,0,0,0,1],[0,0,0,0,0,0,0]],
        "ops": ["input","conv1x1-bn-relu","conv3x3-bn-relu","conv3x3-bn-relu","conv3x3-bn-relu","maxpool3x3","output"]}"#;

    #[test]
    fn keeps_the_space_contract() {
        super::super::contract::check(&Nb101RankSpace::default());
    }

    #[test]
    fn isomorphic_spellings_share_one_canonical_string() {
        let s = Nb101RankSpace::default();
        let canon = "1333m:110110/00001/1000/001/01/1";
        assert_eq!(s.canonical(README_JSON).unwrap(), canon);
        assert_eq!(s.canonical("1333m:111010/00001/0001/100/01/1").unwrap(), canon);
        assert_eq!(s.canonical("31m33:111100/00001/0001/001/10/1").unwrap(), canon);
        let e = s.canonical("1333m:111011/00001/0001/100/01/1").unwrap_err();
        assert!(
            e.to_string().starts_with("'1333m:111011/00001/0001/100/01/1' is not a nb101 architecture: 10 edges"),
            "{e}"
        );
    }

    #[test]
    fn features_by_hand() {
        // README cell: one pool, three 3x3 and one 1x1, 2,694,282 parameters (published), longest
        // path input→3x3→3x3→output (3 edges), 9 edges, 7 vertices.
        let v = Nb101RankSpace::default().feature_values("1333m:110110/00001/1000/001/01/1").unwrap();
        assert_eq!(v, vec![1.0, 4.0, 3.0, 1.0, 2_694_282.0, 3.0, 9.0, 7.0]);
    }
}
