# Corpus: annotations.
@0x8a40fdc185832af8;
annotation onFile(file) :Text;
annotation onStruct(struct) :Int32;
annotation onField(field) :Bool;
annotation onEnum(enum) :Void;
annotation onEnumerant(enumerant) :UInt8;
annotation onInterface(interface) :Text;
annotation onMethod(method) :Text;
annotation onParam(param) :Text;
annotation onUnion(union) :Void;
annotation onGroup(group) :Void;
annotation onConst(const) :Float64;
annotation onAnnotation(annotation) :Void;
annotation everywhere(*) :Text;
annotation withStruct(struct) :Info;
annotation withList(field) :List(Text);
annotation annotated(struct) :Void $onAnnotation;
struct Info { a @0 :Int32; b @1 :Text; }
$onFile("file");
struct A $onStruct(5) $everywhere("s") $withStruct((a = 1, b = "x")) $annotated {
  f @0 :Int32 $onField(true) $withList(["a", "b"]);
  u :union $onUnion { x @1 :Int8; y @2 :Int8; }
  g :group $onGroup { z @3 :Text; }
}
enum E $onEnum { a @0 $onEnumerant(3); }
interface I $onInterface("i") {
  m @0 (p :Int32 $onParam("p")) -> () $onMethod("m");
}
const c :Int32 = 1 $onConst(1.5);
