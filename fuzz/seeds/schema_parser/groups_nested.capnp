# Corpus: groups nested.
@0xfda73d0af11d81b4;
struct Outer {
  g1 :group {
    a @0 :Int32;
    g2 :group {
      b @1 :Text;
      g3 :group { c @2 :Bool; }
    }
  }
  d @3 :Float64;
}
