//! Framing benchmark (work in progress).

fn main() {}
