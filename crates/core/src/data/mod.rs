//! Dataset readers, sources, loader and augmentation.
//!
//! - [`idx`]: IDX files (MNIST, Fashion-MNIST, EMNIST), raw or gzip.
//! - [`cifar`]: the CIFAR-10 / CIFAR-100 binary record files.
//! - [`source`]: which dataset, where its files are ([`DataSource`]), and the embedded Fashion-MNIST subset.
//! - [`transform`]: augmentation steps ([`Augment`]) and pipelines ([`Transform`]), configurable from TOML.
//! - [`loader`]: the seeded [`Loader`] that turns an [`ImageDataset`] into `f32` [`Batch`]es.
//!
//! Everything stays engine-free: images are bytes until the loader writes `f32` batches, and the engine
//! turns a [`Batch`] into a tensor.

use std::path::PathBuf;

use thiserror::Error;

pub mod cifar;
pub mod idx;
pub mod loader;
pub mod source;
pub mod transform;

pub use loader::{split_by_portion, Batch, EpochIter, Loader};
pub use source::{load, load_both, resolve_source, DataSource, DatasetKind, Split};
pub use transform::{Augment, Interpolation, Transform};

/// Everything that can go wrong between a file on disk and a batch. Each message names the file (or the
/// setting), the problem, and what to do about it, because these reach the user verbatim through the CLI.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DataError {
    #[error("{}: cannot read: {source}; check that the file exists and is readable", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: gzip data is corrupt or truncated ({source}); re-download the file", path.display())]
    Gzip { path: PathBuf, source: std::io::Error },
    #[error(
        "{}: bad IDX magic 0x{found:08x}, expected 0x{expected:08x} ({what}){hint}",
        path.display()
    )]
    BadMagic { path: PathBuf, found: u32, expected: u32, what: &'static str, hint: String },
    #[error("{}: bad header: {problem}; the file is corrupt or not in the expected format, re-download it", path.display())]
    BadHeader { path: PathBuf, problem: String },
    #[error("{}: truncated: {detail}; re-download the file", path.display())]
    Truncated { path: PathBuf, detail: String },
    #[error(
        "{}: {extra} unexpected trailing bytes: {detail}; the file is corrupt or not what its name says, re-download it",
        path.display()
    )]
    TrailingBytes { path: PathBuf, extra: usize, detail: String },
    #[error(
        "{} holds {images} images but {} holds {labels} labels; use the image and label files of the same split from the same download",
        images_path.display(),
        labels_path.display()
    )]
    CountMismatch { images_path: PathBuf, images: usize, labels_path: PathBuf, labels: usize },
    #[error(
        "{}: label {label} at index {index} is out of range for {dataset} ({num_classes} classes, labels 0..{num_classes}); the file is corrupt or belongs to another dataset, check the dataset name",
        path.display()
    )]
    LabelOutOfRange { path: PathBuf, index: usize, label: u32, num_classes: usize, dataset: String },
    #[error(
        "{}: {len} bytes is not a whole number of {dataset} records of {record} bytes ({whole} whole records and {rest} bytes left over); the file is truncated or not a {dataset} binary file, re-download it",
        path.display()
    )]
    RecordSize { path: PathBuf, len: usize, record: usize, whole: usize, rest: usize, dataset: String },
    #[error("unknown dataset '{name}'; valid names: {valid}")]
    UnknownDataset { name: String, valid: String },
    #[error("{}: data directory does not exist; pass --data-dir pointing at an existing folder", path.display())]
    NoSuchDir { path: PathBuf },
    #[error("{}: not a directory; --data-dir expects the folder that holds the dataset files", path.display())]
    NotADirectory { path: PathBuf },
    #[error("{dataset}: dataset files not found: {detail}")]
    MissingFiles { dataset: String, detail: String },
    #[error("{dataset} cannot be loaded from {from}: {fix}")]
    SourceUnavailable { dataset: String, from: String, fix: String },
    #[error("transform {at}: {problem}")]
    Transform { at: String, problem: String },
    #[error("loader: {problem}")]
    Loader { problem: String },
    #[error("dataset {name}: {problem}")]
    InvalidDataset { name: String, problem: String },
}

/// A whole split of an image classification dataset in memory, as bytes.
///
/// Images are stored `N×C×H×W` with channel planes (CIFAR's on-disk layout), so one image is one
/// contiguous slice and a batch conversion never has to gather interleaved channels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageDataset {
    pub images: Vec<u8>,
    pub labels: Vec<u16>,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub num_classes: usize,
    pub name: String,
}

impl ImageDataset {
    /// Checks that the parts agree, so code holding an `ImageDataset` can index without re-checking.
    pub fn new(
        name: impl Into<String>,
        images: Vec<u8>,
        labels: Vec<u16>,
        channels: usize,
        height: usize,
        width: usize,
        num_classes: usize,
    ) -> Result<Self, DataError> {
        let name = name.into();
        let invalid = |problem: String| DataError::InvalidDataset { name: name.clone(), problem };
        if channels == 0 || height == 0 || width == 0 {
            return Err(invalid(format!("image shape {channels}x{height}x{width} has a zero dimension")));
        }
        if num_classes == 0 || num_classes > usize::from(u16::MAX) + 1 {
            return Err(invalid(format!("{num_classes} classes is outside 1..=65536")));
        }
        let per = channels * height * width;
        if images.len() != labels.len() * per {
            return Err(invalid(format!(
                "{} image bytes do not make {} images of {channels}x{height}x{width}",
                images.len(),
                labels.len()
            )));
        }
        if let Some((i, &l)) = labels.iter().enumerate().find(|(_, &l)| usize::from(l) >= num_classes) {
            return Err(invalid(format!("label {l} at index {i} is not below the class count {num_classes}")));
        }
        Ok(Self { images, labels, channels, height, width, num_classes, name })
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Bytes per image (`C·H·W`).
    pub fn image_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// Image `i` as `C×H×W` bytes.
    ///
    /// # Panics
    /// If `i >= len()`, like slice indexing.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.image_len();
        &self.images[i * n..(i + 1) * n]
    }

    /// The images at `indices`, in that order (repeats allowed).
    ///
    /// # Panics
    /// If an index is out of range; use [`ImageDataset::try_subset`] for indices that come from a file.
    pub fn subset(&self, indices: &[usize]) -> ImageDataset {
        match self.try_subset(indices) {
            Ok(d) => d,
            Err(e) => panic!("{e}"),
        }
    }

    pub fn try_subset(&self, indices: &[usize]) -> Result<ImageDataset, DataError> {
        if let Some(&bad) = indices.iter().find(|&&i| i >= self.len()) {
            return Err(DataError::InvalidDataset {
                name: self.name.clone(),
                problem: format!("subset index {bad} is out of range (the dataset has {} images)", self.len()),
            });
        }
        let mut images = Vec::with_capacity(indices.len() * self.image_len());
        for &i in indices {
            images.extend_from_slice(self.image(i));
        }
        Ok(ImageDataset {
            images,
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            channels: self.channels,
            height: self.height,
            width: self.width,
            num_classes: self.num_classes,
            name: self.name.clone(),
        })
    }

    /// How many images each class has; the vector has `num_classes` entries.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.num_classes];
        for &l in &self.labels {
            counts[usize::from(l)] += 1;
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> ImageDataset {
        // 3 images of 1x1x2, pixel values encode the image index.
        ImageDataset::new("tiny", vec![0, 1, 10, 11, 20, 21], vec![2, 0, 2], 1, 1, 2, 3).unwrap()
    }

    #[test]
    fn data_image_subset_counts() {
        let d = tiny();
        assert_eq!(d.len(), 3);
        assert_eq!(d.image(1), &[10, 11]);
        let s = d.subset(&[2, 0, 2]);
        assert_eq!(s.images, vec![20, 21, 0, 1, 20, 21]);
        assert_eq!(s.labels, vec![2, 2, 2]);
        assert_eq!(d.class_counts(), vec![1, 0, 2]);
        assert_eq!(s.class_counts(), vec![0, 0, 3]);
        let e = d.try_subset(&[0, 3]).unwrap_err().to_string();
        assert!(e.contains("index 3 is out of range"), "{e}");
    }

    #[test]
    fn data_new_rejects_inconsistent_parts() {
        let e = ImageDataset::new("x", vec![0; 5], vec![0, 0, 0], 1, 1, 2, 3).unwrap_err();
        assert!(e.to_string().contains("5 image bytes"), "{e}");
        let e = ImageDataset::new("x", vec![0; 2], vec![3], 1, 1, 2, 3).unwrap_err();
        assert!(e.to_string().contains("label 3 at index 0"), "{e}");
        assert!(ImageDataset::new("x", vec![], vec![], 1, 0, 2, 3).is_err());
    }
}
