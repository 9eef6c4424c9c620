# Corpus: docs.
@0xc38f8d1570ee8a1d;
# File-level doc.

struct Documented {
  # Struct doc, first line.
  # Second line.
  a @0 :Int32;  # Field doc.
  b @1 :Text;
  # Doc on the next line.

  c @2 :Bool;
}
# Late comment is not attached.

enum E {  # Enum doc.
  x @0;  # Enumerant doc.
  y @1;
}
interface I {
  # Interface doc.
  m @0 () -> ();  # Method doc.
}
