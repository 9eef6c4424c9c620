# Corpus: interfaces.
@0x8e73a0c8126a436d;
interface Calc {
  add @0 (a :Int32, b :Int32 = 2) -> (sum :Int32);
  noop @1 ();
  ret @2 () -> (value :Text);
  nested @3 (p :Inner) -> Inner;
  struct Inner { v @0 :UInt8; }
  getSelf @4 () -> (self :Calc);
}
