# Corpus: any pointers.
@0xa1ea436b16a054cd;
struct Anys {
  a @0 :AnyPointer;
  s @1 :AnyStruct;
  l @2 :AnyList;
  c @3 :Capability;
  lc @4 :List(Capability);
}
interface Gen { get @0 () -> (p :AnyPointer); }
