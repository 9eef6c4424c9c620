# Corpus: enums.
@0xa2a3d787098ed436;
enum Plain { zero @0; one @1; two @2; }
enum OutOfOrder { c @2; a @0; b @1; }
struct UsesEnum {
  p @0 :Plain = two;
  o @1 :OutOfOrder = c;
  list @2 :List(OutOfOrder);
  enum Nested { x @0; y @1; }
  n @3 :Nested = y;
}
