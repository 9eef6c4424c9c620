//! `generate OUT_DIR < request.bin`: runs capnpc's Rust generator on a CodeGeneratorRequest
//! (from `capnp compile -o-` or from the `compile` example), to compare the two by hand.

fn main() {
    let Some(out) = std::env::args().nth(1) else {
        eprintln!("usage: generate OUT_DIR < request.bin");
        std::process::exit(2);
    };
    if let Err(e) = capnpc::codegen::CodeGenerationCommand::new()
        .output_directory(out)
        .run(std::io::stdin())
    {
        eprintln!("{e}");
        std::process::exit(1);
    }
}
