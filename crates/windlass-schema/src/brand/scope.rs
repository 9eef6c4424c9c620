//! Brand scopes: the generic parameters bound (or not) at each generic declaration around a
//! reference, and the plain operations on them. No compiler state is needed here.

use std::rc::Rc;

use crate::error::Span;
use crate::names::{builtin_decl, Builtin, Kind, ResolvedDecl};

/// Generic parameters of the scopes around a reference: one level per generic declaration.
#[derive(Debug, Clone)]
pub(crate) struct BrandScope {
    pub(super) parent: Option<Rc<BrandScope>>,
    pub(super) leaf_id: u64,
    pub(super) leaf_params: u32,
    pub(super) inherited: bool,
    pub(super) params: Vec<BrandedDecl>,
}

/// A declaration with its brand, or an unbound generic parameter.
#[derive(Debug, Clone)]
pub(crate) enum BrandedDecl {
    Decl {
        decl: ResolvedDecl,
        brand: Rc<BrandScope>,
        span: Span,
    },
    Param {
        scope_id: u64,
        index: u16,
        span: Span,
    },
}

/// Method-level generic parameters (`foo @0 [T] (...)`) visible while compiling a signature.
#[derive(Debug, Clone, Default)]
pub(crate) struct ImplicitParams {
    pub scope_id: u64,
    pub names: Vec<String>,
}

impl BrandedDecl {
    pub(crate) fn span(&self) -> Span {
        match self {
            BrandedDecl::Decl { span, .. } | BrandedDecl::Param { span, .. } => *span,
        }
    }

    pub(crate) fn kind(&self) -> Option<Kind> {
        match self {
            BrandedDecl::Decl { decl, .. } => Some(decl.kind),
            BrandedDecl::Param { .. } => None,
        }
    }
}

impl BrandScope {
    /// An outermost scope for `leaf`, with nothing bound.
    pub(super) fn root(leaf: u64) -> Rc<BrandScope> {
        Rc::new(BrandScope {
            parent: None,
            leaf_id: leaf,
            leaf_params: 0,
            inherited: false,
            params: Vec::new(),
        })
    }

    /// Whether the scope (or an enclosing one) has generic parameters.
    pub(crate) fn is_generic(&self) -> bool {
        self.leaf_params > 0 || self.parent.as_ref().is_some_and(|p| p.is_generic())
    }

    /// A scope for declaration `id` (with `count` generic parameters, none bound yet) nested
    /// inside `scope`.
    pub(crate) fn push(scope: &Rc<BrandScope>, id: u64, count: u32) -> Rc<BrandScope> {
        Rc::new(BrandScope {
            parent: Some(scope.clone()),
            leaf_id: id,
            leaf_params: count,
            inherited: false,
            params: Vec::new(),
        })
    }

    /// The enclosing scope whose leaf is `leaf` (a fresh root if there is none).
    pub(super) fn pop_to(scope: &Rc<BrandScope>, leaf: u64) -> Rc<BrandScope> {
        if scope.leaf_id == leaf {
            return scope.clone();
        }
        match &scope.parent {
            Some(p) => Self::pop_to(p, leaf),
            None => Self::root(leaf),
        }
    }

    /// What parameter `index` of scope `scope_id` is bound to: `None` while it is inherited
    /// (still a parameter), `AnyPointer` when the scope is branded without binding it.
    pub(super) fn lookup_parameter(&self, scope_id: u64, index: u16) -> Option<BrandedDecl> {
        if self.leaf_id == scope_id {
            if let Some(p) = self.params.get(index as usize) {
                Some(p.clone())
            } else if self.inherited {
                None
            } else {
                Some(BrandedDecl::Decl {
                    decl: builtin_decl(Builtin::AnyPointer),
                    brand: Self::root(0),
                    span: Default::default(),
                })
            }
        } else {
            self.parent
                .as_ref()
                .and_then(|p| p.lookup_parameter(scope_id, index))
        }
    }

    /// The parameters bound at scope `scope_id`; `None` if inherited or not found.
    pub(super) fn params_of(&self, scope_id: u64) -> Option<Vec<BrandedDecl>> {
        if self.leaf_id == scope_id {
            if self.inherited {
                None
            } else {
                Some(self.params.clone())
            }
        } else {
            self.parent.as_ref().and_then(|p| p.params_of(scope_id))
        }
    }
}
