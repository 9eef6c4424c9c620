# An address book: the classic Cap'n Proto serialization example.
#
# The struct layout (field ordinals and types, the `employment` union at ordinals 4-7, the
# `PhoneNumber.Type` enum) matches the address book example of the Cap'n Proto project and its
# ports, so a message written by any of them reads correctly here and the other way round. The
# file ID is windlass's own, so the type IDs differ; type IDs never travel inside plain messages.

@0xd5a5e4b1a3a3f1c7;

struct Person {
  id @0 :UInt32;
  name @1 :Text;
  email @2 :Text;
  phones @3 :List(PhoneNumber);

  struct PhoneNumber {
    number @0 :Text;
    type @1 :Type;

    enum Type {
      mobile @0;
      home @1;
      work @2;
    }
  }

  employment :union {
    unemployed @4 :Void;
    employer @5 :Text;
    school @6 :Text;
    selfEmployed @7 :Void;
  }
}

struct AddressBook {
  people @0 :List(Person);
}
