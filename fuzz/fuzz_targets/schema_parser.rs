//! The pure-Rust schema compiler (windlass-schema) on arbitrary text: lexing, parsing, name
//! resolution, layout and value evaluation must report errors, never panic or hang.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Schemas are small; longer inputs only slow the search down.
    if data.len() > 4096 {
        return;
    }
    let text = String::from_utf8_lossy(data);
    let mut compiler = windlass_schema::SchemaCompiler::new();
    // Only the embedded standard schemas: no file system besides the input.
    compiler.standard_import_paths(false);
    if let Ok(message) = compiler.compile_source("fuzz.capnp", &text) {
        // What we produce must itself be a readable request.
        let reader = message.into_reader();
        let request: capnp::schema_capnp::code_generator_request::Reader<'_> =
            reader.get_root().expect("our own request reads back");
        for node in request.get_nodes().expect("nodes") {
            let _ = node.get_display_name();
        }
    }
});
