# Corpus: text data defaults.
@0x9dd9250b43fd16b5;
struct Blobs {
  t @0 :Text = "hello\n\t\"quoted\" \x41\101";
  d @1 :Data = 0x"de ad be ef";
  d2 @2 :Data = "as text";
  empty @3 :Text = "";
  joined @4 :Text = "con" "cat" "enated";
}
