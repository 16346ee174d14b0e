//! Every parser of user input, fed random and mutated input: it returns an error or a valid value,
//! and never panics. Case counts are kept modest so the suite stays fast; for a longer run set
//! PROPTEST_CASES, e.g. `PROPTEST_CASES=20000 cargo test -p oxnas-core --test parsers_never_panic`.

use oxnas_core::config::{ConfigFile, TrainConfig};
use oxnas_core::darts::Genotype;
use oxnas_core::data::cifar::{encode_records, parse_records, CifarVariant};
use oxnas_core::data::idx::{dataset_from_bytes, encode_images, encode_labels, gzip, IdxOptions};
use oxnas_core::nb201::set::ArchSet;
use oxnas_core::nb201::{Nb201Arch, Nb201Op};
use oxnas_core::rank::{ArchScores, GroundTruth};
use proptest::prelude::*;
use std::path::Path;

/// Cases per property unless PROPTEST_CASES says otherwise.
const CASES: u32 = 384;

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(CASES);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

const BEST: &str = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|";
const DARTS_V2: &str = "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])";

/// An edit of a valid input: flip, set, insert or remove one byte, or cut the tail.
#[derive(Debug, Clone)]
enum Edit {
    Flip(usize, u8),
    Set(usize, u8),
    Insert(usize, u8),
    Remove(usize),
    Truncate(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 1..=255u8).prop_map(|(i, b)| Edit::Flip(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Set(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Insert(i, b)),
        any::<usize>().prop_map(Edit::Remove),
        any::<usize>().prop_map(Edit::Truncate),
    ]
}

fn apply(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let n = bytes.len();
        match *e {
            Edit::Flip(i, b) if n > 0 => bytes[i % n] ^= b,
            Edit::Set(i, b) if n > 0 => bytes[i % n] = b,
            Edit::Insert(i, b) => bytes.insert(i % (n + 1), b),
            Edit::Remove(i) if n > 0 => {
                bytes.remove(i % n);
            }
            Edit::Truncate(i) => bytes.truncate(i % (n + 1)),
            _ => {}
        }
    }
    bytes
}

/// A valid text with a few edits, or random text from the same alphabet.
fn mutated_text(valid: &'static str) -> impl Strategy<Value = String> {
    let alphabet = "[|+~0-9a-z_(),'\\[\\]= .:#\n\"-]{0,200}";
    prop_oneof![
        proptest::collection::vec(edit(), 1..6).prop_map(move |e| String::from_utf8_lossy(&apply(
            valid.as_bytes().to_vec(),
            &e
        ))
        .into_owned()),
        alphabet,
        any::<String>(),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn nb201_arch_strings(text in mutated_text(BEST)) {
        if let Ok(arch) = text.parse::<Nb201Arch>() {
            // A value that parses is a real cell: it round-trips through its index.
            prop_assert_eq!(Nb201Arch::from_index(arch.to_index()).unwrap(), arch);
        }
    }

    #[test]
    fn darts_genotypes(text in mutated_text(DARTS_V2)) {
        if let Ok(g) = text.parse::<Genotype>() {
            prop_assert_eq!(g.to_string().parse::<Genotype>().unwrap(), g);
        }
        let _ = Genotype::from_json(&text);
        let _ = oxnas_core::darts::resolve(&text);
    }

    #[test]
    fn idx_files(edits in proptest::collection::vec(edit(), 0..6), which in 0..4usize, zipped: bool) {
        let labels = vec![1u8, 2, 3];
        let (images, labels) = (encode_images(4, 4, &[9u8; 48], false), encode_labels(&labels));
        let (mut images, mut labels) = if zipped { (gzip(&images), gzip(&labels)) } else { (images, labels) };
        match which {
            0 => images = apply(images, &edits),
            1 => labels = apply(labels, &edits),
            _ => {
                images = apply(images, &edits);
                labels = apply(labels, &edits);
            }
        }
        let opts = IdxOptions { name: "fuzz".into(), num_classes: 10, transposed: which == 3 };
        if let Ok(d) = dataset_from_bytes(&images, Path::new("i"), &labels, Path::new("l"), &opts) {
            prop_assert_eq!(d.images.len(), d.len() * d.channels * d.height * d.width);
        }
    }

    #[test]
    fn idx_random_bytes(images in proptest::collection::vec(any::<u8>(), 0..64), labels in proptest::collection::vec(any::<u8>(), 0..32)) {
        let opts = IdxOptions { name: "fuzz".into(), num_classes: 10, transposed: false };
        let _ = dataset_from_bytes(&images, Path::new("i"), &labels, Path::new("l"), &opts);
    }

    #[test]
    fn cifar_files(edits in proptest::collection::vec(edit(), 0..6), hundred: bool) {
        let variant = if hundred { CifarVariant::Cifar100 } else { CifarVariant::Cifar10 };
        let valid = encode_records(variant, &[5u8; 3072 * 2], &[1, 2], &[3, 4]);
        let bytes = apply(valid, &edits);
        let (mut images, mut labels) = (vec![], vec![]);
        if parse_records(&bytes, Path::new("c"), variant, &mut images, &mut labels).is_ok() {
            prop_assert_eq!(images.len(), labels.len() * 3072);
        }
    }

    #[test]
    fn config_overrides(key in "(optim|run|model|data|x)\\.(lr|epochs|momentum|threads|seed|channels|batch_size|nesterov|arch|y)",
                        value in "[-+0-9a-z.\"\\[\\]{}=, _]{0,24}") {
        let set = format!("{key}={value}");
        if let Ok(cfg) = TrainConfig::resolve("cpu-smoke", None, &[set]) {
            // What resolves is valid, and reads back as itself.
            prop_assert_eq!(TrainConfig::from_toml_str(&cfg.to_toml(), "back").unwrap(), cfg);
        }
    }

    #[test]
    fn config_files(edits in proptest::collection::vec(edit(), 1..6)) {
        let valid = TrainConfig::resolve("cpu-smoke", None, &[]).unwrap().to_toml();
        let text = String::from_utf8_lossy(&apply(valid.into_bytes(), &edits)).into_owned();
        let _ = TrainConfig::from_toml_str(&text, "fuzz.toml");
    }

    #[test]
    fn score_and_truth_csvs(edits in proptest::collection::vec(edit(), 1..6)) {
        let scores = format!("index,arch_str,score,loss\n6111,{BEST},0.5,1.2\n1835,{},0.25,\n", Nb201Arch::uniform(Nb201Op::SkipConnect));
        let text = String::from_utf8_lossy(&apply(scores.into_bytes(), &edits)).into_owned();
        let _ = ArchScores::from_csv_str(&text, "s.csv", &oxnas_core::oneshot::Nb201RankSpace::default());
        let truth = format!("arch_str,accuracy\n{BEST},93.5\n");
        let text = String::from_utf8_lossy(&apply(truth.into_bytes(), &edits)).into_owned();
        let _ = GroundTruth::from_csv_str(&text, "t.csv", &oxnas_core::oneshot::Nb201RankSpace::default());
    }

    #[test]
    fn arch_lists_and_files(text in mutated_text("6111\n1835 # all skip\n|none~0|+|none~0|none~1|+|none~0|none~1|none~2|\n")) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("archs.txt");
        std::fs::write(&path, &text).unwrap();
        for spec in [path.to_str().unwrap(), text.as_str()] {
            if let Ok(set) = spec.parse::<ArchSet>() {
                let _ = set.resolve(&Nb201Op::ALL, 0);
            }
        }
    }
}
