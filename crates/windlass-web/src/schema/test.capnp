# The schema the mapping's and the schema's unit tests compile (with windlass-schema) at test
# time: every type the mapping knows, defaults, unions, groups, nested lists, inheritance.
@0xd5a6b1c2e3f40718;

struct All {
  void @0 :Void;
  bool @1 :Bool;
  i8 @2 :Int8;
  i16 @3 :Int16;
  i32 @4 :Int32;
  i64 @5 :Int64;
  u8 @6 :UInt8;
  u16 @7 :UInt16;
  u32 @8 :UInt32;
  u64 @9 :UInt64;
  f32 @10 :Float32;
  f64 @11 :Float64;
  text @12 :Text;
  data @13 :Data;
  color @14 :Color;
  inner @15 :Inner;
  structs @16 :List(Inner);
  nested @17 :List(List(Int32));
  caps @18 :List(Echo);
  colors @19 :List(Color);
  texts @20 :List(Text);
  datas @21 :List(Data);
  cap @22 :Echo;
  shape :union {
    circle @23 :Float64;
    square :group {
      side @24 :Float64;
      label @25 :Text;
    }
    none @26 :Void;
  }
  bools @27 :List(Bool);
  deep @28 :List(List(List(Inner)));
  point :group {
    x @29 :Int16;
    y @30 :Int16;
  }
}

struct Defaults {
  five @0 :Int32 = 5;
  flag @1 :Bool = true;
  ratio @2 :Float64 = 1.5;
  name @3 :Text = "anon";
  color @4 :Color = blue;
  inner @5 :Inner = (n = 7);
  list @6 :List(Int32) = [1, 2, 3];
  big @7 :Int64 = -3;
  blob @8 :Data = 0x"0102";
  small @9 :Float32 = 0.25;
}

# Defaults' layout without its defaults: what another implementation reads off the wire.
struct NoDefaults {
  five @0 :Int32;
  flag @1 :Bool;
  ratio @2 :Float64;
}

struct Inner {
  n @0 :Int32;
  next @1 :Inner;
}

struct Expr {
  union {
    literal @0 :Float64;
    negate @1 :Expr;
  }
}

enum Color {
  red @0;
  green @1;
  blue @2;
}

interface Echo {
  echo @0 (x :Int32, label :Text = "none") -> (y :Int32);
}

interface Named extends(Echo) {
  name @0 () -> (name :Text);
}

# Two interfaces with one short name: `Leaf` finds neither, `Scope.Leaf` one.
interface Scope {
  interface Leaf {
    other @0 ();
  }
}

interface Scope2 {
  interface Leaf {}
}
