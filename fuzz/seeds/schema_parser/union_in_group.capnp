# Corpus: union in group.
@0xf1acef55aa6e8710;
struct G {
  outer :group {
    x @0 :Int32;
    inner :union {
      a @1 :Int64;
      b @2 :Bool;
      deep :group {
        c @3 :Int16;
        d @4 :Text;
      }
    }
  }
  y @5 :Int8;
}
