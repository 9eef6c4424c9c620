# Annotations understood by capnpc-rust, the Rust code generator.
@0x83b3c14c3c8dd083;

annotation name @0xc2fe4c6d100166d0 (field, struct, enum, enumerant, union, group) :Text;
# The Rust name to use instead of the schema name.

annotation parentModule @0xabee386cd1450364 (file) :Text;
# The module path (`::`-separated) the generated module of this file is placed under.

annotation option @0xabfef22c4ee1964e (field) :Void;
# Make a pointer field's getter return an Option.
