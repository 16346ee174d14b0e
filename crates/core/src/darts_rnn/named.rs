//! Published recurrent genotypes by name, and [`resolve`] for command-line arguments.
//!
//! Source (data values only): quark0/darts `rnn/genotypes.py`: DARTS_V1 (first-order search), DARTS_V2
//! (second order; the reference aliases `DARTS` to it and evaluates it by default) and ENAS (the ENAS
//! paper's PTB cell written in this cell form: 11 nodes, 6 of them averaged).

use std::path::Path;

use super::genotype::{RnnGenotype, RnnGenotypeError};
use super::RnnOp::{self, *};

/// Names [`resolve`] knows, as printed in errors and `--help`.
pub const NAMES: [&str; 4] = ["DARTS_V1", "DARTS_V2", "DARTS", "ENAS"];

const DARTS_V1: [(RnnOp, usize); 8] =
    [(Relu, 0), (Relu, 1), (Tanh, 2), (Relu, 3), (Relu, 4), (Identity, 1), (Relu, 5), (Relu, 1)];
const DARTS_V2: [(RnnOp, usize); 8] =
    [(Sigmoid, 0), (Relu, 1), (Relu, 1), (Identity, 1), (Tanh, 2), (Sigmoid, 5), (Tanh, 3), (Relu, 5)];
const ENAS: [(RnnOp, usize); 11] = [
    (Tanh, 0),
    (Tanh, 1),
    (Relu, 1),
    (Tanh, 3),
    (Tanh, 3),
    (Relu, 3),
    (Relu, 4),
    (Relu, 7),
    (Relu, 8),
    (Relu, 8),
    (Relu, 8),
];

impl RnnGenotype {
    /// A published genotype by name (case-insensitive).
    pub fn named(name: &str) -> Option<RnnGenotype> {
        let (recurrent, concat): (&[(RnnOp, usize)], Vec<usize>) = match name.to_ascii_uppercase().as_str() {
            "DARTS_V1" => (&DARTS_V1, (1..9).collect()),
            "DARTS_V2" | "DARTS" => (&DARTS_V2, (1..9).collect()),
            "ENAS" => (&ENAS, vec![2, 5, 6, 9, 10, 11]),
            _ => return Option::None,
        };
        Some(RnnGenotype { recurrent: recurrent.to_vec(), concat })
    }
}

/// A recurrent genotype from a command-line argument: a name from [`NAMES`], the path of an existing
/// file holding the string or JSON form, or that form itself. A known name wins over a file.
pub fn resolve(spec: &str) -> Result<RnnGenotype, RnnGenotypeError> {
    let trimmed = spec.trim();
    if let Some(g) = RnnGenotype::named(trimmed) {
        return Ok(g);
    }
    let path = Path::new(trimmed);
    if !trimmed.is_empty() && path.is_file() {
        let in_file = |source| RnnGenotypeError::InFile { path: trimmed.to_string(), source: Box::new(source) };
        let text = std::fs::read_to_string(path)
            .map_err(|e| RnnGenotypeError::ReadFile { path: trimmed.to_string(), message: e.to_string() })?;
        return text.trim().parse().map_err(in_file);
    }
    if trimmed.contains(['(', '[', '{']) {
        return trimmed.parse();
    }
    Err(RnnGenotypeError::UnknownName { name: spec.to_string(), known: NAMES.join(", ") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_genotypes_are_valid_and_print_as_the_reference() {
        for name in NAMES {
            let g = resolve(name).unwrap();
            g.validate().unwrap();
            assert_eq!(resolve(&g.to_string()), Ok(g.clone()), "{name}");
        }
        assert_eq!(
            resolve("darts_v1").unwrap().to_string(),
            "Genotype(recurrent=[('relu', 0), ('relu', 1), ('tanh', 2), ('relu', 3), ('relu', 4), ('identity', 1), \
             ('relu', 5), ('relu', 1)], concat=range(1, 9))"
        );
        assert_eq!(resolve("DARTS"), resolve("DARTS_V2"));
        assert_eq!(resolve("ENAS").unwrap().concat, vec![2, 5, 6, 9, 10, 11]);
    }

    #[test]
    fn files_strings_and_unknown_names() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cell.txt");
        std::fs::write(&file, format!("{}\n", resolve("DARTS_V1").unwrap())).unwrap();
        assert_eq!(resolve(file.to_str().unwrap()), resolve("DARTS_V1"));
        std::fs::write(&file, "Genotype(recurrent=[('relu', 3)], concat=[1])").unwrap();
        let e = resolve(file.to_str().unwrap()).unwrap_err().to_string();
        assert!(e.starts_with(&format!("read '{}' as a recurrent genotype file", file.display())), "{e}");
        assert!(e.contains("recurrent[0] takes node 3"), "{e}");
        let e = resolve("DARTS_V3").unwrap_err().to_string();
        assert!(
            e.contains("'DARTS_V3' is not a known recurrent genotype name (DARTS_V1, DARTS_V2, DARTS, ENAS)"),
            "{e}"
        );
    }
}
