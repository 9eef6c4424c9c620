# Corpus: struct literals of generic structs, read through their brands.
@0xeb74e196dc52f2b1;
struct Box(T) {
  value @0 :T;
  inner @1 :Inner;
  g :group {
    w @2 :T;
  }
  struct Inner { v @0 :T; }
}
struct Pair(A, B) {
  first @0 :A;
  second @1 :B;
}
struct Point { x @0 :Int32 = 3; }
struct User {
  text @0 :Box(Text) = (value = "boxed", g = (w = "grouped"));
  point @1 :Box(Point) = (value = (x = 5));
  nested @2 :Pair(Box(Text), List(Point)) = (first = (value = "in"), second = [(x = 1)]);
  inner @3 :Box(Data).Inner = (v = 0x"01 02");
  inherited @4 :Box(Data) = (inner = (v = "bytes"));
  pairs @5 :List(Pair(Text, Box(Text))) = [(first = "k", second = (value = "v"))];
}
const boxed :Box(Text) = (value = "const");
