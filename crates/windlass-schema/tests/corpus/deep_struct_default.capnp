# Corpus: deep struct default.
@0x93ead482737a2bd7;
struct Node {
  value @0 :Int32;
  children @1 :List(Node);
  label @2 :Text = "node";
}
struct Tree {
  root @0 :Node = (value = 1, children = [(value = 2), (value = 3, children = [(value = 4, label = "leaf")])]);
}
