# Corpus: shared.
@0xf1a1e39ed00dd4bd;
struct Common { x @0 :Int32; }
enum Kind { a @0; b @1; }
struct NotUsed { y @0 :Text; }
