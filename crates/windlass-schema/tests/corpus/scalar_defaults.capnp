# Corpus: scalar defaults.
@0xb75db17a47dd51e0;
struct Defaults {
  b @0 :Bool = true; i8 @1 :Int8 = -128; i16 @2 :Int16 = -1234; i32 @3 :Int32 = -2147483648;
  i64 @4 :Int64 = -9223372036854775808; u8 @5 :UInt8 = 255; u16 @6 :UInt16 = 0xffff;
  u32 @7 :UInt32 = 017; u64 @8 :UInt64 = 18446744073709551615; f32 @9 :Float32 = 1.5e3;
  f64 @10 :Float64 = -2.25; octal @11 :Int32 = 0777; hex @12 :Int64 = 0x7fffffffffffffff;
}
