@0xe1a2b3c4d5e6f708;
struct P(T) { t @0 :T; }
struct S { p @0 :P(Text, Data); }
