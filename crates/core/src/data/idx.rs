//! IDX files: MNIST, Fashion-MNIST and EMNIST images and labels, raw or gzip-compressed.
//!
//! Layout (big-endian): a 4-byte magic `0x0000 TT DD` (TT = element type, 0x08 = u8; DD = number of
//! dimensions), then DD u32 sizes, then the elements. Images are `0x00000803` (count, rows, cols), labels
//! `0x00000801` (count). Compression is detected from the gzip magic bytes rather than the file name,
//! because people gunzip files without renaming them and vice versa.

use std::borrow::Cow;
use std::io::{Read, Write};
use std::path::Path;

use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use flate2::{Compression, GzBuilder};

use super::{DataError, ImageDataset};

pub const IMAGES_MAGIC: u32 = 0x0000_0803;
pub const LABELS_MAGIC: u32 = 0x0000_0801;
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Images from one IDX file, upright, row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxImages {
    pub count: usize,
    pub height: usize,
    pub width: usize,
    pub pixels: Vec<u8>,
}

/// How to interpret an IDX image/label pair.
#[derive(Debug, Clone)]
pub struct IdxOptions {
    /// Used in messages and as the dataset name.
    pub name: String,
    pub num_classes: usize,
    /// EMNIST stores every image transposed (column-major); set this to get upright images.
    pub transposed: bool,
}

/// Reads a whole file, gunzipping it when it starts with the gzip magic.
pub fn read_file(path: &Path) -> Result<Vec<u8>, DataError> {
    let bytes = std::fs::read(path).map_err(|source| DataError::Io { path: path.to_path_buf(), source })?;
    Ok(maybe_gunzip(&bytes, path)?.into_owned())
}

/// Gunzips `bytes` when they start with the gzip magic, otherwise returns them unchanged.
pub fn maybe_gunzip<'a>(bytes: &'a [u8], path: &Path) -> Result<Cow<'a, [u8]>, DataError> {
    if !bytes.starts_with(&GZIP_MAGIC) {
        return Ok(Cow::Borrowed(bytes));
    }
    let mut out = Vec::with_capacity(bytes.len() * 2);
    // Multi-member: concatenated gzip streams are valid gzip and some tools write them.
    MultiGzDecoder::new(bytes)
        .read_to_end(&mut out)
        .map_err(|source| DataError::Gzip { path: path.to_path_buf(), source })?;
    Ok(Cow::Owned(out))
}

fn be_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Checks the magic and dimension count, and returns the dimension sizes.
fn parse_header(bytes: &[u8], path: &Path, expected: u32, what: &'static str) -> Result<Vec<usize>, DataError> {
    let ndims = (expected & 0xff) as usize;
    let header_len = 4 + 4 * ndims;
    if bytes.len() < 4 {
        return Err(DataError::Truncated {
            path: path.to_path_buf(),
            detail: format!(
                "an IDX {what} file starts with a {header_len}-byte header but the file has only {} bytes",
                bytes.len()
            ),
        });
    }
    let found = be_u32(bytes, 0);
    if found != expected {
        let hint = match found {
            IMAGES_MAGIC => "; this is an images file, a labels file was expected here".to_string(),
            LABELS_MAGIC => "; this is a labels file, an images file was expected here".to_string(),
            _ if found >> 16 == 0 && (found >> 8) & 0xff != 0x08 => format!(
                "; element type 0x{:02x} is not unsigned bytes, only u8 IDX files are supported",
                (found >> 8) & 0xff
            ),
            _ => "; the file is not an IDX file (or is corrupt), re-download it".to_string(),
        };
        return Err(DataError::BadMagic { path: path.to_path_buf(), found, expected, what, hint });
    }
    if bytes.len() < header_len {
        return Err(DataError::Truncated {
            path: path.to_path_buf(),
            detail: format!("the {what} header needs {header_len} bytes but the file has only {}", bytes.len()),
        });
    }
    Ok((0..ndims).map(|d| be_u32(bytes, 4 + 4 * d) as usize).collect())
}

fn check_data_len(path: &Path, have: usize, need: usize, describe: impl Fn() -> String) -> Result<(), DataError> {
    if have < need {
        return Err(DataError::Truncated {
            path: path.to_path_buf(),
            detail: format!("header says {} ({need} bytes) but only {have} bytes follow", describe()),
        });
    }
    if have > need {
        return Err(DataError::TrailingBytes {
            path: path.to_path_buf(),
            extra: have - need,
            detail: format!("header says {} ({need} bytes) but {have} bytes follow", describe()),
        });
    }
    Ok(())
}

/// Parses decompressed IDX image bytes; `transposed` undoes EMNIST's column-major storage.
pub fn parse_images(bytes: &[u8], path: &Path, transposed: bool) -> Result<IdxImages, DataError> {
    let dims = parse_header(bytes, path, IMAGES_MAGIC, "images (u8, 3 dimensions)")?;
    let (count, rows, cols) = (dims[0], dims[1], dims[2]);
    if rows == 0 || cols == 0 {
        return Err(DataError::BadHeader {
            path: path.to_path_buf(),
            problem: format!("image size {rows}x{cols} has a zero side"),
        });
    }
    let need = count.checked_mul(rows).and_then(|v| v.checked_mul(cols)).ok_or_else(|| DataError::BadHeader {
        path: path.to_path_buf(),
        problem: format!("{count} images of {rows}x{cols} is too large to address"),
    })?;
    let data = &bytes[16..];
    check_data_len(path, data.len(), need, || format!("{count} images of {rows}x{cols}"))?;
    if !transposed {
        return Ok(IdxImages { count, height: rows, width: cols, pixels: data.to_vec() });
    }
    // Stored image s has `rows` rows of `cols`; the upright image is its transpose: cols x rows.
    let (h, w) = (cols, rows);
    let mut pixels = vec![0u8; need];
    for (dst, src) in pixels.chunks_exact_mut(rows * cols).zip(data.chunks_exact(rows * cols)) {
        for y in 0..h {
            for x in 0..w {
                dst[y * w + x] = src[x * cols + y];
            }
        }
    }
    Ok(IdxImages { count, height: h, width: w, pixels })
}

/// Parses decompressed IDX label bytes.
pub fn parse_labels(bytes: &[u8], path: &Path) -> Result<Vec<u8>, DataError> {
    let dims = parse_header(bytes, path, LABELS_MAGIC, "labels (u8, 1 dimension)")?;
    let count = dims[0];
    let data = &bytes[8..];
    check_data_len(path, data.len(), count, || format!("{count} labels"))?;
    Ok(data.to_vec())
}

/// Builds a dataset from already-read (possibly gzip) image and label bytes; the paths only name the
/// files in messages, so embedded data can use the same checks.
pub fn dataset_from_bytes(
    images_bytes: &[u8],
    images_path: &Path,
    labels_bytes: &[u8],
    labels_path: &Path,
    opts: &IdxOptions,
) -> Result<ImageDataset, DataError> {
    let images = parse_images(&maybe_gunzip(images_bytes, images_path)?, images_path, opts.transposed)?;
    let labels = parse_labels(&maybe_gunzip(labels_bytes, labels_path)?, labels_path)?;
    assemble(images, images_path, labels, labels_path, opts)
}

/// Reads an IDX image file and its label file into one dataset.
pub fn read_dataset(images_path: &Path, labels_path: &Path, opts: &IdxOptions) -> Result<ImageDataset, DataError> {
    // Labels first: they are tiny, so a mismatched pair fails before decoding megabytes of images.
    let labels = parse_labels(&read_file(labels_path)?, labels_path)?;
    let images = parse_images(&read_file(images_path)?, images_path, opts.transposed)?;
    assemble(images, images_path, labels, labels_path, opts)
}

fn assemble(
    images: IdxImages,
    images_path: &Path,
    labels: Vec<u8>,
    labels_path: &Path,
    opts: &IdxOptions,
) -> Result<ImageDataset, DataError> {
    if images.count != labels.len() {
        return Err(DataError::CountMismatch {
            images_path: images_path.to_path_buf(),
            images: images.count,
            labels_path: labels_path.to_path_buf(),
            labels: labels.len(),
        });
    }
    if let Some((index, &label)) = labels.iter().enumerate().find(|(_, &l)| usize::from(l) >= opts.num_classes) {
        return Err(DataError::LabelOutOfRange {
            path: labels_path.to_path_buf(),
            index,
            label: u32::from(label),
            num_classes: opts.num_classes,
            dataset: opts.name.clone(),
        });
    }
    ImageDataset::new(
        opts.name.clone(),
        images.pixels,
        labels.into_iter().map(u16::from).collect(),
        1,
        images.height,
        images.width,
        opts.num_classes,
    )
}

/// Encodes upright row-major images as an IDX image file; `transposed` writes EMNIST's column-major form.
pub fn encode_images(height: usize, width: usize, pixels: &[u8], transposed: bool) -> Vec<u8> {
    let per = height * width;
    let count = pixels.len().checked_div(per).unwrap_or(0);
    let (rows, cols) = if transposed { (width, height) } else { (height, width) };
    let mut out = Vec::with_capacity(16 + pixels.len());
    for v in [IMAGES_MAGIC, count as u32, rows as u32, cols as u32] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    if !transposed {
        out.extend_from_slice(pixels);
        return out;
    }
    for img in pixels.chunks_exact(per) {
        // Stored row r of the transposed image is upright column r.
        for r in 0..rows {
            for c in 0..cols {
                out.push(img[c * width + r]);
            }
        }
    }
    out
}

pub fn encode_labels(labels: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + labels.len());
    out.extend_from_slice(&LABELS_MAGIC.to_be_bytes());
    out.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    out.extend_from_slice(labels);
    out
}

/// Gzip with a fixed header (no name, mtime 0) so regenerated assets are byte-identical.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc: GzEncoder<Vec<u8>> = GzBuilder::new().mtime(0).write(Vec::new(), Compression::best());
    // Writing into a Vec cannot fail.
    enc.write_all(bytes).expect("gzip into memory");
    enc.finish().expect("gzip into memory")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// 3 images of 2x3 where pixel = 10·image + position, labels 2, 0, 1.
    fn sample() -> (Vec<u8>, Vec<u8>) {
        let pixels: Vec<u8> = (0..3u8).flat_map(|i| (0..6u8).map(move |p| 10 * i + p)).collect();
        (pixels, vec![2, 0, 1])
    }

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn opts(num_classes: usize, transposed: bool) -> IdxOptions {
        IdxOptions { name: "test-set".into(), num_classes, transposed }
    }

    #[test]
    fn data_idx_roundtrip_raw_and_gzip() {
        let dir = tempfile::tempdir().unwrap();
        let (pixels, labels) = sample();
        let img = encode_images(2, 3, &pixels, false);
        let lab = encode_labels(&labels);
        // The header is the documented layout, byte for byte.
        assert_eq!(&img[..16], &[0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 3]);
        assert_eq!(&lab[..8], &[0, 0, 8, 1, 0, 0, 0, 3]);
        // Gzip is detected from content: the gzipped file deliberately has no .gz suffix.
        for (ip, lp) in [
            (write(dir.path(), "raw-images", &img), write(dir.path(), "raw-labels", &lab)),
            (write(dir.path(), "gz-images", &gzip(&img)), write(dir.path(), "gz-labels.gz", &gzip(&lab))),
        ] {
            let d = read_dataset(&ip, &lp, &opts(3, false)).unwrap();
            assert_eq!((d.len(), d.channels, d.height, d.width), (3, 1, 2, 3));
            assert_eq!(d.images, pixels);
            assert_eq!(d.labels, vec![2, 0, 1]);
            assert_eq!(d.image(1), &[10, 11, 12, 13, 14, 15]);
            assert_eq!(d.name, "test-set");
        }
    }

    #[test]
    fn data_idx_emnist_transposed_reads_upright() {
        let (pixels, labels) = sample();
        let stored = encode_images(2, 3, &pixels, true);
        // Stored as 3 rows x 2 cols, column-major w.r.t. the upright image.
        assert_eq!(&stored[8..16], &[0, 0, 0, 3, 0, 0, 0, 2]);
        assert_eq!(&stored[16..22], &[0, 3, 1, 4, 2, 5]);
        let p = Path::new("emnist-images");
        let d = dataset_from_bytes(&stored, p, &encode_labels(&labels), Path::new("l"), &opts(3, true)).unwrap();
        assert_eq!((d.height, d.width), (2, 3));
        assert_eq!(d.images, pixels);
        // Without the flag the same file reads as the transpose.
        let raw = parse_images(&stored, p, false).unwrap();
        assert_eq!((raw.height, raw.width), (3, 2));
        assert_eq!(&raw.pixels[..6], &[0, 3, 1, 4, 2, 5]);
    }

    fn err_of(img: &[u8], lab: &[u8], num_classes: usize) -> DataError {
        dataset_from_bytes(
            img,
            Path::new("/d/train-images-idx3-ubyte.gz"),
            lab,
            Path::new("/d/train-labels-idx1-ubyte.gz"),
            &opts(num_classes, false),
        )
        .unwrap_err()
    }

    #[test]
    fn data_idx_corrupt_files_give_specific_errors() {
        let (pixels, labels) = sample();
        let img = encode_images(2, 3, &pixels, false);
        let lab = encode_labels(&labels);

        // Images and labels swapped.
        let e = err_of(&lab, &img, 3);
        assert!(matches!(e, DataError::BadMagic { found: LABELS_MAGIC, .. }));
        let m = e.to_string();
        assert!(
            m.contains("/d/train-images-idx3-ubyte.gz: bad IDX magic 0x00000801, expected 0x00000803")
                && m.contains("this is a labels file"),
            "{m}"
        );

        let mut bad = img.clone();
        bad[2] = 0x0d; // float elements
        let m = err_of(&bad, &lab, 3).to_string();
        assert!(m.contains("element type 0x0d"), "{m}");

        let e = err_of(&img[..img.len() - 5], &lab, 3);
        assert!(matches!(e, DataError::Truncated { .. }));
        assert_eq!(
            e.to_string(),
            "/d/train-images-idx3-ubyte.gz: truncated: header says 3 images of 2x3 (18 bytes) but only 13 bytes follow; re-download the file"
        );
        let m = err_of(&img[..10], &lab, 3).to_string();
        assert!(m.contains("header needs 16 bytes but the file has only 10"), "{m}");
        let m = err_of(&img[..2], &lab, 3).to_string();
        assert!(m.contains("only 2 bytes"), "{m}");

        let mut long = img.clone();
        long.extend_from_slice(&[0, 0]);
        let e = err_of(&long, &lab, 3);
        assert!(matches!(e, DataError::TrailingBytes { extra: 2, .. }), "{e}");

        let m = err_of(&img, &encode_labels(&[0, 1]), 3).to_string();
        assert_eq!(
            m,
            "/d/train-images-idx3-ubyte.gz holds 3 images but /d/train-labels-idx1-ubyte.gz holds 2 labels; use the image and label files of the same split from the same download"
        );

        let e = err_of(&img, &lab, 2);
        assert!(matches!(e, DataError::LabelOutOfRange { index: 0, label: 2, num_classes: 2, .. }), "{e}");
        assert!(e.to_string().contains("test-set (2 classes"), "{e}");

        let mut zero = img.clone();
        zero[11] = 0; // rows = 0
        let e = err_of(&zero, &lab, 3);
        assert!(matches!(e, DataError::BadHeader { .. }), "{e}");

        // A gzip file cut short is reported as a gzip problem, not as a short IDX file.
        let gz = gzip(&img);
        let e = err_of(&gz[..gz.len() / 2], &lab, 3);
        assert!(matches!(e, DataError::Gzip { .. }), "{e}");
        assert!(e.to_string().contains("re-download"), "{e}");
    }

    #[test]
    fn data_idx_missing_file_names_path() {
        let e =
            read_dataset(Path::new("/nonexistent/imgs"), Path::new("/nonexistent/labs"), &opts(3, false)).unwrap_err();
        assert!(matches!(e, DataError::Io { .. }));
        assert!(e.to_string().starts_with("/nonexistent/labs: cannot read"), "{e}");
    }

    #[test]
    fn data_idx_gzip_is_deterministic() {
        let (pixels, _) = sample();
        let img = encode_images(2, 3, &pixels, false);
        assert_eq!(gzip(&img), gzip(&img));
        // mtime 0 and no file name: the header is the 10-byte minimum.
        assert_eq!(&gzip(&img)[..8], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0]);
    }
}
