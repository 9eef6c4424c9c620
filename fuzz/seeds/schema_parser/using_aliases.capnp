# Corpus: using aliases.
@0xc72ea900bb5bbc03;
struct Original { x @0 :Int32; struct Deep { y @0 :Text; } }
using Alias = Original;
using Deep = Original.Deep;
using I32 = Int32;
struct Uses {
  a @0 :Alias;
  d @1 :Deep;
  n @2 :I32;
  using Local = Original.Deep;
  l @3 :Local;
}
