# Corpus: generics interface.
@0xbb2b8a5ebf03d783;
interface Container(T) {
  get @0 () -> (value :T);
  put @1 (value :T) -> ();
  map @2 [U] (f :Mapper(T, U)) -> (result :Container(U));
  identity @3 [X] (x :X) -> (x :X);
}
interface Mapper(From, To) {
  apply @0 (x :From) -> (y :To);
}
struct UsesContainer {
  c @0 :Container(Text);
  m @1 :Mapper(Data, List(Text));
}
