@0xe1a2b3c4d5e6f708;
const c :Int32 = 1;
struct T { s @0 :c; }
