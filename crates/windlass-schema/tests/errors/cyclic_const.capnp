@0xe1a2b3c4d5e6f708;
const a :Int32 = .b;
const b :Int32 = .a;
