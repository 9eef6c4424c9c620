# Corpus: struct list defaults.
@0xc84637b9f5725a84;
struct Point { x @0 :Int32 = 1; y @1 :Int32; name @2 :Text; }
struct Shapes {
  points @0 :List(Point) = [(x = 5, y = 6), (name = "origin"), (x = 1)];
  one @1 :Point = (x = 7, y = -1, name = "p");
  enums @2 :List(Color) = [red, blue];
  enum Color { red @0; green @1; blue @2; }
  color @3 :Color = green;
}
