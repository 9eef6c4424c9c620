# Corpus: embed.
@0xe659db96999dcd42;
struct Embedded {
  t @0 :Text = embed "embed.txt";
  d @1 :Data = embed "embed.txt";
}
const embeddedConst :Text = embed "embed.txt";
