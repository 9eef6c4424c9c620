//! The `windlass-calc` binary's library half: the demo scenario it runs, so the binary's
//! integration tests and the interop tests check exactly what `windlass-calc demo` shows.
//!
//! The binary itself (`src/main.rs`) parses arguments, sets up logging and calls windlass.

#![forbid(unsafe_code)]

pub mod demo;
