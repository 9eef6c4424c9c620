# Corpus: scalars.
@0x9804284af2282adc;
struct Scalars {
  v @0 :Void; b @1 :Bool; i8 @2 :Int8; i16 @3 :Int16; i32 @4 :Int32; i64 @5 :Int64;
  u8 @6 :UInt8; u16 @7 :UInt16; u32 @8 :UInt32; u64 @9 :UInt64; f32 @10 :Float32; f64 @11 :Float64;
  t @12 :Text; d @13 :Data;
}
