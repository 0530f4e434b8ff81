//! The expression language shared by `vars` and `expr`: its syntax ([`parse`]) and the meaning
//! of every operator and function ([`semantics`]). Constant folding at compile time and the
//! vector loops at run time both call [`semantics`], so a folded constant has the same bits as
//! the value computed per sample.

pub mod parse;
pub mod semantics;

pub use parse::{BinaryOp, Expr, Span, SyntaxError, UnaryOp};
pub use semantics::{Distribution, Function};
