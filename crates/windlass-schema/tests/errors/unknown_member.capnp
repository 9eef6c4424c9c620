@0xe1a2b3c4d5e6f708;
struct S { x @0 :Int32; }
struct T { s @0 :S.Nope; }
