@0xe1a2b3c4d5e6f708;
struct A @0xd8d2e4b2f4a6c801 {}
struct B @0xd8d2e4b2f4a6c801 {}
