//! docs/your-own-service.md quotes the files of docs/your-own-service/kv-store/ (a workspace
//! member that CI builds and tests): every snippet must be exactly the quoted file or region, so
//! what a reader copies is code that compiles and passes its tests.

use std::path::Path;

const GUIDE: &str = include_str!("../docs/your-own-service.md");
const CRATE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/docs/your-own-service/kv-store"
);

/// The text of `path` (inside the guide's crate), or of its `ANCHOR: name` region.
fn quoted(spec: &str) -> String {
    let (path, anchor) = match spec.split_once('#') {
        Some((path, anchor)) => (path, Some(anchor)),
        None => (spec, None),
    };
    let text = std::fs::read_to_string(Path::new(CRATE).join(path))
        .unwrap_or_else(|e| panic!("{spec}: cannot read {path}: {e}"));
    let Some(anchor) = anchor else { return text };
    let comment = if path.ends_with(".rs") { "//" } else { "#" };
    let start = format!("{comment} ANCHOR: {anchor}\n");
    let end = format!("{comment} ANCHOR_END: {anchor}");
    let from = text
        .find(&start)
        .unwrap_or_else(|| panic!("{spec}: no `{start}` in {path}"))
        + start.len();
    let to = text[from..]
        .find(&end)
        .unwrap_or_else(|| panic!("{spec}: no `{end}` in {path}"))
        + from;
    text[from..to].to_string()
}

#[test]
fn every_snippet_is_the_text_of_the_crate_it_quotes() {
    let mut checked = 0;
    let mut rest = GUIDE;
    while let Some(at) = rest.find("<!-- snippet: ") {
        let after = &rest[at + "<!-- snippet: ".len()..];
        let spec_end = after.find(" -->").expect("snippet marker ends with -->");
        let spec = &after[..spec_end];
        let block = &after[spec_end + " -->\n".len()..];
        assert!(
            block.starts_with("```"),
            "{spec}: a code block must follow its marker"
        );
        let body_start = block.find('\n').expect("fence line") + 1;
        let body_len = block[body_start..].find("```").expect("closing fence");
        let body = &block[body_start..body_start + body_len];
        assert_eq!(
            body,
            quoted(spec),
            "docs/your-own-service.md: snippet {spec} differs"
        );
        checked += 1;
        rest = &block[body_start + body_len..];
    }
    assert!(checked >= 12, "the guide quotes {checked} snippets");
}
