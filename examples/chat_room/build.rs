//! Compiles the example's own schema with windlass-build, the way a service author's build.rs
//! would: the tool, else the pure-Rust front end, else the checked-in copy in `src/generated/`.

fn main() {
    windlass_build::Config::new()
        .file("schemas/chat_room.capnp")
        .checked_in("src/generated")
        .run_or_exit();
}
