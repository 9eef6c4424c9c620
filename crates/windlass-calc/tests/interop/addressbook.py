#!/usr/bin/env python3
"""Address books through pycapnp, for windlass's serialization interop tests.

Usage:
  addressbook.py write DIR   build every book of DIR/spec.json with pycapnp and write it in each
                             serialized form under DIR (layout below)
  addressbook.py check DIR   read every form under DIR with pycapnp and compare it, field by
                             field, with DIR/spec.json; exits 1 on any difference

spec.json is a list of books: {"people": [{"id", "name", "email", "phones": [{"number",
"type"}], "employment": {"which": "unemployed" | "employer" | "school" | "selfEmployed",
"text": str (employer and school only)}}]}. The layout, shared with tests/interop/serialization.rs:

  bytes/NNN.bin         one message, standard framing (to_bytes / from_bytes)
  packed/NNN.bin        one message, packed framing (to_bytes_packed / from_bytes_packed)
  many.bin              every book, framed, back to back (write / read_multiple)
  many.packed           every book, packed, back to back (write_packed / read_multiple_packed)
  split/NNN.bin         as bytes/, but built with a one-word first segment: several segments
  split-packed/NNN.bin  as packed/, likewise
  segments/NNN/SSS.seg  the raw segments of the split message (to_segments / from_segments)
"""

import json
import pathlib
import sys

import capnp  # noqa: F401 - pycapnp must be importable; load_schema uses it

from pyinterop import load_schema

addressbook_capnp = load_schema("addressbook.capnp")
AddressBook = addressbook_capnp.AddressBook
# Limits generous enough for every test book, so a failure is about the format, not the size.
LIMITS = {"traversal_limit_in_words": 1 << 26}


def build(book, first_segment_words=None):
    message = AddressBook.new_message(num_first_segment_words=first_segment_words)
    people = message.init("people", len(book["people"]))
    for builder, person in zip(people, book["people"]):
        builder.id = person["id"]
        builder.name = person["name"]
        builder.email = person["email"]
        phones = builder.init("phones", len(person["phones"]))
        for phone_builder, phone in zip(phones, person["phones"]):
            phone_builder.number = phone["number"]
            phone_builder.type = phone["type"]
        employment = person["employment"]
        which = employment["which"]
        if which in ("employer", "school"):
            setattr(builder.employment, which, employment["text"])
        else:
            setattr(builder.employment, which, None)
    return message


def to_spec(reader):
    """A message read by pycapnp, in spec.json's shape."""
    people = []
    for person in reader.people:
        which = str(person.employment.which())
        employment = {"which": which}
        if which in ("employer", "school"):
            employment["text"] = getattr(person.employment, which)
        people.append(
            {
                "id": person.id,
                "name": person.name,
                "email": person.email,
                "phones": [{"number": p.number, "type": str(p.type)} for p in person.phones],
                "employment": employment,
            }
        )
    return {"people": people}


def differences(got, expected, path="book"):
    """Every place where GOT differs from EXPECTED, as 'path: got X, expected Y' lines."""
    if isinstance(expected, dict) and isinstance(got, dict):
        out = []
        for key in sorted(set(got) | set(expected)):
            out += differences(got.get(key), expected.get(key), f"{path}.{key}")
        return out
    if isinstance(expected, list) and isinstance(got, list):
        if len(got) != len(expected):
            return [f"{path}: {len(got)} elements, expected {len(expected)}"]
        out = []
        for i, (g, e) in enumerate(zip(got, expected)):
            out += differences(g, e, f"{path}[{i}]")
        return out
    return [] if got == expected else [f"{path}: got {got!r}, expected {expected!r}"]


def written(message, serialize):
    """SERIALIZE() of MESSAGE, which may then be serialized again: pycapnp warns about writing a
    message twice (a hint against modifying it in between, which we do not do)."""
    data = serialize()
    message.clear_write_flag()
    return data


def write(root, books):
    for n, book in enumerate(books):
        name = f"{n:03}.bin"
        message = build(book)
        put(root / "bytes" / name, written(message, message.to_bytes))
        put(root / "packed" / name, written(message, message.to_bytes_packed))
        split = build(book, first_segment_words=1)
        put(root / "split" / name, written(split, split.to_bytes))
        put(root / "split-packed" / name, written(split, split.to_bytes_packed))
        segments = written(split, split.to_segments)
        for s, segment in enumerate(segments):
            put(root / "segments" / f"{n:03}" / f"{s:03}.seg", segment)
        print(f"book {n}: {len(book['people'])} people, split into {len(segments)} segments")
    # The file APIs this time, to cover them too: write() and write_packed() append to a file.
    with open(root / "many.bin", "wb") as f:
        for book in books:
            build(book).write(f)
    with open(root / "many.packed", "wb") as f:
        for book in books:
            build(book).write_packed(f)


def put(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def check(root, books):
    """Reads every form under ROOT; returns the number of failures."""
    results = []  # (what, spec dict or exception)

    def attempt(what, read):
        try:
            results.append((what, read()))
        except Exception as e:  # noqa: BLE001 - any failure to read is reported
            results.append((what, e))

    def from_bytes(data):
        with AddressBook.from_bytes(data, **LIMITS) as reader:
            return to_spec(reader)

    for n in range(len(books)):
        name = f"{n:03}.bin"
        attempt(f"bytes/{name}", lambda: from_bytes((root / "bytes" / name).read_bytes()))
        attempt(f"split/{name}", lambda: from_bytes((root / "split" / name).read_bytes()))
        for form in ("packed", "split-packed"):
            data = (root / form / name).read_bytes()
            attempt(f"{form}/{name}", lambda: to_spec(AddressBook.from_bytes_packed(data, **LIMITS)))
        files = sorted((root / "segments" / f"{n:03}").glob("*.seg"))
        segments = [f.read_bytes() for f in files]
        what = f"segments/{n:03} ({len(segments)} segments)"
        attempt(what, lambda: to_spec(AddressBook.from_segments(segments, **LIMITS)))

    with open(root / "many.bin", "rb") as f:
        many = [to_spec(r) for r in AddressBook.read_multiple(f, **LIMITS)]
    data = (root / "many.packed").read_bytes()
    many_packed = [to_spec(r) for r in AddressBook.read_multiple_bytes_packed(data, **LIMITS)]

    failures = 0
    for what, got in results:
        n = int(what.split("/")[1][:3])
        failures += report(what, got, books[n])
    for what, got in (("many.bin", many), ("many.packed", many_packed)):
        failures += report(f"{what} ({len(got)} messages)", got, books)
    return failures


def report(what, got, expected):
    if isinstance(got, Exception):
        print(f"FAIL {what}: cannot read: {type(got).__name__}: {got}")
        return 1
    diffs = differences(got, expected)
    if diffs:
        print(f"FAIL {what}: {len(diffs)} difference(s)")
        for line in diffs[:20]:
            print(f"    {line}")
        return 1
    print(f"PASS {what}")
    return 0


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("write", "check"):
        sys.exit(__doc__)
    root = pathlib.Path(sys.argv[2])
    books = json.loads((root / "spec.json").read_text(encoding="utf-8"))
    if sys.argv[1] == "write":
        write(root, books)
        return 0
    failures = check(root, books)
    print(f"{failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
