//! The DARTS evaluation network (quark0/darts `NetworkCIFAR`; docs/algorithms.md#retraining): a
//! stem, `layers` cells with reductions at layers/3 and 2·layers/3, an optional auxiliary head after
//! the second reduction, global pooling and a linear classifier. SGAS-es uses it unchanged apart from
//! a 1-channel stem.

use super::layers::{BatchNorm2d, Conv2d, ConvSpec, Linear};
use super::ops::{BnMode, FactorizedReduce, Op, ReluConvBn};
use crate::EngineError;
use oxnas_core::darts::{DartsOp, Genotype};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use tch::{nn::Path, Tensor};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DartsNetConfig {
    /// Initial channels C (36 for evaluation; the stem outputs 3C).
    pub channels: i64,
    /// Number of cells (20 for evaluation).
    pub layers: i64,
    pub num_classes: i64,
    pub in_channels: i64,
    /// Build the auxiliary classifier after cell 2·layers/3 (used in training only).
    pub auxiliary: bool,
}

impl Default for DartsNetConfig {
    fn default() -> Self {
        DartsNetConfig { channels: 36, layers: 20, num_classes: 10, in_channels: 3, auxiliary: false }
    }
}

impl DartsNetConfig {
    pub fn init(&self, p: &Path, genotype: &Genotype) -> Result<DartsNetwork, EngineError> {
        DartsNetwork::new(p, self, genotype)
    }

    pub fn reduction_layers(&self) -> [i64; 2] {
        [self.layers / 3, 2 * self.layers / 3]
    }
}

#[derive(Debug)]
enum Preprocess {
    Reduce(FactorizedReduce),
    Conv(ReluConvBn),
}

impl Preprocess {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        match self {
            Preprocess::Reduce(m) => m.forward_t(x, train),
            Preprocess::Conv(m) => m.forward_t(x, train),
        }
    }
}

#[derive(Debug)]
pub struct EvalCell {
    preprocess0: Preprocess,
    preprocess1: ReluConvBn,
    ops: Vec<Op>,
    inputs: Vec<usize>,
    concat: Vec<usize>,
}

impl EvalCell {
    fn new(
        p: &Path,
        pairs: &[(DartsOp, usize)],
        concat: &[usize],
        (c_pp, c_p, c): (i64, i64, i64),
        reduction: bool,
        reduction_prev: bool,
    ) -> Self {
        let preprocess0 = if reduction_prev {
            Preprocess::Reduce(FactorizedReduce::new(&(p / "preprocess0"), c_pp, c, BnMode::EVAL))
        } else {
            Preprocess::Conv(ReluConvBn::new(&(p / "preprocess0"), ConvSpec::new(c_pp, c, 1), BnMode::EVAL))
        };
        let preprocess1 = ReluConvBn::new(&(p / "preprocess1"), ConvSpec::new(c_p, c, 1), BnMode::EVAL);
        let ops = pairs
            .iter()
            .enumerate()
            .map(|(k, &(op, input))| {
                let stride = if reduction && input < 2 { 2 } else { 1 };
                Op::darts(&(p / "_ops" / k), op, c, stride, BnMode::EVAL)
            })
            .collect();
        EvalCell {
            preprocess0,
            preprocess1,
            ops,
            inputs: pairs.iter().map(|&(_, i)| i).collect(),
            concat: concat.to_vec(),
        }
    }

    fn forward_t(&self, s0: &Tensor, s1: &Tensor, drop: &DropPath, train: bool) -> Tensor {
        let mut states = vec![self.preprocess0.forward_t(s0, train), self.preprocess1.forward_t(s1, train)];
        for node in 0..self.ops.len() / 2 {
            let mut sum: Option<Tensor> = None;
            for k in [2 * node, 2 * node + 1] {
                let op = &self.ops[k];
                let mut h = op.forward_t(&states[self.inputs[k]], train);
                // Drop-path skips identities: dropping a skip connection would drop the signal itself.
                if train && !op.is_identity() {
                    h = drop.apply(h);
                }
                sum = Some(match sum {
                    Some(s) => s + h,
                    None => h,
                });
            }
            states.push(sum.expect("each node has two inputs"));
        }
        Tensor::cat(&self.concat.iter().map(|&i| &states[i]).collect::<Vec<_>>(), 1)
    }

    fn multiplier(&self) -> i64 {
        self.concat.len() as i64
    }
}

/// Per-sample drop-path with probability `prob` (the reference scales kept samples by 1/keep).
///
/// Masks come from a seeded ChaCha RNG outside libtorch, re-seeded by the trainer from
/// (seed, epoch, step), so a resumed run draws exactly the masks an uninterrupted run drew.
pub struct DropPath {
    prob: f64,
    rng: Option<RefCell<ChaCha8Rng>>,
}

impl DropPath {
    pub fn off() -> Self {
        DropPath { prob: 0.0, rng: None }
    }

    pub fn new(prob: f64, seed: u64) -> Self {
        if prob <= 0.0 {
            return DropPath::off();
        }
        DropPath { prob, rng: Some(RefCell::new(ChaCha8Rng::seed_from_u64(seed))) }
    }

    fn apply(&self, x: Tensor) -> Tensor {
        let Some(rng) = &self.rng else { return x };
        let keep = 1.0 - self.prob;
        let n = x.size()[0];
        let mut rng = rng.borrow_mut();
        let mask: Vec<f32> =
            (0..n).map(|_| if rng.random::<f64>() < keep { (1.0 / keep) as f32 } else { 0.0 }).collect();
        let mask = Tensor::from_slice(&mask).view([-1, 1, 1, 1]).to_device(x.device());
        x * mask
    }
}

/// The auxiliary head on the 8×8 feature map of CIFAR-sized inputs: ReLU → AvgPool(5, s3) → 1x1 conv
/// (128) → BN → ReLU → 2x2 conv (768) → BN → ReLU → linear.
#[derive(Debug)]
pub struct AuxiliaryHead {
    conv1: Conv2d,
    bn1: BatchNorm2d,
    conv2: Conv2d,
    bn2: BatchNorm2d,
    classifier: Linear,
}

impl AuxiliaryHead {
    fn new(p: &Path, c: i64, num_classes: i64) -> Self {
        let f = p / "features";
        AuxiliaryHead {
            conv1: Conv2d::new(&(&f / 2), ConvSpec::new(c, 128, 1)),
            bn1: BatchNorm2d::new(&(&f / 3), 128, true, true),
            conv2: Conv2d::new(&(&f / 5), ConvSpec::new(128, 768, 2)),
            bn2: BatchNorm2d::new(&(&f / 6), 768, true, true),
            classifier: Linear::new(&(p / "classifier"), 768, num_classes),
        }
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let h = x.relu().avg_pool2d([5, 5], [3, 3], [0, 0], false, false, None::<i64>);
        let h = self.bn1.forward_t(&self.conv1.forward(&h), train).relu();
        let h = self.bn2.forward_t(&self.conv2.forward(&h), train).relu();
        self.classifier.forward(&h.flatten(1, -1))
    }
}

#[derive(Debug)]
pub struct DartsNetwork {
    stem_conv: Conv2d,
    stem_bn: BatchNorm2d,
    cells: Vec<EvalCell>,
    aux: Option<AuxiliaryHead>,
    aux_after: usize,
    classifier: Linear,
    pub config: DartsNetConfig,
}

pub struct DartsOutput {
    pub logits: Tensor,
    /// Present in training mode when the network has an auxiliary head.
    pub aux_logits: Option<Tensor>,
}

impl DartsNetwork {
    pub fn new(p: &Path, cfg: &DartsNetConfig, genotype: &Genotype) -> Result<Self, EngineError> {
        if cfg.layers < 3 {
            return Err(EngineError::Config(format!(
                "layers = {} but the DARTS network needs at least 3 (two reduction cells and a normal one)",
                cfg.layers
            )));
        }
        if cfg.channels < 2 || cfg.num_classes < 1 || cfg.in_channels < 1 {
            return Err(EngineError::Config(format!(
                "channels ({}) must be >= 2, num_classes ({}) and in_channels ({}) >= 1",
                cfg.channels, cfg.num_classes, cfg.in_channels
            )));
        }
        genotype.validate()?;
        let stem_c = 3 * cfg.channels;
        let stem_conv = Conv2d::new(&(p / "stem" / 0), ConvSpec::new(cfg.in_channels, stem_c, 3).padding(1));
        let stem_bn = BatchNorm2d::new(&(p / "stem" / 1), stem_c, true, true);
        let (mut c_pp, mut c_p, mut c) = (stem_c, stem_c, cfg.channels);
        let mut cells = Vec::new();
        let mut reduction_prev = false;
        let mut c_aux = 0;
        let reductions = cfg.reduction_layers();
        for i in 0..cfg.layers {
            let reduction = reductions.contains(&i);
            if reduction {
                c *= 2;
            }
            let (pairs, concat) = if reduction {
                (&genotype.reduce, &genotype.reduce_concat)
            } else {
                (&genotype.normal, &genotype.normal_concat)
            };
            let cell = EvalCell::new(&(p / "cells" / i), pairs, concat, (c_pp, c_p, c), reduction, reduction_prev);
            reduction_prev = reduction;
            c_pp = c_p;
            c_p = cell.multiplier() * c;
            cells.push(cell);
            if i == reductions[1] {
                c_aux = c_p;
            }
        }
        let aux = cfg.auxiliary.then(|| AuxiliaryHead::new(&(p / "auxiliary_head"), c_aux, cfg.num_classes));
        Ok(DartsNetwork {
            stem_conv,
            stem_bn,
            cells,
            aux,
            aux_after: reductions[1] as usize,
            classifier: Linear::new(&(p / "classifier"), c_p, cfg.num_classes),
            config: cfg.clone(),
        })
    }

    pub fn forward_t(&self, x: &Tensor, train: bool, drop: &DropPath) -> DartsOutput {
        let s = self.stem_bn.forward_t(&self.stem_conv.forward(x), train);
        let (mut s0, mut s1) = (s.shallow_clone(), s);
        let mut aux_logits = None;
        for (i, cell) in self.cells.iter().enumerate() {
            let next = cell.forward_t(&s0, &s1, drop, train);
            s0 = std::mem::replace(&mut s1, next);
            if i == self.aux_after && train {
                if let Some(aux) = &self.aux {
                    aux_logits = Some(aux.forward_t(&s1, train));
                }
            }
        }
        let pooled = s1.adaptive_avg_pool2d([1, 1]).flatten(1, -1);
        DartsOutput { logits: self.classifier.forward(&pooled), aux_logits }
    }

    /// Logits only, in evaluation mode.
    pub fn predict(&self, x: &Tensor) -> Tensor {
        self.forward_t(x, false, &DropPath::off()).logits
    }
}
