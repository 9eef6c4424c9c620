# Corpus: layout holes.
@0xd6159edd3c2a462f;
struct Holes {
  a @0 :Bool; b @1 :Int64; c @2 :Int8; d @3 :Bool; e @4 :Int16; f @5 :Int32; g @6 :Bool;
  h @7 :Float32; i @8 :Int8; j @9 :UInt16; k @10 :Text; l @11 :Bool; m @12 :List(Int8);
  n @13 :UInt64; o @14 :Int8;
}
