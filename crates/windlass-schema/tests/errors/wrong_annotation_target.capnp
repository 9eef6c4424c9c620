@0xe1a2b3c4d5e6f708;
annotation a(field) :Void;
struct S $a {}
