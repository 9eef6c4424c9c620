# Corpus: consts.
@0xf5c8b761d6657bc5;
const b :Bool = true;
const i :Int32 = -5;
const u :UInt64 = 0xffffffffffffffff;
const f :Float32 = 2.5;
const t :Text = "text";
const d :Data = 0x"0102";
const l :List(Int16) = [1, 2, 3];
const s :S = (a = 1, b = "two", c = [3]);
const e :E = two;
const v :Void = void;
struct S { a @0 :Int32; b @1 :Text; c @2 :List(Int8); }
enum E { one @0; two @1; }
