//! Address book round trips in all four forms: plain, packed, several messages in one stream, and
//! raw segments.

use anyhow::{ensure, Context, Result};
use capnp::message::{self, ReaderOptions};
use capnp::{dynamic_struct, dynamic_value, introspect, serialize, serialize_packed};
use windlass_addressbook::addressbook_capnp::{address_book, person};
use windlass_addressbook::{self as addressbook, AddressBook, Employment, PhoneKind};

fn books() -> Vec<AddressBook> {
    vec![
        AddressBook::sample(),
        AddressBook::generated(1),
        AddressBook::generated(50),
        AddressBook::default(),
    ]
}

fn options() -> ReaderOptions {
    ReaderOptions::new()
}

#[test]
fn sample_is_the_classic_example() {
    let book = AddressBook::sample();
    let names: Vec<_> = book.people.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["Alice", "Bob"]);
    assert_eq!(book.people[0].employment, Employment::School("MIT".into()));
    assert_eq!(book.people[1].phones[1].kind, PhoneKind::Work);
}

#[test]
fn plain_round_trip() -> Result<()> {
    for book in books() {
        let bytes = addressbook::to_bytes(&book);
        assert_eq!(bytes.len() % 8, 0, "framed messages are whole words");
        assert_eq!(addressbook::from_bytes(&bytes, options())?, book);
        // The framing is the standard one: capnp's own reader agrees.
        let message = serialize::read_message(bytes.as_slice(), options())?;
        assert_eq!(AddressBook::from_message(&message)?, book);
    }
    Ok(())
}

#[test]
fn packed_round_trip_matches_capnp_packing() -> Result<()> {
    for book in books() {
        let packed = addressbook::to_packed_bytes(&book);
        assert_eq!(addressbook::from_packed_bytes(&packed, options())?, book);
        // Unpacked by capnp itself, it is exactly the plain message.
        let message = serialize_packed::read_message(packed.as_slice(), options())?;
        assert_eq!(AddressBook::from_message(&message)?, book);
        let plain = addressbook::to_bytes(&book);
        assert_eq!(
            serialize::write_message_segments_to_words(message.get_segments()),
            plain
        );
    }
    let big = AddressBook::generated(50);
    ensure!(
        addressbook::to_packed_bytes(&big).len() < addressbook::to_bytes(&big).len(),
        "packing should shrink a message full of small values"
    );
    Ok(())
}

#[test]
fn many_messages_in_one_stream_come_back_in_order() -> Result<()> {
    let all = books();
    let mut stream = Vec::new();
    addressbook::write_many(&mut stream, &all)?;
    assert_eq!(addressbook::read_many(stream.as_slice(), options())?, all);

    // Each message is an ordinary framed message.
    let mut rest = stream.as_slice();
    for book in &all {
        let message = serialize::read_message_from_flat_slice(&mut rest, options())?;
        assert_eq!(&AddressBook::from_message(&message)?, book);
    }
    assert!(rest.is_empty());
    Ok(())
}

#[test]
fn empty_stream_is_no_messages() -> Result<()> {
    assert!(addressbook::read_many(&[][..], options())?.is_empty());
    let mut stream = Vec::new();
    addressbook::write_many(&mut stream, &[])?;
    assert!(stream.is_empty());
    Ok(())
}

#[test]
fn truncated_stream_is_an_error_at_every_cut() -> Result<()> {
    let all = vec![AddressBook::sample(), AddressBook::generated(3)];
    let mut stream = Vec::new();
    addressbook::write_many(&mut stream, &all)?;
    let first_len = addressbook::to_bytes(&all[0]).len();
    for cut in 1..stream.len() {
        let result = addressbook::read_many(&stream[..cut], options());
        if cut == first_len {
            // A clean boundary between messages: just the first book.
            assert_eq!(result?, all[..1]);
        } else {
            let err = result.expect_err(&format!("cut at {cut} of {}", stream.len()));
            let expected = if cut < first_len {
                "message 0"
            } else {
                "message 1"
            };
            assert!(err.to_string().contains(expected), "cut {cut}: {err}");
        }
    }
    Ok(())
}

#[test]
fn truncated_single_messages_are_errors() {
    let book = AddressBook::generated(5);
    let plain = addressbook::to_bytes(&book);
    for cut in 0..plain.len() {
        assert!(
            addressbook::from_bytes(&plain[..cut], options()).is_err(),
            "plain cut {cut}"
        );
    }
    let packed = addressbook::to_packed_bytes(&book);
    for cut in 0..packed.len() {
        assert!(
            addressbook::from_packed_bytes(&packed[..cut], options()).is_err(),
            "packed cut {cut}"
        );
    }
}

#[test]
fn segments_round_trip_single_and_multi_segment() -> Result<()> {
    for book in books() {
        let one = addressbook::to_segments(&book, 8192);
        assert_eq!(one.len(), 1);
        assert_eq!(addressbook::from_segments(&one, options())?, book);
    }

    let book = AddressBook::generated(20);
    for first_segment_words in [1, 2, 5, 16] {
        let segments = addressbook::to_segments(&book, first_segment_words);
        assert!(
            segments.len() > 1,
            "first_segment_words {first_segment_words} gave {} segment(s)",
            segments.len()
        );
        assert!(segments.iter().all(|s| s.len() % 8 == 0));
        assert_eq!(addressbook::from_segments(&segments, options())?, book);
        let views: Vec<&[u8]> = segments.iter().map(Vec::as_slice).collect();
        assert_eq!(addressbook::from_segments(&views, options())?, book);
    }
    Ok(())
}

#[test]
fn segments_and_framed_forms_agree() -> Result<()> {
    // Framing the raw segments with capnp gives a message our plain reader accepts.
    let book = AddressBook::generated(20);
    let segments = addressbook::to_segments(&book, 4);
    let views: Vec<&[u8]> = segments.iter().map(Vec::as_slice).collect();
    let framed = serialize::write_message_segments_to_words(&message::SegmentArray::new(&views));
    assert_eq!(addressbook::from_bytes(&framed, options())?, book);
    Ok(())
}

#[test]
fn bad_segments_are_errors() {
    let segments = addressbook::to_segments(&AddressBook::sample(), 1);
    assert!(segments.len() > 1);
    assert!(addressbook::from_segments::<Vec<u8>>(&[], options()).is_err());
    // A segment that is not a whole number of words.
    let mut ragged = segments.clone();
    ragged[0].pop();
    assert!(addressbook::from_segments(&ragged, options()).is_err());
    // A missing segment leaves far pointers dangling.
    assert!(addressbook::from_segments(&segments[..1], options()).is_err());
    let too_many = vec![Vec::<u8>::new(); addressbook::MAX_SEGMENTS + 1];
    assert!(addressbook::from_segments(&too_many, options()).is_err());
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    let mut seed = 0x2545_f491_u32;
    let mut next = move || {
        // xorshift32: cheap, deterministic noise.
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed
    };
    let valid = addressbook::to_bytes(&AddressBook::generated(6));
    for round in 0..500 {
        let len = (next() % 200) as usize;
        let mut noise: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        // Half the time, corrupt a valid message instead so the framing header is plausible.
        if round % 2 == 0 {
            noise = valid.clone();
            for _ in 0..4 {
                let at = next() as usize % noise.len();
                noise[at] = next() as u8;
            }
        }
        // Only that these return instead of panicking matters; some corruptions still decode.
        let _ = addressbook::from_bytes(&noise, options());
        let _ = addressbook::from_packed_bytes(&noise, options());
        let _ = addressbook::read_many(noise.as_slice(), options());
        let whole = noise.len() / 8 * 8;
        let _ = addressbook::from_segments(&[&noise[..whole]], options());
    }
    // Some inputs are certainly wrong.
    assert!(addressbook::from_bytes(b"not a capnp message", options()).is_err());
    assert!(addressbook::from_bytes(&[0xff; 64], options()).is_err());
}

#[test]
fn traversal_limit_is_respected() {
    let bytes = addressbook::to_bytes(&AddressBook::generated(200));
    let mut tight = ReaderOptions::new();
    tight.traversal_limit_in_words(Some(16));
    assert!(addressbook::from_bytes(&bytes, tight).is_err());
}

#[test]
fn non_utf8_text_is_an_error() -> Result<()> {
    let mut message = message::Builder::new_default();
    AddressBook::sample().build(&mut message);
    {
        let root = message.get_root::<address_book::Builder<'_>>()?;
        let person = root.get_people()?.get(0);
        let school = person.get_employment().init_school(3);
        school.as_bytes_mut().copy_from_slice(b"M\xffT");
    }
    let bytes = serialize::write_message_to_words(&message);
    let err = addressbook::from_bytes(&bytes, options()).expect_err("invalid UTF-8");
    let text = err.to_string();
    assert!(
        text.contains("person 0") && text.contains("school"),
        "{text}"
    );
    Ok(())
}

#[test]
fn unknown_phone_type_is_an_error() -> Result<()> {
    let mut message = message::Builder::new_default();
    AddressBook::sample().build(&mut message);
    {
        // The generated setter only takes known values; the dynamic API writes any u16.
        let root = message.get_root::<address_book::Builder<'_>>()?;
        let phone = root.get_people()?.get(1).get_phones()?.get(1);
        let mut phone =
            dynamic_value::Builder::from(phone).downcast::<dynamic_struct::Builder<'_>>();
        let introspect::TypeVariant::Enum(raw) =
            <person::phone_number::Type as introspect::Introspect>::introspect().which()
        else {
            anyhow::bail!("PhoneNumber.Type is not an enum");
        };
        phone.set_named("type", dynamic_value::Enum::new(7, raw.into()).into())?;
    }
    let bytes = serialize::write_message_to_words(&message);
    let err = addressbook::from_bytes(&bytes, options()).expect_err("unknown enum value");
    let text = err.to_string();
    assert!(
        text.contains("person 1") && text.contains("phone 1"),
        "{text}"
    );
    assert!(text.contains("unknown phone type 7"), "{text}");
    Ok(())
}

#[test]
fn unknown_employment_is_an_error() -> Result<()> {
    // The union discriminant is the u16 at bytes 4..6 of Person's data word, right after the u32
    // id. Find the person by a distinctive id and patch the discriminant to a value the schema
    // does not have.
    let mut book = AddressBook::sample();
    let id = 0x5eed_c0de_u32;
    book.people[1].id = id;
    let mut bytes = addressbook::to_bytes(&book);
    let at = bytes
        .windows(4)
        .position(|w| w == id.to_le_bytes())
        .context("person id not found")?;
    assert_eq!(
        bytes[at + 4..at + 6],
        [0, 0],
        "Bob is unemployed: discriminant 0"
    );
    bytes[at + 4..at + 6].copy_from_slice(&9u16.to_le_bytes());
    let err = addressbook::from_bytes(&bytes, options()).expect_err("unknown union member");
    let text = err.to_string();
    assert!(
        text.contains("person 1") && text.contains("unknown union member 9"),
        "{text}"
    );
    Ok(())
}
