# Corpus: imports absolute.
@0xa70a8e15429f730b;
using import "/shared.capnp".Common;
using P = import "/capnp/persistent.capnp";
struct S { c @0 :Common; p @1 :P.Persistent(Text, Data); }
