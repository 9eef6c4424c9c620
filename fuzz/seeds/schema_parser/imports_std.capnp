# Corpus: imports std.
@0xb25fbc28861961a7;
using Cxx = import "/capnp/c++.capnp";
using Rust = import "/capnp/rust.capnp";
$Cxx.namespace("corpus::imports");
struct S $Cxx.name("Renamed") {
  f @0 :Int32 $Rust.name("renamed_field");
  g @1 :Text $Cxx.name("gee");
}
