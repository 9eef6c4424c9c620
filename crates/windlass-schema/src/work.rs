//! The bookkeeping of node translation: how far each node has got, a translated node's `Work`
//! (its nodes and the values still to evaluate), annotation targets and the ordinal rule. Plain
//! data and pure checks; the translation itself lives in `translate`, `structs` and
//! `annotations`.

use crate::ast::Expr;
use crate::error::Span;
use crate::model::{NodeOut, SourceInfoOut, Type, Value};

/// Compilation state of one node.
#[derive(Debug, Clone, Default)]
#[allow(clippy::enum_variant_names)]
pub(crate) enum Progress<T> {
    #[default]
    NotStarted,
    InProgress,
    Done(T),
}

/// The annotation target a declaration is, by index into `ast::TARGET_NAMES`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    File = 0,
    Const = 1,
    Enum = 2,
    Enumerant = 3,
    Struct = 4,
    Field = 5,
    Union = 6,
    Group = 7,
    Interface = 8,
    Method = 9,
    Param = 10,
    Annotation = 11,
}

/// A value expression waiting to be evaluated against its type.
#[derive(Debug, Clone)]
pub(crate) struct PendingValue {
    pub expr: Expr,
    pub ty: Type,
    pub result: Option<Value>,
    pub done: bool,
}

/// A translated node: the node, its groups / parameter structs, and its pending values.
#[derive(Debug, Clone, Default)]
pub(crate) struct Work {
    pub nodes: Vec<(NodeOut, SourceInfoOut)>,
    pub pending: Vec<PendingValue>,
}

impl Work {
    pub(crate) fn pending(&mut self, expr: Expr, ty: Type) -> Value {
        self.pending.push(PendingValue {
            expr,
            ty,
            result: None,
            done: false,
        });
        Value::Pending(self.pending.len() - 1)
    }
}

/// Ordinals must run 0, 1, 2, ... with no gaps or repeats.
#[derive(Debug, Default)]
pub(crate) struct OrdinalChecker {
    expected: u64,
    last: Option<(u64, Span)>,
}

impl OrdinalChecker {
    /// Checks the next ordinal `v` (written at `span`); each problem found is handed to
    /// `report`, in the order the reference compiler reports them.
    pub(crate) fn check(&mut self, v: u64, span: Span, mut report: impl FnMut(Span, String)) {
        if v < self.expected {
            report(span, format!("Duplicate ordinal number @{v}."));
            if let Some((lv, ls)) = self.last.take() {
                report(ls, format!("Ordinal @{lv} originally used here."));
            }
        } else if v > self.expected {
            report(
                span,
                format!(
                    "Skipped ordinal @{}. Ordinals must be sequential with no holes (expected @{} here).",
                    self.expected, self.expected
                ),
            );
            self.expected = v + 1;
        } else {
            self.expected += 1;
            self.last = Some((v, span));
        }
    }
}
