# Corpus: param struct types.
@0xcd557eb9c9f9b4fb;
struct Req { a @0 :Int32; }
struct Resp { b @0 :Text; }
interface Svc {
  call @0 Req -> Resp;
  mixed @1 Req -> (out :Resp);
  nullDefault @2 (t :Text = null, l :List(Int8) = null) -> ();
}
