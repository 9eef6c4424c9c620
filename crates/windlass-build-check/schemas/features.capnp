# The schema windlass-build-check compiles in its build.rs: the parts of the language that give
# a front end the most to get right (generics and brands, unions, groups, annotations, defaults of
# every kind, constants, an interface with a callback), all in one file.
@0xb7ede321c87b0cb9;

# A custom annotation, declared here and applied to the file and to most kinds of declaration.
annotation label(file, struct, field, union, group, enum, enumerant, interface, method, const)
    :Text;
# An annotation whose value is a struct.
annotation since(struct, interface) :Version;

$label("features");

struct Version {
  major @0 :UInt16;
  minor @1 :UInt16 = 1;
}

enum Colour $label("colour") {
  red @0;
  green @1 $label("the default");
  blue @2;
}

struct Point {
  x @0 :Int32 = -7;
  y @1 :Int32 = 11;
}

# A generic struct, with a nested struct that sees its parameter.
struct Box(T) $since(major = 1, minor = 2) {
  value @0 :T;
  struct Tagged {
    tag @0 :Text;
    value @1 :T;
  }
}

struct Pair(First, Second) {
  first @0 :First;
  second @1 :Second;
}

# The value type of the store: a named union with a group in it, a group, an unnamed union.
struct Item $label("item") {
  name @0 :Text = "unnamed" $label("name");
  count @1 :UInt32 = 1;
  colour @2 :Colour = green;
  tags @3 :List(Text) = ["new", "shiny"];
  origin @4 :Point = (x = 3, y = -4);
  price :union $label("price") {
    free @5 :Void;
    amount @6 :Float64;
    barter :group {
      offer @7 :Text = "a song";
      quantity @8 :UInt16 = 2;
    }
  }
  size :group $label("size") {
    width @9 :Float32 = 1.5;
    height @10 :Float32 = -2.25;
  }
  union {
    fresh @11 :Void;
    agedDays @12 :UInt16;
  }
}

# A default of every kind.
struct Defaults {
  int8 @0 :Int8 = -128;
  int16 @1 :Int16 = -12345;
  int32 @2 :Int32 = -1234567;
  int64 @3 :Int64 = -123456789012345;
  uint8 @4 :UInt8 = 255;
  uint16 @5 :UInt16 = 65535;
  uint32 @6 :UInt32 = 0xdeadbeef;
  uint64 @7 :UInt64 = 18446744073709551615;
  float32 @8 :Float32 = -1.25;
  float64 @9 :Float64 = 6.02e23;
  bool @10 :Bool = true;
  text @11 :Text = "hello, \"world\"\n";
  data @12 :Data = 0x"de ad be ef";
  colour @13 :Colour = blue;
  point @14 :Point = (x = 5, y = -6);
  numbers @15 :List(Int16) = [1, -2, 3];
  points @16 :List(Point) = [(x = 1), (y = 2)];
  nested @17 :Item = (name = "nested", origin = (x = 9), tags = ["a"],
                      price = (barter = (offer = "two hens")), agedDays = 3);
  colours @18 :List(Colour) = [red, blue];
  boxedText @19 :Box(Text) = (value = "boxed");
  nothing @20 :Void;
}

# Brands of the generics, used where they are not declared.
struct Catalogue {
  store @0 :Store(Text, Item);
  featured @1 :Box(Item);
  tagged @2 :Box(Item).Tagged;
  labels @3 :Pair(Text, List(Text));
  watcher @4 :Watcher(Text, Item);
}

const answer :UInt32 = 42 $label("the answer");
const sample :Item = (name = "sample", count = 7, colour = blue, price = (amount = 9.5));
const greeting :Text = "hello";

# A generic store whose watchers are called back.
interface Store(Key, Value) $label("store") $since(major = 1) {
  put @0 (key :Key, value :Value);
  get @1 (key :Key) -> (value :Box(Value), found :Bool);
  watch @2 (watcher :Watcher(Key, Value)) -> (handle :Handle) $label("callback");
}

interface Watcher(Key, Value) {
  changed @0 (key :Key, value :Value);
}

# Dropping the handle ends the watch.
interface Handle {}
