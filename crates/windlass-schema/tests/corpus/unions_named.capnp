# Corpus: unions named.
@0xfa7359bc373e2486;
struct N {
  first :union {
    a @0 :UInt16;
    b @1 :Text;
  }
  second :union {
    c @2 :Bool;
    d @3 :Float32;
    e @4 :List(Int8);
  }
  after @5 :UInt8;
}
