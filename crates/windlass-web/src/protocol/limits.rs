//! How much a Cap'n Web peer may make us parse and remember.
//!
//! capnweb has receiver-side limits of its own (`RpcLimits` in its `src/serialize.ts`: depth 256,
//! 32 Mi UTF-16 units per message, 16 Ki bigint digits). Ours are lower because a windlass server
//! maps every message onto Cap'n Proto, whose own reader stops at 64 levels of nesting, and
//! because a gateway should refuse floods early rather than after building them.

use super::ProtocolError;

/// The deepest [`Limits::max_depth`] takes effect: serde_json refuses input nested 128 deep on its
/// own, with an error we would rather report as [`ProtocolError::TooDeep`].
pub const MAX_SUPPORTED_DEPTH: usize = 127;

/// Limits on what one peer may send, checked before the work they bound is done.
///
/// `Limits::default()` is tuned for a public endpoint serving Cap'n Proto interfaces to browsers;
/// raise a field (`Limits { max_depth: 100, ..Limits::default() }`) when a trusted client needs
/// more.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The deepest nesting of JSON arrays and objects in one message, the message's own array
    /// counting as 1. Default 64: a call's wrapper (`["push",["pipeline",0,["m"],[...]]]`) takes
    /// four levels, a struct one and a list two (it is escaped as `[[...]]`), so this admits
    /// Cap'n Proto values about 20 lists-of-structs deep, beyond any schema seen in practice.
    /// Values above [`MAX_SUPPORTED_DEPTH`] act as it. Checked on the raw text before serde_json
    /// recurses, and again on every step down while reading an expression.
    pub max_depth: usize,
    /// The longest message text, in bytes of UTF-8. Default 1 MiB: a call's arguments and result
    /// are one message, and a larger payload belongs in a stream of calls, not one JSON document
    /// that must be parsed whole. Checked before parsing.
    pub max_message_bytes: usize,
    /// The most elements of one array, fields of one object, keys of one property path or
    /// arguments of one call. Default 65,536: a Cap'n Proto list longer than that should travel
    /// as `bytes` or in pages; the limit keeps one message from becoming a million tiny values
    /// for the schema mapping to walk.
    pub max_array_len: usize,
    /// The most messages in one HTTP batch body. Default 1,024: a capnweb batch sends a `push`
    /// and a `pull` per awaited call, so this is about 500 calls per request.
    pub max_batch_messages: usize,
    /// The most live entries in each of a session's import and export tables. Default 16,384:
    /// every `push` creates an export that lives until the client releases it, and a client that
    /// never disposes its promises would otherwise grow the table for the life of the session.
    pub max_table_entries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 64,
            max_message_bytes: 1 << 20,
            max_array_len: 65_536,
            max_batch_messages: 1_024,
            max_table_entries: 16_384,
        }
    }
}

impl Limits {
    /// [`max_depth`](Self::max_depth) as enforced.
    pub(crate) fn depth_limit(&self) -> usize {
        self.max_depth.min(MAX_SUPPORTED_DEPTH)
    }

    /// Checks a message's size and nesting on the raw text, before any parser recurses into it.
    ///
    /// # Errors
    /// [`ProtocolError::MessageTooLarge`] or [`ProtocolError::TooDeep`].
    pub(crate) fn check_text(&self, text: &str) -> Result<(), ProtocolError> {
        if text.len() > self.max_message_bytes {
            return Err(ProtocolError::MessageTooLarge {
                size: text.len(),
                max: self.max_message_bytes,
            });
        }
        if nesting_exceeds(text.as_bytes(), self.depth_limit()) {
            return Err(ProtocolError::TooDeep {
                max: self.depth_limit(),
            });
        }
        Ok(())
    }
}

/// Whether the brackets and braces outside JSON strings nest deeper than `max`. Malformed JSON
/// is left for serde_json to report; this only has to count correctly for valid JSON, and not
/// to recurse at all on hostile input.
fn nesting_exceeds(text: &[u8], max: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &byte in text {
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_nesting_outside_strings_only() {
        assert!(!nesting_exceeds(br#"[1,[2,{"a":[3]}]]"#, 4));
        assert!(nesting_exceeds(br#"[1,[2,{"a":[3]}]]"#, 3));
        assert!(!nesting_exceeds(br#"["[[[[", "\"[[[[", {"{{{": 1}]"#, 2));
        assert!(nesting_exceeds(br#"["\\", [[1]]]"#, 2));
    }

    #[test]
    fn siblings_do_not_add_up() {
        let text = "[".to_string() + &"[1],".repeat(1000) + "[1]]";
        assert!(!nesting_exceeds(text.as_bytes(), 2));
    }

    #[test]
    fn check_text_reports_size_before_depth() {
        let limits = Limits {
            max_message_bytes: 8,
            ..Limits::default()
        };
        assert!(matches!(
            limits.check_text("[[[[[[[[[[[[[[[[[[[[[["),
            Err(ProtocolError::MessageTooLarge { size: 22, max: 8 })
        ));
        let deep = "[".repeat(65);
        assert!(matches!(
            Limits::default().check_text(&deep),
            Err(ProtocolError::TooDeep { max: 64 })
        ));
        assert!(Limits::default().check_text(&"[".repeat(64)).is_ok());
    }

    #[test]
    fn depth_is_capped_below_serde_json_limit() {
        let deep = |max_depth| Limits {
            max_depth,
            ..Limits::default()
        };
        assert_eq!(deep(1000).depth_limit(), 127);
        assert_eq!(deep(10).depth_limit(), 10);
        assert!(deep(1000).check_text(&"[".repeat(128)).is_err());
    }
}
