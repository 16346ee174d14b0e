//! Which dataset, and where its files come from.
//!
//! Resolution order ([`resolve_source`]):
//! 1. `--data-dir DIR`: the standard file names in `DIR` or in the folder the official archive extracts to
//!    (`cifar-10-batches-bin/`, `cifar-100-binary/`, `gzip/` for EMNIST, `fashion-mnist/`, torchvision's
//!    `FashionMNIST/raw/`, ...). A given directory that lacks the files is an error, never a silent fallback.
//! 2. Fashion-MNIST only: Debian's `dataset-fashion-mnist` package at `/usr/share/datasets/fashion-mnist/`.
//! 3. Fashion-MNIST only: the class-balanced subset embedded in this crate (6,000 train / 1,000 test), so
//!    oxnas runs out of the box; see `crates/core/assets/fashion-mnist-subset/README.md`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::cifar::{self, CifarVariant};
use super::idx::{self, IdxOptions};
use super::{DataError, ImageDataset};

pub const DEBIAN_FASHION_MNIST_DIR: &str = "/usr/share/datasets/fashion-mnist";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DatasetKind {
    FashionMnist,
    Mnist,
    /// EMNIST Balanced: 47 classes (digits, upper case, and the 11 lower-case letters that differ from
    /// their capitals).
    EmnistBalanced,
    Cifar10,
    Cifar100,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Split {
    Train,
    Test,
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Split::Train => "train",
            Split::Test => "test",
        })
    }
}

const FASHION_MNIST_CLASSES: [&str; 10] =
    ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];
const MNIST_CLASSES: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
// emnist-balanced-mapping.txt: digits, A-Z, then the lower-case letters kept as separate classes.
const EMNIST_BALANCED_CLASSES: [&str; 47] = [
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "A", "B", "C", "D", "E", "F", "G", "H", "I", "J", "K", "L", "M",
    "N", "O", "P", "Q", "R", "S", "T", "U", "V", "W", "X", "Y", "Z", "a", "b", "d", "e", "f", "g", "h", "n", "q", "r",
    "t",
];
const CIFAR10_CLASSES: [&str; 10] =
    ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

impl DatasetKind {
    pub const ALL: [DatasetKind; 5] = [
        DatasetKind::FashionMnist,
        DatasetKind::Mnist,
        DatasetKind::EmnistBalanced,
        DatasetKind::Cifar10,
        DatasetKind::Cifar100,
    ];

    /// The name used on the command line and in configs.
    pub fn name(self) -> &'static str {
        match self {
            DatasetKind::FashionMnist => "fashion-mnist",
            DatasetKind::Mnist => "mnist",
            DatasetKind::EmnistBalanced => "emnist-balanced",
            DatasetKind::Cifar10 => "cifar10",
            DatasetKind::Cifar100 => "cifar100",
        }
    }

    pub fn num_classes(self) -> usize {
        match self {
            DatasetKind::FashionMnist | DatasetKind::Mnist | DatasetKind::Cifar10 => 10,
            DatasetKind::EmnistBalanced => 47,
            DatasetKind::Cifar100 => 100,
        }
    }

    /// `(channels, height, width)` of the raw images.
    pub fn image_shape(self) -> (usize, usize, usize) {
        match self {
            DatasetKind::Cifar10 | DatasetKind::Cifar100 => (3, 32, 32),
            _ => (1, 28, 28),
        }
    }

    /// Human-readable class names in label order, for per-class reports; `None` for CIFAR-100.
    pub fn class_names(self) -> Option<&'static [&'static str]> {
        match self {
            DatasetKind::FashionMnist => Some(&FASHION_MNIST_CLASSES),
            DatasetKind::Mnist => Some(&MNIST_CLASSES),
            DatasetKind::EmnistBalanced => Some(&EMNIST_BALANCED_CLASSES),
            DatasetKind::Cifar10 => Some(&CIFAR10_CLASSES),
            DatasetKind::Cifar100 => None,
        }
    }

    /// Folders under `--data-dir` where the official downloads (or torchvision) put the files.
    fn subfolders(self) -> &'static [&'static str] {
        match self {
            DatasetKind::FashionMnist => &["fashion-mnist", "fashion_mnist", "fashion", "FashionMNIST/raw"],
            DatasetKind::Mnist => &["mnist", "MNIST/raw"],
            DatasetKind::EmnistBalanced => &["gzip", "emnist", "emnist/gzip", "EMNIST/raw"],
            DatasetKind::Cifar10 => &["cifar-10-batches-bin"],
            DatasetKind::Cifar100 => &["cifar-100-binary"],
        }
    }

    /// The files of a split; each entry lists the accepted names of one file.
    fn files(self, split: Split) -> Vec<Vec<String>> {
        let idx_pair = |prefix: &str| {
            [format!("{prefix}-images-idx3-ubyte"), format!("{prefix}-labels-idx1-ubyte")]
                .into_iter()
                .map(|stem| vec![format!("{stem}.gz"), stem])
                .collect()
        };
        let one = |name: &str| vec![name.to_string()];
        match (self, split) {
            (DatasetKind::FashionMnist | DatasetKind::Mnist, Split::Train) => idx_pair("train"),
            (DatasetKind::FashionMnist | DatasetKind::Mnist, Split::Test) => idx_pair("t10k"),
            (DatasetKind::EmnistBalanced, Split::Train) => idx_pair("emnist-balanced-train"),
            (DatasetKind::EmnistBalanced, Split::Test) => idx_pair("emnist-balanced-test"),
            (DatasetKind::Cifar10, Split::Train) => (1..=5).map(|i| one(&format!("data_batch_{i}.bin"))).collect(),
            (DatasetKind::Cifar10, Split::Test) => vec![one("test_batch.bin")],
            (DatasetKind::Cifar100, Split::Train) => vec![one("train.bin")],
            (DatasetKind::Cifar100, Split::Test) => vec![one("test.bin")],
        }
    }

    fn how_to_get(self) -> &'static str {
        match self {
            DatasetKind::FashionMnist => {
                "`apt-get install dataset-fashion-mnist` (installs /usr/share/datasets/fashion-mnist/, used \
                 automatically without --data-dir), or the four .gz files from \
                 https://github.com/zalandoresearch/fashion-mnist (data/fashion/)"
            }
            DatasetKind::Mnist => "the four MNIST IDX files, e.g. from https://ossci-datasets.s3.amazonaws.com/mnist/",
            DatasetKind::EmnistBalanced => {
                "https://biometrics.nist.gov/cs_links/EMNIST/gzip.zip, unzipped (it creates gzip/)"
            }
            DatasetKind::Cifar10 => {
                "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz, extracted (it creates \
                 cifar-10-batches-bin/)"
            }
            DatasetKind::Cifar100 => {
                "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz, extracted (it creates \
                 cifar-100-binary/)"
            }
        }
    }
}

impl fmt::Display for DatasetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DatasetKind {
    type Err = DataError;

    /// Accepts the canonical names, ignoring case, `-` and `_` (so SGAS-es's `fashionMNIST` and
    /// `CIFAR-10` work too).
    fn from_str(s: &str) -> Result<Self, DataError> {
        let key: String = s.chars().filter(|c| *c != '-' && *c != '_').flat_map(char::to_lowercase).collect();
        match key.as_str() {
            "fashionmnist" | "fmnist" => Ok(DatasetKind::FashionMnist),
            "mnist" => Ok(DatasetKind::Mnist),
            "emnistbalanced" => Ok(DatasetKind::EmnistBalanced),
            "cifar10" => Ok(DatasetKind::Cifar10),
            "cifar100" => Ok(DatasetKind::Cifar100),
            _ => Err(DataError::UnknownDataset {
                name: s.to_string(),
                valid: DatasetKind::ALL.map(DatasetKind::name).join(", "),
            }),
        }
    }
}

/// Where a dataset's files come from; `Display` says so for the CLI to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataSource {
    /// The folder that directly holds the files.
    Dir(PathBuf),
    /// Debian's `dataset-fashion-mnist` at [`DEBIAN_FASHION_MNIST_DIR`].
    Debian,
    /// The Fashion-MNIST subset compiled into this crate.
    Embedded,
}

impl fmt::Display for DataSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataSource::Dir(p) => write!(f, "directory {}", p.display()),
            DataSource::Debian => write!(f, "Debian package dataset-fashion-mnist ({DEBIAN_FASHION_MNIST_DIR})"),
            DataSource::Embedded => write!(
                f,
                "embedded Fashion-MNIST subset ({EMBEDDED_TRAIN_PER_CLASS} train / \
                 {EMBEDDED_TEST_PER_CLASS} test images per class; pass --data-dir for the full set)"
            ),
        }
    }
}

/// Picks the source for `kind`; see the module documentation for the order.
pub fn resolve_source(kind: DatasetKind, data_dir: Option<&Path>) -> Result<DataSource, DataError> {
    resolve_source_with(kind, data_dir, Path::new(DEBIAN_FASHION_MNIST_DIR))
}

fn resolve_source_with(kind: DatasetKind, data_dir: Option<&Path>, debian_dir: &Path) -> Result<DataSource, DataError> {
    let required = [kind.files(Split::Train), kind.files(Split::Test)].concat();
    match data_dir {
        Some(dir) => {
            if !dir.exists() {
                return Err(DataError::NoSuchDir { path: dir.to_path_buf() });
            }
            if !dir.is_dir() {
                return Err(DataError::NotADirectory { path: dir.to_path_buf() });
            }
            let candidates = candidate_dirs(kind, dir);
            for c in &candidates {
                if find_files(c, &required).is_ok() {
                    return Ok(DataSource::Dir(c.clone()));
                }
            }
            Err(missing(kind, &candidates, &required, true))
        }
        None if kind == DatasetKind::FashionMnist => {
            if find_files(debian_dir, &required).is_ok() {
                Ok(DataSource::Debian)
            } else {
                Ok(DataSource::Embedded)
            }
        }
        None => Err(missing(kind, &[], &required, false)),
    }
}

/// Reads one split of `kind` from `source`.
pub fn load(kind: DatasetKind, source: &DataSource, split: Split) -> Result<ImageDataset, DataError> {
    match source {
        DataSource::Dir(dir) => load_from_dir(kind, dir, split),
        DataSource::Debian if kind == DatasetKind::FashionMnist => {
            load_from_dir(kind, Path::new(DEBIAN_FASHION_MNIST_DIR), split)
        }
        DataSource::Embedded if kind == DatasetKind::FashionMnist => embedded_fashion_mnist(split),
        _ => Err(DataError::SourceUnavailable {
            dataset: kind.name().to_string(),
            from: source.to_string(),
            fix: format!("only Fashion-MNIST is bundled; pass --data-dir with {}", kind.how_to_get()),
        }),
    }
}

/// Reads the train and test splits of `kind` from `source`, refusing a pair that cannot be used
/// together: an empty file, or train and test images of different sizes (each named by its file).
pub fn load_both(kind: DatasetKind, source: &DataSource) -> Result<(ImageDataset, ImageDataset), DataError> {
    let train = load(kind, source, Split::Train)?;
    let test = load(kind, source, Split::Test)?;
    let shape = |d: &ImageDataset| (d.channels, d.height, d.width);
    if shape(&train) != shape(&test) {
        let show = |d: &ImageDataset| format!("{} holds {}x{}x{} images", d.name, d.channels, d.height, d.width);
        return Err(DataError::InvalidDataset {
            name: format!("{kind}"),
            problem: format!(
                "{}, but {}; the train and test files must come from the same dataset, so replace the odd one",
                show(&train),
                show(&test)
            ),
        });
    }
    Ok((train, test))
}

fn load_from_dir(kind: DatasetKind, dir: &Path, split: Split) -> Result<ImageDataset, DataError> {
    let required = kind.files(split);
    let candidates = candidate_dirs(kind, dir);
    let paths = candidates
        .iter()
        .find_map(|c| find_files(c, &required).ok())
        .ok_or_else(|| missing(kind, &candidates, &required, true))?;
    // Named by its (first) file, so that an error about the data says which file to replace.
    let name = paths[0].display().to_string();
    let data = read_files(kind, &paths, name)?;
    if data.is_empty() {
        return Err(DataError::InvalidDataset {
            name: data.name,
            problem: format!("holds 0 images; the {split} file is empty or cut short, so get it again"),
        });
    }
    Ok(data)
}

fn read_files(kind: DatasetKind, paths: &[PathBuf], name: String) -> Result<ImageDataset, DataError> {
    match kind {
        DatasetKind::FashionMnist | DatasetKind::Mnist | DatasetKind::EmnistBalanced => {
            let opts =
                IdxOptions { name, num_classes: kind.num_classes(), transposed: kind == DatasetKind::EmnistBalanced };
            idx::read_dataset(&paths[0], &paths[1], &opts)
        }
        DatasetKind::Cifar10 => cifar::read_files(paths, CifarVariant::Cifar10, &name),
        DatasetKind::Cifar100 => cifar::read_files(paths, CifarVariant::Cifar100, &name),
    }
}

fn candidate_dirs(kind: DatasetKind, dir: &Path) -> Vec<PathBuf> {
    std::iter::once(dir.to_path_buf()).chain(kind.subfolders().iter().map(|s| dir.join(s))).collect()
}

/// The path of each required file in `dir`, or the display names of the missing ones.
fn find_files(dir: &Path, required: &[Vec<String>]) -> Result<Vec<PathBuf>, Vec<String>> {
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for names in required {
        match names.iter().map(|n| dir.join(n)).find(|p| p.is_file()) {
            Some(p) => found.push(p),
            None => missing.push(display_names(names) + &not_a_file(dir, names)),
        }
    }
    if missing.is_empty() {
        Ok(found)
    } else {
        Err(missing)
    }
}

/// Why a required file that is absent as a regular file is still there in some form: " (x is a
/// directory)" or " (x is a dangling symlink to y)"; empty when nothing by that name exists.
fn not_a_file(dir: &Path, names: &[String]) -> String {
    let mut why = vec![];
    for name in names {
        let path = dir.join(name);
        let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
        if path.is_dir() {
            why.push(format!("{name} is a directory, not a data file"));
        } else if meta.file_type().is_symlink() && !path.exists() {
            let target = std::fs::read_link(&path).map(|t| t.display().to_string()).unwrap_or_default();
            why.push(format!("{name} is a dangling symlink to '{target}'"));
        } else {
            why.push(format!("{name} is not a regular file"));
        }
    }
    if why.is_empty() {
        String::new()
    } else {
        format!(" ({})", why.join("; "))
    }
}

/// `x.gz` / `x` shown as `x[.gz]`.
fn display_names(names: &[String]) -> String {
    match names {
        [gz, raw] if gz.strip_suffix(".gz") == Some(raw.as_str()) => format!("{raw}[.gz]"),
        _ => names.join(" or "),
    }
}

fn missing(kind: DatasetKind, candidates: &[PathBuf], required: &[Vec<String>], dir_given: bool) -> DataError {
    let wanted: Vec<String> = required.iter().map(|n| display_names(n)).collect();
    let detail = if dir_given {
        let per_dir: Vec<String> = candidates
            .iter()
            .map(|c| {
                if !c.is_dir() {
                    format!("{} does not exist", c.display())
                } else {
                    let miss = find_files(c, required).err().unwrap_or_default();
                    format!("{} lacks {}", c.display(), miss.join(", "))
                }
            })
            .collect();
        let mut fix = format!(
            "put the files in the --data-dir folder or one of its subfolders {}; get them from {}",
            kind.subfolders().join(", "),
            kind.how_to_get()
        );
        if kind == DatasetKind::FashionMnist {
            fix.push_str("; or leave out --data-dir to use the Debian package or the embedded subset");
        }
        format!("looked for {} in each of: {}; fix: {fix}", wanted.join(", "), per_dir.join("; "))
    } else {
        format!(
            "{kind} is not bundled and no --data-dir was given; fix: pass --data-dir DIR where DIR or one \
             of its subfolders {} holds {}; get them from {}",
            kind.subfolders().join(", "),
            wanted.join(", "),
            kind.how_to_get()
        )
    };
    DataError::MissingFiles { dataset: kind.name().to_string(), detail }
}

// ---- embedded Fashion-MNIST subset ----

/// Images per class in the embedded subset: the first this-many of each class in file order.
pub const EMBEDDED_TRAIN_PER_CLASS: usize = 600;
pub const EMBEDDED_TEST_PER_CLASS: usize = 100;

const EMBEDDED_DIR: &str = "crates/core/assets/fashion-mnist-subset";
const EMBEDDED_TRAIN_IMAGES: &[u8] = include_bytes!("../../assets/fashion-mnist-subset/train-images-idx3-ubyte.gz");
const EMBEDDED_TRAIN_LABELS: &[u8] = include_bytes!("../../assets/fashion-mnist-subset/train-labels-idx1-ubyte.gz");
const EMBEDDED_TEST_IMAGES: &[u8] = include_bytes!("../../assets/fashion-mnist-subset/t10k-images-idx3-ubyte.gz");
const EMBEDDED_TEST_LABELS: &[u8] = include_bytes!("../../assets/fashion-mnist-subset/t10k-labels-idx1-ubyte.gz");

/// One split of the embedded subset, decoded and checked like any file on disk.
pub fn embedded_fashion_mnist(split: Split) -> Result<ImageDataset, DataError> {
    let (images, labels, prefix) = match split {
        Split::Train => (EMBEDDED_TRAIN_IMAGES, EMBEDDED_TRAIN_LABELS, "train"),
        Split::Test => (EMBEDDED_TEST_IMAGES, EMBEDDED_TEST_LABELS, "t10k"),
    };
    let dir = Path::new(EMBEDDED_DIR);
    idx::dataset_from_bytes(
        images,
        &dir.join(format!("{prefix}-images-idx3-ubyte.gz")),
        labels,
        &dir.join(format!("{prefix}-labels-idx1-ubyte.gz")),
        &IdxOptions { name: format!("fashion-mnist-subset/{split}"), num_classes: 10, transposed: false },
    )
}

/// Indices of the first `per_class` images of every class, in file order; `None` if a class is short.
/// This is the embedded subset's derivation.
pub fn first_per_class(labels: &[u16], num_classes: usize, per_class: usize) -> Option<Vec<usize>> {
    let mut taken = vec![0usize; num_classes];
    let mut picked = Vec::with_capacity(num_classes * per_class);
    for (i, &l) in labels.iter().enumerate() {
        let t = taken.get_mut(usize::from(l))?;
        if *t < per_class {
            *t += 1;
            picked.push(i);
        }
    }
    taken.iter().all(|&t| t == per_class).then_some(picked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::idx::{encode_images, encode_labels, gzip};

    #[test]
    fn data_source_kind_names() {
        for k in DatasetKind::ALL {
            assert_eq!(k.name().parse::<DatasetKind>().unwrap(), k);
            assert_eq!(k.to_string(), k.name());
            if let Some(names) = k.class_names() {
                assert_eq!(names.len(), k.num_classes(), "{k}");
            }
        }
        assert_eq!("fashionMNIST".parse::<DatasetKind>().unwrap(), DatasetKind::FashionMnist);
        assert_eq!("CIFAR-10".parse::<DatasetKind>().unwrap(), DatasetKind::Cifar10);
        assert_eq!("emnist_balanced".parse::<DatasetKind>().unwrap(), DatasetKind::EmnistBalanced);
        let e = "svhn".parse::<DatasetKind>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown dataset 'svhn'; valid names: fashion-mnist, mnist, emnist-balanced, cifar10, cifar100"
        );
        assert_eq!(DatasetKind::FashionMnist.class_names().unwrap()[9], "Ankle boot");
        assert_eq!(DatasetKind::Cifar10.class_names().unwrap()[1], "automobile");
        assert_eq!(DatasetKind::EmnistBalanced.class_names().unwrap()[36], "a");
    }

    /// Writes an IDX pair of `n` images of 28x28 (pixel = label·20 + image index) into `dir`.
    fn write_idx(dir: &Path, prefix: &str, labels: &[u8], gz: bool, transposed: bool) -> Vec<u8> {
        let pixels: Vec<u8> = labels
            .iter()
            .enumerate()
            .flat_map(|(i, &l)| (0..784).map(move |p| (l as usize * 20 + i + p % 2) as u8))
            .collect();
        let (img, lab) = (encode_images(28, 28, &pixels, transposed), encode_labels(labels));
        let (img, lab, ext) = if gz { (gzip(&img), gzip(&lab), ".gz") } else { (img, lab, "") };
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(format!("{prefix}-images-idx3-ubyte{ext}")), img).unwrap();
        std::fs::write(dir.join(format!("{prefix}-labels-idx1-ubyte{ext}")), lab).unwrap();
        pixels
    }

    #[test]
    fn data_source_fashion_mnist_dir_with_subfolder() {
        let root = tempfile::tempdir().unwrap();
        let sub = root.path().join("fashion-mnist");
        let train_px = write_idx(&sub, "train", &[3, 9, 0], true, false);
        write_idx(&sub, "t10k", &[1], false, false);
        let src = resolve_source(DatasetKind::FashionMnist, Some(root.path())).unwrap();
        assert_eq!(src, DataSource::Dir(sub.clone()));
        assert_eq!(src.to_string(), format!("directory {}", sub.display()));
        let train = load(DatasetKind::FashionMnist, &src, Split::Train).unwrap();
        assert_eq!((train.len(), train.num_classes), (3, 10));
        assert_eq!(train.name, sub.join("train-images-idx3-ubyte.gz").display().to_string(), "named by its file");
        assert_eq!(train.images, train_px);
        assert_eq!(train.labels, vec![3, 9, 0]);
        let test = load(DatasetKind::FashionMnist, &src, Split::Test).unwrap();
        assert_eq!(test.labels, vec![1]);
        // Loading straight from the parent folder finds the subfolder too.
        let again = load(DatasetKind::FashionMnist, &DataSource::Dir(root.path().into()), Split::Train).unwrap();
        assert_eq!(again, train);
    }

    /// Writes an IDX pair of `labels.len()` images of `side`x`side`.
    fn write_idx_sized(dir: &Path, prefix: &str, labels: &[u8], side: usize) {
        let pixels = vec![7u8; labels.len() * side * side];
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(format!("{prefix}-images-idx3-ubyte")), encode_images(side, side, &pixels, false))
            .unwrap();
        std::fs::write(dir.join(format!("{prefix}-labels-idx1-ubyte")), encode_labels(labels)).unwrap();
    }

    #[test]
    fn data_source_train_and_test_of_different_sizes_or_empty_are_named() {
        let root = tempfile::tempdir().unwrap();
        write_idx_sized(root.path(), "train", &[1, 2], 14);
        write_idx_sized(root.path(), "t10k", &[3], 28);
        let src = DataSource::Dir(root.path().into());
        let e = load_both(DatasetKind::FashionMnist, &src).unwrap_err().to_string();
        assert!(
            e.contains("train-images-idx3-ubyte holds 1x14x14") && e.contains("t10k-images-idx3-ubyte holds 1x28x28"),
            "{e}"
        );

        write_idx_sized(root.path(), "train", &[], 28);
        let e = load_both(DatasetKind::FashionMnist, &src).unwrap_err().to_string();
        assert!(e.contains("train-images-idx3-ubyte") && e.contains("0 images"), "{e}");
        write_idx_sized(root.path(), "train", &[1], 28);
        assert!(load_both(DatasetKind::FashionMnist, &src).is_ok());
    }

    #[test]
    fn data_source_a_directory_or_dangling_symlink_is_named_as_such() {
        let root = tempfile::tempdir().unwrap();
        write_idx_sized(root.path(), "t10k", &[3], 28);
        std::fs::create_dir(root.path().join("train-images-idx3-ubyte")).unwrap();
        std::os::unix::fs::symlink(root.path().join("gone"), root.path().join("train-labels-idx1-ubyte")).unwrap();
        let e = load(DatasetKind::FashionMnist, &DataSource::Dir(root.path().into()), Split::Train).unwrap_err();
        let e = e.to_string();
        assert!(e.contains("train-images-idx3-ubyte is a directory, not a data file"), "{e}");
        assert!(e.contains("train-labels-idx1-ubyte is a dangling symlink to"), "{e}");
    }

    #[test]
    fn data_source_emnist_is_read_upright_with_47_classes() {
        let root = tempfile::tempdir().unwrap();
        let sub = root.path().join("gzip");
        let px = write_idx(&sub, "emnist-balanced-train", &[46, 12], true, true);
        write_idx(&sub, "emnist-balanced-test", &[0], true, true);
        let src = resolve_source(DatasetKind::EmnistBalanced, Some(root.path())).unwrap();
        let d = load(DatasetKind::EmnistBalanced, &src, Split::Train).unwrap();
        assert_eq!((d.num_classes, d.labels.clone()), (47, vec![46, 12]));
        assert_eq!(d.images, px);
        // The same labels are out of range for a 10-class dataset read from these files.
        let e = idx::read_dataset(
            &sub.join("emnist-balanced-train-images-idx3-ubyte.gz"),
            &sub.join("emnist-balanced-train-labels-idx1-ubyte.gz"),
            &IdxOptions { name: "mnist".into(), num_classes: 10, transposed: false },
        )
        .unwrap_err();
        assert!(matches!(e, DataError::LabelOutOfRange { label: 46, .. }));
    }

    #[test]
    fn data_source_mnist_raw_in_root() {
        let root = tempfile::tempdir().unwrap();
        write_idx(root.path(), "train", &[7], false, false);
        write_idx(root.path(), "t10k", &[2], false, false);
        let src = resolve_source(DatasetKind::Mnist, Some(root.path())).unwrap();
        assert_eq!(src, DataSource::Dir(root.path().to_path_buf()));
        assert_eq!(load(DatasetKind::Mnist, &src, Split::Test).unwrap().labels, vec![2]);
    }

    #[test]
    fn data_source_cifar_dirs() {
        let root = tempfile::tempdir().unwrap();
        let c10 = root.path().join("cifar-10-batches-bin");
        std::fs::create_dir_all(&c10).unwrap();
        let img = |v: u8| vec![v; cifar::IMAGE_BYTES];
        for i in 1..=5u8 {
            let rec = cifar::encode_records(CifarVariant::Cifar10, &img(i), &[i], &[]);
            std::fs::write(c10.join(format!("data_batch_{i}.bin")), rec).unwrap();
        }
        std::fs::write(
            c10.join("test_batch.bin"),
            cifar::encode_records(CifarVariant::Cifar10, &[img(9), img(8)].concat(), &[9, 8], &[]),
        )
        .unwrap();
        let src = resolve_source(DatasetKind::Cifar10, Some(root.path())).unwrap();
        assert_eq!(src, DataSource::Dir(c10.clone()));
        let train = load(DatasetKind::Cifar10, &src, Split::Train).unwrap();
        // Batches are concatenated in order 1..5.
        assert_eq!(train.labels, vec![1, 2, 3, 4, 5]);
        assert_eq!(train.image(4)[3071], 5);
        assert_eq!(load(DatasetKind::Cifar10, &src, Split::Test).unwrap().labels, vec![9, 8]);

        let c100 = root.path().join("cifar-100-binary");
        std::fs::create_dir_all(&c100).unwrap();
        for (name, fine) in [("train.bin", 77u8), ("test.bin", 5)] {
            let rec = cifar::encode_records(CifarVariant::Cifar100, &img(1), &[fine], &[4]);
            std::fs::write(c100.join(name), rec).unwrap();
        }
        let src = resolve_source(DatasetKind::Cifar100, Some(root.path())).unwrap();
        let d = load(DatasetKind::Cifar100, &src, Split::Train).unwrap();
        assert_eq!((d.labels.clone(), d.num_classes), (vec![77], 100));
    }

    #[test]
    fn data_source_missing_files_are_listed() {
        let root = tempfile::tempdir().unwrap();
        let c10 = root.path().join("cifar-10-batches-bin");
        std::fs::create_dir_all(&c10).unwrap();
        std::fs::write(c10.join("data_batch_1.bin"), [0u8; 3073]).unwrap();
        let e = resolve_source(DatasetKind::Cifar10, Some(root.path())).unwrap_err();
        let m = e.to_string();
        assert!(matches!(e, DataError::MissingFiles { .. }));
        assert!(m.starts_with("cifar10: dataset files not found: looked for data_batch_1.bin, data_batch_2.bin, data_batch_3.bin, data_batch_4.bin, data_batch_5.bin, test_batch.bin in each of: "), "{m}");
        assert!(
            m.contains(&format!(
                "{} lacks data_batch_2.bin, data_batch_3.bin, data_batch_4.bin, data_batch_5.bin, test_batch.bin",
                c10.display()
            )),
            "{m}"
        );
        assert!(m.contains("cifar-10-binary.tar.gz"), "{m}");

        let e = resolve_source(DatasetKind::FashionMnist, Some(root.path())).unwrap_err();
        let m = e.to_string();
        assert!(m.contains("train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]"), "{m}");
        assert!(m.contains(&format!("{} does not exist", root.path().join("fashion-mnist").display())), "{m}");
        assert!(m.contains("apt-get install dataset-fashion-mnist"), "{m}");

        let e = resolve_source(DatasetKind::Cifar100, None).unwrap_err();
        let m = e.to_string();
        assert!(m.contains("no --data-dir was given") && m.contains("train.bin, test.bin"), "{m}");

        let nowhere = root.path().join("nowhere");
        let e = resolve_source(DatasetKind::Mnist, Some(&nowhere)).unwrap_err();
        assert!(matches!(e, DataError::NoSuchDir { .. }), "{e}");
        let file = c10.join("data_batch_1.bin");
        let e = resolve_source(DatasetKind::Cifar10, Some(&file)).unwrap_err();
        assert!(matches!(e, DataError::NotADirectory { .. }), "{e}");

        // A split missing at load time names its own files.
        let e = load(DatasetKind::Cifar10, &DataSource::Dir(c10.clone()), Split::Test).unwrap_err();
        assert!(e.to_string().contains("lacks test_batch.bin"), "{e}");
        // Only Fashion-MNIST is bundled.
        let e = load(DatasetKind::Cifar10, &DataSource::Embedded, Split::Train).unwrap_err();
        assert!(matches!(e, DataError::SourceUnavailable { .. }), "{e}");
    }

    #[test]
    fn data_source_fashion_mnist_fallbacks() {
        let root = tempfile::tempdir().unwrap();
        let deb = root.path().join("deb");
        let src = resolve_source_with(DatasetKind::FashionMnist, None, &deb).unwrap();
        assert_eq!(src, DataSource::Embedded);
        write_idx(&deb, "train", &[1], true, false);
        // Incomplete Debian install: still the embedded subset.
        assert_eq!(resolve_source_with(DatasetKind::FashionMnist, None, &deb).unwrap(), DataSource::Embedded);
        write_idx(&deb, "t10k", &[1], true, false);
        assert_eq!(resolve_source_with(DatasetKind::FashionMnist, None, &deb).unwrap(), DataSource::Debian);
        assert!(DataSource::Debian.to_string().contains("/usr/share/datasets/fashion-mnist"));
        assert!(DataSource::Embedded.to_string().contains("embedded"));
    }

    #[test]
    fn data_source_first_per_class() {
        let labels = [2, 0, 2, 1, 0, 2, 1, 1];
        assert_eq!(first_per_class(&labels, 3, 2), Some(vec![0, 1, 2, 3, 4, 6]));
        assert_eq!(first_per_class(&labels, 3, 3), None);
        assert_eq!(first_per_class(&labels, 2, 1), None);
    }

    fn fnv1a(bytes: impl IntoIterator<Item = u8>) -> u64 {
        bytes.into_iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
    }

    #[test]
    fn data_source_embedded_subset_shape_and_content() {
        let train = load(DatasetKind::FashionMnist, &DataSource::Embedded, Split::Train).unwrap();
        let test = load(DatasetKind::FashionMnist, &DataSource::Embedded, Split::Test).unwrap();
        assert_eq!((train.len(), train.channels, train.height, train.width), (6000, 1, 28, 28));
        assert_eq!(test.len(), 1000);
        assert_eq!(train.class_counts(), vec![600; 10]);
        assert_eq!(test.class_counts(), vec![100; 10]);
        assert_eq!(train.name, "fashion-mnist-subset/train");
        // Pins the content even where the full files are absent; equal to the derivation, checked below.
        let digest = |d: &ImageDataset| fnv1a(d.images.iter().copied().chain(d.labels.iter().map(|&l| l as u8)));
        assert_eq!(digest(&train), EMBEDDED_TRAIN_FNV);
        assert_eq!(digest(&test), EMBEDDED_TEST_FNV);
    }

    // FNV-1a 64 of the pixels followed by the labels (as bytes).
    const EMBEDDED_TRAIN_FNV: u64 = 9_005_342_976_495_049_335;
    const EMBEDDED_TEST_FNV: u64 = 5_507_773_306_249_254_134;

    /// The full Fashion-MNIST files, when this checkout can see them.
    fn full_fashion_mnist_dir() -> Option<PathBuf> {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        std::env::var_os("OXNAS_FASHION_MNIST_DIR")
            .map(PathBuf::from)
            .into_iter()
            .chain([
                manifest.join("../../shared/data/fashion-mnist"),
                manifest.join("../../../shared/data/fashion-mnist"),
                PathBuf::from(DEBIAN_FASHION_MNIST_DIR),
            ])
            .find(|d| d.join("train-labels-idx1-ubyte.gz").is_file())
    }

    fn derive_subset(full: &Path, split: Split) -> ImageDataset {
        let d = load(DatasetKind::FashionMnist, &DataSource::Dir(full.to_path_buf()), split).unwrap();
        let per = match split {
            Split::Train => EMBEDDED_TRAIN_PER_CLASS,
            Split::Test => EMBEDDED_TEST_PER_CLASS,
        };
        let picked = first_per_class(&d.labels, 10, per).unwrap();
        let mut s = d.subset(&picked);
        s.name = format!("fashion-mnist-subset/{split}");
        s
    }

    #[test]
    fn data_source_embedded_subset_equals_derivation() {
        let Some(full) = full_fashion_mnist_dir() else {
            eprintln!("full Fashion-MNIST files not found; set OXNAS_FASHION_MNIST_DIR to check the subset");
            return;
        };
        for split in [Split::Train, Split::Test] {
            let derived = derive_subset(&full, split);
            assert!(derived == embedded_fashion_mnist(split).unwrap(), "{split} subset differs from its derivation");
        }
    }

    /// Rewrites the embedded subset from the full Fashion-MNIST files:
    /// `OXNAS_FASHION_MNIST_DIR=/work/shared/data/fashion-mnist cargo test -p oxnas-core --lib
    /// regenerate_embedded_subset -- --ignored` (the variable is optional where the files are found
    /// anyway). Update the sha256 lines in the assets README afterwards.
    #[test]
    #[ignore]
    fn regenerate_embedded_subset() {
        let full = full_fashion_mnist_dir().expect("set OXNAS_FASHION_MNIST_DIR to the full Fashion-MNIST files");
        let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/fashion-mnist-subset");
        std::fs::create_dir_all(&out).unwrap();
        for (split, prefix) in [(Split::Train, "train"), (Split::Test, "t10k")] {
            let s = derive_subset(&full, split);
            let labels: Vec<u8> = s.labels.iter().map(|&l| l as u8).collect();
            let img = gzip(&encode_images(28, 28, &s.images, false));
            let lab = gzip(&encode_labels(&labels));
            std::fs::write(out.join(format!("{prefix}-images-idx3-ubyte.gz")), &img).unwrap();
            std::fs::write(out.join(format!("{prefix}-labels-idx1-ubyte.gz")), &lab).unwrap();
            println!("{split}: {} images, {} + {} bytes", s.len(), img.len(), lab.len());
        }
    }
}
