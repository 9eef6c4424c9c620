//! The owned copies of struct, field and enum nodes that the mapping reads.

/// A field's (or list element's) type, as far as the mapping needs it.
///
/// Generic parameters and `AnyPointer` (brands included) are [`FieldType::AnyPointer`]: the
/// mapping treats them as opaque, so a brand's bindings are never looked at.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum FieldType {
    /// `Void`.
    Void,
    /// `Bool`.
    Bool,
    /// `Int8`, `Int16`, `Int32`, `Int64` (the bit width).
    Int(u8),
    /// `UInt8`, `UInt16`, `UInt32`, `UInt64` (the bit width).
    UInt(u8),
    /// `Float32`.
    Float32,
    /// `Float64`.
    Float64,
    /// `Text`.
    Text,
    /// `Data`.
    Data,
    /// `List(T)`.
    List(Box<FieldType>),
    /// The enum of this node ID.
    Enum(u64),
    /// The struct of this node ID.
    Struct(u64),
    /// The interface of this node ID.
    Interface(u64),
    /// `AnyPointer` or a generic parameter: not mapped.
    AnyPointer,
}

impl FieldType {
    /// Whether values of this type live in the pointer section (else in the data section).
    pub(crate) fn is_pointer(&self) -> bool {
        matches!(
            self,
            FieldType::Text
                | FieldType::Data
                | FieldType::List(_)
                | FieldType::Struct(_)
                | FieldType::Interface(_)
                | FieldType::AnyPointer
        )
    }
}

/// A slot's default value, as the wire format stores it.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub(crate) enum DefaultValue {
    /// Zero (data fields) or null (pointer fields): the schema gave no default.
    None,
    /// A data field's default as its little-endian bits (a `Bool` is 0 or 1, a `Float64` its
    /// IEEE bits). The wire holds `value XOR default`, so these bits are XORed on both reads
    /// and writes.
    Bits(u64),
    /// A `Text` field's default.
    Text(String),
    /// A `Data` field's default.
    Data(Vec<u8>),
    /// A `List` or struct field's default: a canonical single-segment message whose root
    /// pointer (word 0) is the value, read in place of a null pointer.
    Pointer(Vec<capnp::Word>),
}

/// Where a field lives.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub(crate) enum FieldKind {
    /// Stored in the struct: `offset` counts in units of the type's size in the data section
    /// (bits for `Bool`), or is the pointer index for pointer types.
    Slot {
        /// The offset (see above).
        offset: u32,
        /// The type.
        ty: FieldType,
        /// The default value.
        default: DefaultValue,
    },
    /// A group: the fields of struct node `id`, stored inline in this struct (no pointer).
    Group(u64),
}

/// A struct field.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub(crate) struct Field {
    /// The name, as the mapping's objects spell it.
    pub(crate) name: String,
    /// The position in the declaration.
    pub(crate) code_order: u16,
    /// The explicit `@N` ordinal (groups have none).
    pub(crate) ordinal: Option<u16>,
    /// The union discriminant value, if the field is a member of the struct's union.
    pub(crate) discriminant: Option<u16>,
    /// A slot or a group.
    pub(crate) kind: FieldKind,
}

/// A struct or group node.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub(crate) struct StructSchema {
    /// The node ID.
    pub(crate) id: u64,
    /// The display name (`calculator.capnp:Calculator.Expression`).
    pub(crate) name: String,
    /// The data section's size, in 64-bit words.
    pub(crate) data_words: u16,
    /// The pointer section's size.
    pub(crate) pointer_count: u16,
    /// Whether this is a group (part of its parent's layout).
    pub(crate) is_group: bool,
    /// The offset of the union's discriminant in 16-bit units, if the struct has a union.
    pub(crate) discriminant_offset: Option<u32>,
    /// The fields in ordinal order (the order of the schema's list; union members and groups
    /// included). Positional arguments follow this order.
    pub(crate) fields: Vec<Field>,
}

impl StructSchema {
    /// The field called `name`.
    pub(crate) fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The fields in declaration order, as the mapping writes objects.
    pub(crate) fn fields_in_code_order(&self) -> Vec<&Field> {
        let mut fields: Vec<&Field> = self.fields.iter().collect();
        fields.sort_by_key(|f| f.code_order);
        fields
    }
}

/// An enum node.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) struct EnumSchema {
    /// The node ID.
    pub(crate) id: u64,
    /// The display name.
    pub(crate) name: String,
    /// The enumerant names; the index is the enumerant's value (its ordinal).
    pub(crate) enumerants: Vec<String>,
}

impl EnumSchema {
    /// The value of the enumerant called `name`.
    pub(crate) fn value_of(&self, name: &str) -> Option<u16> {
        let index = self.enumerants.iter().position(|e| e == name)?;
        u16::try_from(index).ok()
    }

    /// The name of the enumerant `value`, if the schema knows it.
    pub(crate) fn name_of(&self, value: u16) -> Option<&str> {
        self.enumerants.get(usize::from(value)).map(String::as_str)
    }
}
