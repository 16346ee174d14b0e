//! Augmentation pipelines: an ordered list of [`Augment`] steps, applied per image with a per-image RNG.
//!
//! Semantics follow the torchvision / DARTS transforms the reference recipes use, so a recipe ported from
//! PyTorch means the same thing here:
//!
//! - Images enter as bytes widened to `f32` in 0..=255 (the "byte domain"). [`Augment::ToFloat`] divides by
//!   255 (torchvision `ToTensor`) and must appear exactly once, so a batch can never silently hold 0..255
//!   values; normalize, cutout and random erasing are only allowed after it, because their constants are
//!   defined on the [0, 1] scale.
//! - Geometric steps work in either domain. In the byte domain, interpolated results are rounded to whole
//!   values, as PIL does when it resamples a `uint8` image, so the numbers match a PIL pipeline.
//! - Every random draw comes from the `ChaCha8Rng` passed in; the loader gives each (seed, epoch, position)
//!   its own stream, so an image's augmentation does not depend on what else is in its batch.
//!
//! In a TOML config a pipeline is an array of tables tagged by `kind`:
//!
//! ```toml
//! [[data.train_transform]]
//! kind = "random_crop"
//! size = 32
//! padding = 4
//! [[data.train_transform]]
//! kind = "horizontal_flip"
//! [[data.train_transform]]
//! kind = "to_float"
//! [[data.train_transform]]
//! kind = "normalize"
//! mean = [0.2859]
//! std = [0.3530]
//! ```

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Deserializer, Serialize};

use super::DataError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Interpolation {
    /// torchvision's default for `RandomAffine`.
    #[default]
    Nearest,
    Bilinear,
}

/// One augmentation step. Field defaults are torchvision's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Augment {
    /// torchvision `RandomCrop(size, padding)`: zero-pad every side by `padding`, then cut a uniformly
    /// placed `size×size` window. The output need not match the input size (Fashion-MNIST: 28 → 32).
    RandomCrop {
        size: usize,
        #[serde(default)]
        padding: usize,
    },
    /// Mirror left-right with probability `p`.
    HorizontalFlip {
        #[serde(default = "half")]
        p: f64,
    },
    /// torchvision `Resize(size)`: the shorter side becomes `size`, the aspect ratio is kept. Bilinear uses
    /// PIL's triangle filter, which widens when shrinking (antialiasing) and is plain bilinear when growing.
    Resize {
        size: usize,
        #[serde(default = "bilinear")]
        interpolation: Interpolation,
    },
    /// torchvision `RandomAffine`, fill 0, centre of rotation at the image centre.
    /// In TOML, `degrees = 30` means [-30, 30]; `translate = 0.1` means 0.1 of the width and of the
    /// height; `shear = 30` means an x-shear in [-30, 30] (a pair gives the x range, four values add a
    /// y range), all as in torchvision.
    RandomAffine {
        #[serde(deserialize_with = "symmetric_range")]
        degrees: [f64; 2],
        #[serde(default, deserialize_with = "same_pair")]
        translate: [f64; 2],
        #[serde(default = "unit_range")]
        scale: [f64; 2],
        #[serde(default, deserialize_with = "shear_ranges")]
        shear: [f64; 4],
        #[serde(default)]
        interpolation: Interpolation,
    },
    /// Bytes to [0, 1] (divide by 255).
    ToFloat,
    /// `(x - mean[c]) / std[c]`; a single value applies to every channel.
    Normalize {
        #[serde(deserialize_with = "one_or_many")]
        mean: Vec<f32>,
        #[serde(deserialize_with = "one_or_many")]
        std: Vec<f32>,
    },
    /// DARTS `Cutout(length)`: a centre is drawn anywhere in the image and the `length×length` square around
    /// it (clipped at the borders) is set to 0 in every channel. In DARTS it runs after normalize, so the
    /// square is 0 in normalized space, not black. As in DARTS, the half-width is `length / 2`, so an odd
    /// length acts as `length - 1`.
    Cutout { length: usize },
    /// torchvision `RandomErasing`: with probability `p`, try up to 10 times to draw a rectangle of area
    /// `scale·H·W` and log-uniform aspect ratio in `ratio` that fits, and fill it with `value`.
    RandomErasing {
        #[serde(default = "half")]
        p: f64,
        #[serde(default = "erase_scale")]
        scale: [f64; 2],
        #[serde(default = "erase_ratio")]
        ratio: [f64; 2],
        #[serde(default)]
        value: f32,
    },
}

fn half() -> f64 {
    0.5
}
fn bilinear() -> Interpolation {
    Interpolation::Bilinear
}
fn unit_range() -> [f64; 2] {
    [1.0, 1.0]
}
fn erase_scale() -> [f64; 2] {
    [0.02, 0.33]
}
fn erase_ratio() -> [f64; 2] {
    [0.3, 3.3]
}

#[derive(Deserialize)]
#[serde(untagged)]
enum NumOrList {
    Num(f64),
    List(Vec<f64>),
}

fn symmetric_range<'de, D: Deserializer<'de>>(d: D) -> Result<[f64; 2], D::Error> {
    match NumOrList::deserialize(d)? {
        NumOrList::Num(v) => Ok([-v.abs(), v.abs()]),
        NumOrList::List(v) if v.len() == 2 => Ok([v[0], v[1]]),
        NumOrList::List(v) => {
            Err(serde::de::Error::custom(format!("expected a number or [min, max], got {} values", v.len())))
        }
    }
}

fn same_pair<'de, D: Deserializer<'de>>(d: D) -> Result<[f64; 2], D::Error> {
    match NumOrList::deserialize(d)? {
        NumOrList::Num(v) => Ok([v, v]),
        NumOrList::List(v) if v.len() == 2 => Ok([v[0], v[1]]),
        NumOrList::List(v) => {
            Err(serde::de::Error::custom(format!("expected a number or [x, y], got {} values", v.len())))
        }
    }
}

fn shear_ranges<'de, D: Deserializer<'de>>(d: D) -> Result<[f64; 4], D::Error> {
    match NumOrList::deserialize(d)? {
        NumOrList::Num(v) => Ok([-v.abs(), v.abs(), 0.0, 0.0]),
        NumOrList::List(v) if v.len() == 2 => Ok([v[0], v[1], 0.0, 0.0]),
        NumOrList::List(v) if v.len() == 4 => Ok([v[0], v[1], v[2], v[3]]),
        NumOrList::List(v) => Err(serde::de::Error::custom(format!(
            "expected a number, [min, max] or [xmin, xmax, ymin, ymax], got {} values",
            v.len()
        ))),
    }
}

fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f32>, D::Error> {
    Ok(match NumOrList::deserialize(d)? {
        NumOrList::Num(v) => vec![v as f32],
        NumOrList::List(v) => v.into_iter().map(|x| x as f32).collect(),
    })
}

impl Augment {
    /// The `kind` name used in configs and messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Augment::RandomCrop { .. } => "random_crop",
            Augment::HorizontalFlip { .. } => "horizontal_flip",
            Augment::Resize { .. } => "resize",
            Augment::RandomAffine { .. } => "random_affine",
            Augment::ToFloat => "to_float",
            Augment::Normalize { .. } => "normalize",
            Augment::Cutout { .. } => "cutout",
            Augment::RandomErasing { .. } => "random_erasing",
        }
    }
}

/// `(channels, height, width)`.
pub type Shape = (usize, usize, usize);

/// An ordered augmentation pipeline. Serializes as the bare list of steps.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Transform {
    pub steps: Vec<Augment>,
}

const FMNIST_MEAN: f32 = 0.2859;
const FMNIST_STD: f32 = 0.3530;
const CIFAR10_MEAN: [f32; 3] = [0.4914, 0.4822, 0.4465];
const CIFAR10_STD: [f32; 3] = [0.2470, 0.2435, 0.2616];

impl Transform {
    pub fn new(steps: Vec<Augment>) -> Self {
        Self { steps }
    }

    /// SGAS-es search/retrain: RandomCrop(32, pad 4) on 28×28, HFlip, Normalize(0.2859, 0.3530), and
    /// Cutout when given (retraining uses 16).
    pub fn fashion_mnist_train(cutout: Option<usize>) -> Self {
        Self::crop_flip_normalize(vec![FMNIST_MEAN], vec![FMNIST_STD], cutout)
    }

    /// Normalize only; images stay 28×28 (SGAS-es evaluates without resizing).
    pub fn fashion_mnist_eval() -> Self {
        Self::new(vec![Augment::ToFloat, Augment::Normalize { mean: vec![FMNIST_MEAN], std: vec![FMNIST_STD] }])
    }

    /// DARTS CIFAR-10: RandomCrop(32, pad 4), HFlip, Normalize(CIFAR-10 stats), Cutout when given
    /// (off in search, 16 in retraining).
    pub fn cifar_train(cutout: Option<usize>) -> Self {
        Self::crop_flip_normalize(CIFAR10_MEAN.to_vec(), CIFAR10_STD.to_vec(), cutout)
    }

    pub fn cifar_eval() -> Self {
        Self::new(vec![Augment::ToFloat, Augment::Normalize { mean: CIFAR10_MEAN.to_vec(), std: CIFAR10_STD.to_vec() }])
    }

    /// SGAS-es EMNIST retraining: Resize 32, RandomAffine(±30°, translate 0.1, scale 0.8–1.2, shear ±30),
    /// Normalize(0.5, 0.5).
    pub fn emnist_train() -> Self {
        Self::new(vec![
            Augment::Resize { size: 32, interpolation: Interpolation::Bilinear },
            Augment::RandomAffine {
                degrees: [-30.0, 30.0],
                translate: [0.1, 0.1],
                scale: [0.8, 1.2],
                shear: [-30.0, 30.0, 0.0, 0.0],
                interpolation: Interpolation::Nearest,
            },
            Augment::ToFloat,
            Augment::Normalize { mean: vec![0.5], std: vec![0.5] },
        ])
    }

    /// EMNIST evaluation: the same resize and normalization without the random affine.
    pub fn emnist_eval() -> Self {
        Self::new(vec![
            Augment::Resize { size: 32, interpolation: Interpolation::Bilinear },
            Augment::ToFloat,
            Augment::Normalize { mean: vec![0.5], std: vec![0.5] },
        ])
    }

    fn crop_flip_normalize(mean: Vec<f32>, std: Vec<f32>, cutout: Option<usize>) -> Self {
        let mut steps = vec![
            Augment::RandomCrop { size: 32, padding: 4 },
            Augment::HorizontalFlip { p: 0.5 },
            Augment::ToFloat,
            Augment::Normalize { mean, std },
        ];
        if let Some(length) = cutout {
            steps.push(Augment::Cutout { length });
        }
        Self::new(steps)
    }

    /// Appends a step (builder style).
    pub fn with(mut self, step: Augment) -> Self {
        self.steps.push(step);
        self
    }

    /// Checks every step against the image shape flowing into it and returns the output shape
    /// `(channels, height, width)`.
    pub fn output_shape(
        &self,
        channels: usize,
        height: usize,
        width: usize,
    ) -> Result<(usize, usize, usize), DataError> {
        let (c, mut h, mut w) = (channels, height, width);
        let mut scaled = false;
        for (i, step) in self.steps.iter().enumerate() {
            let fail =
                |problem: String| DataError::Transform { at: format!("step {} ({})", i + 1, step.kind()), problem };
            let needs_float = || {
                fail(
                    "comes before to_float, but its constants are on the [0, 1] scale; \
                     move it after the to_float step"
                        .to_string(),
                )
            };
            let prob = |p: f64| {
                if (0.0..=1.0).contains(&p) {
                    Ok(())
                } else {
                    Err(fail(format!("probability p = {p} is outside [0, 1]")))
                }
            };
            match step {
                Augment::RandomCrop { size, padding } => {
                    let (ph, pw) = (h + 2 * padding, w + 2 * padding);
                    if *size == 0 || *size > ph || *size > pw {
                        return Err(fail(format!(
                            "crop size {size} does not fit the {ph}x{pw} padded image ({h}x{w} plus padding {padding}); \
                             use a size between 1 and {} or more padding",
                            ph.min(pw)
                        )));
                    }
                    (h, w) = (*size, *size);
                }
                Augment::HorizontalFlip { p } => prob(*p)?,
                Augment::Resize { size, .. } => {
                    if *size == 0 {
                        return Err(fail("size must be at least 1".to_string()));
                    }
                    (h, w) = resize_target(h, w, *size);
                }
                Augment::RandomAffine { degrees, translate, scale, shear, .. } => {
                    let ordered = |r: &[f64]| r[0].is_finite() && r[1].is_finite() && r[0] <= r[1];
                    if !ordered(degrees) {
                        return Err(fail(format!("degrees {degrees:?} must be finite with min <= max")));
                    }
                    if !translate.iter().all(|t| (0.0..=1.0).contains(t)) {
                        return Err(fail(format!(
                            "translate {translate:?} must be fractions of the image size in [0, 1]"
                        )));
                    }
                    if !(ordered(scale) && scale[0] > 0.0) {
                        return Err(fail(format!("scale {scale:?} must satisfy 0 < min <= max")));
                    }
                    if !(ordered(&shear[..2]) && ordered(&shear[2..]) && shear.iter().all(|s| s.abs() < 90.0)) {
                        return Err(fail(format!(
                            "shear {shear:?} must be ordered ranges strictly inside (-90, 90) degrees"
                        )));
                    }
                }
                Augment::ToFloat => {
                    if scaled {
                        return Err(fail(
                            "to_float appears twice, which would divide by 255 twice; keep one".to_string(),
                        ));
                    }
                    scaled = true;
                }
                Augment::Normalize { mean, std } => {
                    if !scaled {
                        return Err(needs_float());
                    }
                    if mean.len() != std.len() || (mean.len() != 1 && mean.len() != c) {
                        return Err(fail(format!(
                            "{} means and {} stds for {c}-channel images; give one value or {c} values for each",
                            mean.len(),
                            std.len()
                        )));
                    }
                    if !std.iter().all(|s| s.is_finite() && *s > 0.0) || !mean.iter().all(|m| m.is_finite()) {
                        return Err(fail(format!("std {std:?} must be positive and mean {mean:?} finite")));
                    }
                }
                Augment::Cutout { length } => {
                    if !scaled {
                        return Err(needs_float());
                    }
                    if *length == 0 {
                        return Err(fail("length must be at least 1".to_string()));
                    }
                }
                Augment::RandomErasing { p, scale, ratio, value } => {
                    if !scaled {
                        return Err(needs_float());
                    }
                    prob(*p)?;
                    if !(scale[0] >= 0.0 && scale[0] <= scale[1] && scale[1] <= 1.0) {
                        return Err(fail(format!("scale {scale:?} must be area fractions with 0 <= min <= max <= 1")));
                    }
                    if !(ratio[0] > 0.0 && ratio[0] <= ratio[1] && ratio[1].is_finite()) {
                        return Err(fail(format!("ratio {ratio:?} must satisfy 0 < min <= max")));
                    }
                    if !value.is_finite() {
                        return Err(fail(format!("value {value} must be finite")));
                    }
                }
            }
        }
        if !scaled {
            return Err(DataError::Transform {
                at: "pipeline".to_string(),
                problem: "has no to_float step, so batches would hold 0..255 values; \
                          add { kind = \"to_float\" } (before normalize)"
                    .to_string(),
            });
        }
        Ok((c, h, w))
    }

    /// Applies the pipeline to one image; convenient for tools and tests, the loader uses a
    /// buffer-reusing path.
    pub fn apply(
        &self,
        image: &[u8],
        shape: (usize, usize, usize),
        rng: &mut ChaCha8Rng,
    ) -> Result<(Vec<f32>, Shape), DataError> {
        let out_shape = self.output_shape(shape.0, shape.1, shape.2)?;
        if image.len() != shape.0 * shape.1 * shape.2 {
            return Err(DataError::Transform {
                at: "input".to_string(),
                problem: format!("{} bytes do not make one {}x{}x{} image", image.len(), shape.0, shape.1, shape.2),
            });
        }
        let mut out = vec![0.0; out_shape.0 * out_shape.1 * out_shape.2];
        self.apply_into(image, shape, rng, &mut Scratch::default(), &mut out);
        Ok((out, out_shape))
    }

    /// The loader's path: `shape` must have passed [`Transform::output_shape`] and `out` must hold
    /// exactly the output image.
    pub(crate) fn apply_into(
        &self,
        image: &[u8],
        shape: (usize, usize, usize),
        rng: &mut ChaCha8Rng,
        scratch: &mut Scratch,
        out: &mut [f32],
    ) {
        let (c, mut h, mut w) = shape;
        let mut cur = std::mem::take(&mut scratch.a);
        let mut tmp = std::mem::take(&mut scratch.b);
        cur.clear();
        cur.extend(image.iter().map(|&v| f32::from(v)));
        let mut scaled = false;
        for step in &self.steps {
            match step {
                Augment::RandomCrop { size, padding } => {
                    let top = rng.random_range(0..=h + 2 * padding - size);
                    let left = rng.random_range(0..=w + 2 * padding - size);
                    crop_padded(&cur, c, h, w, *padding, top, left, *size, *size, &mut tmp);
                    std::mem::swap(&mut cur, &mut tmp);
                    (h, w) = (*size, *size);
                }
                Augment::HorizontalFlip { p } => {
                    if rng.random::<f64>() < *p {
                        cur.chunks_exact_mut(w).for_each(<[f32]>::reverse);
                    }
                }
                Augment::Resize { size, interpolation } => {
                    let (oh, ow) = resize_target(h, w, *size);
                    resize(&cur, c, h, w, oh, ow, *interpolation, scratch, &mut tmp);
                    std::mem::swap(&mut cur, &mut tmp);
                    (h, w) = (oh, ow);
                    if !scaled && *interpolation == Interpolation::Bilinear {
                        round_bytes(&mut cur);
                    }
                }
                Augment::RandomAffine { degrees, translate, scale, shear, interpolation } => {
                    let params = AffineParams::draw(rng, h, w, *degrees, *translate, *scale, *shear);
                    warp_affine(&cur, c, h, w, &params, *interpolation, &mut tmp);
                    std::mem::swap(&mut cur, &mut tmp);
                    if !scaled && *interpolation == Interpolation::Bilinear {
                        round_bytes(&mut cur);
                    }
                }
                Augment::ToFloat => {
                    // A division, not a multiply by 1/255, so values equal torchvision's `div(255)`.
                    cur.iter_mut().for_each(|v| *v /= 255.0);
                    scaled = true;
                }
                Augment::Normalize { mean, std } => {
                    for (ch, plane) in cur.chunks_exact_mut(h * w).enumerate() {
                        let k = if mean.len() == 1 { 0 } else { ch };
                        let (m, s) = (mean[k], std[k]);
                        plane.iter_mut().for_each(|v| *v = (*v - m) / s);
                    }
                }
                Augment::Cutout { length } => {
                    let y = rng.random_range(0..h);
                    let x = rng.random_range(0..w);
                    cutout_at(&mut cur, c, h, w, y, x, *length);
                }
                Augment::RandomErasing { p, scale, ratio, value } => {
                    if rng.random::<f64>() < *p {
                        if let Some((i, j, eh, ew)) = erasing_box(rng, h, w, *scale, *ratio) {
                            fill_box(&mut cur, c, h, w, i, j, eh, ew, *value);
                        }
                    }
                }
            }
        }
        out.copy_from_slice(&cur);
        scratch.a = cur;
        scratch.b = tmp;
    }
}

/// Buffers reused across images so the per-image path does not allocate.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    a: Vec<f32>,
    b: Vec<f32>,
    c: Vec<f32>,
    x_coef: Coefficients,
    y_coef: Coefficients,
}

fn round_bytes(buf: &mut [f32]) {
    buf.iter_mut().for_each(|v| *v = v.round().clamp(0.0, 255.0));
}

fn uniform(rng: &mut ChaCha8Rng, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * rng.random::<f64>()
}

/// torchvision `Resize(int)`: shorter side to `size`, longer side scaled and truncated.
fn resize_target(h: usize, w: usize, size: usize) -> (usize, usize) {
    if h <= w {
        (size, ((size * w) as f64 / h as f64) as usize)
    } else {
        (((size * h) as f64 / w as f64) as usize, size)
    }
}

/// Writes the `out_h×out_w` window at (`top`, `left`) of the image zero-padded by `padding`.
#[allow(clippy::too_many_arguments)]
fn crop_padded(
    src: &[f32],
    c: usize,
    h: usize,
    w: usize,
    padding: usize,
    top: usize,
    left: usize,
    out_h: usize,
    out_w: usize,
    dst: &mut Vec<f32>,
) {
    dst.clear();
    dst.resize(c * out_h * out_w, 0.0);
    // Output column ox reads source column ox + left - padding; only that window overlaps the image.
    let x0 = padding.saturating_sub(left).min(out_w);
    let x1 = (padding + w).saturating_sub(left).min(out_w);
    for ch in 0..c {
        for oy in 0..out_h {
            let sy = (oy + top).wrapping_sub(padding);
            if sy >= h || x0 >= x1 {
                continue;
            }
            let sx0 = x0 + left - padding;
            let s = &src[ch * h * w + sy * w + sx0..][..x1 - x0];
            dst[ch * out_h * out_w + oy * out_w + x0..][..x1 - x0].copy_from_slice(s);
        }
    }
}

/// DARTS cutout: rows `[y - length/2, y + length/2)` and the same columns, clipped, zeroed in every channel.
fn cutout_at(buf: &mut [f32], c: usize, h: usize, w: usize, y: usize, x: usize, length: usize) {
    let half = length / 2;
    let (y1, y2) = (y.saturating_sub(half), (y + half).min(h));
    let (x1, x2) = (x.saturating_sub(half), (x + half).min(w));
    fill_box(buf, c, h, w, y1, x1, y2 - y1, x2 - x1, 0.0);
}

#[allow(clippy::too_many_arguments)]
fn fill_box(buf: &mut [f32], c: usize, h: usize, w: usize, top: usize, left: usize, bh: usize, bw: usize, value: f32) {
    for ch in 0..c {
        for y in top..top + bh {
            buf[ch * h * w + y * w + left..][..bw].fill(value);
        }
    }
}

/// torchvision `RandomErasing.get_params`; `None` when no attempt fits (the image is left alone).
fn erasing_box(
    rng: &mut ChaCha8Rng,
    h: usize,
    w: usize,
    scale: [f64; 2],
    ratio: [f64; 2],
) -> Option<(usize, usize, usize, usize)> {
    let area = (h * w) as f64;
    let (lr0, lr1) = (ratio[0].ln(), ratio[1].ln());
    for _ in 0..10 {
        let erase_area = area * uniform(rng, scale[0], scale[1]);
        let aspect = uniform(rng, lr0, lr1).exp();
        let eh = (erase_area * aspect).sqrt().round() as usize;
        let ew = (erase_area / aspect).sqrt().round() as usize;
        if !(eh < h && ew < w) {
            continue;
        }
        let i = rng.random_range(0..=h - eh);
        let j = rng.random_range(0..=w - ew);
        return Some((i, j, eh, ew));
    }
    None
}

/// Per-output-sample source ranges and weights of a separable resampling filter.
#[derive(Debug, Default)]
struct Coefficients {
    start: Vec<usize>,
    len: Vec<usize>,
    /// `taps` weights per output sample.
    weights: Vec<f32>,
    taps: usize,
}

impl Coefficients {
    /// PIL's `precompute_coeffs`: output sample `i` is centred at `(i + 0.5)·in/out`; the triangle filter's
    /// support grows by the downscale factor, which is what antialiases a shrink.
    fn compute(&mut self, in_size: usize, out_size: usize, interp: Interpolation) {
        let scale = in_size as f64 / out_size as f64;
        self.start.clear();
        self.len.clear();
        self.weights.clear();
        if interp == Interpolation::Nearest {
            self.taps = 1;
            for i in 0..out_size {
                let s = (((i as f64 + 0.5) * scale) as usize).min(in_size - 1);
                self.start.push(s);
                self.len.push(1);
                self.weights.push(1.0);
            }
            return;
        }
        let filter_scale = scale.max(1.0);
        let support = filter_scale;
        self.taps = support.ceil() as usize * 2 + 1;
        for i in 0..out_size {
            let center = (i as f64 + 0.5) * scale;
            let lo = ((center - support + 0.5) as isize).max(0) as usize;
            let hi = ((center + support + 0.5) as isize).clamp(0, in_size as isize) as usize;
            let n = hi.saturating_sub(lo).min(self.taps);
            let tri = |k: usize| {
                let t = ((lo + k) as f64 - center + 0.5) / filter_scale;
                (1.0 - t.abs()).max(0.0)
            };
            let total: f64 = (0..n).map(tri).sum();
            self.start.push(lo);
            self.len.push(n);
            for k in 0..self.taps {
                let v = if k < n && total > 0.0 { tri(k) / total } else { 0.0 };
                self.weights.push(v as f32);
            }
        }
    }
}

/// Separable resize: rows first into `scratch.c`, then columns into `dst`.
#[allow(clippy::too_many_arguments)]
fn resize(
    src: &[f32],
    c: usize,
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
    interp: Interpolation,
    scratch: &mut Scratch,
    dst: &mut Vec<f32>,
) {
    let Scratch { c: mid, x_coef, y_coef, .. } = scratch;
    x_coef.compute(w, ow, interp);
    y_coef.compute(h, oh, interp);
    mid.clear();
    mid.resize(c * h * ow, 0.0);
    for (row_in, row_out) in src.chunks_exact(w).zip(mid.chunks_exact_mut(ow)) {
        for (x, out) in row_out.iter_mut().enumerate() {
            let (s, n) = (x_coef.start[x], x_coef.len[x]);
            let wts = &x_coef.weights[x * x_coef.taps..][..n];
            *out = row_in[s..s + n].iter().zip(wts).map(|(a, b)| a * b).sum();
        }
    }
    dst.clear();
    dst.resize(c * oh * ow, 0.0);
    for ch in 0..c {
        let plane_in = &mid[ch * h * ow..][..h * ow];
        let plane_out = &mut dst[ch * oh * ow..][..oh * ow];
        for (y, row_out) in plane_out.chunks_exact_mut(ow).enumerate() {
            let (s, n) = (y_coef.start[y], y_coef.len[y]);
            let wts = &y_coef.weights[y * y_coef.taps..][..n];
            for (k, &wt) in wts.iter().enumerate() {
                let row_in = &plane_in[(s + k) * ow..][..ow];
                for (o, &v) in row_out.iter_mut().zip(row_in) {
                    *o += wt * v;
                }
            }
        }
    }
}

/// One draw of torchvision `RandomAffine.get_params`: angle and shear in degrees, integer translation.
#[derive(Debug, Clone, Copy, PartialEq)]
struct AffineParams {
    angle: f64,
    translate: (f64, f64),
    scale: f64,
    shear: (f64, f64),
}

impl AffineParams {
    fn draw(
        rng: &mut ChaCha8Rng,
        h: usize,
        w: usize,
        degrees: [f64; 2],
        translate: [f64; 2],
        scale: [f64; 2],
        shear: [f64; 4],
    ) -> Self {
        let angle = uniform(rng, degrees[0], degrees[1]);
        let max_dx = translate[0] * w as f64;
        let max_dy = translate[1] * h as f64;
        let tx = uniform(rng, -max_dx, max_dx).round();
        let ty = uniform(rng, -max_dy, max_dy).round();
        let scale = uniform(rng, scale[0], scale[1]);
        let sx = uniform(rng, shear[0], shear[1]);
        let sy = uniform(rng, shear[2], shear[3]);
        Self { angle, translate: (tx, ty), scale, shear: (sx, sy) }
    }

    /// torchvision `_get_inverse_affine_matrix` around centre (w/2, h/2): maps an output point (pixel
    /// centres at +0.5, as PIL samples) to the input point it reads. Positive angles turn clockwise on screen.
    fn inverse_matrix(&self, h: usize, w: usize) -> [f64; 6] {
        let (cx, cy) = (w as f64 * 0.5, h as f64 * 0.5);
        let rot = self.angle.to_radians();
        let (sx, sy) = (self.shear.0.to_radians(), self.shear.1.to_radians());
        let (tx, ty) = self.translate;
        let a = (rot - sy).cos() / sy.cos();
        let b = -(rot - sy).cos() * sx.tan() / sy.cos() - rot.sin();
        let c = (rot - sy).sin() / sy.cos();
        let d = -(rot - sy).sin() * sx.tan() / sy.cos() + rot.cos();
        let mut m = [d, -b, 0.0, -c, a, 0.0].map(|v| v / self.scale);
        m[2] += m[0] * (-cx - tx) + m[1] * (-cy - ty);
        m[5] += m[3] * (-cx - tx) + m[4] * (-cy - ty);
        m[2] += cx;
        m[5] += cy;
        m
    }
}

/// Inverse-maps every output pixel; reads outside the image are 0 (for bilinear, each missing tap counts
/// as 0, like `grid_sample` with zero padding).
fn warp_affine(
    src: &[f32],
    c: usize,
    h: usize,
    w: usize,
    params: &AffineParams,
    interp: Interpolation,
    dst: &mut Vec<f32>,
) {
    let m = params.inverse_matrix(h, w);
    let plane = h * w;
    dst.clear();
    dst.resize(c * plane, 0.0);
    let at = |ch: usize, x: isize, y: isize| -> f32 {
        if x < 0 || y < 0 || x >= w as isize || y >= h as isize {
            0.0
        } else {
            src[ch * plane + y as usize * w + x as usize]
        }
    };
    for y in 0..h {
        for x in 0..w {
            let (fx, fy) = (x as f64 + 0.5, y as f64 + 0.5);
            let sx = m[0] * fx + m[1] * fy + m[2];
            let sy = m[3] * fx + m[4] * fy + m[5];
            let o = y * w + x;
            match interp {
                Interpolation::Nearest => {
                    let (ix, iy) = (sx.floor() as isize, sy.floor() as isize);
                    for ch in 0..c {
                        dst[ch * plane + o] = at(ch, ix, iy);
                    }
                }
                Interpolation::Bilinear => {
                    let (u, v) = (sx - 0.5, sy - 0.5);
                    let (x0, y0) = (u.floor(), v.floor());
                    let (ax, ay) = ((u - x0) as f32, (v - y0) as f32);
                    let (x0, y0) = (x0 as isize, y0 as isize);
                    for ch in 0..c {
                        let top = at(ch, x0, y0) * (1.0 - ax) + at(ch, x0 + 1, y0) * ax;
                        let bot = at(ch, x0, y0 + 1) * (1.0 - ax) + at(ch, x0 + 1, y0 + 1) * ax;
                        dst[ch * plane + o] = top * (1.0 - ay) + bot * ay;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn rng(seed: u64) -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(seed)
    }

    /// 1×2×3 image [[1,2,3],[4,5,6]] as f32.
    fn small() -> Vec<f32> {
        vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    }

    #[test]
    fn data_transform_crop_with_padding_golden() {
        // Padded by 1 the image is
        //   0 0 0 0 0
        //   0 1 2 3 0
        //   0 4 5 6 0
        //   0 0 0 0 0
        let mut out = Vec::new();
        crop_padded(&small(), 1, 2, 3, 1, 0, 1, 3, 3, &mut out);
        assert_eq!(out, vec![0., 0., 0., 1., 2., 3., 4., 5., 6.]);
        crop_padded(&small(), 1, 2, 3, 1, 1, 2, 3, 3, &mut out);
        assert_eq!(out, vec![2., 3., 0., 5., 6., 0., 0., 0., 0.]);
        crop_padded(&small(), 1, 2, 3, 1, 0, 0, 2, 2, &mut out);
        assert_eq!(out, vec![0., 0., 0., 1.]);
        // Larger than the padded image's rows in one axis is impossible (validated), but a crop wider than
        // the source alone reads both pads.
        crop_padded(&small(), 1, 2, 3, 1, 1, 0, 1, 5, &mut out);
        assert_eq!(out, vec![0., 1., 2., 3., 0.]);
        // Two channels are cropped with the same window.
        let two: Vec<f32> = small().into_iter().chain((0..6).map(|v| 10.0 + v as f32)).collect();
        crop_padded(&two, 2, 2, 3, 0, 1, 1, 1, 2, &mut out);
        assert_eq!(out, vec![5., 6., 14., 15.]);
    }

    #[test]
    fn data_transform_random_crop_covers_every_window() {
        // 28x28 padded by 4 → 36x36, 32x32 windows at offsets 0..=4 in each axis: 25 windows.
        let t = Transform::new(vec![Augment::RandomCrop { size: 32, padding: 4 }, Augment::ToFloat]);
        let img: Vec<u8> = (0..784).map(|i| (i % 251) as u8 + 1).collect();
        let mut seen = std::collections::BTreeSet::new();
        for s in 0..400 {
            let (out, shape) = t.apply(&img, (1, 28, 28), &mut rng(s)).unwrap();
            assert_eq!(shape, (1, 32, 32));
            // The first non-zero pixel is source (0,0) = 1/255; its position gives the window offset.
            let k = out.iter().position(|&v| v != 0.0).unwrap();
            assert_eq!(out[k], 1.0 / 255.0);
            let (oy, ox) = (k / 32, k % 32);
            assert!(oy <= 4 && ox <= 4);
            seen.insert((oy, ox));
            // The whole source lands unchanged inside the window.
            for y in 0..28.min(32 - oy) {
                for x in 0..28.min(32 - ox) {
                    assert_eq!(out[(oy + y) * 32 + ox + x] * 255.0, f32::from(img[y * 28 + x]));
                }
            }
        }
        assert_eq!(seen.len(), 25);
    }

    #[test]
    fn data_transform_flip() {
        let img = [1u8, 2, 3, 4, 5, 6];
        let flip = |p| Transform::new(vec![Augment::HorizontalFlip { p }, Augment::ToFloat]);
        let (out, _) = flip(1.0).apply(&img, (1, 2, 3), &mut rng(0)).unwrap();
        assert_eq!(out.iter().map(|v| v * 255.0).collect::<Vec<_>>(), vec![3., 2., 1., 6., 5., 4.]);
        let (out, _) = flip(0.0).apply(&img, (1, 2, 3), &mut rng(0)).unwrap();
        assert_eq!(out.iter().map(|v| v * 255.0).collect::<Vec<_>>(), vec![1., 2., 3., 4., 5., 6.]);
        let flipped =
            (0..1000).filter(|&s| flip(0.5).apply(&img, (1, 2, 3), &mut rng(s)).unwrap().0[0] * 255.0 == 3.0).count();
        assert!((400..600).contains(&flipped), "{flipped}");
    }

    #[test]
    fn data_transform_normalize_values() {
        let (out, shape) = Transform::fashion_mnist_eval().apply(&[0, 255, 128], (1, 1, 3), &mut rng(0)).unwrap();
        assert_eq!(shape, (1, 1, 3));
        let want = [0.0f32, 1.0, 128.0 / 255.0].map(|v| (v - 0.2859) / 0.3530);
        assert_eq!(out, want.to_vec());
        assert!((out[1] - 2.022_946).abs() < 1e-5);
        assert!((out[0] + 0.809_915).abs() < 1e-5);
        // Per-channel constants for 3 channels.
        let (out, _) = Transform::cifar_eval().apply(&[255, 255, 0], (3, 1, 1), &mut rng(0)).unwrap();
        let expect = [(1.0 - 0.4914) / 0.2470, (1.0 - 0.4822) / 0.2435, (0.0 - 0.4465) / 0.2616];
        for (a, b) in out.iter().zip(expect) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
    }

    #[test]
    fn data_transform_cutout_golden_and_clipped() {
        let mut buf = vec![1.0f32; 2 * 4 * 4];
        cutout_at(&mut buf, 2, 4, 4, 2, 2, 2);
        let zeros: Vec<usize> = (0..32).filter(|&i| buf[i] == 0.0).collect();
        // Rows 1..3, cols 1..3 in both channels.
        assert_eq!(zeros, vec![5, 6, 9, 10, 21, 22, 25, 26]);
        let mut buf = vec![1.0f32; 16];
        cutout_at(&mut buf, 1, 4, 4, 0, 0, 2);
        assert_eq!(buf.iter().filter(|&&v| v == 0.0).count(), 1);
        assert_eq!(buf[0], 0.0);
    }

    #[test]
    fn data_transform_cutout_in_normalized_space() {
        // After normalize every pixel of a constant image is (0.5 - 0.2859)/0.353 ≠ 0, so zeros are cutout.
        let t = Transform::fashion_mnist_eval().with(Augment::Cutout { length: 16 });
        let img = [128u8; 32 * 32];
        let mut full = 0;
        for s in 0..200 {
            let (out, _) = t.apply(&img, (1, 32, 32), &mut rng(s)).unwrap();
            let zeros: Vec<(usize, usize)> = (0..1024).filter(|&i| out[i] == 0.0).map(|i| (i / 32, i % 32)).collect();
            let (ys, xs): (Vec<_>, Vec<_>) = zeros.iter().copied().unzip();
            let (y0, y1) = (*ys.iter().min().unwrap(), *ys.iter().max().unwrap() + 1);
            let (x0, x1) = (*xs.iter().min().unwrap(), *xs.iter().max().unwrap() + 1);
            // A filled rectangle of at most 16x16, exactly 16 wide unless it touches a border.
            assert_eq!(zeros.len(), (y1 - y0) * (x1 - x0));
            assert!(y1 - y0 <= 16 && x1 - x0 <= 16);
            assert!(y1 - y0 == 16 || y0 == 0 || y1 == 32);
            assert!(x1 - x0 == 16 || x0 == 0 || x1 == 32);
            full += usize::from(y1 - y0 == 16 && x1 - x0 == 16);
            let other = (128.0f32 / 255.0 - 0.2859) / 0.3530;
            assert!(out.iter().all(|&v| v == 0.0 || v == other));
        }
        // Centres are uniform over 32x32, so about (16/32)^2 of squares are unclipped.
        assert!((25..80).contains(&full), "{full}");
    }

    #[test]
    fn data_transform_random_erasing_keeps_shape() {
        let t = Transform::new(vec![
            Augment::ToFloat,
            Augment::RandomErasing { p: 1.0, scale: [0.02, 0.33], ratio: [0.3, 3.3], value: -7.0 },
        ]);
        let img = [255u8; 3 * 8 * 10];
        let mut erased = 0;
        for s in 0..100 {
            let (out, shape) = t.apply(&img, (3, 8, 10), &mut rng(s)).unwrap();
            assert_eq!((shape, out.len()), ((3, 8, 10), 240));
            assert!(out.iter().all(|&v| v == 1.0 || v == -7.0));
            let n = out.iter().filter(|&&v| v == -7.0).count();
            // Same box in every channel, and never the whole image.
            assert_eq!(n % 3, 0);
            assert!(n / 3 < 80);
            erased += usize::from(n > 0);
        }
        assert!(erased > 80, "{erased}");
        let off = Transform::new(vec![
            Augment::ToFloat,
            Augment::RandomErasing { p: 0.0, scale: [0.02, 0.33], ratio: [0.3, 3.3], value: 0.0 },
        ]);
        assert!(off.apply(&img, (3, 8, 10), &mut rng(1)).unwrap().0.iter().all(|&v| v == 1.0));
    }

    fn identity_affine(interpolation: Interpolation) -> Transform {
        Transform::new(vec![
            Augment::RandomAffine {
                degrees: [0.0, 0.0],
                translate: [0.0, 0.0],
                scale: [1.0, 1.0],
                shear: [0.0; 4],
                interpolation,
            },
            Augment::ToFloat,
        ])
    }

    #[test]
    fn data_transform_affine_identity_and_golden() {
        let img: Vec<u8> = (0..2 * 5 * 7).map(|i| (i * 3 % 256) as u8).collect();
        let plain = Transform::new(vec![Augment::ToFloat]);
        let (want, _) = plain.apply(&img, (2, 5, 7), &mut rng(0)).unwrap();
        for interp in [Interpolation::Nearest, Interpolation::Bilinear] {
            let (out, shape) = identity_affine(interp).apply(&img, (2, 5, 7), &mut rng(3)).unwrap();
            assert_eq!(shape, (2, 5, 7));
            assert_eq!(out, want);
        }
        let src: Vec<f32> = (1..=9).map(|v| v as f32).collect();
        let mut out = Vec::new();
        let rot = AffineParams { angle: 90.0, translate: (0.0, 0.0), scale: 1.0, shear: (0.0, 0.0) };
        warp_affine(&src, 1, 3, 3, &rot, Interpolation::Nearest, &mut out);
        assert_eq!(out, vec![7., 4., 1., 8., 5., 2., 9., 6., 3.]);
        let shift = AffineParams { translate: (1.0, -1.0), angle: 0.0, ..rot };
        for interp in [Interpolation::Nearest, Interpolation::Bilinear] {
            warp_affine(&src, 1, 3, 3, &shift, interp, &mut out);
            assert_eq!(out, vec![0., 4., 5., 0., 7., 8., 0., 0., 0.]);
        }
        // Zoom 2x about the centre of [0, 100]: output pixel centres read input x = 0.75 and 1.25.
        let zoom = AffineParams { translate: (0.0, 0.0), angle: 0.0, scale: 2.0, shear: (0.0, 0.0) };
        warp_affine(&[0.0, 100.0], 1, 1, 2, &zoom, Interpolation::Bilinear, &mut out);
        assert_eq!(out, vec![25.0, 75.0]);
        warp_affine(&[0.0, 100.0], 1, 1, 2, &zoom, Interpolation::Nearest, &mut out);
        assert_eq!(out, vec![0.0, 100.0]);
    }

    #[test]
    fn data_transform_affine_random_stays_in_range() {
        let t = Transform::emnist_train();
        let img: Vec<u8> = (0..784).map(|i| if (i / 28) % 7 < 3 { 255 } else { 0 }).collect();
        let mut differs = 0;
        for s in 0..20 {
            let (out, shape) = t.apply(&img, (1, 28, 28), &mut rng(s)).unwrap();
            assert_eq!(shape, (1, 32, 32));
            assert!(out.iter().all(|&v| (-1.0..=1.0).contains(&v)));
            let (base, _) = Transform::emnist_eval().apply(&img, (1, 28, 28), &mut rng(s)).unwrap();
            differs += usize::from(out != base);
        }
        assert!(differs >= 18, "{differs}");
    }

    #[test]
    fn data_transform_resize_golden_and_constant() {
        let mut scratch = Scratch::default();
        let mut out = Vec::new();
        resize(&[0.0, 100.0], 1, 1, 2, 1, 4, Interpolation::Bilinear, &mut scratch, &mut out);
        assert_eq!(out, vec![0.0, 25.0, 75.0, 100.0]);
        resize(&[0.0, 100.0], 1, 1, 2, 1, 4, Interpolation::Nearest, &mut scratch, &mut out);
        assert_eq!(out, vec![0.0, 0.0, 100.0, 100.0]);
        // Shrinking 4 → 2 widens the triangle (PIL antialiasing): weights .75, .75, .25 over 1.75.
        resize(&[0.0, 100.0, 0.0, 100.0], 1, 1, 4, 1, 2, Interpolation::Bilinear, &mut scratch, &mut out);
        assert!((out[0] - 75.0 / 1.75).abs() < 1e-4, "{out:?}");
        for (h, w, size) in [(28, 28, 32), (28, 28, 14), (5, 9, 7), (9, 5, 3)] {
            for interp in [Interpolation::Nearest, Interpolation::Bilinear] {
                let t = Transform::new(vec![Augment::Resize { size, interpolation: interp }, Augment::ToFloat]);
                let (out, shape) = t.apply(&vec![77u8; 2 * h * w], (2, h, w), &mut rng(0)).unwrap();
                assert_eq!(shape, (2, resize_target(h, w, size).0, resize_target(h, w, size).1));
                assert_eq!(out.len(), 2 * shape.1 * shape.2);
                assert!(out.iter().all(|&v| v == 77.0 / 255.0), "{h}x{w}->{size} {interp:?}");
            }
        }
        assert_eq!(resize_target(5, 9, 7), (7, 12));
        assert_eq!(resize_target(9, 5, 3), (5, 3));
    }

    #[test]
    fn data_transform_validation_errors() {
        let bad = |steps: Vec<Augment>, shape: (usize, usize, usize)| {
            Transform::new(steps).output_shape(shape.0, shape.1, shape.2).unwrap_err().to_string()
        };
        let m = bad(vec![Augment::Normalize { mean: vec![0.5], std: vec![0.5] }], (1, 4, 4));
        assert!(m.starts_with("transform step 1 (normalize): comes before to_float"), "{m}");
        let m = bad(vec![Augment::RandomCrop { size: 40, padding: 4 }, Augment::ToFloat], (1, 28, 28));
        assert!(m.contains("crop size 40 does not fit the 36x36 padded image"), "{m}");
        let m = bad(vec![Augment::HorizontalFlip { p: 0.5 }], (1, 4, 4));
        assert!(m.starts_with("transform pipeline: has no to_float step"), "{m}");
        let m = bad(vec![Augment::ToFloat, Augment::ToFloat], (1, 4, 4));
        assert!(m.contains("step 2 (to_float): to_float appears twice"), "{m}");
        let m =
            bad(vec![Augment::ToFloat, Augment::Normalize { mean: vec![0.1, 0.2], std: vec![0.3, 0.4] }], (3, 4, 4));
        assert!(m.contains("2 means and 2 stds for 3-channel images"), "{m}");
        let m = bad(vec![Augment::ToFloat, Augment::Normalize { mean: vec![0.1], std: vec![0.0] }], (1, 4, 4));
        assert!(m.contains("must be positive"), "{m}");
        let m = bad(vec![Augment::ToFloat, Augment::Cutout { length: 0 }], (1, 4, 4));
        assert!(m.contains("length must be at least 1"), "{m}");
        let m = bad(vec![Augment::HorizontalFlip { p: 1.5 }, Augment::ToFloat], (1, 4, 4));
        assert!(m.contains("p = 1.5 is outside [0, 1]"), "{m}");
        let mut affine = identity_affine(Interpolation::Nearest);
        if let Augment::RandomAffine { shear, .. } = &mut affine.steps[0] {
            *shear = [-90.0, 90.0, 0.0, 0.0];
        }
        assert!(affine.output_shape(1, 4, 4).unwrap_err().to_string().contains("shear"));
        // Presets are valid for their datasets and give the documented sizes.
        assert_eq!(Transform::fashion_mnist_train(Some(16)).output_shape(1, 28, 28).unwrap(), (1, 32, 32));
        assert_eq!(Transform::fashion_mnist_eval().output_shape(1, 28, 28).unwrap(), (1, 28, 28));
        assert_eq!(Transform::cifar_train(None).output_shape(3, 32, 32).unwrap(), (3, 32, 32));
        assert_eq!(Transform::cifar_eval().output_shape(3, 32, 32).unwrap(), (3, 32, 32));
        assert_eq!(Transform::emnist_train().output_shape(1, 28, 28).unwrap(), (1, 32, 32));
        assert!(Transform::cifar_eval().output_shape(1, 28, 28).is_err());
    }

    #[derive(Deserialize)]
    struct Cfg {
        data: DataCfg,
    }
    #[derive(Deserialize)]
    struct DataCfg {
        train_transform: Transform,
    }

    #[test]
    fn data_transform_from_toml() {
        let cfg: Cfg = toml::from_str(
            r#"
            [[data.train_transform]]
            kind = "random_crop"
            size = 32
            padding = 4
            [[data.train_transform]]
            kind = "horizontal_flip"
            [[data.train_transform]]
            kind = "to_float"
            [[data.train_transform]]
            kind = "normalize"
            mean = 0.2859
            std = [0.3530]
            [[data.train_transform]]
            kind = "cutout"
            length = 16
            "#,
        )
        .unwrap();
        assert_eq!(cfg.data.train_transform, Transform::fashion_mnist_train(Some(16)));

        let cfg: Cfg = toml::from_str(
            r#"
            [[data.train_transform]]
            kind = "resize"
            size = 32
            [[data.train_transform]]
            kind = "random_affine"
            degrees = 30
            translate = 0.1
            scale = [0.8, 1.2]
            shear = 30
            [[data.train_transform]]
            kind = "to_float"
            [[data.train_transform]]
            kind = "normalize"
            mean = [0.5]
            std = [0.5]
            "#,
        )
        .unwrap();
        assert_eq!(cfg.data.train_transform, Transform::emnist_train());

        let cfg: Cfg = toml::from_str("[[data.train_transform]]\nkind = \"random_erasing\"\n").unwrap();
        assert_eq!(
            cfg.data.train_transform.steps,
            vec![Augment::RandomErasing { p: 0.5, scale: [0.02, 0.33], ratio: [0.3, 3.3], value: 0.0 }]
        );

        // A typo in a field name is an error rather than a silently ignored setting.
        let e = toml::from_str::<Cfg>("[[data.train_transform]]\nkind = \"random_crop\"\nsize = 32\npaddign = 4\n")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("paddign"), "{e}");
        let e = toml::from_str::<Cfg>("[[data.train_transform]]\nkind = \"rotate\"\n").err().unwrap().to_string();
        assert!(e.contains("rotate"), "{e}");

        // Serialized steps read back as the same pipeline.
        let t = Transform::emnist_train();
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(serde_json::from_str::<Transform>(&json).unwrap(), t);
    }
}
