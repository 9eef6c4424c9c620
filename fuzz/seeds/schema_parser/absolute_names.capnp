# Corpus: absolute names.
@0xc40ba46142561358;
struct Top { x @0 :Int32; }
struct Scope {
  struct Top { y @0 :Text; }
  inner @0 :Top;
  outer @1 : .Top;
}
