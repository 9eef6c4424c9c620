# Corpus: stream.
@0xbe67e3e6e50eea7c;
interface Sink {
  write @0 (bytes :Data) -> stream;
  done @1 () -> ();
}
