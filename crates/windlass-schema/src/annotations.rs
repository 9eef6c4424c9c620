//! Applied annotations (`$foo(value)`): each resolved to its declaration, checked against the
//! declaration's targets, its value left pending against the annotation's type.

use crate::ast::{AnnotationApp, DeclKind, TARGET_NAMES};
use crate::brand::{BrandedDecl, ImplicitParams};
use crate::compiler::Compiler;
use crate::model::{default_default, AnnotationOut, Type, Value};
use crate::names::Kind;
use crate::work::{Target, Work};

impl Compiler {
    /// An annotation declaration's type and targets.
    pub(crate) fn annotation_info(&mut self, a: usize) -> Option<(Type, [bool; 12])> {
        let (ty, targets) = match &self.nodes[a].decl.kind {
            DeclKind::Annotation { ty, targets } => (ty.clone(), *targets),
            _ => return None,
        };
        let t = self.compile_type(a, &ty, &ImplicitParams::default())?;
        Some((t, targets))
    }

    pub(crate) fn compile_annotations(
        &mut self,
        n: usize,
        apps: &[AnnotationApp],
        target: Target,
        work: &mut Work,
    ) -> Vec<AnnotationOut> {
        let file = self.nodes[n].file;
        let mut out = Vec::new();
        for app in apps {
            let mut ann = AnnotationOut {
                id: 0,
                brand: Some(Default::default()),
                value: Value::Void,
            };
            let scope = self.scope_for_node(n);
            let name_text = self.text(file, app.name.span);
            if let Some(d) =
                self.compile_decl_expr(n, &scope, &app.name, &ImplicitParams::default())
            {
                match &d {
                    BrandedDecl::Decl { decl, .. } if decl.kind == Kind::Annotation => {
                        let (id, brand) = self.id_and_brand(file, &d);
                        ann.id = id;
                        ann.brand = Some(brand.unwrap_or_default());
                        if let Some((ty, targets)) = decl.node.and_then(|a| self.annotation_info(a))
                        {
                            if !targets[target as usize] {
                                self.error(file, app.name.span, format!("'{name_text}' cannot be applied to this kind of declaration (a {}).", TARGET_NAMES[target as usize]));
                            }
                            match &app.value {
                                None => {
                                    if ty != Type::Void {
                                        self.error(
                                            file,
                                            app.name.span,
                                            format!("'{name_text}' requires a value."),
                                        );
                                        ann.value = default_default(&ty);
                                    }
                                }
                                Some(v) => ann.value = work.pending(v.clone(), ty),
                            }
                        }
                    }
                    _ => self.error(
                        file,
                        app.name.span,
                        format!("'{name_text}' is not an annotation."),
                    ),
                }
            }
            out.push(ann);
        }
        out
    }
}
