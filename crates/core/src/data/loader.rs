//! Seeded batch loader.
//!
//! Every random choice of epoch `e` is a pure function of (seed, e, position in the epoch): the shuffle
//! comes from a ChaCha8 stream keyed by (seed, e), and the image at position `p` is augmented with its own
//! ChaCha8 stream number `p` under a second (seed, e) key. So epoch `e` can be replayed on its own (which
//! makes resuming at an epoch boundary exact), skipping batches costs nothing, and changing the batch size
//! (SGAS does, after each decision) does not change any image's augmentation.

use std::sync::Arc;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::transform::Scratch;
use super::{DataError, ImageDataset, Transform};

/// Images as `f32` `B×C×H×W`, ready for the engine to wrap in a tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub images: Vec<f32>,
    pub labels: Vec<i64>,
    /// Dataset indices of the images, for per-sample bookkeeping.
    pub indices: Vec<usize>,
    pub batch: usize,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

impl Batch {
    pub fn image_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// Image `i` of the batch.
    ///
    /// # Panics
    /// If `i >= batch`.
    pub fn image(&self, i: usize) -> &[f32] {
        let n = self.image_len();
        &self.images[i * n..(i + 1) * n]
    }
}

/// DARTS's `train_portion` split: the first `floor(portion·n)` indices train the weights, the rest are the
/// validation set for α; no shuffling. `portion` is clamped to [0, 1] (NaN counts as 0).
pub fn split_by_portion(n: usize, portion: f64) -> (Vec<usize>, Vec<usize>) {
    let portion = if portion.is_nan() { 0.0 } else { portion.clamp(0.0, 1.0) };
    let k = ((portion * n as f64).floor() as usize).min(n);
    ((0..k).collect(), (k..n).collect())
}

// Purposes mixed into the per-epoch keys, so the shuffle and the augmentation never share a stream.
const SHUFFLE: u64 = 1;
const AUGMENT: u64 = 2;

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn epoch_rng(seed: u64, epoch: u64, purpose: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(splitmix64(splitmix64(splitmix64(seed) ^ epoch) ^ purpose))
}

#[derive(Debug, Clone)]
pub struct Loader {
    dataset: Arc<ImageDataset>,
    indices: Vec<usize>,
    batch_size: usize,
    shuffle: bool,
    drop_last: bool,
    transform: Transform,
    seed: u64,
    out_shape: (usize, usize, usize),
}

impl Loader {
    /// A loader over `indices` of `dataset`. Fails when an index is out of range, there are no indices,
    /// `batch_size` is 0, or `transform` does not fit the dataset's image shape.
    pub fn new(
        dataset: Arc<ImageDataset>,
        indices: Vec<usize>,
        batch_size: usize,
        shuffle: bool,
        drop_last: bool,
        transform: Transform,
        seed: u64,
    ) -> Result<Self, DataError> {
        let loader_err = |problem: String| DataError::Loader { problem };
        if indices.is_empty() {
            return Err(loader_err(format!("no images selected from {}; check the split settings", dataset.name)));
        }
        if let Some(&bad) = indices.iter().find(|&&i| i >= dataset.len()) {
            return Err(loader_err(format!(
                "index {bad} is out of range for {} ({} images); check the split settings",
                dataset.name,
                dataset.len()
            )));
        }
        check_batch_size(batch_size)?;
        let out_shape = transform.output_shape(dataset.channels, dataset.height, dataset.width)?;
        Ok(Self { dataset, indices, batch_size, shuffle, drop_last, transform, seed, out_shape })
    }

    /// Training order: reshuffled every epoch (by seed and epoch), last partial batch kept.
    pub fn shuffled(
        dataset: Arc<ImageDataset>,
        indices: Vec<usize>,
        batch_size: usize,
        transform: Transform,
        seed: u64,
    ) -> Result<Self, DataError> {
        Self::new(dataset, indices, batch_size, true, false, transform, seed)
    }

    /// Evaluation order: `indices` as given, every image once.
    pub fn in_order(
        dataset: Arc<ImageDataset>,
        indices: Vec<usize>,
        batch_size: usize,
        transform: Transform,
        seed: u64,
    ) -> Result<Self, DataError> {
        Self::new(dataset, indices, batch_size, false, false, transform, seed)
    }

    pub fn dataset(&self) -> &Arc<ImageDataset> {
        &self.dataset
    }

    pub fn indices(&self) -> &[usize] {
        &self.indices
    }

    pub fn transform(&self) -> &Transform {
        &self.transform
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Number of images per epoch before `drop_last`.
    pub fn len(&self) -> usize {
        self.indices.len()
    }

    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// SGAS grows the batch after each decision; augmentation draws are per position, so they stay put.
    pub fn set_batch_size(&mut self, batch_size: usize) -> Result<(), DataError> {
        check_batch_size(batch_size)?;
        self.batch_size = batch_size;
        Ok(())
    }

    /// `(channels, height, width)` of the images in a batch.
    pub fn output_shape(&self) -> (usize, usize, usize) {
        self.out_shape
    }

    pub fn num_batches(&self) -> usize {
        if self.drop_last {
            self.len() / self.batch_size
        } else {
            self.len().div_ceil(self.batch_size)
        }
    }

    /// The dataset indices in the order epoch `epoch` visits them.
    pub fn epoch_order(&self, epoch: u64) -> Vec<usize> {
        let mut order = self.indices.clone();
        if self.shuffle {
            order.shuffle(&mut epoch_rng(self.seed, epoch, SHUFFLE));
        }
        order
    }

    /// The batches of epoch `epoch`, reproducible from (seed, epoch) alone.
    pub fn epoch(&self, epoch: u64) -> EpochIter<'_> {
        EpochIter {
            loader: self,
            order: self.epoch_order(epoch),
            next_batch: 0,
            num_batches: self.num_batches(),
            augment: epoch_rng(self.seed, epoch, AUGMENT),
            scratch: Scratch::default(),
        }
    }

    /// A random batch drawn without replacement (DARTS's `next(iter(valid_queue))`, which builds a fresh
    /// shuffled iterator each step). All randomness comes from `rng`.
    pub fn sample_batch(&self, rng: &mut ChaCha8Rng) -> Batch {
        let n = self.batch_size.min(self.len());
        let picked: Vec<usize> =
            rand::seq::index::sample(rng, self.len(), n).into_iter().map(|k| self.indices[k]).collect();
        let mut scratch = Scratch::default();
        self.make_batch(&picked, &mut scratch, |_| ChaCha8Rng::seed_from_u64(rng.random()))
    }

    fn make_batch(
        &self,
        picked: &[usize],
        scratch: &mut Scratch,
        mut rng_for: impl FnMut(usize) -> ChaCha8Rng,
    ) -> Batch {
        let (c, h, w) = self.out_shape;
        let per = c * h * w;
        let d = &*self.dataset;
        let in_shape = (d.channels, d.height, d.width);
        let mut images = vec![0f32; picked.len() * per];
        for (k, (&idx, out)) in picked.iter().zip(images.chunks_exact_mut(per)).enumerate() {
            let mut rng = rng_for(k);
            self.transform.apply_into(d.image(idx), in_shape, &mut rng, scratch, out);
        }
        Batch {
            images,
            labels: picked.iter().map(|&i| i64::from(d.labels[i])).collect(),
            indices: picked.to_vec(),
            batch: picked.len(),
            channels: c,
            height: h,
            width: w,
        }
    }
}

fn check_batch_size(batch_size: usize) -> Result<(), DataError> {
    if batch_size == 0 {
        return Err(DataError::Loader { problem: "batch size 0; use a batch size of at least 1".to_string() });
    }
    Ok(())
}

/// Iterator over one epoch's batches; see [`Loader::epoch`].
pub struct EpochIter<'a> {
    loader: &'a Loader,
    order: Vec<usize>,
    next_batch: usize,
    num_batches: usize,
    augment: ChaCha8Rng,
    scratch: Scratch,
}

impl Iterator for EpochIter<'_> {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        if self.next_batch >= self.num_batches {
            return None;
        }
        let bs = self.loader.batch_size;
        let start = self.next_batch * bs;
        let end = (start + bs).min(self.order.len());
        self.next_batch += 1;
        let base = &self.augment;
        Some(self.loader.make_batch(&self.order[start..end], &mut self.scratch, |k| {
            let mut rng = base.clone();
            rng.set_stream((start + k) as u64);
            rng
        }))
    }

    /// Skipping is free: later batches do not depend on earlier ones.
    fn nth(&mut self, n: usize) -> Option<Batch> {
        self.next_batch = self.next_batch.saturating_add(n);
        self.next()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.num_batches.saturating_sub(self.next_batch);
        (left, Some(left))
    }
}

impl ExactSizeIterator for EpochIter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Augment;

    /// `n` images of 1x2x2 whose pixels all equal the image index (mod 256), label = index % 3.
    fn numbered(n: usize) -> Arc<ImageDataset> {
        let images = (0..n).flat_map(|i| [(i % 256) as u8; 4]).collect();
        let labels = (0..n).map(|i| (i % 3) as u16).collect();
        Arc::new(ImageDataset::new("numbered", images, labels, 1, 2, 2, 3).unwrap())
    }

    fn plain() -> Transform {
        Transform::new(vec![Augment::ToFloat])
    }

    fn loader(n: usize, bs: usize, shuffle: bool, drop_last: bool, t: Transform) -> Loader {
        Loader::new(numbered(n), (0..n).collect(), bs, shuffle, drop_last, t, 7).unwrap()
    }

    #[test]
    fn data_loader_split_by_portion() {
        let (a, b) = split_by_portion(5, 0.5);
        assert_eq!((a, b), (vec![0, 1], vec![2, 3, 4]));
        let (a, b) = split_by_portion(60_000, 0.5);
        assert_eq!((a.len(), b[0], *b.last().unwrap()), (30_000, 30_000, 59_999));
        assert_eq!(split_by_portion(3, 1.0).0.len(), 3);
        assert_eq!(split_by_portion(3, 2.0).1.len(), 0);
        assert_eq!(split_by_portion(3, f64::NAN).0.len(), 0);
    }

    #[test]
    fn data_loader_every_index_once_with_matching_labels_and_pixels() {
        let l = loader(10, 3, true, false, plain());
        assert_eq!(l.num_batches(), 4);
        let batches: Vec<Batch> = l.epoch(0).collect();
        assert_eq!(batches.iter().map(|b| b.batch).collect::<Vec<_>>(), vec![3, 3, 3, 1]);
        let mut seen: Vec<usize> = batches.iter().flat_map(|b| b.indices.clone()).collect();
        assert_ne!(seen, (0..10).collect::<Vec<_>>(), "shuffled");
        seen.sort_unstable();
        assert_eq!(seen, (0..10).collect::<Vec<_>>());
        for b in &batches {
            assert_eq!((b.channels, b.height, b.width), (1, 2, 2));
            assert_eq!(b.images.len(), b.batch * 4);
            for (k, &i) in b.indices.iter().enumerate() {
                assert_eq!(b.labels[k], (i % 3) as i64);
                assert!(b.image(k).iter().all(|&v| v == i as f32 / 255.0));
            }
        }
    }

    #[test]
    fn data_loader_no_shuffle_and_drop_last() {
        let l = loader(10, 3, false, true, plain());
        assert_eq!(l.num_batches(), 3);
        let idx: Vec<Vec<usize>> = l.epoch(5).map(|b| b.indices).collect();
        assert_eq!(idx, vec![vec![0, 1, 2], vec![3, 4, 5], vec![6, 7, 8]]);
        assert_eq!(l.epoch(0).len(), 3);
        // A subset of indices is honoured in order, last partial batch kept.
        let l = Loader::in_order(numbered(10), vec![7, 2, 9], 2, plain(), 0).unwrap();
        let idx: Vec<Vec<usize>> = l.epoch(0).map(|b| b.indices).collect();
        assert_eq!(idx, vec![vec![7, 2], vec![9]]);
        // `shuffled` permutes every epoch differently and keeps the partial batch too.
        let l = Loader::shuffled(numbered(10), (0..10).collect(), 4, plain(), 0).unwrap();
        let order = |e| l.epoch(e).flat_map(|b| b.indices).collect::<Vec<usize>>();
        assert_eq!(l.epoch(0).map(|b| b.batch).collect::<Vec<_>>(), vec![4, 4, 2]);
        assert_ne!(order(0), order(1));
        let mut sorted = order(1);
        sorted.sort_unstable();
        assert_eq!(sorted, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn data_loader_deterministic_per_seed_and_epoch() {
        let t = Transform::fashion_mnist_train(Some(4));
        let d = {
            let images: Vec<u8> = (0..50 * 784).map(|i| (i * 7 % 255) as u8).collect();
            Arc::new(ImageDataset::new("x", images, vec![0; 50], 1, 28, 28, 1).unwrap())
        };
        let mk = |seed| Loader::new(d.clone(), (0..50).collect(), 8, true, false, t.clone(), seed).unwrap();
        let (a, b) = (mk(1), mk(1));
        let e3: Vec<Batch> = a.epoch(3).collect();
        // Same seed and epoch: identical, even on a fresh loader and without running epochs 0..3 first.
        assert_eq!(e3, b.epoch(3).collect::<Vec<_>>());
        assert_eq!(e3[0].images.len(), 8 * 32 * 32);
        // Another epoch or seed: another order and other augmentations.
        assert_ne!(a.epoch_order(3), a.epoch_order(4));
        assert_ne!(a.epoch_order(3), mk(2).epoch_order(3));
        // Skipping batches gives the same later batches.
        assert_eq!(a.epoch(3).nth(4).unwrap(), e3[4]);
        assert_eq!(a.epoch(3).nth(7), None);
        // Augmentation is tied to the position in the epoch, not to the batch it falls in.
        let mut c = mk(1);
        c.set_batch_size(16).unwrap();
        let big: Vec<Batch> = c.epoch(3).collect();
        assert_eq!(big[0].images[..8 * 1024], e3[0].images[..]);
        assert_eq!(big[0].images[8 * 1024..], e3[1].images[..]);
        assert_eq!(c.num_batches(), 4);
    }

    #[test]
    fn data_loader_sample_batch() {
        let l = loader(20, 6, false, false, plain());
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let b1 = l.sample_batch(&mut rng);
        let b2 = l.sample_batch(&mut rng);
        assert_eq!(b1.batch, 6);
        assert_ne!(b1.indices, b2.indices);
        let mut u = b1.indices.clone();
        u.sort_unstable();
        u.dedup();
        assert_eq!(u.len(), 6, "without replacement");
        assert_eq!(l.sample_batch(&mut ChaCha8Rng::seed_from_u64(3)), b1);
        let small = loader(4, 6, false, false, plain());
        assert_eq!(small.sample_batch(&mut rng).batch, 4);
    }

    #[test]
    fn data_loader_rejects_bad_setup() {
        let e = Loader::new(numbered(3), vec![0, 3], 2, true, false, plain(), 0).unwrap_err();
        assert!(e.to_string().contains("index 3 is out of range for numbered (3 images)"), "{e}");
        let e = Loader::new(numbered(3), vec![], 2, true, false, plain(), 0).unwrap_err();
        assert!(e.to_string().contains("no images selected"), "{e}");
        let e = Loader::new(numbered(3), vec![0], 0, true, false, plain(), 0).unwrap_err();
        assert!(e.to_string().contains("batch size 0"), "{e}");
        let e = Loader::new(numbered(3), vec![0], 1, true, false, Transform::cifar_eval(), 0).unwrap_err();
        assert!(matches!(e, DataError::Transform { .. }), "{e}");
        let mut l = loader(3, 1, true, false, plain());
        assert!(l.set_batch_size(0).is_err());
        assert_eq!(l.batch_size(), 1);
    }

    /// Throughput of the Fashion-MNIST train transform at batch 64, single-threaded:
    /// `cargo test -p oxnas-core --release --lib data_loader_throughput -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn data_loader_throughput() {
        let n = 60_000;
        let images: Vec<u8> = (0..n * 784).map(|i| (i * 31 % 256) as u8).collect();
        let d = Arc::new(ImageDataset::new("bench", images, vec![0; n], 1, 28, 28, 10).unwrap());
        for (name, t) in [
            ("fashion_mnist_train(cutout 16)", Transform::fashion_mnist_train(Some(16))),
            ("fashion_mnist_train", Transform::fashion_mnist_train(None)),
            ("emnist_train", Transform::emnist_train()),
        ] {
            let l = Loader::new(d.clone(), (0..n).collect(), 64, true, false, t, 0).unwrap();
            let start = std::time::Instant::now();
            let mut count = 0;
            for b in l.epoch(0) {
                count += b.batch;
            }
            let secs = start.elapsed().as_secs_f64();
            println!("{name}: {count} images in {secs:.3}s = {:.0} images/s", count as f64 / secs);
        }
    }
}
