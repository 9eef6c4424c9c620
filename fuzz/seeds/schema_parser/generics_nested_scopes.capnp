# Corpus: generics nested scopes.
@0xb6ee3241042fc571;
struct Outer(T) {
  struct Middle(U) {
    struct Leaf {
      t @0 :T;
      u @1 :U;
    }
    leaf @0 :Leaf;
  }
  m @0 :Middle(Data);
  l @1 :Middle(Text).Leaf;
}
struct Concrete {
  x @0 :Outer(Text).Middle(Data).Leaf;
  y @1 :Outer(List(Bool));
}
