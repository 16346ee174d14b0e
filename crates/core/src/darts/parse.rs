//! Reader for genotypes written as Python: the namedtuple repr the reference prints, and the way the
//! reference repositories write them by hand in `genotypes.py`.
//!
//! Accepted beyond the printed form: any whitespace and newlines, `#` comments, single or double quotes,
//! an optional leading `NAME =`, keyword or positional arguments (positional first, as in Python),
//! trailing commas, pairs written as tuples or lists, and concat lists written as `range(a, b)`,
//! `list(range(...))` or tuples. Anything else is a syntax error with line and column.

use super::genotype::{GenotypeError, RawGenotype};

const FIELDS: [&str; 4] = ["normal", "normal_concat", "reduce", "reduce_concat"];

/// Longest concat accepted from `range(...)`: far above any real cell, low enough that a typo such as
/// `range(2, 600000000)` is an error instead of an allocation.
const MAX_RANGE_LEN: usize = 1024;

pub(super) fn parse(text: &str) -> Result<RawGenotype, GenotypeError> {
    Parser { src: text, pos: 0, depth: 0 }.genotype()
}

enum Value {
    Str(String),
    Int(usize),
    Seq(Vec<Spanned>),
    Range(usize, usize),
}

struct Spanned {
    value: Value,
    at: usize,
}

impl Value {
    fn describe(&self) -> String {
        match self {
            Value::Str(s) => format!("the string '{s}'"),
            Value::Int(v) => format!("the integer {v}"),
            Value::Seq(items) => format!("a sequence of {} item(s)", items.len()),
            Value::Range(a, b) => format!("range({a}, {b})"),
        }
    }
}

/// Deepest bracket nesting accepted. A genotype needs 2 (a list of pairs); the bound keeps a
/// pathological input from exhausting the stack of this recursive reader.
const MAX_DEPTH: usize = 16;

struct Parser<'a> {
    src: &'a str,
    pos: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn error(&self, at: usize, message: String) -> GenotypeError {
        let before = &self.src[..at];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        GenotypeError::Syntax { line, column, message }
    }

    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn bump(&mut self) {
        if let Some(c) = self.peek() {
            self.pos += c.len_utf8();
        }
    }

    /// The word or character at the cursor, for "found ..." in messages.
    fn found(&self) -> String {
        let rest = &self.src[self.pos..];
        match rest.chars().next() {
            None => "the end of the input".to_string(),
            Some(c) if c.is_alphanumeric() || c == '_' => {
                let word: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').take(40).collect();
                format!("'{word}'")
            }
            Some(c) => format!("'{c}'"),
        }
    }

    fn skip_ws(&mut self) {
        while let Some(c) = self.peek() {
            if c.is_whitespace() {
                self.bump();
            } else if c == '#' {
                while let Some(c) = self.peek() {
                    if c == '\n' {
                        break;
                    }
                    self.bump();
                }
            } else if c == '\\' && self.src[self.pos + 1..].trim_start_matches([' ', '\t', '\r']).starts_with('\n') {
                // Python line continuation.
                self.bump();
            } else {
                break;
            }
        }
    }

    fn eat(&mut self, c: char) -> bool {
        self.skip_ws();
        if self.peek() == Some(c) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char, what: &str) -> Result<(), GenotypeError> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(self.error(self.pos, format!("expected {what}, found {}", self.found())))
        }
    }

    fn ident(&mut self) -> Option<(&'a str, usize)> {
        self.skip_ws();
        let start = self.pos;
        let src: &'a str = self.src;
        let rest = &src[start..];
        let first = rest.chars().next()?;
        if !(first.is_alphabetic() || first == '_') {
            return None;
        }
        let len = rest.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(rest.len());
        self.pos += len;
        Some((&src[start..start + len], start))
    }

    fn genotype(mut self) -> Result<RawGenotype, GenotypeError> {
        let (mut head, mut head_at) = self
            .ident()
            .ok_or_else(|| self.error(self.pos, format!("expected 'Genotype(', found {}", self.found())))?;
        self.skip_ws();
        if self.src[self.pos..].starts_with('=') {
            self.bump();
            (head, head_at) = self.ident().ok_or_else(|| {
                self.error(self.pos, format!("expected 'Genotype(' after '{head} =', found {}", self.found()))
            })?;
        }
        if head != "Genotype" {
            return Err(self.error(head_at, format!("expected 'Genotype(', found '{head}'")));
        }
        self.expect('(', "'(' after 'Genotype'")?;

        let mut fields: [Option<Spanned>; 4] = Default::default();
        let mut positional = 0;
        let mut seen_keyword = false;
        loop {
            if self.eat(')') {
                break;
            }
            let arg_at = {
                self.skip_ws();
                self.pos
            };
            let keyword = {
                let save = self.pos;
                match self.ident() {
                    Some((name, at)) => {
                        let name = name.to_string();
                        self.skip_ws();
                        let rest = &self.src[self.pos..];
                        if rest.starts_with('=') && !rest.starts_with("==") {
                            self.bump();
                            Some((name, at))
                        } else {
                            self.pos = save;
                            None
                        }
                    }
                    None => None,
                }
            };
            let slot = match keyword {
                Some((name, at)) => {
                    seen_keyword = true;
                    FIELDS.iter().position(|f| *f == name).ok_or_else(|| {
                        self.error(at, format!("unknown field '{name}'; Genotype has {}", FIELDS.join(", ")))
                    })?
                }
                None => {
                    if seen_keyword {
                        return Err(self.error(arg_at, "positional argument after a keyword argument".into()));
                    }
                    if positional >= FIELDS.len() {
                        return Err(
                            self.error(arg_at, format!("too many arguments; Genotype has {}", FIELDS.join(", ")))
                        );
                    }
                    positional += 1;
                    positional - 1
                }
            };
            let value = self.value()?;
            if fields[slot].is_some() {
                return Err(self.error(arg_at, format!("field '{}' given twice", FIELDS[slot])));
            }
            fields[slot] = Some(value);
            if !self.eat(',') {
                self.expect(')', &format!("',' or ')' after the {} argument", FIELDS[slot]))?;
                break;
            }
        }
        let close = self.pos.saturating_sub(1);
        self.skip_ws();
        if self.pos < self.src.len() {
            return Err(self.error(self.pos, format!("unexpected {} after the closing ')'", self.found())));
        }

        let [normal, normal_concat, reduce, reduce_concat] = fields;
        let take = |slot: usize, v: Option<Spanned>| {
            v.ok_or_else(|| {
                self.error(close, format!("missing field '{}'; Genotype needs {}", FIELDS[slot], FIELDS.join(", ")))
            })
        };
        let (normal, normal_concat) = (take(0, normal)?, take(1, normal_concat)?);
        let (reduce, reduce_concat) = (take(2, reduce)?, take(3, reduce_concat)?);
        Ok(RawGenotype {
            normal: self.pairs("normal", normal)?,
            normal_concat: self.concat("normal_concat", normal_concat)?,
            reduce: self.pairs("reduce", reduce)?,
            reduce_concat: self.concat("reduce_concat", reduce_concat)?,
        })
    }

    fn pairs(&self, field: &str, v: Spanned) -> Result<Vec<(String, usize)>, GenotypeError> {
        let Value::Seq(items) = v.value else {
            return Err(self
                .error(v.at, format!("{field} must be a list of ('op', input) pairs, found {}", v.value.describe())));
        };
        items
            .into_iter()
            .enumerate()
            .map(|(i, item)| match item.value {
                Value::Seq(pair) => match <[Spanned; 2]>::try_from(pair) {
                    Ok([Spanned { value: Value::Str(op), .. }, Spanned { value: Value::Int(input), .. }]) => {
                        Ok((op, input))
                    }
                    Ok([op, input]) => Err(self.error(
                        item.at,
                        format!(
                            "{field}[{i}] must be ('op', input), found ({}, {})",
                            op.value.describe(),
                            input.value.describe()
                        ),
                    )),
                    Err(pair) => Err(self.error(
                        item.at,
                        format!("{field}[{i}] must be a pair ('op', input), found {} item(s)", pair.len()),
                    )),
                },
                other => Err(self
                    .error(item.at, format!("{field}[{i}] must be a pair ('op', input), found {}", other.describe()))),
            })
            .collect()
    }

    fn concat(&self, field: &str, v: Spanned) -> Result<Vec<usize>, GenotypeError> {
        match v.value {
            Value::Range(start, stop) => {
                if stop.saturating_sub(start) > MAX_RANGE_LEN {
                    return Err(self.error(v.at, format!("range({start}, {stop}) is far too long for {field}")));
                }
                Ok((start..stop).collect())
            }
            Value::Seq(items) => items
                .into_iter()
                .map(|item| match item.value {
                    Value::Int(n) => Ok(n),
                    other => {
                        Err(self.error(item.at, format!("{field} must hold integers, found {}", other.describe())))
                    }
                })
                .collect(),
            other => Err(self
                .error(v.at, format!("{field} must be a list of integers or range(a, b), found {}", other.describe()))),
        }
    }

    fn value(&mut self) -> Result<Spanned, GenotypeError> {
        self.skip_ws();
        let at = self.pos;
        let value = match self.peek() {
            Some(q @ ('\'' | '"')) => {
                self.bump();
                let mut s = String::new();
                loop {
                    match self.peek() {
                        None | Some('\n') => return Err(self.error(at, "unterminated string".into())),
                        Some(c) if c == q => {
                            self.bump();
                            break;
                        }
                        Some('\\') => {
                            self.bump();
                            if let Some(c) = self.peek() {
                                s.push(c);
                                self.bump();
                            }
                        }
                        Some(c) => {
                            s.push(c);
                            self.bump();
                        }
                    }
                }
                Value::Str(s)
            }
            Some(c) if c.is_ascii_digit() => Value::Int(self.int()?),
            Some(open @ ('[' | '(')) => {
                if self.depth >= MAX_DEPTH {
                    return Err(self.error(at, format!("brackets nested more than {MAX_DEPTH} deep")));
                }
                self.depth += 1;
                self.bump();
                let close = if open == '[' { ']' } else { ')' };
                let mut items = Vec::new();
                loop {
                    if self.eat(close) {
                        break;
                    }
                    items.push(self.value()?);
                    if !self.eat(',') {
                        self.expect(close, &format!("',' or '{close}'"))?;
                        break;
                    }
                }
                self.depth -= 1;
                Value::Seq(items)
            }
            _ => match self.ident() {
                Some(("range", _)) => {
                    self.expect('(', "'(' after 'range'")?;
                    let mut args = Vec::with_capacity(2);
                    loop {
                        self.skip_ws();
                        args.push(self.int()?);
                        if self.eat(')') {
                            break;
                        }
                        self.expect(',', "',' or ')' in range(...)")?;
                        if self.eat(')') {
                            break;
                        }
                        if args.len() == 2 {
                            self.skip_ws();
                            return Err(self.error(self.pos, "range(...) with a step argument is not supported".into()));
                        }
                    }
                    match args[..] {
                        [stop] => Value::Range(0, stop),
                        [start, stop, ..] => Value::Range(start, stop),
                        [] => Value::Range(0, 0),
                    }
                }
                Some((wrapper @ ("list" | "tuple"), _)) => {
                    self.expect('(', &format!("'(' after '{wrapper}'"))?;
                    let inner = self.value()?;
                    self.expect(')', &format!("')' closing {wrapper}(...)"))?;
                    inner.value
                }
                Some((name, name_at)) => {
                    let name = name.to_string();
                    return Err(self.error(
                        name_at,
                        format!("unexpected name '{name}'; expected a string, an integer, a list or range(...)"),
                    ));
                }
                None => {
                    return Err(self.error(
                        at,
                        format!("expected a string, an integer, a list or range(...), found {}", self.found()),
                    ))
                }
            },
        };
        Ok(Spanned { value, at })
    }

    fn int(&mut self) -> Result<usize, GenotypeError> {
        let at = self.pos;
        let digits: &str = {
            let rest = &self.src[at..];
            let len = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
            &rest[..len]
        };
        if digits.is_empty() {
            return Err(self.error(at, format!("expected a non-negative integer, found {}", self.found())));
        }
        let n = digits.parse::<usize>().map_err(|_| self.error(at, format!("integer {digits} is too large")))?;
        self.pos += digits.len();
        Ok(n)
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
