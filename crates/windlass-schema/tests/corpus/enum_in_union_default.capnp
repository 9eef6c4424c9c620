# Corpus: enum in union default.
@0xc05eddbacb41361d;
enum Level { low @0; mid @1; high @2; }
struct Setting {
  union {
    level @0 :Level = high;
    custom @1 :UInt16 = 500;
  }
  fallback @2 :Level = mid;
}
const setting :Setting = (custom = 7);
