# Corpus: lists of everything.
@0xafcb4fd01be9625a;
struct Item { a @0 :Int32; }
interface Cap {}
enum E { a @0; }
struct Lists {
  a @0 :List(Void); b @1 :List(Bool); c @2 :List(Int8); d @3 :List(Int16); e @4 :List(Int32);
  f @5 :List(Int64); g @6 :List(UInt8); h @7 :List(UInt16); i @8 :List(UInt32); j @9 :List(UInt64);
  k @10 :List(Float32); l @11 :List(Float64); m @12 :List(Text); n @13 :List(Data);
  o @14 :List(Item); p @15 :List(E); q @16 :List(Cap); r @17 :List(List(Item));
}
