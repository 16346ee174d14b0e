//! The DARTS CNN genotype in the reference's Python repr form, read with the shared [`crate::pyrepr`]
//! reader: `Genotype(normal=[...], normal_concat=[...], reduce=[...], reduce_concat=[...])`.

use super::genotype::{GenotypeError, RawGenotype};
use crate::pyrepr::{read_call, SyntaxError};

const FIELDS: [&str; 4] = ["normal", "normal_concat", "reduce", "reduce_concat"];

pub(super) fn parse(text: &str) -> Result<RawGenotype, GenotypeError> {
    let (reader, values) = read_call(text, "Genotype", &FIELDS)?;
    let [normal, normal_concat, reduce, reduce_concat] =
        <[_; 4]>::try_from(values).unwrap_or_else(|_| unreachable!("read_call returns one value per field"));
    Ok(RawGenotype {
        normal: reader.pairs("normal", normal)?,
        normal_concat: reader.concat("normal_concat", normal_concat)?,
        reduce: reader.pairs("reduce", reduce)?,
        reduce_concat: reader.concat("reduce_concat", reduce_concat)?,
    })
}

impl From<SyntaxError> for GenotypeError {
    fn from(e: SyntaxError) -> Self {
        GenotypeError::Syntax { line: e.line, column: e.column, message: e.message }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{CellKind, DartsOp, Genotype};
    use super::*;

    const SMALL: &str = "Genotype(normal=[('sep_conv_3x3', 0), ('skip_connect', 1)], normal_concat=[2], \
                         reduce=[('max_pool_3x3', 0), ('dil_conv_5x5', 1)], reduce_concat=[2])";

    fn small() -> Genotype {
        SMALL.parse().unwrap()
    }

    fn syntax(text: &str) -> (usize, usize, String) {
        match text.parse::<Genotype>() {
            Err(GenotypeError::Syntax { line, column, message }) => (line, column, message),
            other => panic!("expected a syntax error for {text:?}, got {other:?}"),
        }
    }

    #[test]
    fn parses_the_printed_form() {
        let g = small();
        assert_eq!(g.normal, vec![(DartsOp::SepConv3x3, 0), (DartsOp::SkipConnect, 1)]);
        assert_eq!(g.reduce_concat, vec![2]);
        assert_eq!(g.to_string(), SMALL);
    }

    #[test]
    fn accepts_reference_variations() {
        let variants = [
            // genotypes.py style: name, newlines, comments, trailing commas, spaces around '='.
            "DARTS_X = Genotype(\n  normal = [\n    ('sep_conv_3x3', 0),  # first\n    ('skip_connect', 1),\n  ],\n  \
             normal_concat = range(2, 3),\n  reduce=[('max_pool_3x3',0),('dil_conv_5x5',1)],\n  reduce_concat=list(range(2,3)),\n)\n",
            // double quotes, lists as pairs, tuple concat.
            r#"Genotype(normal=[["sep_conv_3x3", 0], ["skip_connect", 1]], normal_concat=(2,), reduce=[("max_pool_3x3", 0), ("dil_conv_5x5", 1)], reduce_concat=[2])"#,
            // positional arguments; range(2, 3) and keyword order shuffled.
            "Genotype([('sep_conv_3x3', 0), ('skip_connect', 1)], [2], reduce_concat=range(2, 3), reduce=[('max_pool_3x3', 0), ('dil_conv_5x5', 1)])",
            // line continuation and surrounding whitespace.
            "\t Genotype(normal=[('sep_conv_3x3', 0), \\\n ('skip_connect', 1)], normal_concat=[2], reduce=[('max_pool_3x3', 0), ('dil_conv_5x5', 1)], reduce_concat=[2])  \n",
        ];
        for text in variants {
            let g: Genotype = text.parse().unwrap_or_else(|e| panic!("{text:?}: {e}"));
            assert_eq!(g, small(), "{text:?}");
        }
    }

    #[test]
    fn range_forms() {
        let text = |c: &str| SMALL.replace("normal_concat=[2]", &format!("normal_concat={c}"));
        // range(3) = [0, 1, 2]: parses, then fails validation on 0.
        assert_eq!(
            text("range(3)").parse::<Genotype>(),
            Err(GenotypeError::ConcatOutOfRange { cell: CellKind::Normal, value: 0, steps: 1 })
        );
        assert_eq!(text("range(2, 3,)").parse::<Genotype>(), Ok(small()));
        assert_eq!(
            text("range(3,)").parse::<Genotype>().unwrap_err(),
            text("range(3)").parse::<Genotype>().unwrap_err()
        );
        let (_, _, msg) = syntax(&text("range(2, 6, 1)"));
        assert!(msg.contains("step argument is not supported"), "{msg}");
        let (_, _, msg) = syntax(&text("range(2, 99999999999)"));
        assert!(msg.contains("far too long"), "{msg}");
    }

    #[test]
    fn syntax_errors_have_positions() {
        let (line, column, msg) = syntax("Genotype(normal=[('sep_conv_3x3', 0) ('skip_connect', 1)], normal_concat=[2], reduce=[], reduce_concat=[2])");
        assert_eq!((line, column), (1, 38));
        assert_eq!(msg, "expected ',' or ']', found '('");

        let (line, column, msg) = syntax("Genotype(\n  normal=[('sep_conv_3x3', 0)],\n  concat=[2])");
        assert_eq!((line, column), (3, 3));
        assert_eq!(msg, "unknown field 'concat'; Genotype has normal, normal_concat, reduce, reduce_concat");

        let (_, _, msg) = syntax("Genotype(normal=[('sep_conv_3x3', 0), ('skip_connect', 1)], normal_concat=[2])");
        assert_eq!(msg, "missing field 'reduce'; Genotype needs normal, normal_concat, reduce, reduce_concat");

        let (_, _, msg) = syntax(&format!("{SMALL} extra"));
        assert_eq!(msg, "unexpected 'extra' after the closing ')'");

        let (_, _, msg) = syntax("Genome(normal=[])");
        assert_eq!(msg, "expected 'Genotype(', found 'Genome'");

        let (_, column, msg) = syntax(&SMALL.replace("('skip_connect', 1)", "('skip_connect', 1, 2)"));
        assert_eq!(column, 39);
        assert_eq!(msg, "normal[1] must be a pair ('op', input), found 3 item(s)");

        let (_, _, msg) = syntax(&SMALL.replace("('skip_connect', 1)", "(1, 'skip_connect')"));
        assert_eq!(msg, "normal[1] must be ('op', input), found (the integer 1, the string 'skip_connect')");

        let (line, column, msg) = syntax("Genotype(normal=[\n  ('sep_conv_3x3, 0)]");
        assert_eq!((line, column, msg.as_str()), (2, 4, "unterminated string"));

        let (_, _, msg) = syntax(&SMALL.replace("reduce_concat=[2]", "reduce_concat=[2], normal=[]"));
        assert_eq!(msg, "field 'normal' given twice");

        let (_, _, msg) = syntax("Genotype(normal=[], [2])");
        assert_eq!(msg, "positional argument after a keyword argument");

        let (_, _, msg) = syntax(&SMALL.replace("normal_concat=[2]", "normal_concat=[-2]"));
        assert_eq!(msg, "expected a string, an integer, a list or range(...), found '-'");

        let (_, _, msg) = syntax(&SMALL.replace("normal_concat=[2]", "normal_concat=[x]"));
        assert_eq!(msg, "unexpected name 'x'; expected a string, an integer, a list or range(...)");

        let deep = format!("Genotype(normal={}", "[".repeat(100_000));
        let (_, column, msg) = syntax(&deep);
        assert_eq!((column, msg.as_str()), (33, "brackets nested more than 16 deep"));

        let (_, _, msg) = syntax("");
        assert_eq!(msg, "expected 'Genotype(', found the end of the input");
    }

    #[test]
    fn semantic_errors_name_the_pair() {
        let err = SMALL.replace("'skip_connect', 1", "'conv_3x3', 1").parse::<Genotype>().unwrap_err();
        assert_eq!(err, GenotypeError::UnknownOp { cell: CellKind::Normal, pos: 1, op: "conv_3x3".into() });
        assert_eq!(
            err.to_string(),
            "unknown op 'conv_3x3' at normal[1]; expected one of max_pool_3x3, avg_pool_3x3, skip_connect, \
             sep_conv_3x3, sep_conv_5x5, dil_conv_3x3, dil_conv_5x5"
        );
        let err = SMALL.replace("('dil_conv_5x5', 1)", "('dil_conv_5x5', 2)").parse::<Genotype>().unwrap_err();
        assert_eq!(err, GenotypeError::InputOutOfRange { cell: CellKind::Reduce, pos: 1, input: 2, node: 0 });
        let err = SMALL.replace("[('sep_conv_3x3', 0), ", "[").parse::<Genotype>().unwrap_err();
        assert_eq!(err, GenotypeError::OddPairs { cell: CellKind::Normal, len: 1 });
    }
}
