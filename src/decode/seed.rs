//! The streaming walk: `serde::de::DeserializeSeed`s that read a page's
//! bytes with serde_json's `Deserializer` and stage each record's values
//! (see `stage.rs`) as they go by. Object keys are matched against the trie
//! as borrowed `&str` (an escaped key is matched from serde_json's scratch
//! buffer, still without allocating); subtrees no column wants are skipped
//! with `serde::de::IgnoredAny`; scalars are converted by the shared type
//! rules (`schema::scalar_cell`). Anything this walk cannot prove it reads
//! exactly like the `Value` path (a value that does not fit its column, a
//! list inside a list, a key that is an object, duplicate envelope keys...)
//! stops it with an error, and the caller decodes the page the `Value` way,
//! which then owns the result or the error. It does not build batches.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Number, Value};

use super::stage::{Builders, Item, Slot, Stage};
use super::trie::{Kind, Node, Trie};
use crate::job::RecordsAt;
use crate::schema::{Cell, ColumnType, Scalar, convert, extract_at, scalar_cell};

/// The message of the error that hands a page to the `Value` path.
pub(crate) const BAIL: &str = "orgsync decoder: this page needs the Value path";

fn bail<E: de::Error>() -> E {
    E::custom(BAIL)
}

/// The value at trie node `node`: of the record (`item` false) or of one
/// item of a list of objects (`item` true).
pub(crate) struct At<'a, 'de> {
    pub trie: &'a Trie,
    pub st: &'a mut Stage<'de>,
    pub node: usize,
    pub item: bool,
}

impl<'de> At<'_, 'de> {
    /// Forgets what an earlier duplicate key staged below this node.
    fn reset(&mut self) {
        let node = &self.trie.nodes[self.node];
        if self.item {
            for &t in &node.below {
                self.st.item[t] = None;
            }
        } else {
            for &t in &node.below {
                self.st.slots[t] = Slot::Unset;
                self.st.items[t].clear();
            }
        }
    }

    fn node(&self) -> &Node {
        &self.trie.nodes[self.node]
    }

    /// A scalar at this node. `borrowed`: the same string, borrowed from the input.
    fn scalar<E: de::Error>(self, s: Scalar<'_>, borrowed: Option<&'de str>) -> Result<(), E> {
        let node = &self.trie.nodes[self.node];
        for &t in &node.terminals {
            let target = &self.trie.targets[t];
            if self.item {
                let kind = target.item_kind().ok_or_else(bail)?;
                let cell = scalar_cell(kind, s.clone()).ok_or_else(bail)?;
                let item = self.st.item_of(cell, borrowed);
                self.st.item[t] = Some(item);
                continue;
            }
            let slot = match target.kind {
                Kind::Key => self.st.key_text(&s),
                Kind::Column(ColumnType::Json) => return Err(bail()),
                Kind::Column(_) if target.item_kind().is_some() => match s {
                    Scalar::Null => Slot::Null,
                    _ => return Err(bail()),
                },
                Kind::Column(kind) => {
                    let cell = scalar_cell(kind, s.clone()).ok_or_else(bail)?;
                    self.st.slot_of(cell, borrowed)
                }
            };
            self.st.slots[t] = slot;
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for At<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(mut self, deserializer: D) -> Result<(), D::Error> {
        self.reset();
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for At<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.scalar(Scalar::Bool(v), None)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.scalar(Scalar::Num(v.into()), None)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.scalar(Scalar::Num(v.into()), None)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        // As `Value` does: a number that is not finite is null.
        self.scalar(Number::from_f64(v).map_or(Scalar::Null, Scalar::Num), None)
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<(), E> {
        self.scalar(Scalar::Str(v), Some(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.scalar(Scalar::Str(v), None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.scalar(Scalar::Null, None)
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.scalar(Scalar::Null, None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        // Every target ending here refuses an object (json is materialized).
        if !self.node().terminals.is_empty() {
            return Err(bail());
        }
        let (trie, st, item) = (self.trie, self.st, self.item);
        let node = &trie.nodes[self.node];
        while let Some(child) = map.next_key_seed(KeySeed { node })? {
            match child {
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
                Some(c) if trie.nodes[c].materialize => {
                    if item {
                        return Err(bail());
                    }
                    let value: Value = map.next_value()?;
                    stage_value(trie, st, c, &value).map_err(|()| bail::<A::Error>())?;
                }
                Some(c) => map.next_value_seed(At {
                    trie,
                    st: &mut *st,
                    node: c,
                    item,
                })?,
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let (trie, st) = (self.trie, self.st);
        let node = &trie.nodes[self.node];
        // A list inside a list of objects; a scalar column, the key or json
        // through a list: the Value path refuses or builds it.
        if self.item || node.scalar_below {
            return Err(bail());
        }
        if !node.terminals.is_empty() {
            // A list column's own array: every item a scalar.
            for &t in &node.terminals {
                st.slots[t] = Slot::List;
            }
            while let Some(()) = seq.next_element_seed(Items {
                trie,
                st: &mut *st,
                node: self.node,
            })? {}
            return Ok(());
        }
        // A path through a list of objects: one item per element, null
        // where the element lacks the path.
        for &t in &node.below {
            st.slots[t] = Slot::List;
        }
        while let Some(()) = seq.next_element_seed(At {
            trie,
            st: &mut *st,
            node: self.node,
            item: true,
        })? {
            for &t in &node.below {
                let item = st.item[t].take().unwrap_or(Item::Null);
                st.items[t].push(item);
            }
        }
        Ok(())
    }
}

/// One element of a list column's own array: a scalar for each list
/// column ending at `node`.
struct Items<'a, 'de> {
    trie: &'a Trie,
    st: &'a mut Stage<'de>,
    node: usize,
}

impl Items<'_, '_> {
    /// A scalar that is not a string borrowed from the input.
    fn push<E: de::Error>(self, s: Scalar<'_>) -> Result<(), E> {
        for &t in &self.trie.nodes[self.node].terminals {
            let kind = self.trie.targets[t].item_kind().ok_or_else(bail)?;
            let cell = scalar_cell(kind, s.clone()).ok_or_else(bail)?;
            let item = self.st.item_of(cell, None);
            self.st.items[t].push(item);
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Items<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Items<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list item")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.push(Scalar::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.push(Scalar::Num(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.push(Scalar::Num(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.push(Number::from_f64(v).map_or(Scalar::Null, Scalar::Num))
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<(), E> {
        for &t in &self.trie.nodes[self.node].terminals {
            let kind = self.trie.targets[t].item_kind().ok_or_else(bail)?;
            let cell = scalar_cell(kind, Scalar::Str(v)).ok_or_else(bail)?;
            let item = self.st.item_of(cell, Some(v));
            self.st.items[t].push(item);
        }
        Ok(())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.push(Scalar::Str(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.push(Scalar::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.push(Scalar::Null)
    }
}

/// Matches an object key against a node's children.
struct KeySeed<'a> {
    node: &'a Node,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<usize>, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Option<usize>, E> {
        Ok(self.node.child(v))
    }
}

/// Stages every target below depth-1 node `node` from its whole value,
/// the `Value` way (`extract` then `convert`). `Err` when a value is refused.
fn stage_value(trie: &Trie, st: &mut Stage<'_>, node: usize, value: &Value) -> Result<(), ()> {
    for &t in &trie.nodes[node].below {
        let target = &trie.targets[t];
        st.items[t].clear();
        let extracted = extract_at(value, target.segments.get(1..).unwrap_or_default());
        let slot = match target.kind {
            Kind::Key if extracted.is_null() => Slot::Unset,
            Kind::Key => {
                let start = st.arena.len();
                extracted.write_json(&mut st.arena).map_err(|_| ())?;
                Slot::KeyText(start, st.arena.len())
            }
            Kind::Column(kind) => match convert(kind, &extracted).map_err(|_| ())? {
                Cell::Json(v) => {
                    let start = st.arena.len();
                    v.write_json(&mut st.arena).map_err(|_| ())?;
                    Slot::Str(super::stage::Text::Arena(start, st.arena.len()))
                }
                Cell::List(cells) => {
                    for cell in cells {
                        let item = st.item_of(cell, None);
                        st.items[t].push(item);
                    }
                    Slot::List
                }
                cell => st.slot_of(cell, None),
            },
        };
        st.slots[t] = slot;
    }
    Ok(())
}

/// One record: staged, then committed as one row of `out`.
pub(crate) struct RecordSeed<'a, 'de> {
    pub trie: &'a Trie,
    pub st: &'a mut Stage<'de>,
    pub out: &'a mut Builders,
}

impl<'de> DeserializeSeed<'de> for RecordSeed<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        self.st.clear();
        let mut at = At {
            trie: self.trie,
            st: &mut *self.st,
            node: 0,
            item: false,
        };
        at.reset();
        // A record is an object: anything else is not read as one (the
        // page goes to the `Value` path, which refuses it).
        deserializer.deserialize_map(at)?;
        self.st.commit(self.trie, self.out).map_err(|_| bail())
    }
}

/// An array of records.
struct Records<'a, 'de> {
    trie: &'a Trie,
    st: &'a mut Stage<'de>,
    out: &'a mut Builders,
}

impl<'de> DeserializeSeed<'de> for Records<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Records<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(()) = seq.next_element_seed(RecordSeed {
            trie: self.trie,
            st: &mut *self.st,
            out: &mut *self.out,
        })? {}
        Ok(())
    }
}

/// A whole response body: a bare array (`records = "auto"`) or an envelope.
/// The value is the envelope's `count`.
pub(crate) struct Page<'a, 'de> {
    pub trie: &'a Trie,
    pub st: &'a mut Stage<'de>,
    pub out: &'a mut Builders,
    pub at: &'a RecordsAt,
}

impl<'de> DeserializeSeed<'de> for Page<'_, 'de> {
    type Value = Option<u64>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<u64>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Page<'_, 'de> {
    type Value = Option<u64>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a page of records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Option<u64>, A::Error> {
        if *self.at != RecordsAt::Auto {
            return Err(bail());
        }
        Records {
            trie: self.trie,
            st: self.st,
            out: self.out,
        }
        .visit_seq(seq)?;
        Ok(None)
    }

    /// Mirrors `fetch::extract_records`: the first of `result`, `results`
    /// (or the named key) present wins; `count` is the last `count`, when it is
    /// believable (`fetch::count_value`).
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<u64>, A::Error> {
        let rank = |key: &str| match self.at {
            RecordsAt::Auto => ["result", "results"].iter().position(|k| *k == key),
            RecordsAt::Key(k) => (k == key).then_some(0),
        };
        if rank("count").is_some() {
            return Err(bail());
        }
        let mut count = None;
        let mut decoded: Option<usize> = None;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if key == "count" {
                // The same bounds as the Value path (`fetch::count_value`):
                // a count that is not believable is no count.
                count = crate::fetch::count_value(Some(&map.next_value::<Value>()?)).ok();
                continue;
            }
            match (rank(&key), decoded) {
                (None, _) => {
                    map.next_value::<IgnoredAny>()?;
                }
                // A lower-priority key after the records: not read.
                (Some(r), Some(d)) if r > d => {
                    map.next_value::<IgnoredAny>()?;
                }
                // A duplicate, or a higher-priority key after the records.
                (Some(_), Some(_)) => return Err(bail()),
                (Some(r), None) => {
                    map.next_value_seed(Records {
                        trie: self.trie,
                        st: &mut *self.st,
                        out: &mut *self.out,
                    })?;
                    decoded = Some(r);
                }
            }
        }
        match decoded {
            Some(_) => Ok(count),
            None => Err(bail()),
        }
    }
}
