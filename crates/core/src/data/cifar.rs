//! CIFAR-10 / CIFAR-100 binary files ("binary version" of the official downloads).
//!
//! Each file is a bare sequence of fixed-size records with no header: CIFAR-10 records are 1 label byte
//! and 3072 pixel bytes, CIFAR-100 records are 1 coarse label byte, 1 fine label byte and 3072 pixel bytes.
//! The pixels are three 32×32 planes (R, G, B), already the `C×H×W` layout [`ImageDataset`] uses.
//! With no header, the file length and the label ranges are the only integrity checks available.

use std::path::{Path, PathBuf};

use super::idx::maybe_gunzip;
use super::{DataError, ImageDataset};

pub const IMAGE_BYTES: usize = 3 * 32 * 32;
const CIFAR100_COARSE_CLASSES: u8 = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CifarVariant {
    Cifar10,
    /// Labelled with the fine (100-class) label; the coarse label is only checked.
    Cifar100,
}

impl CifarVariant {
    pub fn record_len(self) -> usize {
        match self {
            CifarVariant::Cifar10 => 1 + IMAGE_BYTES,
            CifarVariant::Cifar100 => 2 + IMAGE_BYTES,
        }
    }

    pub fn num_classes(self) -> usize {
        match self {
            CifarVariant::Cifar10 => 10,
            CifarVariant::Cifar100 => 100,
        }
    }

    fn name(self) -> &'static str {
        match self {
            CifarVariant::Cifar10 => "CIFAR-10",
            CifarVariant::Cifar100 => "CIFAR-100",
        }
    }
}

/// Parses one file's records, appending pixels and labels.
pub fn parse_records(
    bytes: &[u8],
    path: &Path,
    variant: CifarVariant,
    images: &mut Vec<u8>,
    labels: &mut Vec<u16>,
) -> Result<(), DataError> {
    let record = variant.record_len();
    let (whole, rest) = (bytes.len() / record, bytes.len() % record);
    if rest != 0 || whole == 0 {
        return Err(DataError::RecordSize {
            path: path.to_path_buf(),
            len: bytes.len(),
            record,
            whole,
            rest,
            dataset: variant.name().to_string(),
        });
    }
    let out_of_range = |index: usize, label: u8, num_classes: usize, what: &str| DataError::LabelOutOfRange {
        path: path.to_path_buf(),
        index,
        label: u32::from(label),
        num_classes,
        dataset: format!("{} ({what} label)", variant.name()),
    };
    images.reserve(whole * IMAGE_BYTES);
    labels.reserve(whole);
    for (i, rec) in bytes.chunks_exact(record).enumerate() {
        let label = match variant {
            CifarVariant::Cifar10 => rec[0],
            CifarVariant::Cifar100 => {
                if rec[0] >= CIFAR100_COARSE_CLASSES {
                    return Err(out_of_range(i, rec[0], usize::from(CIFAR100_COARSE_CLASSES), "coarse"));
                }
                rec[1]
            }
        };
        if usize::from(label) >= variant.num_classes() {
            return Err(out_of_range(i, label, variant.num_classes(), "fine"));
        }
        labels.push(u16::from(label));
        images.extend_from_slice(&rec[record - IMAGE_BYTES..]);
    }
    Ok(())
}

/// Reads and concatenates CIFAR binary files in the given order (e.g. `data_batch_1.bin`..`_5.bin`).
pub fn read_files(paths: &[PathBuf], variant: CifarVariant, name: &str) -> Result<ImageDataset, DataError> {
    let mut images = Vec::new();
    let mut labels = Vec::new();
    for path in paths {
        let raw = std::fs::read(path).map_err(|source| DataError::Io { path: path.clone(), source })?;
        // The official files are not compressed, but a gzipped copy costs nothing to accept.
        parse_records(&maybe_gunzip(&raw, path)?, path, variant, &mut images, &mut labels)?;
    }
    ImageDataset::new(name, images, labels, 3, 32, 32, variant.num_classes())
}

/// Encodes records in the on-disk layout; `coarse` is ignored for CIFAR-10.
pub fn encode_records(variant: CifarVariant, images: &[u8], fine: &[u8], coarse: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(fine.len() * variant.record_len());
    for (i, img) in images.chunks_exact(IMAGE_BYTES).enumerate() {
        if variant == CifarVariant::Cifar100 {
            out.push(coarse[i]);
        }
        out.push(fine[i]);
        out.extend_from_slice(img);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` images whose bytes encode (image, channel, position) so planes can be told apart.
    fn images(n: usize) -> Vec<u8> {
        (0..n * IMAGE_BYTES)
            .map(|k| {
                let (img, rest) = (k / IMAGE_BYTES, k % IMAGE_BYTES);
                (img * 50 + (rest / 1024) * 10 + rest % 7) as u8
            })
            .collect()
    }

    #[test]
    fn data_cifar10_roundtrip_across_files() {
        let dir = tempfile::tempdir().unwrap();
        let imgs = images(3);
        let a = dir.path().join("data_batch_1.bin");
        let b = dir.path().join("data_batch_2.bin");
        std::fs::write(&a, encode_records(CifarVariant::Cifar10, &imgs[..2 * IMAGE_BYTES], &[9, 0], &[])).unwrap();
        std::fs::write(&b, encode_records(CifarVariant::Cifar10, &imgs[2 * IMAGE_BYTES..], &[4], &[])).unwrap();
        assert_eq!(std::fs::metadata(&a).unwrap().len(), 2 * 3073);
        let d = read_files(&[a, b], CifarVariant::Cifar10, "cifar10/train").unwrap();
        assert_eq!((d.len(), d.channels, d.height, d.width, d.num_classes), (3, 3, 32, 32, 10));
        assert_eq!(d.labels, vec![9, 0, 4]);
        assert_eq!(d.images, imgs);
        // Plane order is kept: the green plane of image 1 is 50 + 10 + position % 7.
        assert_eq!(d.image(1)[1024], 62);
        assert_eq!(d.image(1)[2048 + 3], 70);
    }

    #[test]
    fn data_cifar100_uses_fine_label() {
        let dir = tempfile::tempdir().unwrap();
        let imgs = images(2);
        let p = dir.path().join("train.bin");
        std::fs::write(&p, encode_records(CifarVariant::Cifar100, &imgs, &[99, 42], &[19, 3])).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().len(), 2 * 3074);
        let d = read_files(&[p], CifarVariant::Cifar100, "cifar100/train").unwrap();
        assert_eq!(d.labels, vec![99, 42]);
        assert_eq!(d.num_classes, 100);
        assert_eq!(d.images, imgs);
    }

    #[test]
    fn data_cifar_corrupt_files_give_specific_errors() {
        let imgs = images(2);
        let p = Path::new("/d/data_batch_1.bin");
        let parse = |bytes: &[u8], v| parse_records(bytes, p, v, &mut Vec::new(), &mut Vec::new());

        let ok10 = encode_records(CifarVariant::Cifar10, &imgs, &[1, 2], &[]);
        let e = parse(&ok10[..ok10.len() - 1], CifarVariant::Cifar10).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/d/data_batch_1.bin: 6145 bytes is not a whole number of CIFAR-10 records of 3073 bytes (1 whole records and 3072 bytes left over); the file is truncated or not a CIFAR-10 binary file, re-download it"
        );
        // A CIFAR-10 file read as CIFAR-100 has the wrong record size.
        let e = parse(&ok10, CifarVariant::Cifar100).unwrap_err();
        assert!(matches!(e, DataError::RecordSize { record: 3074, .. }), "{e}");
        assert!(matches!(parse(&[], CifarVariant::Cifar10).unwrap_err(), DataError::RecordSize { len: 0, .. }));

        let bad10 = encode_records(CifarVariant::Cifar10, &imgs, &[1, 10], &[]);
        let e = parse(&bad10, CifarVariant::Cifar10).unwrap_err();
        assert!(matches!(e, DataError::LabelOutOfRange { index: 1, label: 10, num_classes: 10, .. }), "{e}");
        let bad_fine = encode_records(CifarVariant::Cifar100, &imgs, &[100, 0], &[0, 0]);
        let e = parse(&bad_fine, CifarVariant::Cifar100).unwrap_err();
        assert!(e.to_string().contains("label 100 at index 0"), "{e}");
        assert!(e.to_string().contains("fine label"), "{e}");
        let bad_coarse = encode_records(CifarVariant::Cifar100, &imgs, &[5, 0], &[0, 20]);
        let e = parse(&bad_coarse, CifarVariant::Cifar100).unwrap_err();
        assert!(matches!(e, DataError::LabelOutOfRange { index: 1, label: 20, num_classes: 20, .. }), "{e}");
    }
}
