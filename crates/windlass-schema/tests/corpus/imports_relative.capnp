# Corpus: imports relative.
@0x910912c3562ef26d;
using Shared = import "shared.capnp";
using import "shared.capnp".Common;
struct UsesShared {
  c @0 :Common;
  e @1 :Shared.Kind;
  c2 @2 :import "shared.capnp".Common;
}
