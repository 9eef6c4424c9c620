# Corpus: interface nested types.
@0xd67340487dac130a;
interface Store {
  struct Key { id @0 :UInt64; }
  enum Mode { read @0; write @1; }
  interface Handle { close @0 (); }
  open @0 (key :Key, mode :Mode = write) -> (handle :Handle);
  const version :UInt32 = 3;
}
