# Corpus: void fields.
@0xb4e4c99b5e6a45f1;
struct Vs {
  a @0 :Void;
  union { b @1 :Void; c @2 :Void; d @3 :Int8; }
  e @4 :Void;
}
