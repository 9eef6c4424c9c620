//! The address book: the classic Cap'n Proto serialization example, in four wire forms.
//!
//! The model behind windlass's `addressbook` example and its serialization tests: a schema of
//! its own compiled by `windlass-build` in `build.rs`, like any service author's.
//!
//! [`AddressBook`] is an owned, plain-Rust model of `schemas/addressbook.capnp`. It converts to
//! and from a Cap'n Proto message ([`AddressBook::build`], [`AddressBook::read`]), and the free
//! functions move it through the four forms pycapnp users know:
//!
//! | pycapnp                       | here                                   | framing                      |
//! |-------------------------------|----------------------------------------|------------------------------|
//! | `to_bytes` / `from_bytes`     | [`to_bytes`] / [`from_bytes`]          | standard stream framing      |
//! | `to_bytes_packed`             | [`to_packed_bytes`] / [`from_packed_bytes`] | packed stream framing   |
//! | `write` ×n / `read_multiple`  | [`write_many`] / [`read_many`]         | framed messages back to back |
//! | `to_segments` / `from_segments` | [`to_segments`] / [`from_segments`]  | raw segments, no framing     |
//!
//! Reading never panics on bad input: malformed framing, text that is not UTF-8 and enum or union
//! values the schema does not know all come back as a [`capnp::Error`] naming the field.
//!
//! ```
//! use windlass_addressbook::{self as addressbook, AddressBook};
//!
//! let book = AddressBook::sample();
//! let bytes = addressbook::to_bytes(&book);
//! let back = addressbook::from_bytes(&bytes, Default::default())?;
//! assert_eq!(back, book);
//! # Ok::<(), capnp::Error>(())
//! ```

use std::io::{BufRead, Write};

use capnp::message::{self, Allocator, HeapAllocator, ReaderOptions, ReaderSegments, SegmentArray};
use capnp::{serialize, serialize_packed, Word};

pub use addressbook_capnp::{address_book, person};

/// The code `capnpc` generates from `schemas/addressbook.capnp` (see `build.rs`).
#[allow(
    missing_docs,
    unreachable_pub,
    clippy::all,
    clippy::pedantic,
    clippy::unwrap_used
)]
pub mod addressbook_capnp {
    include!(concat!(env!("OUT_DIR"), "/addressbook_capnp.rs"));
}

/// Most segments [`from_segments`] accepts in one message.
///
/// The same limit `capnp::serialize` applies to a framed message's segment table (512), so a
/// message that can travel framed can also be handed over as segments.
pub const MAX_SEGMENTS: usize = 512;

/// An address book: everyone in it, in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AddressBook {
    /// The people, in the order they are written.
    pub people: Vec<Person>,
}

/// One entry of an [`AddressBook`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// A number identifying the person.
    pub id: u32,
    /// Full name.
    pub name: String,
    /// E-mail address.
    pub email: String,
    /// Phone numbers, in order.
    pub phones: Vec<Phone>,
    /// What the person does (the schema's `employment` union).
    pub employment: Employment,
}

/// A phone number and what kind of line it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone {
    /// The number as written, e.g. `"555-1212"`.
    pub number: String,
    /// Mobile, home or work.
    pub kind: PhoneKind,
}

/// The schema's `PhoneNumber.Type` enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhoneKind {
    /// A mobile phone.
    Mobile,
    /// A home line.
    Home,
    /// A work line.
    Work,
}

/// The schema's `employment` union.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Employment {
    /// Not employed (the union's default member).
    #[default]
    Unemployed,
    /// Employed by the named employer.
    Employer(String),
    /// Attending the named school.
    School(String),
    /// Self-employed.
    SelfEmployed,
}

type WirePhoneType = person::phone_number::Type;

impl PhoneKind {
    fn to_wire(self) -> WirePhoneType {
        match self {
            Self::Mobile => WirePhoneType::Mobile,
            Self::Home => WirePhoneType::Home,
            Self::Work => WirePhoneType::Work,
        }
    }

    fn from_wire(kind: WirePhoneType) -> Self {
        match kind {
            WirePhoneType::Mobile => Self::Mobile,
            WirePhoneType::Home => Self::Home,
            WirePhoneType::Work => Self::Work,
        }
    }
}

impl AddressBook {
    /// The two people of the classic Cap'n Proto example: Alice (a student with a mobile phone)
    /// and Bob (unemployed, with a home and a work phone).
    #[must_use]
    pub fn sample() -> Self {
        let phone = |number: &str, kind| Phone {
            number: number.to_owned(),
            kind,
        };
        Self {
            people: vec![
                Person {
                    id: 123,
                    name: "Alice".to_owned(),
                    email: "alice@example.com".to_owned(),
                    phones: vec![phone("555-1212", PhoneKind::Mobile)],
                    employment: Employment::School("MIT".to_owned()),
                },
                Person {
                    id: 456,
                    name: "Bob".to_owned(),
                    email: "bob@example.com".to_owned(),
                    phones: vec![
                        phone("555-4567", PhoneKind::Home),
                        phone("555-7654", PhoneKind::Work),
                    ],
                    employment: Employment::Unemployed,
                },
            ],
        }
    }

    /// A book of `n` made-up people, the same for the same `n`.
    ///
    /// Person `i` has id `i`, `i % 4` phones cycling through the kinds, and an employment cycling
    /// through all four union members, so every branch of the conversion is exercised.
    #[must_use]
    pub fn generated(n: u32) -> Self {
        const KINDS: [PhoneKind; 3] = [PhoneKind::Mobile, PhoneKind::Home, PhoneKind::Work];
        let person = |i: u32| Person {
            id: i,
            name: format!("Person {i}"),
            email: format!("person{i}@example.com"),
            phones: (0..i % 4)
                .map(|j| Phone {
                    number: format!("555-{:04}", (i * 7 + j) % 10_000),
                    kind: KINDS[(i + j) as usize % KINDS.len()],
                })
                .collect(),
            employment: match i % 4 {
                0 => Employment::Unemployed,
                1 => Employment::Employer(format!("Employer {}", i / 4)),
                2 => Employment::School(format!("School {}", i / 4)),
                _ => Employment::SelfEmployed,
            },
        };
        Self {
            people: (0..n).map(person).collect(),
        }
    }

    /// Writes the book as the root of `message`, replacing any root it had.
    ///
    /// # Panics
    ///
    /// If a list or text is longer than Cap'n Proto can encode (2²⁹ − 1 elements or bytes).
    pub fn build<A: Allocator>(&self, message: &mut message::Builder<A>) {
        let root = message.init_root::<address_book::Builder<'_>>();
        let mut people = root.init_people(list_len(self.people.len()));
        for (i, p) in self.people.iter().enumerate() {
            let mut b = people.reborrow().get(list_len(i));
            b.set_id(p.id);
            b.set_name(p.name.as_str());
            b.set_email(p.email.as_str());
            let mut phones = b.reborrow().init_phones(list_len(p.phones.len()));
            for (j, phone) in p.phones.iter().enumerate() {
                let mut pb = phones.reborrow().get(list_len(j));
                pb.set_number(phone.number.as_str());
                pb.set_type(phone.kind.to_wire());
            }
            let mut employment = b.init_employment();
            match &p.employment {
                Employment::Unemployed => employment.set_unemployed(()),
                Employment::Employer(name) => employment.set_employer(name.as_str()),
                Employment::School(name) => employment.set_school(name.as_str()),
                Employment::SelfEmployed => employment.set_self_employed(()),
            }
        }
    }

    /// Converts a message's `AddressBook` root into the owned model.
    ///
    /// # Errors
    ///
    /// Malformed pointers, a traversal limit hit, text that is not UTF-8, or a phone type or
    /// employment the schema does not know; the message says which person and field.
    pub fn read(reader: address_book::Reader<'_>) -> capnp::Result<Self> {
        let people = reader.get_people()?;
        let people = people
            .iter()
            .enumerate()
            .map(|(i, p)| read_person(p).map_err(|e| context(e, &format!("person {i}"))))
            .collect::<capnp::Result<_>>()?;
        Ok(Self { people })
    }

    /// Reads the `AddressBook` root of `message`; see [`AddressBook::read`].
    ///
    /// # Errors
    ///
    /// As [`AddressBook::read`], plus a missing or malformed root.
    pub fn from_message<S: ReaderSegments>(message: &message::Reader<S>) -> capnp::Result<Self> {
        Self::read(message.get_root()?)
    }

    /// A new message holding this book, with the default allocator.
    fn to_message(&self) -> message::Builder<HeapAllocator> {
        let mut message = message::Builder::new_default();
        self.build(&mut message);
        message
    }
}

fn read_person(p: person::Reader<'_>) -> capnp::Result<Person> {
    use person::employment::Which;

    let phones = p.get_phones()?;
    let phones = phones
        .iter()
        .enumerate()
        .map(|(j, phone)| read_phone(phone).map_err(|e| context(e, &format!("phone {j}"))))
        .collect::<capnp::Result<_>>()?;
    let employment = match p.get_employment().which() {
        Ok(Which::Unemployed(())) => Employment::Unemployed,
        Ok(Which::Employer(name)) => Employment::Employer(text(name, "employer")?),
        Ok(Which::School(name)) => Employment::School(text(name, "school")?),
        Ok(Which::SelfEmployed(())) => Employment::SelfEmployed,
        Err(capnp::NotInSchema(n)) => {
            return Err(capnp::Error::failed(format!(
                "employment: unknown union member {n}"
            )))
        }
    };
    Ok(Person {
        id: p.get_id(),
        name: text(p.get_name(), "name")?,
        email: text(p.get_email(), "email")?,
        phones,
        employment,
    })
}

fn read_phone(phone: person::phone_number::Reader<'_>) -> capnp::Result<Phone> {
    let number = text(phone.get_number(), "number")?;
    let kind = phone.get_type().map_err(|capnp::NotInSchema(n)| {
        capnp::Error::failed(format!("type: unknown phone type {n}"))
    })?;
    Ok(Phone {
        number,
        kind: PhoneKind::from_wire(kind),
    })
}

/// An owned copy of a text field, or an error naming `field` if it is malformed or not UTF-8.
fn text(field: capnp::Result<capnp::text::Reader<'_>>, name: &str) -> capnp::Result<String> {
    let reader = field.map_err(|e| context(e, name))?;
    reader
        .to_string()
        .map_err(|e| capnp::Error::failed(format!("{name}: text is not valid UTF-8: {e}")))
}

/// `error` with `what: ` in front of its description, keeping its kind.
fn context(mut error: capnp::Error, what: &str) -> capnp::Error {
    error.extra = format!("{what}: {}", error.extra);
    error
}

/// A list length or index as Cap'n Proto's `u32`.
fn list_len(n: usize) -> u32 {
    // Cap'n Proto lists hold fewer than 2^29 elements; the builder panics on longer ones anyway,
    // so this only makes that documented panic say why.
    u32::try_from(n).unwrap_or_else(|_| panic!("{n} elements do not fit in a Cap'n Proto list"))
}

/// The book as one message in standard stream framing (pycapnp's `to_bytes`).
///
/// # Panics
///
/// As [`AddressBook::build`].
#[must_use]
pub fn to_bytes(book: &AddressBook) -> Vec<u8> {
    serialize::write_message_to_words(&book.to_message())
}

/// Reads one framed message written by [`to_bytes`]; bytes after it are ignored.
///
/// # Errors
///
/// Truncated or malformed framing, a limit in `options` exceeded, or content as in
/// [`AddressBook::read`].
pub fn from_bytes(mut bytes: &[u8], options: ReaderOptions) -> capnp::Result<AddressBook> {
    AddressBook::from_message(&serialize::read_message_from_flat_slice(
        &mut bytes, options,
    )?)
}

/// The book as one message in packed framing (pycapnp's `to_bytes_packed`).
///
/// # Panics
///
/// As [`AddressBook::build`].
#[must_use]
pub fn to_packed_bytes(book: &AddressBook) -> Vec<u8> {
    let mut out = Vec::new();
    // The only errors `write_message` reports come from the writer, and writing to a Vec<u8>
    // cannot fail.
    serialize_packed::write_message(&mut out, &book.to_message())
        .expect("writing to a Vec<u8> cannot fail");
    out
}

/// Reads one packed message written by [`to_packed_bytes`].
///
/// # Errors
///
/// As [`from_bytes`].
pub fn from_packed_bytes(bytes: &[u8], options: ReaderOptions) -> capnp::Result<AddressBook> {
    AddressBook::from_message(&serialize_packed::read_message(bytes, options)?)
}

/// Writes each book as a framed message, one after another (how pycapnp's `read_multiple`
/// expects a file to look).
///
/// # Errors
///
/// Any error from `out`.
///
/// # Panics
///
/// As [`AddressBook::build`].
pub fn write_many<W: Write>(out: &mut W, books: &[AddressBook]) -> capnp::Result<()> {
    for book in books {
        serialize::write_message(&mut *out, &book.to_message())?;
    }
    Ok(())
}

/// Reads framed messages until the stream ends cleanly (pycapnp's `read_multiple`).
///
/// An empty stream gives an empty `Vec`. Each message is bounded by `options`; the number of
/// messages is bounded only by the input.
///
/// # Errors
///
/// A stream that ends inside a message, or any error of [`from_bytes`]; the message says which
/// message (counting from 0) was bad.
pub fn read_many<R: BufRead>(
    mut input: R,
    options: ReaderOptions,
) -> capnp::Result<Vec<AddressBook>> {
    let mut books = Vec::new();
    loop {
        let index = books.len();
        let read = serialize::try_read_message(&mut input, options)
            .and_then(|m| m.map(|m| AddressBook::from_message(&m)).transpose())
            .map_err(|e| context(e, &format!("message {index}")))?;
        match read {
            Some(book) => books.push(book),
            None => return Ok(books),
        }
    }
}

/// The book's message as its raw segments (pycapnp's `to_segments`), copied out of the builder.
/// `windlass::framing::to_segments` borrows the segments of any message instead.
///
/// `first_segment_words` sizes the first segment (in 8-byte words); small values force the
/// message to spill into several segments, which is how tests exercise multi-segment reading.
/// Later segments grow as the capnp allocator decides.
///
/// # Panics
///
/// As [`AddressBook::build`].
#[must_use]
pub fn to_segments(book: &AddressBook, first_segment_words: u32) -> Vec<Vec<u8>> {
    let allocator = HeapAllocator::new().first_segment_words(first_segment_words.max(1));
    let mut message = message::Builder::new(allocator);
    book.build(&mut message);
    let segments = message.get_segments_for_output();
    segments.iter().map(|s| s.to_vec()).collect()
}

/// Reads a message from its raw segments (pycapnp's `from_segments`).
///
/// Cap'n Proto needs every segment 8-byte aligned, which a `&[u8]` does not promise: aligned
/// segments are read in place, the others are copied into word-aligned storage first, so callers
/// need not care where their bytes live. (For owned `bytes::Bytes` segments and a typed error,
/// see `windlass::framing::from_segments`.)
///
/// # Errors
///
/// No segments, more than [`MAX_SEGMENTS`], a segment whose length is not a multiple of 8, or any
/// error of [`AddressBook::from_message`].
pub fn from_segments<S: AsRef<[u8]>>(
    segments: &[S],
    options: ReaderOptions,
) -> capnp::Result<AddressBook> {
    if segments.is_empty() || segments.len() > MAX_SEGMENTS {
        return Err(capnp::Error::failed(format!(
            "a message needs 1 to {MAX_SEGMENTS} segments, got {}",
            segments.len()
        )));
    }
    // `None` for a segment that can be read where it is.
    let copies = segments
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let s = s.as_ref();
            if s.as_ptr().align_offset(std::mem::align_of::<Word>()) == 0 && s.len() % 8 == 0 {
                Ok(None)
            } else {
                aligned_copy(s, i).map(Some)
            }
        })
        .collect::<capnp::Result<Vec<_>>>()?;
    let slices: Vec<&[u8]> = segments
        .iter()
        .zip(&copies)
        .map(|(s, copy)| copy.as_deref().map_or(s.as_ref(), Word::words_to_bytes))
        .collect();
    let message = message::Reader::new(SegmentArray::new(&slices), options);
    AddressBook::from_message(&message)
}

/// `bytes` copied into word-aligned storage, or an error if it is not a whole number of words.
fn aligned_copy(bytes: &[u8], index: usize) -> capnp::Result<Vec<Word>> {
    const WORD: usize = 8;
    if !bytes.len().is_multiple_of(WORD) {
        return Err(capnp::Error::failed(format!(
            "segment {index} is {} bytes, not a multiple of {WORD}",
            bytes.len()
        )));
    }
    let mut words = Word::allocate_zeroed_vec(bytes.len() / WORD);
    Word::words_to_bytes_mut(&mut words).copy_from_slice(bytes);
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(book: &AddressBook) -> AddressBook {
        let message = book.to_message();
        let reader = message.get_root_as_reader().expect("root");
        AddressBook::read(reader).expect("read")
    }

    #[test]
    fn sample_and_generated_convert_both_ways() {
        for book in [
            AddressBook::sample(),
            AddressBook::generated(13),
            AddressBook::default(),
        ] {
            assert_eq!(round_trip(&book), book);
        }
    }

    #[test]
    fn generated_is_deterministic_and_covers_every_variant() {
        let book = AddressBook::generated(8);
        assert_eq!(book, AddressBook::generated(8));
        assert_eq!(book.people.len(), 8);
        let has = |f: fn(&Employment) -> bool| book.people.iter().any(|p| f(&p.employment));
        assert!(has(|e| matches!(e, Employment::Unemployed)));
        assert!(has(|e| matches!(e, Employment::Employer(_))));
        assert!(has(|e| matches!(e, Employment::School(_))));
        assert!(has(|e| matches!(e, Employment::SelfEmployed)));
        for kind in [PhoneKind::Mobile, PhoneKind::Home, PhoneKind::Work] {
            assert!(book
                .people
                .iter()
                .flat_map(|p| &p.phones)
                .any(|p| p.kind == kind));
        }
    }

    #[test]
    fn phone_kinds_map_to_the_schema_values() {
        for (kind, wire) in [
            (PhoneKind::Mobile, 0),
            (PhoneKind::Home, 1),
            (PhoneKind::Work, 2),
        ] {
            assert_eq!(kind.to_wire() as u16, wire);
            assert_eq!(PhoneKind::from_wire(kind.to_wire()), kind);
        }
    }

    #[test]
    fn non_utf8_text_is_an_error_naming_the_field() {
        let mut message = AddressBook::sample().to_message();
        {
            let root = message
                .get_root::<address_book::Builder<'_>>()
                .expect("root");
            let people = root.get_people().expect("people");
            let name = people.get(1).init_name(2);
            name.as_bytes_mut().copy_from_slice(&[0xff, 0xfe]);
        }
        let err = AddressBook::read(message.get_root_as_reader().expect("root"))
            .expect_err("invalid UTF-8");
        let text = err.to_string();
        assert!(text.contains("person 1") && text.contains("name"), "{text}");
        assert!(text.contains("UTF-8"), "{text}");
    }

    #[test]
    fn misaligned_or_ragged_segments_are_handled() {
        let segments = to_segments(&AddressBook::sample(), 1);
        // Shift the first segment by one byte so it is certainly not 8-byte aligned.
        let mut shifted = vec![0u8];
        shifted.extend_from_slice(&segments[0]);
        let mut views: Vec<&[u8]> = segments.iter().map(Vec::as_slice).collect();
        views[0] = &shifted[1..];
        let options = ReaderOptions::new();
        assert_eq!(
            from_segments(&views, options).expect("read"),
            AddressBook::sample()
        );

        views[0] = &shifted[..];
        assert!(from_segments(&views, options).is_err());
        assert!(from_segments::<&[u8]>(&[], options).is_err());
    }
}
