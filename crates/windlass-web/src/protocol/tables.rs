//! A session's export and import tables, from the server's side, with capnweb's id rules.
//!
//! capnweb (`docs/reference/protocol.md`, "Imports and exports"; `RpcSessionImpl` in
//! `src/rpc.ts`) numbers both tables the same way:
//! - id 0 is each side's main interface;
//! - the importing side picks positive ids, 1, 2, 3, ... in order: each `push` (and `stream`
//!   and `pipe`) a peer sends takes its next positive import id, which is our export id;
//! - the exporting side picks negative ids, -1, -2, ... for the stubs and promises it sends.
//!
//! Ids are never reused. An export is counted once per time it was sent (`["export", id]`
//! again, or the push that made it); `["release", id, n]` subtracts `n` and frees the entry at
//! zero. Both tables are bounded, so a peer that pushes without ever releasing hits
//! [`ProtocolError::TableFull`] instead of growing the session without end.

use std::collections::HashMap;

use super::ProtocolError;

/// The largest id magnitude, as for ids on the wire: capnweb counts in JS numbers.
const MAX_ID: i64 = (1 << 53) - 1;

struct Entry<T> {
    value: T,
    refcount: u64,
}

/// What the server exports: its main interface (0), the result of each `push` the client sent
/// (positive, in order), and the stubs and promises the server sent (negative, chosen here).
pub struct ExportTable<T> {
    entries: HashMap<i64, Entry<T>>,
    next_push: i64,
    next_export: i64,
    max_entries: usize,
}

impl<T> ExportTable<T> {
    /// A table holding `main` as export 0, which may grow to `max_entries` entries (see
    /// [`Limits::max_table_entries`](super::Limits::max_table_entries)), `main` included.
    pub fn new(main: T, max_entries: usize) -> Self {
        let mut entries = HashMap::new();
        entries.insert(
            0,
            Entry {
                value: main,
                refcount: 1,
            },
        );
        ExportTable {
            entries,
            next_push: 1,
            next_export: -1,
            max_entries,
        }
    }

    /// Records the result of the next `push` (or `stream`, or `pipe`) the peer sent, under the
    /// next positive id, with one reference (the push's).
    ///
    /// # Errors
    /// [`ProtocolError::TableFull`], or [`ProtocolError::IdsExhausted`] after 2^53 pushes.
    pub fn insert_push(&mut self, value: T) -> Result<i64, ProtocolError> {
        let id = self.next_push;
        self.insert_new(id, value)?;
        self.next_push += 1;
        Ok(id)
    }

    /// Records a stub or promise the server is about to send, under the next negative id, with
    /// one reference (this send's).
    ///
    /// # Errors
    /// [`ProtocolError::TableFull`], or [`ProtocolError::IdsExhausted`] after 2^53 exports.
    pub fn insert_export(&mut self, value: T) -> Result<i64, ProtocolError> {
        let id = self.next_export;
        self.insert_new(id, value)?;
        self.next_export -= 1;
        Ok(id)
    }

    fn insert_new(&mut self, id: i64, value: T) -> Result<(), ProtocolError> {
        if id.abs() > MAX_ID {
            return Err(ProtocolError::IdsExhausted { table: "export" });
        }
        if self.entries.len() >= self.max_entries {
            return Err(ProtocolError::TableFull {
                table: "export",
                max: self.max_entries,
            });
        }
        self.entries.insert(id, Entry { value, refcount: 1 });
        Ok(())
    }

    /// Counts one more reference to export `id`, for sending `["export", id]` again.
    ///
    /// # Errors
    /// [`ProtocolError::UnknownExport`]; [`ProtocolError::RefcountOverflow`] in theory.
    pub fn add_ref(&mut self, id: i64) -> Result<(), ProtocolError> {
        let entry = self
            .entries
            .get_mut(&id)
            .ok_or(ProtocolError::UnknownExport(id))?;
        entry.refcount = entry
            .refcount
            .checked_add(1)
            .ok_or(ProtocolError::RefcountOverflow(id))?;
        Ok(())
    }

    /// The export `id`, if live.
    pub fn get(&self, id: i64) -> Option<&T> {
        self.entries.get(&id).map(|entry| &entry.value)
    }

    /// The export `id`, if live.
    pub fn get_mut(&mut self, id: i64) -> Option<&mut T> {
        self.entries.get_mut(&id).map(|entry| &mut entry.value)
    }

    /// Applies the peer's `["release", id, refcount]`: the entry, once its count reaches zero.
    ///
    /// # Errors
    /// [`ProtocolError::UnknownExport`] for an id not live, [`ProtocolError::ReleaseTooMany`]
    /// when `refcount` exceeds the references held (the entry is kept). A `refcount` of 0 is
    /// a no-op (the parser never yields one).
    pub fn release(&mut self, id: i64, refcount: u32) -> Result<Option<T>, ProtocolError> {
        let entry = self
            .entries
            .get_mut(&id)
            .ok_or(ProtocolError::UnknownExport(id))?;
        if entry.refcount < u64::from(refcount) {
            return Err(ProtocolError::ReleaseTooMany {
                id,
                held: entry.refcount,
                released: refcount,
            });
        }
        entry.refcount -= u64::from(refcount);
        if entry.refcount > 0 {
            return Ok(None);
        }
        Ok(self.entries.remove(&id).map(|entry| entry.value))
    }

    /// The number of live exports, main included.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no export is live (not even main).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// What the server imports: the stubs and promises the client sent (negative ids, chosen by
/// the client) and the results of pushes the server sent to the client (positive ids, chosen
/// here). Id 0, the client's main interface, is not an entry: capnweb clients rarely export one.
pub struct ImportTable<T> {
    entries: HashMap<i64, Entry<T>>,
    next_push: i64,
    max_entries: usize,
}

impl<T> ImportTable<T> {
    /// An empty table that may grow to `max_entries` entries.
    pub fn new(max_entries: usize) -> Self {
        ImportTable {
            entries: HashMap::new(),
            next_push: 1,
            max_entries,
        }
    }

    /// Applies the peer's `["export", id]`: a new entry made by `make`, or one more reference
    /// to the existing one.
    ///
    /// # Errors
    /// [`ProtocolError::NotNegative`] (the exporter picks negative ids),
    /// [`ProtocolError::TableFull`], [`ProtocolError::RefcountOverflow`].
    pub fn introduce(
        &mut self,
        id: i64,
        make: impl FnOnce() -> T,
    ) -> Result<&mut T, ProtocolError> {
        if id >= 0 {
            return Err(ProtocolError::NotNegative(id));
        }
        if !self.entries.contains_key(&id) {
            return self.insert_new(id, make());
        }
        let entry = self
            .entries
            .get_mut(&id)
            .ok_or(ProtocolError::UnknownImport(id))?;
        entry.refcount = entry
            .refcount
            .checked_add(1)
            .filter(|&n| n <= u64::from(u32::MAX))
            .ok_or(ProtocolError::RefcountOverflow(id))?;
        Ok(&mut entry.value)
    }

    /// Applies the peer's `["promise", id]`: capnweb always gives a promise a fresh id.
    ///
    /// # Errors
    /// [`ProtocolError::NotNegative`], [`ProtocolError::PromiseIdReused`],
    /// [`ProtocolError::TableFull`].
    pub fn introduce_promise(&mut self, id: i64, value: T) -> Result<&mut T, ProtocolError> {
        if id >= 0 {
            return Err(ProtocolError::NotNegative(id));
        }
        if self.entries.contains_key(&id) {
            return Err(ProtocolError::PromiseIdReused(id));
        }
        self.insert_new(id, value)
    }

    /// Records a `push` the server sends to the client, under the next positive id, with one
    /// reference.
    ///
    /// # Errors
    /// [`ProtocolError::TableFull`], or [`ProtocolError::IdsExhausted`] after 2^53 pushes.
    pub fn insert_push(&mut self, value: T) -> Result<i64, ProtocolError> {
        let id = self.next_push;
        if id > MAX_ID {
            return Err(ProtocolError::IdsExhausted { table: "import" });
        }
        self.insert_new(id, value)?;
        self.next_push += 1;
        Ok(id)
    }

    fn insert_new(&mut self, id: i64, value: T) -> Result<&mut T, ProtocolError> {
        if self.entries.len() >= self.max_entries {
            return Err(ProtocolError::TableFull {
                table: "import",
                max: self.max_entries,
            });
        }
        let entry = self
            .entries
            .entry(id)
            .or_insert(Entry { value, refcount: 1 });
        Ok(&mut entry.value)
    }

    /// The import `id`, if held.
    pub fn get(&self, id: i64) -> Option<&T> {
        self.entries.get(&id).map(|entry| &entry.value)
    }

    /// The import `id`, if held.
    pub fn get_mut(&mut self, id: i64) -> Option<&mut T> {
        self.entries.get_mut(&id).map(|entry| &mut entry.value)
    }

    /// Drops import `id`: its value, and the refcount to send in `["release", id, refcount]`
    /// (every introduction counted, as the protocol requires).
    ///
    /// # Errors
    /// [`ProtocolError::UnknownImport`] when `id` is not held.
    pub fn release(&mut self, id: i64) -> Result<(T, u32), ProtocolError> {
        let entry = self
            .entries
            .remove(&id)
            .ok_or(ProtocolError::UnknownImport(id))?;
        // `introduce` keeps the count within u32.
        let refcount = u32::try_from(entry.refcount).unwrap_or(u32::MAX);
        Ok((entry.value, refcount))
    }

    /// The number of imports held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no import is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pushes_take_positive_ids_in_order_after_main() {
        let mut exports = ExportTable::new("main", 100);
        assert_eq!(exports.get(0), Some(&"main"));
        assert_eq!(exports.insert_push("a").ok(), Some(1));
        assert_eq!(exports.insert_push("b").ok(), Some(2));
        assert_eq!(exports.release(1, 1).ok(), Some(Some("a")));
        // Ids are never reused.
        assert_eq!(exports.insert_push("c").ok(), Some(3));
        assert_eq!(exports.get(1), None);
        assert_eq!(exports.len(), 3);
    }

    #[test]
    fn our_exports_take_negative_ids() {
        let mut exports = ExportTable::new((), 100);
        assert_eq!(exports.insert_export(()).ok(), Some(-1));
        assert_eq!(exports.insert_export(()).ok(), Some(-2));
        assert_eq!(exports.insert_push(()).ok(), Some(1));
    }

    #[test]
    fn release_counts_down_and_frees_at_zero() {
        let mut exports = ExportTable::new(0u8, 100);
        let id = exports.insert_export(7u8).unwrap_or_default();
        assert!(exports.add_ref(id).is_ok());
        assert!(exports.add_ref(id).is_ok());
        assert_eq!(exports.release(id, 2).ok(), Some(None));
        assert_eq!(exports.get(id), Some(&7));
        assert_eq!(exports.release(id, 1).ok(), Some(Some(7)));
        assert!(matches!(
            exports.release(id, 1),
            Err(ProtocolError::UnknownExport(-1))
        ));
    }

    #[test]
    fn releasing_more_than_held_is_an_error_and_keeps_the_entry() {
        let mut exports = ExportTable::new((), 100);
        let id = exports.insert_push(()).unwrap_or_default();
        let err = exports.release(id, 2).err();
        assert!(matches!(
            err,
            Some(ProtocolError::ReleaseTooMany {
                id: 1,
                held: 1,
                released: 2
            })
        ));
        assert_eq!(
            err.map(|e| e.to_string()).as_deref(),
            Some("release of 2 references to export 1, which holds 1")
        );
        assert!(exports.get(id).is_some());
    }

    #[test]
    fn unknown_ids_are_errors() {
        let mut exports = ExportTable::new((), 100);
        assert!(matches!(
            exports.release(7, 1),
            Err(ProtocolError::UnknownExport(7))
        ));
        assert!(matches!(
            exports.add_ref(-5),
            Err(ProtocolError::UnknownExport(-5))
        ));
        let mut imports = ImportTable::<()>::new(100);
        assert_eq!(
            imports.release(7).err().map(|e| e.to_string()).as_deref(),
            Some("unknown import id 7")
        );
    }

    #[test]
    fn a_push_flood_fills_the_table() {
        let mut exports = ExportTable::new((), 4);
        for _ in 0..3 {
            assert!(exports.insert_push(()).is_ok());
        }
        let err = exports.insert_push(()).err().map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some("export table is full (4 entries)"));
        // Releasing makes room again; the failed push did not use up an id.
        assert!(exports.release(2, 1).is_ok());
        assert_eq!(exports.insert_push(()).ok(), Some(4));
    }

    #[test]
    fn imports_count_introductions_and_release_them_all() {
        let mut imports = ImportTable::new(100);
        let mut made = 0;
        for _ in 0..3 {
            assert!(imports
                .introduce(-1, || {
                    made += 1;
                    "stub"
                })
                .is_ok());
        }
        assert_eq!(made, 1);
        assert_eq!(imports.release(-1).ok(), Some(("stub", 3)));
        assert!(imports.is_empty());
    }

    #[test]
    fn peer_chosen_ids_must_be_negative_and_promises_fresh() {
        let mut imports = ImportTable::new(100);
        assert!(matches!(
            imports.introduce(3, || ()),
            Err(ProtocolError::NotNegative(3))
        ));
        assert!(matches!(
            imports.introduce(0, || ()),
            Err(ProtocolError::NotNegative(0))
        ));
        assert!(imports.introduce_promise(-2, ()).is_ok());
        assert!(matches!(
            imports.introduce_promise(-2, ()),
            Err(ProtocolError::PromiseIdReused(-2))
        ));
    }

    #[test]
    fn our_pushes_take_positive_import_ids() {
        let mut imports = ImportTable::new(2);
        assert_eq!(imports.insert_push('a').ok(), Some(1));
        assert!(imports.introduce(-1, || 'b').is_ok());
        assert!(matches!(
            imports.insert_push('c'),
            Err(ProtocolError::TableFull {
                table: "import",
                max: 2
            })
        ));
        assert_eq!(imports.get(1), Some(&'a'));
        assert_eq!(imports.release(1).ok(), Some(('a', 1)));
        assert_eq!(imports.insert_push('d').ok(), Some(2));
    }

    #[test]
    fn ids_stop_at_two_to_the_53() {
        let mut exports = ExportTable::new((), 100);
        exports.next_push = MAX_ID + 1;
        assert!(matches!(
            exports.insert_push(()),
            Err(ProtocolError::IdsExhausted { table: "export" })
        ));
        exports.next_export = -MAX_ID;
        assert_eq!(exports.insert_export(()).ok(), Some(-MAX_ID));
        assert!(exports.insert_export(()).is_err());
    }
}
