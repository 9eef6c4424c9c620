# Corpus: explicit ids.
@0xd5ca4dd5481958cf;
struct A @0xd1d5c8c7e8e8f3a1 {
  struct B @0xd1d5c8c7e8e8f3a2 { x @0 :Int32; }
  enum C @0xd1d5c8c7e8e8f3a3 { a @0; }
  b @0 :B;
}
interface I @0xd1d5c8c7e8e8f3a4 { m @0 (); }
const k @0xd1d5c8c7e8e8f3a5 :Int32 = 1;
annotation ann @0xd1d5c8c7e8e8f3a6 (*) :Void;
