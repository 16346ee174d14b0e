//! A reader for the Python namedtuple reprs that NAS reference repositories print and write by hand in
//! their `genotypes.py` files, e.g. `Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=[2, 3])`.
//! Each genotype kind names its fields ([`read_call`]) and converts the values with [`Parser::pairs`]
//! and [`Parser::concat`].
//!
//! Accepted beyond the printed form: any whitespace and newlines, `#` comments, single or double quotes,
//! an optional leading `NAME =`, keyword or positional arguments (positional first, as in Python),
//! trailing commas, pairs written as tuples or lists, and concat lists written as `range(a, b)`,
//! `list(range(...))` or tuples. Anything else is a syntax error with line and column.

/// Where and why a text is not a well-formed call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Reads `head(field=value, ...)` with exactly the named `fields`, each given once, positionally or by
/// keyword. Returns the reader (for converting the values with positions) and one value per field.
pub(crate) fn read_call<'a>(
    text: &'a str,
    head: &str,
    fields: &[&str],
) -> Result<(Parser<'a>, Vec<Spanned>), SyntaxError> {
    let mut parser = Parser { src: text, pos: 0, depth: 0 };
    let values = parser.call(head, fields)?;
    Ok((parser, values))
}

/// Longest concat accepted from `range(...)`: far above any real cell, low enough that a typo such as
/// `range(2, 600000000)` is an error instead of an allocation.
const MAX_RANGE_LEN: usize = 1024;

pub(super) enum Value {
    Str(String),
    Int(usize),
    Seq(Vec<Spanned>),
    Range(usize, usize),
}

pub(crate) struct Spanned {
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

pub(crate) struct Parser<'a> {
    src: &'a str,
    pos: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn error(&self, at: usize, message: String) -> SyntaxError {
        let before = &self.src[..at];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        SyntaxError { line, column, message }
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

    fn expect(&mut self, c: char, what: &str) -> Result<(), SyntaxError> {
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

    fn call(&mut self, head_name: &str, fields: &[&str]) -> Result<Vec<Spanned>, SyntaxError> {
        let (mut head, mut head_at) = self
            .ident()
            .ok_or_else(|| self.error(self.pos, format!("expected '{head_name}(', found {}", self.found())))?;
        self.skip_ws();
        if self.src[self.pos..].starts_with('=') {
            self.bump();
            (head, head_at) = self.ident().ok_or_else(|| {
                self.error(self.pos, format!("expected '{head_name}(' after '{head} =', found {}", self.found()))
            })?;
        }
        if head != head_name {
            return Err(self.error(head_at, format!("expected '{head_name}(', found '{head}'")));
        }
        self.expect('(', &format!("'(' after '{head_name}'"))?;

        let mut values: Vec<Option<Spanned>> = fields.iter().map(|_| None).collect();
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
                    fields.iter().position(|f| *f == name).ok_or_else(|| {
                        self.error(at, format!("unknown field '{name}'; {head_name} has {}", fields.join(", ")))
                    })?
                }
                None => {
                    if seen_keyword {
                        return Err(self.error(arg_at, "positional argument after a keyword argument".into()));
                    }
                    if positional >= fields.len() {
                        return Err(
                            self.error(arg_at, format!("too many arguments; {head_name} has {}", fields.join(", ")))
                        );
                    }
                    positional += 1;
                    positional - 1
                }
            };
            let value = self.value()?;
            if values[slot].is_some() {
                return Err(self.error(arg_at, format!("field '{}' given twice", fields[slot])));
            }
            values[slot] = Some(value);
            if !self.eat(',') {
                self.expect(')', &format!("',' or ')' after the {} argument", fields[slot]))?;
                break;
            }
        }
        let close = self.pos.saturating_sub(1);
        self.skip_ws();
        if self.pos < self.src.len() {
            return Err(self.error(self.pos, format!("unexpected {} after the closing ')'", self.found())));
        }

        values
            .into_iter()
            .enumerate()
            .map(|(slot, v)| {
                v.ok_or_else(|| {
                    let (field, all) = (fields[slot], fields.join(", "));
                    self.error(close, format!("missing field '{field}'; {head_name} needs {all}"))
                })
            })
            .collect()
    }

    pub(crate) fn pairs(&self, field: &str, v: Spanned) -> Result<Vec<(String, usize)>, SyntaxError> {
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

    pub(crate) fn concat(&self, field: &str, v: Spanned) -> Result<Vec<usize>, SyntaxError> {
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

    fn value(&mut self) -> Result<Spanned, SyntaxError> {
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

    fn int(&mut self) -> Result<usize, SyntaxError> {
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
