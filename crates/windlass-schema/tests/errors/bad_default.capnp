@0xe1a2b3c4d5e6f708;
struct S {
  a @0 :UInt8 = 300;
  b @1 :Int32 = "text";
}
