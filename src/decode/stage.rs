//! One record's values on their way to the Arrow builders. The decoder
//! stages each target's value here while it walks the record (a later
//! duplicate key overwrites it, as `serde_json::Value` keeps the last of
//! duplicate keys), then [`Stage::commit`] appends the row to typed Arrow
//! builders ([`Builders`]) and hashes the key. Strings stay borrowed from
//! the response bytes; only unescaped copies and number texts go to a
//! per-record arena. It does not read JSON and does not decide types.

use arrow_array::{ArrayRef, RecordBatch, RecordBatchOptions};
use arrow_schema::{ArrowError, SchemaRef};

use super::trie::{Kind, Trie};
use crate::schema::{Builder, Cell, Room, Scalar};

/// A string: borrowed from the input, or a range of the arena.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Text<'de> {
    Borrowed(&'de str),
    Arena(usize, usize),
}

/// One list item.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Item<'de> {
    Null,
    Str(Text<'de>),
    Int(i64),
    Float(f64),
}

/// One target's staged value. `Unset` is missing (null).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Slot<'de> {
    Unset,
    Null,
    Str(Text<'de>),
    Int(i64),
    Float(f64),
    Bool(bool),
    Date(i32),
    Timestamp(i64),
    /// The items are in `Stage::items` of this target.
    List,
    /// The key's compact JSON text, in the arena.
    KeyText(usize, usize),
    /// The key's compact JSON text, borrowed from the input.
    KeyRaw(&'de str),
}

/// Why a record cannot be committed: the `Value` path must decide.
#[derive(Debug)]
pub(crate) struct Refused;

/// The staging area of one page.
pub(crate) struct Stage<'de> {
    pub slots: Vec<Slot<'de>>,
    pub items: Vec<Vec<Item<'de>>>,
    /// The current list item of each target, while walking a list of objects.
    pub item: Vec<Option<Item<'de>>>,
    pub arena: Vec<u8>,
}

impl<'de> Stage<'de> {
    pub fn new(targets: usize) -> Stage<'de> {
        Stage {
            slots: vec![Slot::Unset; targets],
            items: vec![Vec::new(); targets],
            item: vec![None; targets],
            arena: Vec::with_capacity(1024),
        }
    }

    /// Forgets the previous record.
    pub fn clear(&mut self) {
        self.slots.fill(Slot::Unset);
        self.arena.clear();
    }

    /// Copies `s` into the arena.
    pub fn keep(&mut self, s: &str) -> Text<'de> {
        let start = self.arena.len();
        self.arena.extend_from_slice(s.as_bytes());
        Text::Arena(start, self.arena.len())
    }

    /// `s` as text, borrowed when it lives as long as the input.
    pub fn text(&mut self, s: &str, borrowed: Option<&'de str>) -> Text<'de> {
        match borrowed {
            Some(b) => Text::Borrowed(b),
            None => self.keep(s),
        }
    }

    fn str_of(&self, t: Text<'de>) -> Result<&str, Refused> {
        match t {
            Text::Borrowed(s) => Ok(s),
            Text::Arena(a, b) => std::str::from_utf8(&self.arena[a..b]).map_err(|_| Refused),
        }
    }

    /// A converted scalar cell as a slot (`borrowed`: the cell's string
    /// borrows the input); lists and json are staged by the caller.
    pub fn slot_of(&mut self, cell: Cell<'_>, borrowed: Option<&'de str>) -> Slot<'de> {
        match cell {
            Cell::Null => Slot::Null,
            Cell::Str(std::borrow::Cow::Borrowed(s)) => Slot::Str(self.text(s, borrowed)),
            Cell::Str(std::borrow::Cow::Owned(s)) => Slot::Str(self.keep(&s)),
            Cell::Int(i) => Slot::Int(i),
            Cell::Float(f) => Slot::Float(f),
            Cell::Bool(b) => Slot::Bool(b),
            Cell::Date(d) => Slot::Date(d),
            Cell::Timestamp(t) => Slot::Timestamp(t),
            Cell::List(_) | Cell::Json(_) => Slot::Null,
        }
    }

    /// The key's compact JSON text (as `Extracted::write_json` writes it),
    /// in the arena; a null key is missing.
    pub fn key_text(&mut self, s: &Scalar<'_>) -> Slot<'de> {
        let start = self.arena.len();
        // Writing to a Vec cannot fail.
        let _ = match s {
            Scalar::Null => return Slot::Unset,
            Scalar::Bool(b) => serde_json::to_writer(&mut self.arena, b),
            Scalar::Num(n) => serde_json::to_writer(&mut self.arena, n),
            Scalar::Str(text) => serde_json::to_writer(&mut self.arena, text),
        };
        Slot::KeyText(start, self.arena.len())
    }

    /// A converted list item (a `Cell` of the item type).
    pub fn item_of(&mut self, cell: Cell<'_>, borrowed: Option<&'de str>) -> Item<'de> {
        match cell {
            Cell::Str(std::borrow::Cow::Borrowed(s)) => Item::Str(self.text(s, borrowed)),
            Cell::Str(std::borrow::Cow::Owned(s)) => Item::Str(self.keep(&s)),
            Cell::Int(i) => Item::Int(i),
            Cell::Float(f) => Item::Float(f),
            _ => Item::Null,
        }
    }

    /// Appends the staged record to `out`. `Refused` (nothing appended) when a
    /// column that is not nullable has no value.
    pub fn commit(&self, trie: &Trie, out: &mut Builders) -> Result<(), Refused> {
        for (t, target) in trie.targets.iter().enumerate() {
            if !target.nullable && matches!(self.slots[t], Slot::Unset | Slot::Null) {
                return Err(Refused);
            }
        }
        for (t, builder) in out.columns.iter_mut().enumerate() {
            let slot = self.slots[t];
            match (builder, slot) {
                (b, Slot::Unset | Slot::Null) => b.append_null(),
                (Builder::Str(b), Slot::Str(s)) => b.append_value(self.str_of(s)?),
                (Builder::Int(b), Slot::Int(i)) => b.append_value(i),
                (Builder::Float(b), Slot::Float(f)) => b.append_value(f),
                (Builder::Bool(b), Slot::Bool(v)) => b.append_value(v),
                (Builder::Date(b), Slot::Date(d)) => b.append_value(d),
                (Builder::Timestamp(b), Slot::Timestamp(v)) => b.append_value(v),
                (Builder::ListStr(b), Slot::List) => {
                    for item in &self.items[t] {
                        match item {
                            Item::Str(s) => b.values().append_value(self.str_of(*s)?),
                            _ => b.values().append_null(),
                        }
                    }
                    b.append(true);
                }
                (Builder::ListInt(b), Slot::List) => {
                    for item in &self.items[t] {
                        match item {
                            Item::Int(i) => b.values().append_value(*i),
                            _ => b.values().append_null(),
                        }
                    }
                    b.append(true);
                }
                (Builder::ListFloat(b), Slot::List) => {
                    for item in &self.items[t] {
                        match item {
                            Item::Float(f) => b.values().append_value(*f),
                            _ => b.values().append_null(),
                        }
                    }
                    b.append(true);
                }
                // A slot of another type is a decoder bug: let the Value path decide.
                _ => return Err(Refused),
            }
        }
        if let Some(k) = trie.key {
            out.keys.push(match self.slots[k] {
                Slot::KeyText(a, b) => Some(crate::state::hash_text(&self.arena[a..b])),
                Slot::KeyRaw(text) => Some(crate::state::hash_text(text.as_bytes())),
                _ => None,
            });
        }
        out.rows += 1;
        Ok(())
    }
}

/// The builders of one batch, and the key hash of each row.
pub(crate) struct Builders {
    pub columns: Vec<Builder>,
    pub keys: Vec<Option<u64>>,
    pub rows: usize,
}

impl Builders {
    /// Builders with room for `rows` rows, and for `rooms[i]` in column
    /// `i` (what it held in the previous batch; none when it is empty).
    pub fn new(trie: &Trie, rows: usize, rooms: &[Room]) -> Builders {
        Builders {
            columns: trie
                .targets
                .iter()
                .filter_map(|t| match t.kind {
                    Kind::Column(kind) => Some(kind),
                    Kind::Key => None,
                })
                .enumerate()
                .map(|(i, kind)| Builder::with_room(kind, rows, rooms.get(i).copied().unwrap_or_default()))
                .collect(),
            keys: Vec::with_capacity(rows),
            rows: 0,
        }
    }

    /// What each column holds now (for the next batch's [`Builders::new`]).
    pub fn rooms(&self) -> Vec<Room> {
        self.columns.iter().map(Builder::room).collect()
    }

    pub fn finish(mut self, schema: SchemaRef) -> Result<(RecordBatch, Vec<Option<u64>>), ArrowError> {
        let arrays: Vec<ArrayRef> = self.columns.iter_mut().map(Builder::finish).collect();
        let batch = RecordBatch::try_new_with_options(
            schema,
            arrays,
            &RecordBatchOptions::new().with_row_count(Some(self.rows)),
        )?;
        Ok((batch, self.keys))
    }
}
