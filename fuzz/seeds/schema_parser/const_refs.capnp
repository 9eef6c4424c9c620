# Corpus: const refs.
@0xacdf1136c1e9dd48;
const base :Int32 = 40;
const same :Int32 = .base;
const widened :Int64 = .base;
const text :Text = "x";
const list :List(Text) = [.text, "y"];
struct K {
  a @0 :Int32 = .base;
  b @1 :Text = .text;
  const inner :UInt8 = 7;
  c @2 :UInt8 = .K.inner;
}
