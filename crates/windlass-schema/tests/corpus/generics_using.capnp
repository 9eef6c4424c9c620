# Corpus: generics using.
@0xb72135a517fa6dd7;
struct Map(K, V) {
  entries @0 :List(Entry);
  struct Entry { key @0 :K; value @1 :V; }
}
using TextMap = Map(Text, Text);
struct Uses {
  m @0 :TextMap;
  e @1 :TextMap.Entry;
}
