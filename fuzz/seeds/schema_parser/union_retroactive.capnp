# Corpus: union retroactive.
@0xdfe08431a16361e7;
struct Old {
  legacy @0 :Int32;
  u @2! :union {
    old @1 :Int32;
    new @3 :Text;
  }
}
