# Corpus: unions unnamed.
@0xf70bafff36344f11;
struct U {
  a @0 :Int32;
  union {
    x @1 :Int8;
    y @2 :Int64;
    z @3 :Text;
    w @4 :Void;
  }
  b @5 :Bool;
}
