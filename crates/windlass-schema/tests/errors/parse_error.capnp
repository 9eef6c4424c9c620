@0xe1a2b3c4d5e6f708;
struct S {
  a @0 Int32;
}
