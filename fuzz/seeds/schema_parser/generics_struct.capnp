# Corpus: generics struct.
@0xb1907a8d08c3d4a4;
struct Pair(A, B) {
  first @0 :A;
  second @1 :B;
}
struct Box(T) {
  value @0 :T;
  inner @1 :Inner;
  struct Inner { v @0 :T; }
}
struct User {
  p @0 :Pair(Text, Data);
  b @1 :Box(List(Int32));
  bi @2 :Box(Text).Inner;
  nested @3 :Pair(Box(Text), Pair(Data, Text));
  any @4 :Pair(AnyPointer, Text);
}
