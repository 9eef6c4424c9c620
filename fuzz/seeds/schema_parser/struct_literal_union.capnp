# Corpus: struct literal union.
@0xc14abd677043e2ff;
struct Shape {
  area @0 :Float64;
  union {
    circle @1 :Float64;
    square @2 :Float64;
    named @3 :Text;
  }
}
struct Holder {
  a @0 :Shape = (area = 2, square = 1.5);
  b @1 :Shape = (named = "x");
  c @2 :List(Shape) = [(circle = 1), (area = 3, named = "n")];
}
