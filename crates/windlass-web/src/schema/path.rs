//! Walking a property path through struct fields, for promise pipelining.

use super::types::{FieldKind, FieldType};
use super::Schema;
use crate::mapping::MapError;

/// Where a property path leads inside a struct.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) struct FieldPath {
    /// The pointer index taken at each struct on the way, in order: the arguments of
    /// successive `capnp::any_pointer::Pipeline::get_pointer_field` calls. Groups are inline,
    /// so stepping into one adds nothing.
    pub(crate) pointers: Vec<u16>,
    /// The type at the end: [`FieldType::Interface`] for a capability one can pipeline a call
    /// on, [`FieldType::Struct`] for a struct (or group) one can walk further.
    pub(crate) ty: FieldType,
}

impl Schema {
    /// Follows `path` (field names) from the struct `struct_id`.
    ///
    /// # Errors
    /// A [`MapError`] naming the path so far when a name is not a field of the struct
    /// reached, or the path continues past something that is not a struct.
    pub(crate) fn field_path(
        &self,
        struct_id: u64,
        path: &[String],
    ) -> Result<FieldPath, MapError> {
        let mut pointers = Vec::new();
        let mut at = FieldType::Struct(struct_id);
        for (depth, name) in path.iter().enumerate() {
            let so_far = |e: MapError| {
                path[..depth]
                    .iter()
                    .rev()
                    .fold(e, |e, step| e.in_field(step))
            };
            let FieldType::Struct(id) = at else {
                return Err(so_far(MapError::new(format!(
                    "cannot take `{name}` of a {}",
                    type_word(&at)
                ))));
            };
            let structure = self.structure(id).ok_or_else(|| {
                so_far(MapError::new(format!(
                    "struct {id:#x} is not in the schema"
                )))
            })?;
            let field = structure.field(name).ok_or_else(|| {
                so_far(MapError::new(format!(
                    "no field `{name}` in {}",
                    structure.name
                )))
            })?;
            at = match &field.kind {
                FieldKind::Group(group) => FieldType::Struct(*group),
                FieldKind::Slot { offset, ty, .. } => {
                    if ty.is_pointer() {
                        let index = u16::try_from(*offset).map_err(|_| {
                            so_far(MapError::new(format!(
                                "pointer offset {offset} out of range"
                            )))
                        })?;
                        pointers.push(index);
                    }
                    ty.clone()
                }
            };
        }
        Ok(FieldPath { pointers, ty: at })
    }
}

/// A type's kind in an error message.
fn type_word(ty: &FieldType) -> &'static str {
    match ty {
        FieldType::List(_) => "list",
        FieldType::Interface(_) => "capability",
        FieldType::Text => "text",
        FieldType::Data => "data",
        FieldType::AnyPointer => "AnyPointer",
        FieldType::Enum(_) => "enum",
        _ => "primitive",
    }
}
