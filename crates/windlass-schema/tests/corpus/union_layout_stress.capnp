# Corpus: union layout stress.
@0x8eeed06641718e9a;
struct L {
  a @0 :Bool;
  union {
    b @1 :UInt8;
    c @2 :UInt64;
    d @3 :UInt16;
    e @4 :Bool;
    f @5 :UInt32;
  }
  g @6 :UInt16;
  h @7 :Bool;
  union2 :union {
    i @8 :Bool;
    j @9 :UInt32;
    k @10 :Float64;
    l :group { m @11 :UInt8; n @12 :UInt8; o @13 :UInt32; }
  }
  p @14 :UInt8;
}
