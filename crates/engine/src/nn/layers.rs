//! The parameterised layers every network is built from: conv, batch norm, linear.
//!
//! We wrap tch rather than use `tch::nn` directly for three reasons: initialisation matches PyTorch's
//! defaults (tch's conv/linear init is 2.45x wider and its BN weight starts uniform in [0,1], not 1),
//! BN can run without running statistics (NB201 search option), and every conv/linear reports its
//! multiply-accumulates to [`count_macs`], which is how `arch info` gets FLOPs without a second model
//! of each network.

use std::cell::Cell;
use tch::{nn, Tensor};

thread_local! {
    static MACS: Cell<Option<u64>> = const { Cell::new(None) };
    static BN_MOMENTUM: Cell<f64> = const { Cell::new(0.1) };
    static BN_USES: Cell<Option<u64>> = const { Cell::new(None) };
}

/// Runs `f` with every BN updating its running statistics with `momentum` (PyTorch's default is 0.1).
/// BN recalibration uses 1/i at the i-th batch, which makes the running statistics the plain average
/// over the batches seen (PyTorch's `momentum=None`).
pub fn with_bn_momentum<T>(momentum: f64, f: impl FnOnce() -> T) -> T {
    let previous = BN_MOMENTUM.with(|m| m.replace(momentum));
    let out = f();
    BN_MOMENTUM.with(|m| m.set(previous));
    out
}

/// Runs `f` with the running statistics becoming the plain average of the batch statistics of every
/// BN use inside it (the k-th use updates with momentum 1/k). Uses are counted across all BNs, so
/// this is for a network with one BN used many times per batch: the recurrent search cell's, shared
/// by all nodes and time steps, whose per-use momentum of 0.1 would keep only the last few uses.
pub fn with_bn_average<T>(f: impl FnOnce() -> T) -> T {
    let previous = BN_USES.with(|u| u.replace(Some(0)));
    let out = f();
    BN_USES.with(|u| u.set(previous));
    out
}

/// The momentum of the next running-statistics update (call once per update).
pub fn bn_momentum() -> f64 {
    match BN_USES.with(|u| u.get()) {
        Some(k) => {
            BN_USES.with(|u| u.set(Some(k + 1)));
            1.0 / (k + 1) as f64
        }
        None => BN_MOMENTUM.with(|m| m.get()),
    }
}

/// Runs `f` and returns its result with the multiply-accumulates of every conv and linear layer that
/// ran inside it (bias adds, BN, pooling and activations are not counted: the convention of the DARTS
/// and NAS-Bench-201 papers' "FLOPs").
pub fn count_macs<T>(f: impl FnOnce() -> T) -> (T, u64) {
    let previous = MACS.with(|m| m.replace(Some(0)));
    let out = f();
    let macs = MACS.with(|m| m.replace(previous)).unwrap_or(0);
    (out, macs)
}

fn add_macs(n: u64) {
    MACS.with(|m| {
        if let Some(total) = m.get() {
            m.set(Some(total + n));
        }
    });
}

/// PyTorch's default init for conv and linear weights and biases: kaiming_uniform(a=√5) reduces to
/// U(-1/√fan_in, 1/√fan_in).
fn torch_default_uniform(fan_in: i64) -> nn::Init {
    let bound = 1.0 / (fan_in as f64).sqrt();
    nn::Init::Uniform { lo: -bound, up: bound }
}

#[derive(Debug, Clone, Copy)]
pub struct ConvSpec {
    pub c_in: i64,
    pub c_out: i64,
    pub kernel: i64,
    pub stride: i64,
    pub padding: i64,
    pub dilation: i64,
    pub groups: i64,
    pub bias: bool,
}

impl ConvSpec {
    pub fn new(c_in: i64, c_out: i64, kernel: i64) -> Self {
        ConvSpec { c_in, c_out, kernel, stride: 1, padding: 0, dilation: 1, groups: 1, bias: false }
    }
    pub fn stride(mut self, s: i64) -> Self {
        self.stride = s;
        self
    }
    pub fn padding(mut self, p: i64) -> Self {
        self.padding = p;
        self
    }
    pub fn dilation(mut self, d: i64) -> Self {
        self.dilation = d;
        self
    }
    pub fn groups(mut self, g: i64) -> Self {
        self.groups = g;
        self
    }
    pub fn bias(mut self, b: bool) -> Self {
        self.bias = b;
        self
    }
}

#[derive(Debug)]
pub struct Conv2d {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
    spec: ConvSpec,
}

impl Conv2d {
    pub fn new(p: &nn::Path, spec: ConvSpec) -> Self {
        let fan_in = (spec.c_in / spec.groups) * spec.kernel * spec.kernel;
        let weight = p.var(
            "weight",
            &[spec.c_out, spec.c_in / spec.groups, spec.kernel, spec.kernel],
            torch_default_uniform(fan_in),
        );
        let bias = spec.bias.then(|| p.var("bias", &[spec.c_out], torch_default_uniform(fan_in)));
        Conv2d { weight, bias, spec }
    }

    pub fn forward(&self, x: &Tensor) -> Tensor {
        let s = &self.spec;
        let y = x.conv2d(&self.weight, self.bias.as_ref(), [s.stride], [s.padding], [s.dilation], s.groups);
        s.add_macs(&y);
        y
    }

    /// E convs of the same spec as one conv on their stacked inputs: `x` holds member e's input in
    /// channels [e·c_in, (e+1)·c_in) (or, with `shared_input`, one c_in-channel input all members
    /// read), and the output holds member e's channels in [e·c_out, (e+1)·c_out). A dense conv on a
    /// shared input stays dense with E·c_out outputs; otherwise the groups multiply by E, which keeps
    /// every member's weights on its own channels. Same values and MACs as E separate calls.
    pub fn forward_stacked(members: &[&Conv2d], x: &Tensor, shared_input: bool) -> Tensor {
        let s = &members[0].spec;
        let weight = Tensor::cat(&members.iter().map(|c| &c.weight).collect::<Vec<_>>(), 0);
        let bias = s
            .bias
            .then(|| Tensor::cat(&members.iter().map(|c| c.bias.as_ref().expect("same spec")).collect::<Vec<_>>(), 0));
        let groups = if shared_input && s.groups == 1 { 1 } else { s.groups * members.len() as i64 };
        let y = x.conv2d(&weight, bias.as_ref(), [s.stride], [s.padding], [s.dilation], groups);
        s.add_macs(&y);
        y
    }
}

impl ConvSpec {
    /// Counts the multiply-accumulates that produced `y` (each output reads c_in/groups·k² inputs).
    fn add_macs(&self, y: &Tensor) {
        add_macs(y.numel() as u64 * (self.c_in / self.groups * self.kernel * self.kernel) as u64);
    }
}

/// A channels-last copy of a 4-d tensor (NCHW shape, NHWC memory), the layout oneDNN's CPU convs,
/// pools and BN run fastest in. tch has no memory-format argument, but a permuted contiguous copy
/// has exactly libtorch's channels-last strides, and libtorch's kernels detect the layout from them.
pub fn to_channels_last(x: &Tensor) -> Tensor {
    x.permute([0, 2, 3, 1]).contiguous().permute([0, 3, 1, 2])
}

/// Stores every 4-d variable of `vs` (the conv weights) channels-last, or back in NCHW
/// (`channels_last` false), in place: values, names and optimiser bindings are unchanged, and
/// checkpoints read them through `contiguous()` either way.
pub fn store_layout(vs: &nn::VarStore, channels_last: bool) {
    tch::no_grad(|| {
        for (_, mut v) in vs.variables() {
            if v.dim() == 4 {
                let stored = if channels_last { to_channels_last(&v) } else { v.contiguous() };
                v.set_data(&stored);
            }
        }
    });
}

/// 3x3 average pooling that leaves the padding out of the count (`count_include_pad=False`), as a
/// depthwise conv with a ones kernel divided by each window's size. On CPU libtorch's NCHW
/// avg_pool2d is a scalar loop; this runs 3-6x faster forward and backward with bit-equal sums of
/// nine terms in our tests.
pub fn avg_pool3_by_conv(x: &Tensor, stride: i64) -> Tensor {
    let (c, h, w) = (x.size()[1], x.size()[2], x.size()[3]);
    let opts = (x.kind(), x.device());
    // A [C, 1, 3, 3] kernel has the same strides in either layout: no conversion needed.
    let kernel = Tensor::ones([c, 1, 3, 3], opts);
    let window = Tensor::ones([1, 1, h, w], opts).conv2d(
        &Tensor::ones([1, 1, 3, 3], opts),
        None::<Tensor>,
        [stride],
        [1],
        [1],
        1,
    );
    x.conv2d(&kernel, None::<Tensor>, [stride], [1], [1], c) / window
}

#[derive(Debug)]
pub struct BatchNorm2d {
    pub weight: Option<Tensor>,
    pub bias: Option<Tensor>,
    pub running_mean: Option<Tensor>,
    pub running_var: Option<Tensor>,
}

impl BatchNorm2d {
    /// `affine`: learnable scale and shift (DARTS search uses `false`). `track_running_stats`: keep
    /// running statistics for eval mode; without them BN always normalises with batch statistics.
    pub fn new(p: &nn::Path, c: i64, affine: bool, track_running_stats: bool) -> Self {
        let (weight, bias) = if affine {
            (Some(p.var("weight", &[c], nn::Init::Const(1.0))), Some(p.var("bias", &[c], nn::Init::Const(0.0))))
        } else {
            (None, None)
        };
        let (running_mean, running_var) = if track_running_stats {
            (Some(p.zeros_no_train("running_mean", &[c])), Some(p.ones_no_train("running_var", &[c])))
        } else {
            (None, None)
        };
        BatchNorm2d { weight, bias, running_mean, running_var }
    }

    /// E BNs as one BN over their concatenated channels (member e's in [e·C, (e+1)·C)). BN is per
    /// channel, so the values are those of E separate calls; running statistics are gathered into
    /// one buffer and the updated values written back to each member's own.
    pub fn forward_stacked(members: &[&BatchNorm2d], x: &Tensor, train: bool) -> Tensor {
        let cat = |get: fn(&BatchNorm2d) -> Option<&Tensor>| -> Option<Tensor> {
            let parts: Option<Vec<&Tensor>> = members.iter().map(|b| get(b)).collect();
            parts.map(|p| Tensor::cat(&p, 0))
        };
        let stacked = BatchNorm2d {
            weight: cat(|b| b.weight.as_ref()),
            bias: cat(|b| b.bias.as_ref()),
            running_mean: cat(|b| b.running_mean.as_ref()),
            running_var: cat(|b| b.running_var.as_ref()),
        };
        let y = stacked.forward_t(x, train);
        if train {
            stacked.write_back(members);
        }
        y
    }

    fn write_back(&self, members: &[&BatchNorm2d]) {
        let (Some(mean), Some(var)) = (&self.running_mean, &self.running_var) else { return };
        let c = mean.size()[0] / members.len() as i64;
        tch::no_grad(|| {
            for (e, b) in members.iter().enumerate() {
                let (Some(m), Some(v)) = (&b.running_mean, &b.running_var) else { continue };
                m.shallow_clone().copy_(&mean.narrow(0, e as i64 * c, c));
                v.shallow_clone().copy_(&var.narrow(0, e as i64 * c, c));
            }
        });
    }

    pub fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let use_batch_stats = train || self.running_mean.is_none();
        Tensor::batch_norm(
            x,
            self.weight.as_ref(),
            self.bias.as_ref(),
            self.running_mean.as_ref(),
            self.running_var.as_ref(),
            use_batch_stats,
            if use_batch_stats { bn_momentum() } else { 0.0 },
            1e-5,
            true,
        )
    }
}

#[derive(Debug)]
pub struct Linear {
    pub weight: Tensor,
    pub bias: Tensor,
}

impl Linear {
    pub fn new(p: &nn::Path, c_in: i64, c_out: i64) -> Self {
        Linear {
            weight: p.var("weight", &[c_out, c_in], torch_default_uniform(c_in)),
            bias: p.var("bias", &[c_out], torch_default_uniform(c_in)),
        }
    }

    pub fn forward(&self, x: &Tensor) -> Tensor {
        let (c_out, c_in) = self.weight.size2().expect("linear weight is 2-d");
        add_macs((x.numel() as i64 / c_in * c_out * c_in) as u64);
        x.linear(&self.weight, Some(&self.bias))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{nn::VarStore, Device, Kind};

    #[test]
    fn conv_counts_macs_and_names_params() {
        let vs = VarStore::new(Device::Cpu);
        let conv = Conv2d::new(&(vs.root() / "op" / 1), ConvSpec::new(4, 8, 3).padding(1));
        let x = Tensor::zeros([2, 4, 5, 5], (Kind::Float, Device::Cpu));
        let (y, macs) = count_macs(|| conv.forward(&x));
        assert_eq!(y.size(), [2, 8, 5, 5]);
        // 2 images x 8 x 5 x 5 outputs, each 4 x 3 x 3 multiply-adds.
        assert_eq!(macs, 2 * 8 * 25 * 36);
        let names: Vec<_> = vs.variables().into_keys().collect();
        assert_eq!(names, vec!["op.1.weight".to_string()]);
    }

    #[test]
    fn depthwise_macs_divide_by_groups() {
        let vs = VarStore::new(Device::Cpu);
        let conv = Conv2d::new(&vs.root(), ConvSpec::new(6, 6, 3).padding(1).groups(6));
        let x = Tensor::zeros([1, 6, 4, 4], (Kind::Float, Device::Cpu));
        let (_, macs) = count_macs(|| conv.forward(&x));
        assert_eq!(macs, 6 * 16 * 9);
    }

    #[test]
    fn init_matches_pytorch_bounds() {
        tch::manual_seed(0);
        let vs = VarStore::new(Device::Cpu);
        let conv = Conv2d::new(&vs.root(), ConvSpec::new(16, 32, 3));
        let bound = 1.0 / (16.0f64 * 9.0).sqrt();
        let max = conv.weight.abs().max().double_value(&[]);
        assert!(max <= bound && max > 0.9 * bound, "max {max} bound {bound}");
        let bn = BatchNorm2d::new(&(vs.root() / "bn"), 4, true, true);
        assert_eq!(Vec::<f32>::try_from(bn.weight.unwrap()).unwrap(), vec![1.0; 4]);
    }

    #[test]
    fn cumulative_momentum_averages_batch_statistics() {
        let vs = VarStore::new(Device::Cpu);
        let bn = BatchNorm2d::new(&vs.root(), 1, false, true);
        // Batch means 1 and 3: with momentum 1/i the running mean is their average, 2.
        for (i, v) in [1.0f32, 3.0].iter().enumerate() {
            let x = Tensor::from_slice(&[*v, *v]).view([2, 1, 1, 1]);
            let _ = with_bn_momentum(1.0 / (i + 1) as f64, || bn.forward_t(&x, true));
        }
        assert!((bn.running_mean.as_ref().unwrap().double_value(&[0]) - 2.0).abs() < 1e-6);
        // The override ends with the closure.
        let x = Tensor::from_slice(&[10.0f32, 10.0]).view([2, 1, 1, 1]);
        let _ = bn.forward_t(&x, true);
        assert!((bn.running_mean.as_ref().unwrap().double_value(&[0]) - 2.8).abs() < 1e-5);
    }

    /// Inside `with_bn_average` the running mean is the plain average of every use's batch mean, the
    /// uses of several batches and of one batch alike; outside it the momentum is 0.1 again.
    #[test]
    fn bn_average_counts_every_use() {
        let vs = VarStore::new(Device::Cpu);
        let bn = BatchNorm2d::new(&vs.root(), 1, false, true);
        let use_with = |v: f32| {
            let x = Tensor::from_slice(&[v, v]).view([2, 1, 1, 1]);
            let _ = bn.forward_t(&x, true);
        };
        with_bn_average(|| [1.0, 3.0, 8.0].into_iter().for_each(use_with));
        assert!((bn.running_mean.as_ref().unwrap().double_value(&[0]) - 4.0).abs() < 1e-6);
        use_with(14.0);
        assert!((bn.running_mean.as_ref().unwrap().double_value(&[0]) - 5.0).abs() < 1e-5);
    }

    #[test]
    fn bn_without_running_stats_uses_batch_stats_in_eval() {
        let vs = VarStore::new(Device::Cpu);
        let bn = BatchNorm2d::new(&vs.root(), 1, false, false);
        let x = Tensor::from_slice(&[1.0f32, 3.0]).view([2, 1, 1, 1]);
        let y = Vec::<f32>::try_from(bn.forward_t(&x, false).view([-1])).unwrap();
        assert!((y[0] + 1.0).abs() < 1e-3 && (y[1] - 1.0).abs() < 1e-3, "{y:?}");
    }
}
