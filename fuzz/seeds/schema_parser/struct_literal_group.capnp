# Corpus: struct literal group.
@0xa251744d469f2dd1;
struct Person {
  name @0 :Text;
  address :group {
    street @1 :Text;
    number @2 :UInt16 = 10;
  }
  flags :group { a @3 :Bool; b @4 :Bool = true; }
}
struct Registry {
  p @0 :Person = (name = "ann", address = (street = "main", number = 3), flags = (a = true, b = false));
}
