//! The crate-private schema mapping, opened for the fuzz target `fuzz/fuzz_targets/capnweb.rs`
//! (feature `fuzzing`; not a stable API).
//!
//! [`Mapper::map_json`] does what a call does to its arguments, less the session: JSON text →
//! Cap'n Web expression → [`Value`] → a Cap'n Proto struct (by the run-time schema) → back to a
//! [`Value`], twice, so that the target can check that a value the mapping wrote and read back
//! is a fixed point. Every failure is an `Err`; a panic is a bug.

use capnp::any_pointer;
use capnp::private::capability::ClientHook;
use capnp::traits::ImbueMut;

use crate::protocol::{Expr, Limits};
use crate::schema::{FieldKind, FieldType, Schema};
use crate::{mapping, CapId, Caps, Value};

/// The structs of some interfaces' methods (and every struct their fields reach), by index.
pub struct Mapper {
    schema: Schema,
    /// Struct ids, in a fixed order; `true` for a method's params (positional arguments).
    structs: Vec<(u64, bool)>,
}

/// What one value became: read back after one write, and after writing that again.
#[derive(Debug)]
pub struct RoundTrip {
    /// The value as the mapping read it back from the struct it wrote.
    pub first: Value,
    /// [`RoundTrip::first`] written and read back once more.
    pub second: Value,
}

impl Mapper {
    /// The methods of `interfaces` (names as [`crate::WebService::new`] takes them) in the
    /// schema of `schema_request`.
    ///
    /// # Errors
    /// The schema does not load, or lacks one of the interfaces.
    pub fn new(schema_request: &[u8], interfaces: &[&str]) -> Result<Mapper, String> {
        let schema = Schema::from_request_bytes(schema_request).map_err(|e| e.to_string())?;
        let mut structs = Vec::new();
        for name in interfaces {
            let interface = schema
                .interface_by_name(name)
                .ok_or_else(|| format!("no interface named `{name}`"))?;
            for method in interface.methods() {
                structs.push((method.params, true));
                structs.push((method.results, false));
            }
        }
        // Every struct a field reaches, breadth first, each once.
        let mut next = 0;
        while next < structs.len() {
            let id = structs[next].0;
            next += 1;
            let Some(node) = schema.structure(id) else {
                continue;
            };
            for field in &node.fields {
                let reached = match &field.kind {
                    FieldKind::Group(group) => Some(*group),
                    FieldKind::Slot { ty, .. } => struct_in(ty),
                };
                if let Some(id) = reached.filter(|id| structs.iter().all(|(s, _)| s != id)) {
                    structs.push((id, false));
                }
            }
        }
        Ok(Mapper { schema, structs })
    }

    /// How many structs [`Mapper::map_json`] chooses from.
    pub fn struct_count(&self) -> usize {
        self.structs.len()
    }

    /// Reads `json` as a Cap'n Web expression and maps it onto struct number `index` (modulo
    /// [`Mapper::struct_count`]): as positional arguments when it is an array and the struct is
    /// a method's params, else as an object; then reads it back, and does both again.
    ///
    /// # Errors
    /// Whatever the protocol or the mapping refuses, as text.
    pub fn map_json(&self, index: usize, json: &str) -> Result<RoundTrip, String> {
        let Some(&(id, params)) = self.structs.get(index % self.structs.len().max(1)) else {
            return Err("no structs".into());
        };
        let limits = Limits::default();
        // As `Message::parse`: size and nesting on the raw text before serde_json recurses.
        limits.check_text(json).map_err(|e| e.to_string())?;
        let parsed: serde_json::Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
        let expr = Expr::parse(&parsed, &limits).map_err(|e| e.to_string())?;
        let mut caps = FuzzCaps::default();
        let value = caps.value(expr)?;
        let first = self.write_read(id, params, &value, &mut caps)?;
        let second = self.write_read(id, params, &first, &mut caps)?;
        Ok(RoundTrip { first, second })
    }

    fn write_read(
        &self,
        id: u64,
        params: bool,
        value: &Value,
        caps: &mut FuzzCaps,
    ) -> Result<Value, String> {
        let mut message = capnp::message::Builder::new_default();
        let mut table = Vec::new();
        let mut root: any_pointer::Builder<'_> = message.init_root();
        root.imbue_mut(&mut table);
        let schema = &self.schema;
        match value {
            Value::Array(args) if params => {
                mapping::encode_args(schema, id, args, root.reborrow(), caps)
                    .map_err(|e| e.to_string())?;
                let args = mapping::decode_args(schema, id, root.into_reader(), caps)
                    .map_err(|e| e.to_string())?;
                Ok(Value::Array(args))
            }
            _ => {
                mapping::encode_object(schema, id, value, root.reborrow(), caps)
                    .map_err(|e| e.to_string())?;
                mapping::decode_object(schema, id, root.into_reader(), caps)
                    .map_err(|e| e.to_string())
            }
        }
    }
}

/// The struct a field of type `ty` holds, through lists.
fn struct_in(ty: &FieldType) -> Option<u64> {
    match ty {
        FieldType::Struct(id) => Some(*id),
        FieldType::List(element) => struct_in(element),
        _ => None,
    }
}

/// Capabilities as indexes into a list of broken hooks: nothing is ever called.
#[derive(Default)]
struct FuzzCaps {
    hooks: Vec<Box<dyn ClientHook>>,
}

impl FuzzCaps {
    fn new_cap(&mut self) -> Value {
        let hook = capnp_rpc::new_broken_cap(capnp::Error::failed("fuzzing".into())).hook;
        Value::Cap(self.to_web(hook, 0))
    }

    /// An expression as a value; every reference becomes a new capability (as the session's
    /// stubs and promises do), `remap` is refused.
    fn value(&mut self, expr: Expr) -> Result<Value, String> {
        Ok(match expr {
            Expr::Array(items) => Value::Array(
                items
                    .into_iter()
                    .map(|e| self.value(e))
                    .collect::<Result<_, _>>()?,
            ),
            Expr::Object(fields) => Value::Object(
                fields
                    .into_iter()
                    .map(|(k, e)| Ok((k, self.value(e)?)))
                    .collect::<Result<_, String>>()?,
            ),
            Expr::Import { .. } | Expr::Pipeline { .. } | Expr::Export(_) | Expr::Promise(_) => {
                self.new_cap()
            }
            other => crate::session::plain_value(other)?,
        })
    }
}

impl Caps for FuzzCaps {
    fn to_capnp(&mut self, cap: CapId, _: u64) -> Result<Box<dyn ClientHook>, String> {
        let hook = self.hooks.get(cap.0 as usize).ok_or("unknown capability")?;
        Ok(hook.add_ref())
    }

    fn to_web(&mut self, hook: Box<dyn ClientHook>, _: u64) -> CapId {
        self.hooks.push(hook);
        CapId(self.hooks.len() as u64 - 1)
    }
}
