//! A parser of CloudWatch's metric-math grammar (the CloudWatch User Guide's "Metric math syntax
//! and functions"), so that an expression that CloudWatch would refuse is refused offline, naming
//! the position of the problem: unbalanced parentheses and brackets, unknown functions, ids that
//! no metric of the alarm defines, operators without operands.
//!
//! ```text
//! expression := or
//! or         := and (("OR" | "||") and)*
//! and        := not (("AND" | "&&") not)*
//! not        := "NOT" not | comparison
//! comparison := sum (("==" | "!=" | "<=" | ">=" | "<" | ">") sum)*
//! sum        := product (("+" | "-") product)*
//! product    := power (("*" | "/") power)*
//! power      := unary ("^" unary)*
//! unary      := ("-" | "+") unary | primary
//! primary    := number | string | id | FUNCTION "(" [argument ("," argument)*] ")"
//!             | "(" expression ")" | "[" expression ("," expression)* "]"
//! argument   := expression | KEYWORD          (REPEAT, LINEAR, ASC, DESC, or a function's name)
//! id         := a lowercase letter, then letters, digits and underscores
//! ```
//! A Metrics Insights query (`SELECT ...`) is a different language and is left to CloudWatch.

use std::collections::BTreeSet;

/// Every metric-math function CloudWatch documents.
const FUNCTIONS: &[&str] = &[
    "ABS",
    "ANOMALY_DETECTION_BAND",
    "AVG",
    "CEIL",
    "DATAPOINT_COUNT",
    "DATE",
    "DAY",
    "DB_PERF_INSIGHTS",
    "DIFF",
    "DIFF_TIME",
    "EPOCH",
    "FILL",
    "FIRST",
    "FLOOR",
    "HOUR",
    "IF",
    "INSIGHT_RULE_METRIC",
    "LAMBDA",
    "LAST",
    "LOG",
    "LOG10",
    "MAX",
    "METRIC_COUNT",
    "METRICS",
    "MIN",
    "MINUTE",
    "MONTH",
    "PERIOD",
    "RATE",
    "REMOVE_EMPTY",
    "RUNNING_SUM",
    "SEARCH",
    "SERVICE_QUOTA",
    "SLICE",
    "SORT",
    "STDDEV",
    "SUM",
    "TIME_SERIES",
    "YEAR",
];

/// How deeply an expression may nest.
const MAX_DEPTH: usize = 64;

/// Bare words some functions take as arguments: FILL(m, REPEAT), SORT(m, SUM, DESC).
const KEYWORDS: &[&str] = &["REPEAT", "LINEAR", "ASC", "DESC"];

/// Where an expression goes wrong: `position` is the 1-based character position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at position {position}: {message}")]
pub struct MathError {
    pub position: usize,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Number,
    Text,
    /// A lowercase-first identifier: a metric's id.
    Id(String),
    /// An uppercase-first identifier: a function or a keyword.
    Word(String),
    Operator(&'static str),
    Open(char),
    Close(char),
    Comma,
}

/// The ids `expression` uses, if it parses and every id is one of `defined`.
pub fn parse(expression: &str, defined: &BTreeSet<&str>) -> Result<BTreeSet<String>, MathError> {
    let first_word = expression.split_whitespace().next().unwrap_or_default();
    if first_word.eq_ignore_ascii_case("SELECT") {
        // Metrics Insights: its query names no ids; every metric counts as used.
        return Ok(defined.iter().map(|id| id.to_string()).collect());
    }
    let tokens = tokenize(expression)?;
    let mut parser = Parser {
        tokens,
        depth: 0,
        next: 0,
        end: expression.chars().count() + 1,
        used: BTreeSet::new(),
        defined,
    };
    if parser.tokens.is_empty() {
        return Err(MathError {
            position: 1,
            message: "the expression is empty".into(),
        });
    }
    parser.expression()?;
    if let Some((token, position)) = parser.tokens.get(parser.next) {
        let message = match token {
            Token::Close(c) => format!("{c:?} has no matching opening bracket"),
            _ => "expected an operator (+ - * / ^, a comparison, AND, OR) here".to_string(),
        };
        return Err(MathError {
            position: *position,
            message,
        });
    }
    Ok(parser.used)
}

fn tokenize(expression: &str) -> Result<Vec<(Token, usize)>, MathError> {
    let chars: Vec<char> = expression.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let position = i + 1;
        let error = |message: String| MathError { position, message };
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let token = if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            if i < chars.len() && matches!(chars[i], 'e' | 'E') {
                let mut j = i + 1;
                if j < chars.len() && matches!(chars[j], '+' | '-') {
                    j += 1;
                }
                if j < chars.len() && chars[j].is_ascii_digit() {
                    i = j;
                    while i < chars.len() && chars[i].is_ascii_digit() {
                        i += 1;
                    }
                }
            }
            let text: String = chars[position - 1..i].iter().collect();
            if text.parse::<f64>().is_err() {
                return Err(error(format!("{text:?} is not a number")));
            }
            tokens.push((Token::Number, position));
            continue;
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let token = match word.as_str() {
                "AND" => Token::Operator("AND"),
                "OR" => Token::Operator("OR"),
                "NOT" => Token::Operator("NOT"),
                _ if c.is_ascii_lowercase() => Token::Id(word),
                _ => Token::Word(word),
            };
            tokens.push((token, position));
            continue;
        } else if c == '"' || c == '\'' {
            let close = chars[i + 1..]
                .iter()
                .position(|&d| d == c)
                .ok_or_else(|| error(format!("the string opened with {c} is never closed")))?;
            i += close + 2;
            tokens.push((Token::Text, position));
            continue;
        } else if matches!(c, '(' | '[') {
            Token::Open(c)
        } else if matches!(c, ')' | ']') {
            Token::Close(c)
        } else if c == ',' {
            Token::Comma
        } else {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            let operator = ["==", "!=", "<=", ">=", "&&", "||"]
                .into_iter()
                .find(|op| *op == two)
                .or_else(|| {
                    ["+", "-", "*", "/", "^", "<", ">"]
                        .into_iter()
                        .find(|op| op.starts_with(c))
                });
            match operator {
                Some(op) => {
                    i += op.len();
                    let op = match op {
                        "&&" => "AND",
                        "||" => "OR",
                        other => other,
                    };
                    tokens.push((Token::Operator(op), position));
                    continue;
                }
                None => return Err(error(format!("unexpected character {:?}", c))),
            }
        };
        tokens.push((token, position));
        i += 1;
    }
    Ok(tokens)
}

struct Parser<'a> {
    tokens: Vec<(Token, usize)>,
    /// How deeply parentheses, brackets, calls and signs nest here.
    depth: usize,
    next: usize,
    /// The position just past the end, for "ends too early".
    end: usize,
    used: BTreeSet<String>,
    defined: &'a BTreeSet<&'a str>,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.next).map(|(t, _)| t)
    }

    fn position(&self) -> usize {
        self.tokens.get(self.next).map_or(self.end, |(_, p)| *p)
    }

    fn fail<T>(&self, message: impl Into<String>) -> Result<T, MathError> {
        Err(MathError {
            position: self.position(),
            message: message.into(),
        })
    }

    /// Takes the next token if it is one of `operators`.
    fn operator(&mut self, operators: &[&str]) -> bool {
        match self.peek() {
            Some(Token::Operator(op)) if operators.contains(op) => {
                self.next += 1;
                true
            }
            _ => false,
        }
    }

    fn expression(&mut self) -> Result<(), MathError> {
        self.deeper()?;
        let parsed = self.binary(0);
        self.depth -= 1;
        parsed
    }

    /// One level deeper, refused past [`MAX_DEPTH`] (a parser must not run out of stack on
    /// `((((...`).
    fn deeper(&mut self) -> Result<(), MathError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.fail(format!("nested more than {MAX_DEPTH} levels deep"));
        }
        Ok(())
    }

    /// One precedence level of binary operators, loosest first.
    fn binary(&mut self, level: usize) -> Result<(), MathError> {
        const LEVELS: &[&[&str]] = &[
            &["OR"],
            &["AND"],
            &[],
            &["==", "!=", "<=", ">=", "<", ">"],
            &["+", "-"],
            &["*", "/"],
            &["^"],
        ];
        if level == 2 {
            if self.operator(&["NOT"]) {
                self.deeper()?;
                let parsed = self.binary(2);
                self.depth -= 1;
                return parsed;
            }
            return self.binary(3);
        }
        let Some(operators) = LEVELS.get(level) else {
            return self.unary();
        };
        self.binary(level + 1)?;
        while self.operator(operators) {
            self.binary(level + 1)?;
        }
        Ok(())
    }

    fn unary(&mut self) -> Result<(), MathError> {
        if self.operator(&["-", "+"]) {
            self.deeper()?;
            let parsed = self.unary();
            self.depth -= 1;
            return parsed;
        }
        self.primary(false)
    }

    fn primary(&mut self, argument: bool) -> Result<(), MathError> {
        let position = self.position();
        let Some(token) = self.peek().cloned() else {
            return self.fail("the expression ends where a value was expected");
        };
        self.next += 1;
        match token {
            Token::Number | Token::Text => Ok(()),
            Token::Id(id) => {
                if !self.defined.contains(id.as_str()) {
                    return Err(MathError {
                        position,
                        message: format!(
                            "no metric in expression.metrics has the id {id:?} (defined: {})",
                            self.defined.iter().copied().collect::<Vec<_>>().join(", ")
                        ),
                    });
                }
                self.used.insert(id);
                Ok(())
            }
            Token::Word(word) => {
                let called = matches!(self.peek(), Some(Token::Open('(')));
                if called && FUNCTIONS.contains(&word.as_str()) {
                    // METRICS() and SEARCH() take every metric of the alarm (or ones found by a
                    // query): each defined id counts as used.
                    if matches!(word.as_str(), "METRICS" | "SEARCH") {
                        self.used
                            .extend(self.defined.iter().map(|id| id.to_string()));
                    }
                    let paren = self.position();
                    self.next += 1;
                    return self.arguments(paren);
                }
                if called {
                    return Err(MathError {
                        position,
                        message: format!("unknown function {word}"),
                    });
                }
                if argument
                    && (KEYWORDS.contains(&word.as_str()) || FUNCTIONS.contains(&word.as_str()))
                {
                    return Ok(());
                }
                Err(MathError {
                    position,
                    message: format!(
                        "{word} is neither a function call nor a metric id (ids start with a lowercase letter)"
                    ),
                })
            }
            Token::Open(open) => {
                let close = if open == '(' { ')' } else { ']' };
                self.expression()?;
                while open == '[' && matches!(self.peek(), Some(Token::Comma)) {
                    self.next += 1;
                    self.expression()?;
                }
                self.closing(open, close, position)
            }
            Token::Close(c) => Err(MathError {
                position,
                message: format!("{c:?} where a value was expected"),
            }),
            Token::Comma => Err(MathError {
                position,
                message: "',' where a value was expected".into(),
            }),
            Token::Operator(op) => Err(MathError {
                position,
                message: format!("{op} where a value was expected"),
            }),
        }
    }

    /// The arguments of a function call whose '(' was just taken.
    fn arguments(&mut self, opened_at: usize) -> Result<(), MathError> {
        if matches!(self.peek(), Some(Token::Close(')'))) {
            self.next += 1;
            return Ok(());
        }
        loop {
            if matches!(self.peek(), Some(Token::Word(_)))
                && matches!(
                    self.tokens.get(self.next + 1).map(|(t, _)| t),
                    Some(Token::Comma | Token::Close(_)) | None
                )
            {
                self.primary(true)?;
            } else {
                self.expression()?;
            }
            if !matches!(self.peek(), Some(Token::Comma)) {
                break;
            }
            self.next += 1;
        }
        self.closing('(', ')', opened_at)
    }

    fn closing(&mut self, open: char, close: char, opened_at: usize) -> Result<(), MathError> {
        match self.peek() {
            Some(Token::Close(c)) if *c == close => {
                self.next += 1;
                Ok(())
            }
            None => Err(MathError {
                position: opened_at,
                message: format!("{open:?} is never closed"),
            }),
            Some(Token::Close(c)) => self.fail(format!(
                "{c:?} closes the {open:?} at position {opened_at}; expected {close:?}"
            )),
            Some(_) => self.fail(format!(
                "expected {close:?} to close the {open:?} at position {opened_at}, or an operator"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(expression: &str) -> Result<Vec<String>, (usize, String)> {
        let defined: BTreeSet<&str> = ["m1", "m2", "errors", "invocations"].into();
        parse(expression, &defined)
            .map(|ids| ids.into_iter().collect())
            .map_err(|e| (e.position, e.message))
    }

    #[test]
    fn valid_expressions_parse_and_name_their_ids() {
        const ALL: &[&str] = &["errors", "invocations", "m1", "m2"];
        let rows: &[(&str, &[&str])] = &[
            ("m1", &["m1"]),
            ("100*errors/invocations", &["errors", "invocations"]),
            ("100 * (errors / invocations)", &["errors", "invocations"]),
            ("FILL(m1, 0) + FILL(m2, 0)", &["m1", "m2"]),
            ("FILL(m1, REPEAT)", &["m1"]),
            ("ANOMALY_DETECTION_BAND(m1, 2)", &["m1"]),
            ("SUM(METRICS())", ALL),
            ("SORT(METRICS(), SUM, DESC)", ALL),
            ("SLICE(SORT(METRICS(), AVG, DESC), 0, 5)", ALL),
            ("m1/m2*100", &["m1", "m2"]),
            ("IF(m1 > 0, m1, 0)", &["m1"]),
            ("FILL(m1, LINEAR) - 2e-3", &["m1"]),
            ("m1 != m2", &["m1", "m2"]),
            ("IF(m1 > 10 AND m2 < 5, 1, 0)", &["m1", "m2"]),
            ("IF(m1 >= 10 || NOT m2 == 0, m1, -m2)", &["m1", "m2"]),
            ("MAX([m1, m2])", &["m1", "m2"]),
            ("m1 ^ 2 - 1.5e3", &["m1"]),
            ("METRICS(\"label\")", ALL),
            (
                "SEARCH('{AWS/EC2,InstanceId} MetricName=\"CPUUtilization\"', 'Average', 300)",
                ALL,
            ),
            (
                "SELECT AVG(CPUUtilization) FROM SCHEMA(\"AWS/EC2\", InstanceId)",
                ALL,
            ),
            ("select\tAVG(x) FROM y", ALL),
            ("LOG10(m1) + .5", &["m1"]),
        ];
        for (expression, ids) in rows {
            let ids: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
            assert_eq!(check(expression), Ok(ids), "{expression}");
        }
    }

    #[test]
    fn invalid_expressions_name_the_position() {
        let rows: &[(&str, usize, &str)] = &[
            ("FILL(m1, 0", 5, "'(' is never closed"),
            ("(m1 + m2", 1, "'(' is never closed"),
            ("m1 + m2)", 8, "')' has no matching"),
            ("m1 + FOO(m2)", 6, "unknown function FOO"),
            (
                "m1 + m3",
                6,
                "no metric in expression.metrics has the id \"m3\"",
            ),
            ("m1 m2", 4, "expected an operator"),
            ("m1 +", 5, "ends where a value was expected"),
            ("m1 + * m2", 6, "* where a value was expected"),
            ("", 1, "empty"),
            ("m1 % 2", 4, "unexpected character '%'"),
            ("METRICS(\"x)", 9, "never closed"),
            ("[m1, m2)", 8, "')' closes the '['"),
            ("FILL(m1,)", 9, "')' where a value was expected"),
            ("M1 + 1", 1, "neither a function call nor a metric id"),
            ("1.2.3", 1, "not a number"),
            ("SUM", 1, "neither a function call"),
            (&"(".repeat(2000), 65, "nested more than 64 levels deep"),
            (&"-".repeat(2000), 65, "nested more than 64 levels deep"),
        ];
        for (expression, position, message) in rows {
            match check(expression) {
                Err((p, m)) => {
                    assert_eq!(p, *position, "{expression}: {m}");
                    assert!(m.contains(message), "{expression}: {m}");
                }
                Ok(ids) => panic!("{expression} parsed: {ids:?}"),
            }
        }
    }
}
