//! Adapters from capnp's public reader and builder types down to its layout level.
//!
//! `any_pointer::Reader`/`Builder` keep their layout pointer private, and a struct list's
//! elements are reachable only through `struct_list`, which wants a generated struct type. The
//! traits those go through are public, so these small types implement them to get the raw
//! `StructReader`/`StructBuilder`/`PointerBuilder` back, sized by the run-time schema.

use capnp::introspect::{Introspect, Type, TypeVariant};
use capnp::private::layout::{
    PointerBuilder, PointerReader, StructBuilder, StructReader, StructSize,
};
use capnp::traits::{
    FromPointerBuilder, FromPointerReader, HasStructSize, IntoInternalStructReader, OwnedStruct,
    SetterInput,
};

/// A struct of a run-time schema, for `struct_list::{Reader, Builder}<RawStruct>`.
pub(super) struct RawStruct;

impl Introspect for RawStruct {
    fn introspect() -> Type {
        // Never asked by the list types used here; AnyPointer is the honest answer.
        TypeVariant::AnyPointer.into()
    }
}

impl OwnedStruct for RawStruct {
    type Reader<'a> = StructRef<'a>;
    type Builder<'a> = StructMut<'a>;
}

/// A struct read at the layout level.
#[derive(Clone, Copy)]
pub(super) struct StructRef<'a>(pub(super) StructReader<'a>);

impl<'a> From<StructReader<'a>> for StructRef<'a> {
    fn from(reader: StructReader<'a>) -> Self {
        StructRef(reader)
    }
}

impl<'a> IntoInternalStructReader<'a> for StructRef<'a> {
    fn into_internal_struct_reader(self) -> StructReader<'a> {
        self.0
    }
}

impl<'a> FromPointerReader<'a> for StructRef<'a> {
    fn get_from_pointer(
        reader: &PointerReader<'a>,
        default: Option<&'a [capnp::Word]>,
    ) -> capnp::Result<Self> {
        Ok(StructRef(reader.get_struct(default)?))
    }
}

impl SetterInput<RawStruct> for StructRef<'_> {
    fn set_pointer_builder(
        mut builder: PointerBuilder<'_>,
        input: Self,
        canonicalize: bool,
    ) -> capnp::Result<()> {
        builder.set_struct(&input.0, canonicalize)
    }
}

/// A struct being built at the layout level.
pub(super) struct StructMut<'a>(pub(super) StructBuilder<'a>);

impl<'a> From<StructBuilder<'a>> for StructMut<'a> {
    fn from(builder: StructBuilder<'a>) -> Self {
        StructMut(builder)
    }
}

impl HasStructSize for StructMut<'_> {
    /// The smallest size: a list is always initialized with the schema's real size first,
    /// and `struct_list` never shrinks an existing list to this.
    const STRUCT_SIZE: StructSize = StructSize {
        data: 0,
        pointers: 0,
    };
}

/// The layout-level pointer inside an `any_pointer::Builder`.
pub(super) struct PointerMut<'a>(pub(super) PointerBuilder<'a>);

impl<'a> FromPointerBuilder<'a> for PointerMut<'a> {
    fn init_pointer(builder: PointerBuilder<'a>, _length: u32) -> Self {
        PointerMut(builder)
    }

    fn get_from_pointer(
        builder: PointerBuilder<'a>,
        _default: Option<&'a [capnp::Word]>,
    ) -> capnp::Result<Self> {
        Ok(PointerMut(builder))
    }
}
