@0xe1a2b3c4d5e6f708;
using M = import "missing.capnp";
struct S { a @0 :M.T; }
