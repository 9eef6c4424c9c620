#!/usr/bin/env python3
"""Rewrites the code blocks of docs/your-own-service.md from the files they quote.

Each snippet is a fenced block right after a marker `<!-- snippet: PATH[#ANCHOR] -->`, PATH being
inside docs/your-own-service/kv-store/ and ANCHOR a region between `// ANCHOR: name` and
`// ANCHOR_END: name` (`#` comments in TOML and capnp files). tests/guide.rs fails when a block
differs from its source; run this after changing the crate, then review the diff.
"""
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "your-own-service.md"
CRATE = ROOT / "docs" / "your-own-service" / "kv-store"


def quoted(spec):
    path, _, anchor = spec.partition("#")
    text = (CRATE / path).read_text()
    if not anchor:
        return text
    comment = "// " if path.endswith(".rs") else "# "
    start = text.index(f"{comment}ANCHOR: {anchor}\n")
    start = text.index("\n", start) + 1
    return text[start:text.index(f"{comment}ANCHOR_END: {anchor}\n", start)]


def main():
    pattern = re.compile(r"(<!-- snippet: ([^ ]+) -->\n```\w*\n)(.*?)(```)", re.S)
    guide = GUIDE.read_text()
    GUIDE.write_text(pattern.sub(lambda m: m.group(1) + quoted(m.group(2)) + m.group(4), guide))


if __name__ == "__main__":
    main()
