//! Published genotypes by name, and [`resolve`] for command-line arguments.
//!
//! Sources (data values only): quark0/darts `cnn/genotypes.py` (DARTS_V1, DARTS_V2, and `DARTS`, which
//! the reference aliases to V2 and uses as `train.py`'s default), lightaime/sgas `cnn/genotypes.py`
//! (the best cell of each criterion), Tommy787576/SGAS-es-Final-Version `cnn/genotypes.py`
//! (FashionMNIST_1..3). NASNet and AmoebaNet from the same files are left out: they use ops outside
//! the DARTS space (sep_conv_7x7, conv_7x1_1x7).

use std::path::Path;

use super::genotype::{Genotype, GenotypeError};
use super::DartsOp::{self, *};

type Cell = [(DartsOp, usize); 8];

struct Named {
    name: &'static str,
    normal: Cell,
    reduce: Cell,
}

const NAMES: [&str; 8] = [
    "DARTS_V1",
    "DARTS_V2",
    "DARTS",
    "Cri1_CIFAR_Best",
    "Cri2_CIFAR_Best",
    "FashionMNIST_1",
    "FashionMNIST_2",
    "FashionMNIST_3",
];

const DARTS_V2_NORMAL: Cell = [
    (SepConv3x3, 0),
    (SepConv3x3, 1),
    (SepConv3x3, 0),
    (SepConv3x3, 1),
    (SepConv3x3, 1),
    (SkipConnect, 0),
    (SkipConnect, 0),
    (DilConv3x3, 2),
];
const DARTS_V2_REDUCE: Cell = [
    (MaxPool3x3, 0),
    (MaxPool3x3, 1),
    (SkipConnect, 2),
    (MaxPool3x3, 1),
    (MaxPool3x3, 0),
    (SkipConnect, 2),
    (SkipConnect, 2),
    (MaxPool3x3, 1),
];

const NAMED: [Named; 8] = [
    Named {
        name: "DARTS_V1",
        normal: [
            (SepConv3x3, 1),
            (SepConv3x3, 0),
            (SkipConnect, 0),
            (SepConv3x3, 1),
            (SkipConnect, 0),
            (SepConv3x3, 1),
            (SepConv3x3, 0),
            (SkipConnect, 2),
        ],
        reduce: [
            (MaxPool3x3, 0),
            (MaxPool3x3, 1),
            (SkipConnect, 2),
            (MaxPool3x3, 0),
            (MaxPool3x3, 0),
            (SkipConnect, 2),
            (SkipConnect, 2),
            (AvgPool3x3, 0),
        ],
    },
    Named { name: "DARTS_V2", normal: DARTS_V2_NORMAL, reduce: DARTS_V2_REDUCE },
    Named { name: "DARTS", normal: DARTS_V2_NORMAL, reduce: DARTS_V2_REDUCE },
    // SGAS criterion 1, best CIFAR-10 run (Cri1_CIFAR_3 in the reference file).
    Named {
        name: "Cri1_CIFAR_Best",
        normal: [
            (SepConv3x3, 0),
            (DilConv3x3, 1),
            (SepConv3x3, 0),
            (SepConv3x3, 1),
            (SepConv5x5, 1),
            (SepConv5x5, 3),
            (SkipConnect, 0),
            (DilConv5x5, 2),
        ],
        reduce: [
            (MaxPool3x3, 0),
            (DilConv5x5, 1),
            (SepConv3x3, 0),
            (SkipConnect, 2),
            (SepConv3x3, 1),
            (SkipConnect, 2),
            (MaxPool3x3, 0),
            (MaxPool3x3, 1),
        ],
    },
    // SGAS criterion 2, best CIFAR-10 run (Cri2_CIFAR_3 in the reference file).
    Named {
        name: "Cri2_CIFAR_Best",
        normal: [
            (SepConv3x3, 0),
            (SepConv3x3, 1),
            (SepConv3x3, 0),
            (SepConv3x3, 2),
            (MaxPool3x3, 0),
            (SepConv3x3, 3),
            (SepConv3x3, 2),
            (SepConv3x3, 3),
        ],
        reduce: [
            (SepConv3x3, 0),
            (MaxPool3x3, 1),
            (DilConv3x3, 0),
            (MaxPool3x3, 1),
            (MaxPool3x3, 0),
            (SepConv3x3, 2),
            (MaxPool3x3, 0),
            (SepConv5x5, 2),
        ],
    },
    Named {
        name: "FashionMNIST_1",
        normal: [
            (SepConv3x3, 0),
            (SepConv3x3, 1),
            (SepConv3x3, 1),
            (DilConv3x3, 2),
            (DilConv3x3, 1),
            (SepConv3x3, 2),
            (SkipConnect, 0),
            (SepConv3x3, 4),
        ],
        reduce: [
            (MaxPool3x3, 0),
            (MaxPool3x3, 1),
            (MaxPool3x3, 1),
            (SepConv3x3, 2),
            (DilConv3x3, 2),
            (DilConv3x3, 3),
            (DilConv3x3, 2),
            (DilConv3x3, 3),
        ],
    },
    Named {
        name: "FashionMNIST_2",
        normal: [
            (DilConv3x3, 0),
            (SepConv3x3, 1),
            (SepConv3x3, 0),
            (DilConv3x3, 2),
            (SkipConnect, 2),
            (DilConv3x3, 3),
            (SepConv3x3, 0),
            (DilConv3x3, 3),
        ],
        reduce: [
            (MaxPool3x3, 0),
            (MaxPool3x3, 1),
            (DilConv3x3, 0),
            (SkipConnect, 2),
            (DilConv3x3, 2),
            (DilConv3x3, 3),
            (SkipConnect, 2),
            (DilConv3x3, 3),
        ],
    },
    Named {
        name: "FashionMNIST_3",
        normal: [
            (DilConv3x3, 0),
            (DilConv3x3, 1),
            (SepConv3x3, 0),
            (SepConv3x3, 1),
            (SkipConnect, 0),
            (DilConv3x3, 2),
            (SkipConnect, 2),
            (DilConv3x3, 3),
        ],
        reduce: [
            (MaxPool3x3, 0),
            (SkipConnect, 1),
            (DilConv3x3, 0),
            (DilConv3x3, 2),
            (DilConv3x3, 2),
            (SepConv3x3, 3),
            (SepConv3x3, 0),
            (SkipConnect, 2),
        ],
    },
];

impl Genotype {
    /// Names accepted by [`Genotype::named`] (lookup ignores ASCII case).
    pub fn names() -> &'static [&'static str] {
        &NAMES
    }

    /// A published genotype by name, ignoring ASCII case; `None` if unknown.
    pub fn named(name: &str) -> Option<Genotype> {
        let name = name.trim();
        NAMED.iter().find(|n| n.name.eq_ignore_ascii_case(name)).map(|n| Genotype {
            normal: n.normal.to_vec(),
            normal_concat: vec![2, 3, 4, 5],
            reduce: n.reduce.to_vec(),
            reduce_concat: vec![2, 3, 4, 5],
        })
    }

    /// Like [`Genotype::named`], with an error listing the known names.
    pub fn by_name(name: &str) -> Result<Genotype, GenotypeError> {
        Genotype::named(name)
            .ok_or_else(|| GenotypeError::UnknownName { name: name.to_string(), known: NAMES.join(", ") })
    }

    /// See [`resolve`].
    pub fn resolve(spec: &str) -> Result<Genotype, GenotypeError> {
        resolve(spec)
    }
}

/// A genotype from a command-line argument, tried in this order:
/// 1. a name from [`Genotype::names`] (case-insensitive);
/// 2. the path of an existing file holding the string form or the JSON form;
/// 3. the string form itself (or JSON, if it starts with `{`).
///
/// A known name wins over a file of the same name. Errors say which reading failed.
pub fn resolve(spec: &str) -> Result<Genotype, GenotypeError> {
    let trimmed = spec.trim();
    if let Some(g) = Genotype::named(trimmed) {
        return Ok(g);
    }
    let path = Path::new(trimmed);
    if !trimmed.is_empty() && path.is_file() {
        let text = std::fs::read_to_string(path)
            .map_err(|e| GenotypeError::ReadFile { path: trimmed.to_string(), message: e.to_string() })?;
        return parse_text(&text).map_err(|e| GenotypeError::InFile { path: trimmed.to_string(), source: Box::new(e) });
    }
    // Only text with brackets can be a genotype; a bare word is a mistyped name or a missing file,
    // and a parser error about it would be misleading.
    if trimmed.contains(['(', '[', '{']) {
        return parse_text(trimmed).map_err(|e| GenotypeError::InString { source: Box::new(e) });
    }
    Err(GenotypeError::Unresolved { spec: spec.to_string(), known: NAMES.join(", ") })
}

fn parse_text(text: &str) -> Result<Genotype, GenotypeError> {
    if text.trim_start().starts_with('{') {
        Genotype::from_json(text)
    } else {
        text.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference definitions, verbatim from the files named in the module docs.
    const REFERENCE: [(&str, &str); 7] = [
        (
            "DARTS_V1",
            "Genotype(normal=[('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 0), ('sep_conv_3x3', 1), ('skip_connect', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 0), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('avg_pool_3x3', 0)], reduce_concat=[2, 3, 4, 5])",
        ),
        ("DARTS_V2", DARTS_V2_TEXT),
        (
            "Cri1_CIFAR_Best",
            "Cri1_CIFAR_3 = Genotype(normal=[('sep_conv_3x3', 0), ('dil_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_5x5', 1), ('sep_conv_5x5', 3), ('skip_connect', 0), ('dil_conv_5x5', 2)], normal_concat=range(2, 6), reduce=[('max_pool_3x3', 0), ('dil_conv_5x5', 1), ('sep_conv_3x3', 0), ('skip_connect', 2), ('sep_conv_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 0), ('max_pool_3x3', 1)], reduce_concat=range(2, 6))",
        ),
        (
            "Cri2_CIFAR_Best",
            "Cri2_CIFAR_3 = Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 2), ('max_pool_3x3', 0), ('sep_conv_3x3', 3), ('sep_conv_3x3', 2), ('sep_conv_3x3', 3)], normal_concat=range(2, 6), reduce=[('sep_conv_3x3', 0), ('max_pool_3x3', 1), ('dil_conv_3x3', 0), ('max_pool_3x3', 1), ('max_pool_3x3', 0), ('sep_conv_3x3', 2), ('max_pool_3x3', 0), ('sep_conv_5x5', 2)], reduce_concat=range(2, 6))",
        ),
        (
            "FashionMNIST_1",
            "FashionMNIST_1 = Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('dil_conv_3x3', 2), ('dil_conv_3x3', 1), ('sep_conv_3x3', 2), ('skip_connect', 0), ('sep_conv_3x3', 4)], normal_concat=range(2, 6), reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('max_pool_3x3', 1), ('sep_conv_3x3', 2), ('dil_conv_3x3', 2), ('dil_conv_3x3', 3), ('dil_conv_3x3', 2), ('dil_conv_3x3', 3)], reduce_concat=range(2, 6))",
        ),
        (
            "FashionMNIST_2",
            "FashionMNIST_2 = Genotype(normal=[('dil_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('dil_conv_3x3', 2), ('skip_connect', 2), ('dil_conv_3x3', 3), ('sep_conv_3x3', 0), ('dil_conv_3x3', 3)], normal_concat=range(2, 6), reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('dil_conv_3x3', 0), ('skip_connect', 2), ('dil_conv_3x3', 2), ('dil_conv_3x3', 3), ('skip_connect', 2), ('dil_conv_3x3', 3)], reduce_concat=range(2, 6))",
        ),
        (
            "FashionMNIST_3",
            "FashionMNIST_3 = Genotype(normal=[('dil_conv_3x3', 0), ('dil_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('skip_connect', 0), ('dil_conv_3x3', 2), ('skip_connect', 2), ('dil_conv_3x3', 3)], normal_concat=range(2, 6), reduce=[('max_pool_3x3', 0), ('skip_connect', 1), ('dil_conv_3x3', 0), ('dil_conv_3x3', 2), ('dil_conv_3x3', 2), ('sep_conv_3x3', 3), ('sep_conv_3x3', 0), ('skip_connect', 2)], reduce_concat=range(2, 6))",
        ),
    ];

    const DARTS_V2_TEXT: &str = "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])";

    #[test]
    fn names_match_the_table() {
        let table: Vec<&str> = NAMED.iter().map(|n| n.name).collect();
        assert_eq!(table, Genotype::names());
    }

    #[test]
    fn darts_v2_prints_byte_for_byte() {
        assert_eq!(Genotype::named("DARTS_V2").unwrap().to_string(), DARTS_V2_TEXT);
        assert_eq!(Genotype::named("DARTS"), Genotype::named("DARTS_V2"));
    }

    #[test]
    fn named_genotypes_equal_the_reference_definitions() {
        for (name, text) in REFERENCE {
            let reference: Genotype = text.parse().unwrap_or_else(|e| panic!("{name}: {e}"));
            let named = Genotype::named(name).unwrap();
            assert_eq!(named, reference, "{name}");
            assert_eq!(named.validate(), Ok(()));
        }
    }

    #[test]
    fn every_named_genotype_round_trips() {
        for name in Genotype::names() {
            let g = Genotype::named(name).unwrap();
            let text = g.to_string();
            let again: Genotype = text.parse().unwrap();
            assert_eq!(again, g, "{name}");
            assert_eq!(again.to_string(), text, "{name}");
            assert_eq!(Genotype::from_json(&g.to_json()), Ok(g.clone()), "{name}");
            assert_eq!(g.steps(), 4);
        }
    }

    #[test]
    fn fashion_mnist_genotypes_fit_the_sgas_es_space() {
        use super::super::OpSet;
        for name in ["FashionMNIST_1", "FashionMNIST_2", "FashionMNIST_3"] {
            assert_eq!(Genotype::named(name).unwrap().check_ops(&OpSet::sgas_es()), Ok(()), "{name}");
        }
        // DARTS_V1's reduction cell ends with avg_pool_3x3, which SGAS-es dropped.
        let err = Genotype::named("DARTS_V1").unwrap().check_ops(&OpSet::sgas_es()).unwrap_err();
        assert!(matches!(err, GenotypeError::OpNotInSpace { op: DartsOp::AvgPool3x3, pos: 7, .. }), "{err}");
    }

    #[test]
    fn darts_v2_json() {
        let json = Genotype::named("darts_v2").unwrap().to_json();
        assert_eq!(
            json,
            r#"{"normal":[["sep_conv_3x3",0],["sep_conv_3x3",1],["sep_conv_3x3",0],["sep_conv_3x3",1],["sep_conv_3x3",1],["skip_connect",0],["skip_connect",0],["dil_conv_3x3",2]],"normal_concat":[2,3,4,5],"reduce":[["max_pool_3x3",0],["max_pool_3x3",1],["skip_connect",2],["max_pool_3x3",1],["max_pool_3x3",0],["skip_connect",2],["skip_connect",2],["max_pool_3x3",1]],"reduce_concat":[2,3,4,5]}"#
        );
    }

    #[test]
    fn lookup_ignores_case_and_lists_names_on_error() {
        assert_eq!(Genotype::named("fashionmnist_2"), Genotype::named("FashionMNIST_2"));
        assert!(Genotype::named("NASNet").is_none());
        let err = Genotype::by_name("DARTS_V3").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown genotype name 'DARTS_V3'; known names: DARTS_V1, DARTS_V2, DARTS, Cri1_CIFAR_Best, \
             Cri2_CIFAR_Best, FashionMNIST_1, FashionMNIST_2, FashionMNIST_3"
        );
    }

    #[test]
    fn resolve_name_string_json_and_files() {
        let v2 = Genotype::named("DARTS_V2").unwrap();
        assert_eq!(resolve(" darts_v2 "), Ok(v2.clone()));
        assert_eq!(resolve(DARTS_V2_TEXT), Ok(v2.clone()));
        assert_eq!(resolve(&v2.to_json()), Ok(v2.clone()));

        let dir = tempfile::tempdir().unwrap();
        let text_file = dir.path().join("g.txt");
        std::fs::write(&text_file, format!("DARTS_V2 = {DARTS_V2_TEXT}\n")).unwrap();
        assert_eq!(resolve(text_file.to_str().unwrap()), Ok(v2.clone()));
        let json_file = dir.path().join("g.json");
        std::fs::write(&json_file, serde_json::to_string_pretty(&v2).unwrap()).unwrap();
        assert_eq!(resolve(json_file.to_str().unwrap()), Ok(v2.clone()));

        let bad_file = dir.path().join("bad.txt");
        std::fs::write(&bad_file, DARTS_V2_TEXT.replace("dil_conv_3x3", "dil_conv_9x9")).unwrap();
        let err = resolve(bad_file.to_str().unwrap()).unwrap_err();
        assert!(
            matches!(&err, GenotypeError::InFile { source, .. } if matches!(**source, GenotypeError::UnknownOp { pos: 7, .. }))
        );
        assert!(err.to_string().contains("as a genotype file"), "{err}");
        assert!(err.to_string().contains("unknown op 'dil_conv_9x9' at normal[7]"), "{err}");
    }

    #[test]
    fn resolve_errors_say_what_was_tried() {
        let err = resolve("DARTS_V3").unwrap_err();
        assert!(matches!(err, GenotypeError::Unresolved { .. }));
        let msg = err.to_string();
        assert!(msg.starts_with("'DARTS_V3' is not a known genotype name (DARTS_V1, "), "{msg}");
        assert!(msg.contains("not an existing file"), "{msg}");
        assert!(msg.contains("not a genotype string"), "{msg}");

        let err = resolve("Genotype(normal=[('sep_conv_3x3', 0)").unwrap_err();
        assert!(matches!(&err, GenotypeError::InString { source } if matches!(**source, GenotypeError::Syntax { .. })));
        assert!(err.to_string().starts_with("the argument is neither a known genotype name nor an existing file"));

        assert!(matches!(resolve(""), Err(GenotypeError::Unresolved { .. })));
    }
}
