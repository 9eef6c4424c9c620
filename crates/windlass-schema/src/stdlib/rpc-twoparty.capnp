# windlass-schema's own rendering of capnp/rpc-twoparty.capnp: the parameter types of the RPC
# protocol for a network of exactly two parties. IDs and names are those of the official file.

@0xa184c7885cdaf2a1;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("capnp::rpc::twoparty");

enum Side {
  server @0;
  client @1;
}

struct VatId {
  side @0 :Side;
}

struct ProvisionId {
  joinId @0 :UInt32;
}

# Three-party handoff does not exist between two parties: these two stay empty.
struct RecipientId {}
struct ThirdPartyCapId {}

struct JoinKeyPart {
  joinId    @0 :UInt32;
  partCount @1 :UInt16;
  partNum   @2 :UInt16;
}

struct JoinResult {
  joinId    @0 :UInt32;
  succeeded @1 :Bool;
  cap       @2 :AnyPointer;
}
