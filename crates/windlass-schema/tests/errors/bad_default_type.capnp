@0xe1a2b3c4d5e6f708;
struct S {
  b @0 :Int32 = "text";
}
