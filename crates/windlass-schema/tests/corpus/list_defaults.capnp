# Corpus: list defaults.
@0xe061fe113127a34c;
struct Lists {
  ints @0 :List(Int32) = [1, -2, 3];
  bools @1 :List(Bool) = [true, false, true, true, false, false, false, false, true];
  texts @2 :List(Text) = ["a", "bc", ""];
  nested @3 :List(List(UInt8)) = [[1, 2], [], [3]];
  floats @4 :List(Float64) = [1.5, -inf];
  datas @5 :List(Data) = [0x"00ff", "x"];
  voids @6 :List(Void) = [void, void];
  bytes @7 :List(UInt8) = [1, 2, 3, 4, 5, 6, 7, 8, 9];
  empty @8 :List(Int64) = [];
}
