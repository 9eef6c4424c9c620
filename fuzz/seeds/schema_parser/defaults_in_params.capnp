# Corpus: defaults in params.
@0xbf8650f90092ca8f;
interface Defaults {
  m @0 (a :Int32 = -1, b :Text = "x", c :List(Int8) = [1, 2], d :Bool = true, e :Float64 = 0.5) -> (r :UInt8 = 9);
}
