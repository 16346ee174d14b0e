//! The candidate operations of both search spaces, with the reference implementations' structure and
//! parameter names (`op.1.weight`, `conv_1.weight`, ...) so PyTorch state_dicts map onto ours 1:1.
//!
//! DARTS ops: quark0/darts `cnn/operations.py`; NAS-Bench-201 ops: AutoDL-Projects `cell_operations.py`
//! (docs/algorithms.md#darts and #nb201).

use super::layers::{avg_pool3_by_conv, BatchNorm2d, Conv2d, ConvSpec};
use oxnas_core::darts::DartsOp;
use oxnas_core::nb201::Nb201Op;
use tch::{nn::Path, Tensor};

/// How an op's batch norms are built. Evaluation networks use affine BN with running statistics;
/// DARTS search uses BN without affine parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BnMode {
    pub affine: bool,
    pub track_running_stats: bool,
}

impl BnMode {
    pub const EVAL: BnMode = BnMode { affine: true, track_running_stats: true };
    pub const SEARCH: BnMode = BnMode { affine: false, track_running_stats: true };
}

/// ReLU → Conv → BN. Sequential indices 1 and 2 hold the conv and the BN, as in the reference.
#[derive(Debug)]
pub struct ReluConvBn {
    conv: Conv2d,
    bn: BatchNorm2d,
}

impl ReluConvBn {
    /// `conv_bias`: NAS-Bench-201 gives the conv a bias exactly when BN is not affine.
    pub fn new(p: &Path, spec: ConvSpec, bn: BnMode) -> Self {
        ReluConvBn {
            conv: Conv2d::new(&(p / "op" / 1), spec),
            bn: BatchNorm2d::new(&(p / "op" / 2), spec.c_out, bn.affine, bn.track_running_stats),
        }
    }
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        self.bn.forward_t(&self.conv.forward(&x.relu()), train)
    }

    /// E same-shaped ops on one input, given as relu(x): one wide conv and one BN for all of them;
    /// their outputs stacked along channels.
    fn forward_stacked(members: &[&ReluConvBn], relu_x: &Tensor, train: bool) -> Tensor {
        let convs: Vec<&Conv2d> = members.iter().map(|m| &m.conv).collect();
        let bns: Vec<&BatchNorm2d> = members.iter().map(|m| &m.bn).collect();
        BatchNorm2d::forward_stacked(&bns, &Conv2d::forward_stacked(&convs, relu_x, true), train)
    }
}

/// ReLU → depthwise dilated conv → 1x1 conv → BN.
#[derive(Debug)]
pub struct DilConv {
    depthwise: Conv2d,
    pointwise: Conv2d,
    bn: BatchNorm2d,
}

impl DilConv {
    #[allow(clippy::too_many_arguments)]
    pub fn new(p: &Path, c_in: i64, c_out: i64, k: i64, stride: i64, pad: i64, dil: i64, bn: BnMode) -> Self {
        let op = p / "op";
        DilConv {
            depthwise: Conv2d::new(
                &(&op / 1),
                ConvSpec::new(c_in, c_in, k).stride(stride).padding(pad).dilation(dil).groups(c_in),
            ),
            pointwise: Conv2d::new(&(&op / 2), ConvSpec::new(c_in, c_out, 1)),
            bn: BatchNorm2d::new(&(&op / 3), c_out, bn.affine, bn.track_running_stats),
        }
    }
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        self.bn.forward_t(&self.pointwise.forward(&self.depthwise.forward(&x.relu())), train)
    }

    /// E ops on one input, given as relu(x) repeated E times along channels: grouped depthwise and
    /// pointwise convs and one BN; outputs stacked along channels.
    fn forward_stacked(members: &[&DilConv], relu_x: &Tensor, train: bool) -> Tensor {
        let dw: Vec<&Conv2d> = members.iter().map(|m| &m.depthwise).collect();
        let pw: Vec<&Conv2d> = members.iter().map(|m| &m.pointwise).collect();
        let bn: Vec<&BatchNorm2d> = members.iter().map(|m| &m.bn).collect();
        let h = Conv2d::forward_stacked(&pw, &Conv2d::forward_stacked(&dw, relu_x, false), false);
        BatchNorm2d::forward_stacked(&bn, &h, train)
    }
}

/// Two stacked DilConv-like blocks without dilation; only the first may stride.
#[derive(Debug)]
pub struct SepConv {
    dw1: Conv2d,
    pw1: Conv2d,
    bn1: BatchNorm2d,
    dw2: Conv2d,
    pw2: Conv2d,
    bn2: BatchNorm2d,
}

impl SepConv {
    pub fn new(p: &Path, c_in: i64, c_out: i64, k: i64, stride: i64, pad: i64, bn: BnMode) -> Self {
        let op = p / "op";
        SepConv {
            dw1: Conv2d::new(&(&op / 1), ConvSpec::new(c_in, c_in, k).stride(stride).padding(pad).groups(c_in)),
            pw1: Conv2d::new(&(&op / 2), ConvSpec::new(c_in, c_in, 1)),
            bn1: BatchNorm2d::new(&(&op / 3), c_in, bn.affine, bn.track_running_stats),
            dw2: Conv2d::new(&(&op / 5), ConvSpec::new(c_in, c_in, k).padding(pad).groups(c_in)),
            pw2: Conv2d::new(&(&op / 6), ConvSpec::new(c_in, c_out, 1)),
            bn2: BatchNorm2d::new(&(&op / 7), c_out, bn.affine, bn.track_running_stats),
        }
    }
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let h = self.bn1.forward_t(&self.pw1.forward(&self.dw1.forward(&x.relu())), train);
        self.bn2.forward_t(&self.pw2.forward(&self.dw2.forward(&h.relu())), train)
    }

    /// As [`DilConv::forward_stacked`], both stages grouped.
    fn forward_stacked(members: &[&SepConv], relu_x: &Tensor, train: bool) -> Tensor {
        let pick = |f: fn(&SepConv) -> &Conv2d| members.iter().map(|m| f(m)).collect::<Vec<_>>();
        let bns = |f: fn(&SepConv) -> &BatchNorm2d| members.iter().map(|m| f(m)).collect::<Vec<_>>();
        let h = Conv2d::forward_stacked(&pick(|m| &m.dw1), relu_x, false);
        let h = BatchNorm2d::forward_stacked(
            &bns(|m| &m.bn1),
            &Conv2d::forward_stacked(&pick(|m| &m.pw1), &h, false),
            train,
        );
        let h = Conv2d::forward_stacked(&pick(|m| &m.dw2), &h.relu(), false);
        BatchNorm2d::forward_stacked(&bns(|m| &m.bn2), &Conv2d::forward_stacked(&pick(|m| &m.pw2), &h, false), train)
    }
}

/// Halves the resolution with two 1x1 stride-2 convs, the second offset by one pixel, concatenated.
#[derive(Debug)]
pub struct FactorizedReduce {
    conv_1: Conv2d,
    conv_2: Conv2d,
    bn: BatchNorm2d,
}

impl FactorizedReduce {
    pub fn new(p: &Path, c_in: i64, c_out: i64, bn: BnMode) -> Self {
        FactorizedReduce {
            conv_1: Conv2d::new(&(p / "conv_1"), ConvSpec::new(c_in, c_out / 2, 1).stride(2)),
            conv_2: Conv2d::new(&(p / "conv_2"), ConvSpec::new(c_in, c_out - c_out / 2, 1).stride(2)),
            bn: BatchNorm2d::new(&(p / "bn"), c_out, bn.affine, bn.track_running_stats),
        }
    }
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let x = x.relu();
        let (h, w) = (x.size()[2], x.size()[3]);
        // The reference slices x[:, :, 1:, 1:], whose stride-2 output is one pixel short of conv_1's on
        // odd sizes (28 -> 14 -> 7 -> ... on Fashion-MNIST). Zero-padding the bottom/right first (as
        // AutoDL does) fixes the shape and, on even sizes, gives exactly the reference's values.
        let shifted = if h % 2 == 1 || w % 2 == 1 {
            x.constant_pad_nd([0, w % 2, 0, h % 2]).narrow(2, 1, h + h % 2 - 1).narrow(3, 1, w + w % 2 - 1)
        } else {
            x.narrow(2, 1, h - 1).narrow(3, 1, w - 1)
        };
        let y = Tensor::cat(&[self.conv_1.forward(&x), self.conv_2.forward(&shifted)], 1);
        self.bn.forward_t(&y, train)
    }
}

/// The payload of `op` as `variant`; callers stack ops of one kind (the same column of one op set).
macro_rules! as_variant {
    ($op:expr, $variant:path) => {
        match $op {
            $variant(m) => m,
            other => unreachable!("stacked ops of different kinds: {other:?}"),
        }
    };
}

#[allow(clippy::large_enum_variant)] // built once per network: boxing would only add an indirection per forward
#[derive(Debug)]
pub enum Op {
    Zero {
        stride: i64,
    },
    Identity,
    MaxPool {
        stride: i64,
    },
    AvgPool {
        stride: i64,
    },
    /// NAS-Bench-201 pooling that first maps C_in to C_out (unused inside cells, where C_in == C_out).
    ProjectedAvgPool {
        preprocess: ReluConvBn,
        stride: i64,
    },
    ReluConvBn(ReluConvBn),
    SepConv(SepConv),
    DilConv(DilConv),
    FactorizedReduce(FactorizedReduce),
}

impl Op {
    /// A DARTS op on C channels. `p` is the op's own path (e.g. `cells.3._ops.5`).
    pub fn darts(p: &Path, op: DartsOp, c: i64, stride: i64, bn: BnMode) -> Op {
        match op {
            DartsOp::None => Op::Zero { stride },
            DartsOp::MaxPool3x3 => Op::MaxPool { stride },
            DartsOp::AvgPool3x3 => Op::AvgPool { stride },
            DartsOp::SkipConnect if stride == 1 => Op::Identity,
            DartsOp::SkipConnect => Op::FactorizedReduce(FactorizedReduce::new(p, c, c, bn)),
            DartsOp::SepConv3x3 => Op::SepConv(SepConv::new(p, c, c, 3, stride, 1, bn)),
            DartsOp::SepConv5x5 => Op::SepConv(SepConv::new(p, c, c, 5, stride, 2, bn)),
            DartsOp::DilConv3x3 => Op::DilConv(DilConv::new(p, c, c, 3, stride, 2, 2, bn)),
            DartsOp::DilConv5x5 => Op::DilConv(DilConv::new(p, c, c, 5, stride, 4, 2, bn)),
        }
    }

    /// A NAS-Bench-201 op from C_in to C_out channels.
    pub fn nb201(p: &Path, op: Nb201Op, c_in: i64, c_out: i64, stride: i64, bn: BnMode) -> Op {
        let conv = |k: i64| {
            // NB201 gives its convs a bias exactly when BN has no affine parameters.
            let spec = ConvSpec::new(c_in, c_out, k).stride(stride).padding(k / 2).bias(!bn.affine);
            Op::ReluConvBn(ReluConvBn::new(p, spec, bn))
        };
        match op {
            Nb201Op::None => Op::Zero { stride },
            Nb201Op::SkipConnect if stride == 1 && c_in == c_out => Op::Identity,
            Nb201Op::SkipConnect => Op::FactorizedReduce(FactorizedReduce::new(p, c_in, c_out, bn)),
            Nb201Op::NorConv1x1 => conv(1),
            Nb201Op::NorConv3x3 => conv(3),
            Nb201Op::AvgPool3x3 if c_in == c_out => Op::AvgPool { stride },
            Nb201Op::AvgPool3x3 => Op::ProjectedAvgPool {
                preprocess: ReluConvBn::new(&(p / "preprocess"), ConvSpec::new(c_in, c_out, 1).bias(!bn.affine), bn),
                stride,
            },
        }
    }

    pub fn is_identity(&self) -> bool {
        matches!(self, Op::Identity)
    }

    pub fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        match self {
            Op::Zero { stride: 1 } => x.zeros_like(),
            Op::Zero { stride } => x.slice(2, 0, None, *stride).slice(3, 0, None, *stride).zeros_like(),
            Op::Identity => x.shallow_clone(),
            Op::MaxPool { stride } => x.max_pool2d([3, 3], [*stride, *stride], [1, 1], [1, 1], false),
            Op::AvgPool { stride } => avg_pool3(x, *stride),
            Op::ProjectedAvgPool { preprocess, stride } => avg_pool3(&preprocess.forward_t(x, train), *stride),
            Op::ReluConvBn(m) => m.forward_t(x, train),
            Op::SepConv(m) => m.forward_t(x, train),
            Op::DilConv(m) => m.forward_t(x, train),
            Op::FactorizedReduce(m) => m.forward_t(x, train),
        }
    }
}

/// The inputs a stacked op run reads: the node's output and its ReLU, computed once for every
/// edge that leaves the node.
pub struct SharedInput<'a> {
    pub x: &'a Tensor,
    pub relu: &'a Tensor,
}

impl Op {
    /// The same op (same kind and shape) of E edges that read one input, run together: one pooling
    /// for all pooling ops, one wide or grouped conv stack for the parametric ones. Returns each
    /// member's output, equal to `member.forward_t(x, train)` up to float rounding.
    pub fn forward_stacked(members: &[&Op], input: &SharedInput, train: bool) -> Vec<Tensor> {
        let e = members.len();
        let same = |y: Tensor| (0..e).map(|_| y.shallow_clone()).collect();
        let split = |y: Tensor| y.split(y.size()[1] / e as i64, 1);
        let x = input.x;
        match members[0] {
            Op::Identity => same(x.shallow_clone()),
            Op::AvgPool { stride } => same(avg_pool3_by_conv(x, *stride)),
            Op::MaxPool { .. } => same(members[0].forward_t(x, train)),
            Op::ReluConvBn(_) => {
                let m: Vec<&ReluConvBn> = members.iter().map(|o| as_variant!(o, Op::ReluConvBn)).collect();
                split(ReluConvBn::forward_stacked(&m, input.relu, train))
            }
            Op::SepConv(_) => {
                let m: Vec<&SepConv> = members.iter().map(|o| as_variant!(o, Op::SepConv)).collect();
                split(SepConv::forward_stacked(&m, &repeat_channels(input.relu, e), train))
            }
            Op::DilConv(_) => {
                let m: Vec<&DilConv> = members.iter().map(|o| as_variant!(o, Op::DilConv)).collect();
                split(DilConv::forward_stacked(&m, &repeat_channels(input.relu, e), train))
            }
            _ => members.iter().map(|m| m.forward_t(x, train)).collect(),
        }
    }
}

/// `x` E times along channels, keeping its memory layout (cat does; `repeat` would not).
fn repeat_channels(x: &Tensor, e: usize) -> Tensor {
    Tensor::cat(&(0..e).map(|_| x.shallow_clone()).collect::<Vec<_>>(), 1)
}

fn avg_pool3(x: &Tensor, stride: i64) -> Tensor {
    x.avg_pool2d([3, 3], [stride, stride], [1, 1], false, false, None::<i64>)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{nn::VarStore, Device, Kind};

    fn names(vs: &VarStore) -> Vec<String> {
        let mut v: Vec<_> = vs.variables().into_keys().collect();
        v.sort();
        v
    }

    #[test]
    fn sep_conv_structure_and_names() {
        let vs = VarStore::new(Device::Cpu);
        let op = Op::darts(&(vs.root() / "_ops" / 0), DartsOp::SepConv3x3, 8, 2, BnMode::EVAL);
        let y = op.forward_t(&Tensor::ones([2, 8, 8, 8], (Kind::Float, Device::Cpu)), true);
        assert_eq!(y.size(), [2, 8, 4, 4]);
        let n = names(&vs);
        for idx in [1, 2, 5, 6] {
            assert!(n.contains(&format!("_ops.0.op.{idx}.weight")), "{n:?}");
        }
        for idx in [3, 7] {
            for leaf in ["weight", "bias", "running_mean", "running_var"] {
                assert!(n.contains(&format!("_ops.0.op.{idx}.{leaf}")), "{n:?}");
            }
        }
        // Parameters of sep_conv_3x3 on C=8: 2 x (8*9 + 8*8 + 2*8) = 304.
        let params: i64 = vs.trainable_variables().iter().map(|t| t.numel() as i64).sum();
        assert_eq!(params, 304);
    }

    #[test]
    fn factorized_reduce_handles_odd_sizes_and_matches_reference_on_even() {
        let vs = VarStore::new(Device::Cpu);
        let fr = FactorizedReduce::new(&vs.root(), 4, 6, BnMode::EVAL);
        for (h, want) in [(7, 4), (8, 4), (28, 14)] {
            let x = Tensor::randn([1, 4, h, h], (Kind::Float, Device::Cpu));
            assert_eq!(fr.forward_t(&x, true).size(), [1, 6, want, want]);
        }
        // On even sizes the padded path must equal the reference's plain slice.
        let x = Tensor::randn([2, 4, 6, 6], (Kind::Float, Device::Cpu)).relu();
        let plain = fr.conv_2.forward(&x.narrow(2, 1, 5).narrow(3, 1, 5));
        let padded = fr.conv_2.forward(&x.constant_pad_nd([0, 1, 0, 1]).narrow(2, 1, 6).narrow(3, 1, 6));
        assert_eq!(plain.size(), padded.size());
        assert!(plain.allclose(&padded, 1e-6, 1e-6, false));
    }

    #[test]
    fn zero_and_pool_shapes() {
        let vs = VarStore::new(Device::Cpu);
        let x = Tensor::ones([1, 3, 5, 5], (Kind::Float, Device::Cpu));
        let z = Op::darts(&vs.root(), DartsOp::None, 3, 2, BnMode::EVAL).forward_t(&x, false);
        assert_eq!(z.size(), [1, 3, 3, 3]);
        assert_eq!(z.abs().sum(Kind::Float).double_value(&[]), 0.0);
        // count_include_pad=False: an all-ones image stays all ones at the borders too.
        let a = Op::nb201(&vs.root(), Nb201Op::AvgPool3x3, 3, 3, 1, BnMode::EVAL).forward_t(&x, false);
        assert!(a.allclose(&x, 1e-6, 1e-6, false));
    }

    #[test]
    fn nb201_conv_bias_only_without_affine_bn() {
        let vs = VarStore::new(Device::Cpu);
        let _ = Op::nb201(&(vs.root() / "a"), Nb201Op::NorConv3x3, 4, 4, 1, BnMode::EVAL);
        let search = BnMode { affine: false, track_running_stats: false };
        let _ = Op::nb201(&(vs.root() / "b"), Nb201Op::NorConv1x1, 4, 4, 1, search);
        let n = names(&vs);
        assert!(!n.contains(&"a.op.1.bias".to_string()));
        assert!(n.contains(&"b.op.1.bias".to_string()));
        assert!(!n.iter().any(|s| s.starts_with("b.op.2")), "{n:?}");
    }
}
