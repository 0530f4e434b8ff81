//! The expression language of `vars` and `expr`: lexer and recursive-descent parser.
//!
//! Precedence, loosest first: `||`, `&&`, `== !=`, `< <= > >=`, `+ -`, `* /`, unary `- !`, `^`.
//! `^` is right-associative and binds tighter than unary minus, so `-x^2` is `-(x^2)` and
//! `2^-1` is `0.5`, as in mathematics and Python.

use std::fmt;

/// A byte range inside the expression text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    Neg,
    Not,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    And,
    Or,
}

impl BinaryOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Pow => "^",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::And => "&&",
            BinaryOp::Or => "||",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Number(f64),
    Name(String, Span),
    Unary(UnaryOp, Box<Expr>),
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    Call {
        function: String,
        span: Span,
        args: Vec<Expr>,
    },
}

/// A syntax error at a byte offset of the expression text.
#[derive(Clone, Debug, PartialEq)]
pub struct SyntaxError {
    pub offset: usize,
    pub message: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at offset {})", self.message, self.offset)
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Number(f64),
    Ident(String),
    Op(&'static str),
    LParen,
    RParen,
    Comma,
    End,
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Token::Number(n) => format!("number `{n}`"),
            Token::Ident(name) => format!("name `{name}`"),
            Token::Op(op) => format!("`{op}`"),
            Token::LParen => "`(`".into(),
            Token::RParen => "`)`".into(),
            Token::Comma => "`,`".into(),
            Token::End => "end of expression".into(),
        }
    }
}

const OPERATORS: [&str; 17] = [
    "<=", ">=", "==", "!=", "&&", "||", "**", "+", "-", "*", "/", "^", "<", ">", "!", "=", "&",
];

fn tokenize(text: &str) -> Result<Vec<(Token, Span)>, SyntaxError> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let c = bytes[pos];
        if c.is_ascii_whitespace() {
            pos += 1;
            continue;
        }
        let start = pos;
        let token = if c.is_ascii_digit()
            || (c == b'.' && bytes.get(pos + 1).is_some_and(u8::is_ascii_digit))
        {
            pos = scan_number(bytes, pos);
            let literal = &text[start..pos];
            let value: f64 = literal.parse().map_err(|_| SyntaxError {
                offset: start,
                message: format!("`{literal}` is not a number"),
            })?;
            Token::Number(value)
        } else if c.is_ascii_alphabetic() || c == b'_' {
            // A dot joins names (`steps.pilot.mean`, a workflow step's result) when a name
            // follows it.
            while pos < bytes.len()
                && (bytes[pos].is_ascii_alphanumeric()
                    || bytes[pos] == b'_'
                    || (bytes[pos] == b'.'
                        && bytes
                            .get(pos + 1)
                            .is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_')))
            {
                pos += 1;
            }
            Token::Ident(text[start..pos].to_string())
        } else if c == b'(' {
            pos += 1;
            Token::LParen
        } else if c == b')' {
            pos += 1;
            Token::RParen
        } else if c == b',' {
            pos += 1;
            Token::Comma
        } else if let Some(op) = OPERATORS.iter().find(|op| text[pos..].starts_with(**op)) {
            match *op {
                "=" => {
                    return Err(SyntaxError {
                        offset: start,
                        message: "`=` is not an operator here; use `==` to compare".into(),
                    });
                }
                "&" => {
                    return Err(SyntaxError {
                        offset: start,
                        message: "`&` is not an operator; use `&&` for logical and".into(),
                    });
                }
                _ => {}
            }
            pos += op.len();
            // Python's spelling of the power, as users of numpy write it.
            Token::Op(if *op == "**" { "^" } else { op })
        } else {
            let ch = text[pos..].chars().next().unwrap_or('?');
            return Err(SyntaxError {
                offset: start,
                message: format!("unexpected character `{ch}`"),
            });
        };
        tokens.push((token, Span { start, end: pos }));
    }
    tokens.push((
        Token::End,
        Span {
            start: bytes.len(),
            end: bytes.len(),
        },
    ));
    Ok(tokens)
}

fn scan_number(bytes: &[u8], mut pos: usize) -> usize {
    while pos < bytes.len() && (bytes[pos].is_ascii_digit() || bytes[pos] == b'.') {
        pos += 1;
    }
    if pos < bytes.len() && (bytes[pos] == b'e' || bytes[pos] == b'E') {
        let mut exp = pos + 1;
        if exp < bytes.len() && (bytes[exp] == b'+' || bytes[exp] == b'-') {
            exp += 1;
        }
        if exp < bytes.len() && bytes[exp].is_ascii_digit() {
            pos = exp;
            while pos < bytes.len() && bytes[pos].is_ascii_digit() {
                pos += 1;
            }
        }
    }
    pos
}

/// Parses one expression, or says exactly where and why it is not one.
pub fn parse(text: &str) -> Result<Expr, SyntaxError> {
    if text.len() > MAX_CHARS {
        return Err(SyntaxError {
            offset: MAX_CHARS,
            message: format!(
                "the expression is longer than {MAX_CHARS} characters; split it into vars"
            ),
        });
    }
    let tokens = tokenize(text)?;
    if tokens.len() == 1 {
        return Err(SyntaxError {
            offset: 0,
            message: "the expression is empty".into(),
        });
    }
    let mut parser = Parser { tokens, pos: 0 };
    let expr = parser.binary(0)?;
    match parser.peek() {
        Token::End if height(&expr) > MAX_HEIGHT => Err(SyntaxError {
            offset: 0,
            message: format!(
                "the expression nests more than {MAX_HEIGHT} operations deep; split it into vars"
            ),
        }),
        Token::End => Ok(expr),
        Token::RParen => Err(parser.error_here("unmatched `)`".into())),
        other => {
            let message = format!("expected an operator, found {}", other.describe());
            Err(parser.error_here(message))
        }
    }
}

/// The height of a tree, measured without recursion.
fn height(expr: &Expr) -> usize {
    let mut deepest = 0;
    let mut pending = vec![(expr, 1)];
    while let Some((node, depth)) = pending.pop() {
        deepest = deepest.max(depth);
        match node {
            Expr::Number(_) | Expr::Name(..) => {}
            Expr::Unary(_, x) => pending.push((x, depth + 1)),
            Expr::Binary(_, a, b) => {
                pending.push((a, depth + 1));
                pending.push((b, depth + 1));
            }
            Expr::Call { args, .. } => pending.extend(args.iter().map(|a| (a, depth + 1))),
        }
    }
    deepest
}

struct Parser {
    tokens: Vec<(Token, Span)>,
    pos: usize,
}

/// Binary operator levels, loosest first.
const LEVELS: [&[(&str, BinaryOp)]; 6] = [
    &[("||", BinaryOp::Or)],
    &[("&&", BinaryOp::And)],
    &[("==", BinaryOp::Eq), ("!=", BinaryOp::Ne)],
    &[
        ("<", BinaryOp::Lt),
        ("<=", BinaryOp::Le),
        (">", BinaryOp::Gt),
        (">=", BinaryOp::Ge),
    ],
    &[("+", BinaryOp::Add), ("-", BinaryOp::Sub)],
    &[("*", BinaryOp::Mul), ("/", BinaryOp::Div)],
];

/// Deep nesting is refused rather than allowed to overflow the stack: parentheses, unary
/// operators and powers nest at most this deep while parsing...
const MAX_DEPTH: usize = 64;
/// ...and the finished tree (where long chains such as `a+a+...+a` nest too) at most this deep,
/// because validation and compilation walk it recursively.
const MAX_HEIGHT: usize = 256;
/// Longer expressions belong in several vars.
const MAX_CHARS: usize = 10_000;

impl Parser {
    fn peek(&self) -> &Token {
        &self.tokens[self.pos].0
    }

    fn span(&self) -> Span {
        self.tokens[self.pos].1
    }

    fn advance(&mut self) -> (Token, Span) {
        let token = self.tokens[self.pos].clone();
        if self.pos + 1 < self.tokens.len() {
            self.pos += 1;
        }
        token
    }

    fn error_here(&self, message: String) -> SyntaxError {
        SyntaxError {
            offset: self.span().start,
            message,
        }
    }

    fn check_depth(&self, depth: usize) -> Result<(), SyntaxError> {
        if depth > MAX_DEPTH {
            Err(self.error_here(format!(
                "expression nested more than {MAX_DEPTH} levels deep"
            )))
        } else {
            Ok(())
        }
    }

    fn binary(&mut self, level: usize) -> Result<Expr, SyntaxError> {
        self.binary_at(level, 0)
    }

    fn binary_at(&mut self, level: usize, depth: usize) -> Result<Expr, SyntaxError> {
        if level == LEVELS.len() {
            return self.unary(depth);
        }
        let mut left = self.binary_at(level + 1, depth)?;
        loop {
            let op = match self.peek() {
                Token::Op(symbol) => LEVELS[level]
                    .iter()
                    .find(|(s, _)| s == symbol)
                    .map(|(_, op)| *op),
                _ => None,
            };
            let Some(op) = op else { return Ok(left) };
            self.advance();
            let right = self.binary_at(level + 1, depth)?;
            left = Expr::Binary(op, Box::new(left), Box::new(right));
        }
    }

    fn unary(&mut self, depth: usize) -> Result<Expr, SyntaxError> {
        self.check_depth(depth)?;
        match self.peek() {
            Token::Op("-") => {
                self.advance();
                Ok(Expr::Unary(UnaryOp::Neg, Box::new(self.unary(depth + 1)?)))
            }
            Token::Op("!") => {
                self.advance();
                Ok(Expr::Unary(UnaryOp::Not, Box::new(self.unary(depth + 1)?)))
            }
            Token::Op("+") => {
                self.advance();
                self.unary(depth + 1)
            }
            _ => self.power(depth),
        }
    }

    fn power(&mut self, depth: usize) -> Result<Expr, SyntaxError> {
        let base = self.primary(depth)?;
        if self.peek() == &Token::Op("^") {
            self.advance();
            let exponent = self.unary(depth + 1)?;
            return Ok(Expr::Binary(
                BinaryOp::Pow,
                Box::new(base),
                Box::new(exponent),
            ));
        }
        Ok(base)
    }

    fn primary(&mut self, depth: usize) -> Result<Expr, SyntaxError> {
        self.check_depth(depth)?;
        let (token, span) = self.advance();
        match token {
            Token::Number(value) => Ok(Expr::Number(value)),
            Token::Ident(name) => {
                if self.peek() != &Token::LParen {
                    return Ok(Expr::Name(name, span));
                }
                self.advance();
                let mut args = Vec::new();
                if self.peek() == &Token::RParen {
                    self.advance();
                } else {
                    loop {
                        args.push(self.nested(depth)?);
                        match self.advance() {
                            (Token::Comma, _) => continue,
                            (Token::RParen, _) => break,
                            (other, other_span) => {
                                return Err(SyntaxError {
                                    offset: other_span.start,
                                    message: format!(
                                        "expected `,` or `)` in the arguments of `{name}`, found {}",
                                        other.describe()
                                    ),
                                });
                            }
                        }
                    }
                }
                Ok(Expr::Call {
                    function: name,
                    span,
                    args,
                })
            }
            Token::LParen => {
                let inner = self.nested(depth)?;
                match self.advance() {
                    (Token::RParen, _) => Ok(inner),
                    (other, other_span) => Err(SyntaxError {
                        offset: other_span.start,
                        message: format!("expected `)`, found {}", other.describe()),
                    }),
                }
            }
            other => Err(SyntaxError {
                offset: span.start,
                message: format!(
                    "expected a number, a name or `(`, found {}",
                    other.describe()
                ),
            }),
        }
    }

    fn nested(&mut self, depth: usize) -> Result<Expr, SyntaxError> {
        self.check_depth(depth + 1)?;
        self.binary_at(0, depth + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(v: f64) -> Box<Expr> {
        Box::new(Expr::Number(v))
    }

    fn render(e: &Expr) -> String {
        match e {
            Expr::Number(v) => format!("{v}"),
            Expr::Name(n, _) => n.clone(),
            Expr::Unary(UnaryOp::Neg, x) => format!("(-{})", render(x)),
            Expr::Unary(UnaryOp::Not, x) => format!("(!{})", render(x)),
            Expr::Binary(op, a, b) => format!("({} {} {})", render(a), op.symbol(), render(b)),
            Expr::Call { function, args, .. } => {
                let args: Vec<_> = args.iter().map(render).collect();
                format!("{function}({})", args.join(", "))
            }
        }
    }

    #[test]
    fn precedence_and_associativity() {
        let cases = [
            ("1 + 2 * 3", "(1 + (2 * 3))"),
            ("-x^2", "(-(x ^ 2))"),
            ("2^3^2", "(2 ^ (3 ^ 2))"),
            ("-x**2 * 3", "((-(x ^ 2)) * 3)"),
            ("2**3^2", "(2 ^ (3 ^ 2))"),
            ("2^-1", "(2 ^ (-1))"),
            ("a < b && c >= d || !e", "(((a < b) && (c >= d)) || (!e))"),
            ("1 - 2 - 3", "((1 - 2) - 3)"),
            (
                "(-b + sqrt(b^2 - 4*a*c)) / (2*a)",
                "(((-b) + sqrt(((b ^ 2) - ((4 * a) * c)))) / (2 * a))",
            ),
            ("where(x > 0, 1e-3, .5)", "where((x > 0), 0.001, 0.5)"),
            ("index()", "index()"),
        ];
        for (text, expected) in cases {
            assert_eq!(render(&parse(text).unwrap()), expected, "{text}");
        }
    }

    #[test]
    fn numbers() {
        assert_eq!(parse("1e-3").unwrap(), Expr::Number(1e-3));
        assert_eq!(parse("2.5E+2").unwrap(), Expr::Number(250.0));
        assert_eq!(
            parse("3 - 1").unwrap(),
            Expr::Binary(BinaryOp::Sub, num(3.0), num(1.0))
        );
    }

    #[test]
    fn errors_point_at_the_offending_token() {
        let cases = [
            ("", 0, "empty"),
            ("a +", 3, "expected a number"),
            ("(a + b", 6, "expected `)`"),
            ("a + b)", 5, "unmatched"),
            ("a b", 2, "expected an operator"),
            ("a = b", 2, "use `==`"),
            ("a & b", 2, "use `&&`"),
            ("a $ b", 2, "unexpected character `$`"),
            ("f(a b)", 4, "expected `,` or `)`"),
            ("1.2.3", 0, "not a number"),
        ];
        for (text, offset, fragment) in cases {
            let err = parse(text).unwrap_err();
            assert_eq!(err.offset, offset, "{text}: {err}");
            assert!(err.message.contains(fragment), "{text}: {err}");
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let text = format!("{}1{}", "(".repeat(3_000), ")".repeat(3_000));
        assert!(parse(&text).unwrap_err().message.contains("nested"));
        let text = format!("{}1", "-".repeat(5_000));
        assert!(parse(&text).unwrap_err().message.contains("nested"));
        let text = format!("a{}", "+a".repeat(4_000));
        assert!(
            parse(&text)
                .unwrap_err()
                .message
                .contains("split it into vars")
        );
        let text = format!("a{}", "+a".repeat(6_000));
        assert!(parse(&text).unwrap_err().message.contains("longer than"));
        let text = format!("{}1{}", "(".repeat(60), ")".repeat(60));
        assert_eq!(parse(&text), Ok(Expr::Number(1.0)));
    }
}
