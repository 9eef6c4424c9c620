# Corpus: interface inherit.
@0xf68ece60b372b862;
interface Base { a @0 () -> (); }
interface Mid extends(Base) { b @0 (x :Text); }
interface Other { c @0 (); }
interface Derived extends(Mid, Other) { d @0 () -> (m :Mid); }
