//! The DARTS CNN space (Liu, Simonyan & Yang 2019) as a ranking space: genotypes of a normal and a
//! reduction cell with 4 intermediate nodes, each node taking 2 distinct earlier states through
//! one op each, and the cell output concatenating all 4 nodes.
//!
//! **Canonical form.** The two (op, input) pairs of a node are summed, so their order means nothing;
//! the canonical genotype lists each node's pairs by input, then by op in `PRIMITIVES` order, and
//! concatenates nodes 2..=5 in order. Its string is the project's genotype repr (what `genotype.txt`
//! holds): `Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=[2, 3, 4, 5], reduce=[...],
//! reduce_concat=[2, 3, 4, 5])`. Any spelling [`Genotype`] parses (the reference repr with
//! `range(2, 6)`, JSON, published names such as `DARTS_V2`) canonicalises to it.
//!
//! **What is outside the space**: `none` (it marks pruned edges during search, never an op of a
//! genotype), ops outside the space's op set, a cell with other than 4 nodes, a concat other than
//! nodes 2..=5, and a node whose two pairs read the same input: the DARTS derivation keeps the two
//! strongest *distinct* incoming edges, the sampler draws distinct inputs, and the supernet has one
//! edge per (node, input), so it could not run such a node either.

use super::{ArchError, Feature, RankSpace};
use crate::darts::{CellKind, DartsOp, Genotype, OpSet};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Intermediate nodes per cell.
pub const STEPS: usize = 4;
/// The node outputs every cell concatenates.
pub const CONCAT: [usize; STEPS] = [2, 3, 4, 5];

/// The evaluation network (quark0/darts `NetworkCIFAR`, no auxiliary head) whose exact size is
/// the `params` feature; the default is the small CIFAR-10 setting the supernet preset trains
/// (C=16, 8 cells).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetSize {
    pub channels: u64,
    pub layers: u64,
    pub classes: u64,
    pub in_channels: u64,
}

impl Default for NetSize {
    fn default() -> Self {
        NetSize { channels: 16, layers: 8, classes: 10, in_channels: 3 }
    }
}

/// DARTS genotypes whose ops come from `ops` (`none` is left out of sampling and refused in
/// genotypes even when the op set has it).
#[derive(Debug, Clone, PartialEq)]
pub struct DartsRankSpace {
    ops: OpSet,
    /// The network at which `params` is counted.
    pub size: NetSize,
}

impl Default for DartsRankSpace {
    fn default() -> Self {
        DartsRankSpace::new(OpSet::darts())
    }
}

const FEATURES: [Feature; 10] = [
    Feature {
        name: "param_free_count",
        high: "genotypes with more parameter-free ops (skips and pools)",
        low: "genotypes with fewer parameter-free ops",
    },
    Feature {
        name: "param_free_normal",
        high: "normal cells with more parameter-free ops",
        low: "normal cells with fewer parameter-free ops",
    },
    Feature {
        name: "param_free_reduce",
        high: "reduction cells with more parameter-free ops",
        low: "reduction cells with fewer parameter-free ops",
    },
    Feature {
        name: "skip_count",
        high: "genotypes with more skip-connections",
        low: "genotypes with fewer skip-connections",
    },
    Feature { name: "pool_count", high: "genotypes with more pooling", low: "genotypes with less pooling" },
    Feature {
        name: "sep_conv_count",
        high: "genotypes with more separable convolutions",
        low: "genotypes with fewer separable convolutions",
    },
    Feature {
        name: "dil_conv_count",
        high: "genotypes with more dilated convolutions",
        low: "genotypes with fewer dilated convolutions",
    },
    Feature {
        name: super::PARAMS,
        high: "larger networks (more parameters)",
        low: "smaller networks (fewer parameters)",
    },
    Feature {
        name: "depth_normal",
        high: "deeper normal cells (more ops on the longest input-output path)",
        low: "shallower normal cells (fewer ops on the longest input-output path)",
    },
    Feature {
        name: "depth_reduce",
        high: "deeper reduction cells (more ops on the longest input-output path)",
        low: "shallower reduction cells (fewer ops on the longest input-output path)",
    },
];

impl DartsRankSpace {
    pub fn new(ops: OpSet) -> Self {
        DartsRankSpace { ops, size: NetSize::default() }
    }

    /// The op set (the supernet's edge candidates; `none`, if present, is never sampled).
    pub fn op_set(&self) -> &OpSet {
        &self.ops
    }

    /// The ops a genotype may use: the op set without `none`.
    pub fn genotype_ops(&self) -> Vec<DartsOp> {
        self.ops.ops().iter().copied().filter(|&o| o != DartsOp::None).collect()
    }

    /// Parses any accepted spelling, checks it lies in this space, and returns the canonical genotype.
    pub fn parse(&self, text: &str) -> Result<Genotype, ArchError> {
        let err = |reason: String| ArchError { space: "darts", text: text.to_string(), reason };
        let g = read_genotype(text).map_err(err)?;
        self.check(&g).map_err(|e| err(e.to_string()))?;
        Ok(canonical_genotype(&g))
    }

    /// Why `g` (a valid genotype) is not in this space, if it is not.
    pub fn check(&self, g: &Genotype) -> Result<(), OutsideSpace> {
        for cell in CellKind::BOTH {
            let (pairs, concat) = g.cell(cell);
            if pairs.len() != 2 * STEPS {
                return Err(OutsideSpace::Nodes { cell, nodes: pairs.len() / 2 });
            }
            let mut sorted = concat.to_vec();
            sorted.sort_unstable();
            if sorted != CONCAT {
                return Err(OutsideSpace::Concat { cell, concat: concat.to_vec() });
            }
            for (node, pair) in pairs.chunks(2).enumerate() {
                if pair[0].1 == pair[1].1 {
                    return Err(OutsideSpace::RepeatedInput { cell, node: node + 2, input: pair[0].1 });
                }
            }
        }
        for cell in CellKind::BOTH {
            if let Some(&(op, _)) = g.cell(cell).0.iter().find(|(op, _)| !self.ops.contains(*op)) {
                return Err(OutsideSpace::Op { op, set: self.ops.clone() });
            }
        }
        Ok(())
    }

    /// A genotype drawn uniformly: for each node of each cell, two distinct inputs uniformly among the
    /// states before it, and for each an op uniformly from [`DartsRankSpace::genotype_ops`].
    pub fn sample_genotype(&self, rng: &mut ChaCha8Rng) -> Genotype {
        let ops = self.genotype_ops();
        let mut cell = || {
            let mut pairs = Vec::with_capacity(2 * STEPS);
            for node in 0..STEPS {
                let n = node + 2;
                let a = rng.random_range(0..n);
                // The second input from the remaining n - 1, shifted past the first: uniform over pairs.
                let mut b = rng.random_range(0..n - 1);
                if b >= a {
                    b += 1;
                }
                pairs.push((ops[rng.random_range(0..ops.len())], a));
                pairs.push((ops[rng.random_range(0..ops.len())], b));
            }
            pairs
        };
        let (normal, reduce) = (cell(), cell());
        canonical_genotype(&Genotype { normal, normal_concat: CONCAT.to_vec(), reduce, reduce_concat: CONCAT.to_vec() })
    }
}

/// Why a well-formed genotype lies outside a [`DartsRankSpace`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutsideSpace {
    #[error("{cell} has {nodes} nodes; the DARTS space has 4 per cell (8 (op, input) pairs)")]
    Nodes { cell: CellKind, nodes: usize },
    #[error("{cell}_concat is {concat:?}; the DARTS space concatenates all four nodes, [2, 3, 4, 5] (range(2, 6))")]
    Concat { cell: CellKind, concat: Vec<usize> },
    #[error("node {node} of {cell} reads input {input} twice; the DARTS space picks two distinct inputs per node")]
    RepeatedInput { cell: CellKind, node: usize, input: usize },
    #[error("it uses {op}, which the op set [{set}] leaves out")]
    Op { op: DartsOp, set: OpSet },
}

impl OutsideSpace {
    /// The kind of departure without its position, for counting many genotypes by reason.
    pub fn category(&self) -> String {
        match self {
            OutsideSpace::Nodes { nodes, .. } => format!("cells with {nodes} nodes instead of 4"),
            OutsideSpace::Concat { .. } => "a concat other than nodes 2..=5".into(),
            OutsideSpace::RepeatedInput { .. } => "a node reading one input twice".into(),
            OutsideSpace::Op { op, .. } => format!("op {op}, outside the op set"),
        }
    }
}

/// A genotype from a published name, JSON, or the repr (reference variants included).
fn read_genotype(text: &str) -> Result<Genotype, String> {
    let t = text.trim();
    if let Some(g) = Genotype::named(t) {
        return Ok(g);
    }
    let parsed = if t.starts_with('{') { Genotype::from_json(t) } else { t.parse::<Genotype>() };
    parsed.map_err(|e| {
        if t.contains(['(', '[', '{']) {
            e.to_string()
        } else {
            format!(
                "not a genotype name ({}) nor a genotype `Genotype(normal=[('op', input), ...], ...)` or its JSON",
                Genotype::names().join(", ")
            )
        }
    })
}

/// Each node's pairs sorted by (input, op), concat in node order: one value per architecture.
pub fn canonical_genotype(g: &Genotype) -> Genotype {
    let sort = |pairs: &[(DartsOp, usize)]| {
        let mut out = pairs.to_vec();
        for node in out.chunks_mut(2) {
            node.sort_by_key(|&(op, input)| (input, op));
        }
        out
    };
    let concat = |c: &[usize]| {
        let mut c = c.to_vec();
        c.sort_unstable();
        c
    };
    Genotype {
        normal: sort(&g.normal),
        normal_concat: concat(&g.normal_concat),
        reduce: sort(&g.reduce),
        reduce_concat: concat(&g.reduce_concat),
    }
}

fn is_param_free(op: DartsOp) -> bool {
    matches!(op, DartsOp::SkipConnect | DartsOp::MaxPool3x3 | DartsOp::AvgPool3x3)
}

/// Parameters of one op at `c` channels in the evaluation network (affine BN: γ and β per channel).
/// A stride-2 skip is a FactorizedReduce (two 1x1 convs to c/2 each, then BN).
fn op_params(op: DartsOp, c: u64, stride: u64) -> u64 {
    let sep_half = |k: u64| k * k * c + c * c + 2 * c;
    match op {
        DartsOp::None | DartsOp::MaxPool3x3 | DartsOp::AvgPool3x3 => 0,
        DartsOp::SkipConnect if stride == 1 => 0,
        DartsOp::SkipConnect => c * c + 2 * c,
        DartsOp::SepConv3x3 => 2 * sep_half(3),
        DartsOp::SepConv5x5 => 2 * sep_half(5),
        DartsOp::DilConv3x3 => sep_half(3),
        DartsOp::DilConv5x5 => sep_half(5),
    }
}

/// Exact trainable parameters of the DARTS evaluation network (`NetworkCIFAR` without its auxiliary
/// head) for `g` at `size`: stem, cells (preprocessing and ops), classifier.
pub fn network_params(g: &Genotype, size: NetSize) -> u64 {
    let relu_conv_bn = |c_in: u64, c_out: u64| c_in * c_out + 2 * c_out;
    let stem = 3 * size.channels;
    let mut total = size.in_channels * stem * 9 + 2 * stem;
    let (mut c_pp, mut c_p, mut c) = (stem, stem, size.channels);
    for i in 0..size.layers {
        let reduction = i == size.layers / 3 || i == 2 * size.layers / 3;
        if reduction {
            c *= 2;
        }
        // A FactorizedReduce preprocess has as many weights as a 1x1 ReLUConvBN.
        total += relu_conv_bn(c_pp, c) + relu_conv_bn(c_p, c);
        let (pairs, concat) = g.cell(if reduction { CellKind::Reduce } else { CellKind::Normal });
        for &(op, input) in pairs {
            let stride = if reduction && input < 2 { 2 } else { 1 };
            total += op_params(op, c, stride);
        }
        c_pp = c_p;
        c_p = concat.len() as u64 * c;
    }
    total + c_p * size.classes + size.classes
}

/// Ops on the longest path from a cell input to the cell output (nodes 2..=5 each add one op).
pub fn cell_depth(pairs: &[(DartsOp, usize)]) -> usize {
    let mut depth = vec![0usize, 0];
    for node in pairs.chunks(2) {
        depth.push(1 + node.iter().map(|&(_, input)| depth[input]).max().unwrap_or(0));
    }
    depth[2..].iter().copied().max().unwrap_or(0)
}

/// The feature values of a genotype, in [`FEATURES`] order.
pub fn genotype_features(g: &Genotype, size: NetSize) -> Vec<f64> {
    let all = || g.normal.iter().chain(&g.reduce).map(|&(op, _)| op);
    let count = |f: fn(DartsOp) -> bool| all().filter(|&o| f(o)).count() as f64;
    let free = |pairs: &[(DartsOp, usize)]| pairs.iter().filter(|&&(o, _)| is_param_free(o)).count() as f64;
    vec![
        count(is_param_free),
        free(&g.normal),
        free(&g.reduce),
        count(|o| o == DartsOp::SkipConnect),
        count(|o| matches!(o, DartsOp::MaxPool3x3 | DartsOp::AvgPool3x3)),
        count(|o| matches!(o, DartsOp::SepConv3x3 | DartsOp::SepConv5x5)),
        count(|o| matches!(o, DartsOp::DilConv3x3 | DartsOp::DilConv5x5)),
        network_params(g, size) as f64,
        cell_depth(&g.normal) as f64,
        cell_depth(&g.reduce) as f64,
    ]
}

/// One node's pairs as a slot choice: `op~input+op~input`, in canonical order.
fn node_choice(pair: &[(DartsOp, usize)]) -> String {
    pair.iter().map(|(op, input)| format!("{op}~{input}")).collect::<Vec<_>>().join("+")
}

impl RankSpace for DartsRankSpace {
    fn name(&self) -> &'static str {
        "darts"
    }

    fn canonical(&self, text: &str) -> Result<String, ArchError> {
        self.parse(text).map(|g| g.to_string())
    }

    fn sample(&self, rng: &mut ChaCha8Rng) -> String {
        self.sample_genotype(rng).to_string()
    }

    fn features(&self) -> &'static [Feature] {
        &FEATURES
    }

    fn feature_values(&self, canonical: &str) -> Result<Vec<f64>, ArchError> {
        Ok(genotype_features(&self.parse(canonical)?, self.size))
    }

    fn params_note(&self) -> String {
        let s = self.size;
        format!(
            "exact, DARTS evaluation network (NetworkCIFAR, no auxiliary head) at C={}, {} cells, {} classes, {}-channel input",
            s.channels, s.layers, s.classes, s.in_channels
        )
    }

    /// One slot per node of each cell, `normal.node2` .. `reduce.node5`.
    fn slots(&self) -> Vec<String> {
        CellKind::BOTH.iter().flat_map(|cell| CONCAT.iter().map(move |n| format!("{cell}.node{n}"))).collect()
    }

    /// A node's choice is its canonical pair, e.g. `sep_conv_3x3~0+skip_connect~1`.
    fn choices(&self, canonical: &str) -> Result<Vec<String>, ArchError> {
        let g = self.parse(canonical)?;
        Ok(CellKind::BOTH
            .iter()
            .flat_map(|&cell| g.cell(cell).0.chunks(2).map(node_choice).collect::<Vec<_>>())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use DartsOp::*;

    fn v2() -> String {
        Genotype::named("DARTS_V2").unwrap().to_string()
    }

    #[test]
    fn keeps_the_space_contract() {
        super::super::contract::check(&DartsRankSpace::default());
        super::super::contract::check(&DartsRankSpace::new(OpSet::sgas_es()));
    }

    #[test]
    fn canonical_sorts_each_nodes_pairs_and_is_idempotent() {
        let s = DartsRankSpace::default();
        // DARTS_V2's normal node 4 is [('sep_conv_3x3', 1), ('skip_connect', 0)]: input 0 goes first.
        let c = s.canonical(&v2()).unwrap();
        assert!(c.starts_with(
            "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), \
             ('skip_connect', 0), ('sep_conv_3x3', 1), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5]"
        ), "{c}");
        assert_eq!(s.canonical(&c).unwrap(), c);
        assert_eq!(s.canonical("darts_v2").unwrap(), c, "a published name");
        let g = Genotype::named("DARTS_V2").unwrap();
        assert_eq!(s.canonical(&g.to_json()).unwrap(), c, "JSON");
        let reference = v2().replace("[2, 3, 4, 5]", "range(2, 6)");
        assert_eq!(s.canonical(&reference).unwrap(), c, "the reference repr");
        let shuffled = v2().replacen("reduce_concat=[2, 3, 4, 5]", "reduce_concat=[5, 3, 2, 4]", 1);
        assert_eq!(s.canonical(&shuffled).unwrap(), c, "concat order");
        // Swapping both pairs of every node gives the same architecture.
        let mut swapped = g.clone();
        for cell in [&mut swapped.normal, &mut swapped.reduce] {
            for node in cell.chunks_mut(2) {
                node.swap(0, 1);
            }
        }
        assert_ne!(swapped.to_string(), g.to_string());
        assert_eq!(s.canonical(&swapped.to_string()).unwrap(), c);
        // Same op on both inputs: ordered by input alone.
        let same = canonical_genotype(&Genotype { normal: vec![(MaxPool3x3, 1), (MaxPool3x3, 0)], ..g.clone() });
        assert_eq!(same.normal, vec![(MaxPool3x3, 0), (MaxPool3x3, 1)]);
    }

    #[test]
    fn genotypes_outside_the_space_are_refused() {
        let s = DartsRankSpace::default();
        let reason = |text: &str| s.canonical(text).unwrap_err().reason;
        let e = reason(&v2().replacen("'skip_connect'", "'none'", 1));
        assert!(e.contains("never contains 'none'"), "{e}");
        let e = reason(&v2().replacen("'skip_connect'", "'sep_conv_7x7'", 1));
        assert!(e.contains("unknown op 'sep_conv_7x7'"), "{e}");
        // DARTS_V1's last reduce pair is an average pool, which SGAS-es's op set lacks.
        let e = DartsRankSpace::new(OpSet::sgas_es()).canonical("DARTS_V1").unwrap_err().reason;
        assert_eq!(e, "it uses avg_pool_3x3, which the op set [none,max_pool_3x3,skip_connect,sep_conv_3x3,dil_conv_3x3] leaves out");
        // DARTS_V2 normal node 2 reads 0 and 1; make it read 0 twice.
        let e = reason(&v2().replacen("('sep_conv_3x3', 1)", "('sep_conv_3x3', 0)", 1));
        assert_eq!(e, "node 2 of normal reads input 0 twice; the DARTS space picks two distinct inputs per node");
        let e = reason(&v2().replacen("normal_concat=[2, 3, 4, 5]", "normal_concat=[4, 5]", 1));
        assert!(e.starts_with("normal_concat is [4, 5]; the DARTS space concatenates all four nodes"), "{e}");
        let e = reason(&v2().replacen(", ('dil_conv_3x3', 2)]", "]", 1));
        assert!(e.contains("odd number; every node takes exactly 2"), "{e}");
        let three =
            "Genotype(normal=[('sep_conv_3x3', 0), ('skip_connect', 1), ('sep_conv_3x3', 0), ('skip_connect', 1), \
                     ('sep_conv_3x3', 0), ('skip_connect', 1)], normal_concat=[2, 3, 4], reduce=[('max_pool_3x3', 0), \
                     ('max_pool_3x3', 1), ('max_pool_3x3', 0), ('max_pool_3x3', 1), ('max_pool_3x3', 0), \
                     ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4])";
        assert_eq!(reason(three), "normal has 3 nodes; the DARTS space has 4 per cell (8 (op, input) pairs)");
        let e = s.canonical("DARTS_V9").unwrap_err();
        assert_eq!(e.space, "darts");
        assert!(e.reason.starts_with("not a genotype name (DARTS_V1, DARTS_V2"), "{e}");
    }

    #[test]
    fn sampling_is_uniform_over_each_nodes_choices() {
        // sgas-es: 4 ops without none. Node 2 (inputs 0, 1) has 1 input pair x 4 x 4 = 16 choices;
        // node 5 (inputs 0..=4) has C(5, 2) = 10 input pairs.
        let s = DartsRankSpace::new(OpSet::sgas_es());
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let n = 16_000;
        let mut node2 = std::collections::BTreeMap::<String, usize>::new();
        let mut node5_inputs = std::collections::BTreeMap::<(usize, usize), usize>::new();
        for _ in 0..n {
            let g = s.sample_genotype(&mut rng);
            assert!(g.normal.iter().chain(&g.reduce).all(|&(o, _)| o != None));
            *node2.entry(node_choice(&g.reduce[..2])).or_default() += 1;
            *node5_inputs.entry((g.normal[6].1, g.normal[7].1)).or_default() += 1;
        }
        let chi2 = |counts: Vec<usize>, bins: usize| {
            assert_eq!(counts.len(), bins, "every choice is drawn, and only those");
            let e = n as f64 / bins as f64;
            counts.iter().map(|&c| (c as f64 - e).powi(2) / e).sum::<f64>()
        };
        // χ² with d = bins - 1 degrees of freedom has mean d and standard deviation √(2d); uniform draws
        // stay below d + 5√(2d) except with probability < 1e-4 (d = 15: 42.4; d = 9: 30.2).
        let c2 = chi2(node2.into_values().collect(), 16);
        assert!(c2 < 42.4, "node 2 choices: χ² = {c2}");
        assert!(node5_inputs.keys().all(|&(a, b)| a < b), "inputs sorted and distinct");
        let c5 = chi2(node5_inputs.into_values().collect(), 10);
        assert!(c5 < 30.2, "node 5 input pairs: χ² = {c5}");
    }

    #[test]
    fn params_equal_the_reference_network() {
        // Golden values from the reference PyTorch NetworkCIFAR (also in the engine's reference tests).
        let count = |name: &str, channels, layers, in_channels| {
            let g = Genotype::named(name).unwrap();
            network_params(&g, NetSize { channels, layers, classes: 10, in_channels })
        };
        assert_eq!(count("DARTS_V2", 36, 20, 3), 3_349_342);
        assert_eq!(count("DARTS_V2", 16, 8, 3), 246_106);
        assert_eq!(count("DARTS_V1", 36, 20, 1), 3_167_470);
        assert_eq!(count("FashionMNIST_1", 16, 8, 3), 296_378);
        assert_eq!(count("FashionMNIST_3", 16, 8, 3), 255_002);
    }

    #[test]
    fn features_by_hand() {
        // DARTS_V2: normal has 6 sep_conv_3x3, 2 skips... (see named.rs): normal = 5 sep, 2 skip,
        // 1 dil; reduce = 5 max_pool, 3 skip. Normal node 5 reads node 2: depth 2; reduce node 3
        // reads node 2, nodes 4 and 5 read node 2: depth 2.
        let s = DartsRankSpace::default();
        let v = s.feature_values(&v2()).unwrap();
        assert_eq!(v, vec![10.0, 2.0, 8.0, 5.0, 5.0, 5.0, 1.0, 246_106.0, 2.0, 2.0]);
        // A chain 0 → 2 → 3 → 4 → 5 is 4 ops deep.
        let chain = [
            (SkipConnect, 0),
            (SkipConnect, 1),
            (SkipConnect, 2),
            (SkipConnect, 1),
            (SkipConnect, 3),
            (SkipConnect, 0),
            (SkipConnect, 4),
            (SkipConnect, 0),
        ];
        assert_eq!(cell_depth(&chain), 4);
        assert_eq!(s.slots()[0], "normal.node2");
        assert_eq!(s.slots()[7], "reduce.node5");
        let choices = s.choices(&v2()).unwrap();
        assert_eq!(choices[0], "sep_conv_3x3~0+sep_conv_3x3~1");
        assert_eq!(choices[2], "skip_connect~0+sep_conv_3x3~1");
        assert!(s.params_note().starts_with("exact, DARTS evaluation network"));
    }
}
