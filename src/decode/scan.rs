//! The fast path of the decoder: a hand-written walk of a page's text
//! (`json/lex.rs` reads the bytes) along the key trie, staging each record's
//! values (`stage.rs`) and committing them to the Arrow builders. It reads
//! the shapes real pages have (compact or not, envelope or bare array,
//! JSON Lines) in one pass with no `Value` and no serde visitor:
//! - keys are compared as raw bytes with the trie's children;
//! - strings stay borrowed from the page (only escaped ones are unescaped,
//!   by serde_json);
//! - the key's JSON text is the input's own bytes when they are what
//!   serde_json prints (a string without escapes, an integer);
//! - a `json` column's text is the input's own bytes when they are what
//!   serde_json prints (see `Lexer::canon`), else its value re-printed by
//!   serde_json.
//!
//! Whatever it cannot prove it reads exactly like the `Value` path (a value
//! that does not fit its column, a repeated or escaped key on a column's
//! path, a record that is not an object, `-0`, lists in lists, odd
//! envelopes, invalid JSON) is a [`Bail`]: the caller decodes the page with
//! the serde walk (`seed.rs`), then the `Value` path, which own the answer.
//! The type rules are `schema::scalar_cell`'s, shared with both.

use serde_json::Value;

use super::stage::{Builders, Item, Slot, Stage, Text};
use super::trie::{Fast, Kind, Trie};
use crate::job::RecordsAt;
use crate::json::lex::{Bail, Lexer, Num, R};
use crate::schema::{ColumnType, Scalar, date_days, scalar_cell, timestamp_micros};

struct Scan<'a, 'de> {
    lx: Lexer<'de>,
    trie: &'a Trie,
    st: Stage<'de>,
    /// Per node: the stamp of the object that last had its key.
    seen: Vec<u32>,
    stamp: u32,
}

/// A page (a bare array or an envelope, as `api.records` says) into `out`;
/// the envelope's believable `count`.
pub(crate) fn page(trie: &Trie, text: &[u8], at: &RecordsAt, out: &mut Builders) -> R<Option<u64>> {
    let mut scan = Scan::new(trie, text);
    let count = match scan.lx.peek()? {
        b'[' if *at == RecordsAt::Auto => {
            scan.records(out)?;
            None
        }
        b'{' => scan.envelope(at, out)?,
        _ => return Err(Bail),
    };
    scan.lx.end()?;
    Ok(count)
}

/// The lines of a JSON Lines chunk into `out`: each one record.
pub(crate) fn lines<'x>(trie: &Trie, mut lines: impl Iterator<Item = &'x [u8]>, out: &mut Builders) -> R<()> {
    let Some(first) = lines.next() else {
        return Ok(());
    };
    let mut scan = Scan::new(trie, first);
    loop {
        scan.record(out)?;
        scan.lx.end()?;
        match lines.next() {
            Some(line) => scan.lx = Lexer::new(line),
            None => return Ok(()),
        }
    }
}

impl<'a, 'de> Scan<'a, 'de> {
    fn new(trie: &'a Trie, text: &'de [u8]) -> Scan<'a, 'de> {
        Scan {
            lx: Lexer::new(text),
            trie,
            st: Stage::new(trie.targets.len()),
            seen: vec![0; trie.nodes.len()],
            stamp: 0,
        }
    }

    /// Mirrors `fetch::extract_records` as `seed::Page` does: the first of
    /// `result`, `results` (or the named key) present wins; `count` is the
    /// last believable `count`. Repeats and priority inversions bail.
    fn envelope(&mut self, at: &RecordsAt, out: &mut Builders) -> R<Option<u64>> {
        let rank = |key: &str| match at {
            RecordsAt::Auto => ["result", "results"].iter().position(|k| *k == key),
            RecordsAt::Key(k) => (k == key).then_some(0),
        };
        if rank("count").is_some() {
            return Err(Bail);
        }
        self.lx.open()?;
        let mut count = None;
        let mut decoded: Option<usize> = None;
        if self.lx.empty(b'}')? {
            return Err(Bail);
        }
        loop {
            let key = self.key()?;
            if key == "count" {
                self.lx.ws();
                let start = self.lx.pos;
                self.lx.skip()?;
                let value: Value = serde_json::from_str(self.lx.span(start, self.lx.pos)).map_err(|_| Bail)?;
                count = crate::fetch::count_value(Some(&value)).ok();
            } else {
                match (rank(key), decoded) {
                    (None, _) => self.lx.skip()?,
                    (Some(r), Some(d)) if r > d => self.lx.skip()?,
                    (Some(_), Some(_)) => return Err(Bail),
                    (Some(r), None) => {
                        if self.lx.peek()? != b'[' {
                            return Err(Bail);
                        }
                        self.records(out)?;
                        decoded = Some(r);
                    }
                }
            }
            if !self.lx.more(b'}')? {
                break;
            }
        }
        decoded.map(|_| count).ok_or(Bail)
    }

    /// At `[`: an array of records.
    fn records(&mut self, out: &mut Builders) -> R<()> {
        self.lx.open()?;
        if self.lx.empty(b']')? {
            return Ok(());
        }
        loop {
            self.record(out)?;
            if !self.lx.more(b']')? {
                return Ok(());
            }
        }
    }

    /// One record (an object), staged and committed as one row of `out`.
    fn record(&mut self, out: &mut Builders) -> R<()> {
        if self.lx.peek()? != b'{' {
            return Err(Bail);
        }
        self.st.clear();
        self.object(0, false)?;
        self.st.commit(self.trie, out).map_err(|_| Bail)
    }

    /// An object key without escapes, and the colon after it.
    #[inline]
    fn key(&mut self) -> R<&'de str> {
        if self.lx.peek()? != b'"' {
            return Err(Bail);
        }
        let key = self.lx.plain_string()?.map_err(|_| Bail)?;
        self.lx.eat(b':')?;
        Ok(key)
    }

    /// The value at trie node `node`: of the record, or (`item`) of one
    /// element of a list of objects.
    fn value(&mut self, node: usize, item: bool) -> R<()> {
        if self.trie.nodes[node].json_here.is_empty() {
            return self.bare(node, item);
        }
        if item {
            return Err(Bail);
        }
        // A json column's text: the value's own bytes when canonical.
        self.lx.ws();
        let start = self.lx.pos;
        let outer = std::mem::replace(&mut self.lx.canon, true);
        self.lx.captures += 1;
        let read = self.bare(node, false);
        self.lx.captures -= 1;
        read?;
        let canon = self.lx.canon;
        self.lx.canon = outer && canon;
        let span = self.lx.span(start, self.lx.pos);
        let slot = if span == "null" {
            Slot::Null
        } else if canon {
            Slot::Str(Text::Borrowed(span))
        } else {
            let value: Value = serde_json::from_str(span).map_err(|_| Bail)?;
            let at = self.st.arena.len();
            serde_json::to_writer(&mut self.st.arena, &value).map_err(|_| Bail)?;
            Slot::Str(Text::Arena(at, self.st.arena.len()))
        };
        for &t in &self.trie.nodes[node].json_here {
            self.st.slots[t] = slot;
        }
        Ok(())
    }

    /// The value at `node`, apart from its json columns.
    fn bare(&mut self, node: usize, item: bool) -> R<()> {
        match self.lx.peek()? {
            b'{' => self.object(node, item),
            b'[' => self.array(node, item),
            b'"' => {
                let start = self.lx.pos;
                match self.lx.plain_string()? {
                    Ok(s) => {
                        let raw = self.lx.span(start, self.lx.pos);
                        if !item && self.fast_str(node, s, raw)? {
                            return Ok(());
                        }
                        self.scalar(node, item, Scalar::Str(s), Some(s), Some(raw))
                    }
                    Err(quoted) => {
                        let owned: String = serde_json::from_str(quoted).map_err(|_| Bail)?;
                        self.scalar(node, item, Scalar::Str(&owned), None, None)
                    }
                }
            }
            b't' | b'f' | b'n' => match self.lx.literal()? {
                Some(b) => self.scalar(node, item, Scalar::Bool(b), None, None),
                None => self.scalar(node, item, Scalar::Null, None, None),
            },
            _ => {
                let (n, text) = self.lx.number()?;
                if !item && let Fast::Int(t) = self.trie.nodes[node].fast {
                    let int = match n {
                        Num::I(i) => Some(i),
                        Num::U(u) => i64::try_from(u).ok(),
                        Num::F(_) => None,
                    };
                    if let Some(i) = int {
                        self.st.slots[t] = Slot::Int(i);
                        return Ok(());
                    }
                }
                if item && let Some(t) = self.trie.nodes[node].float_items {
                    // `scalar_cell`'s answer for a float item (serde_json's
                    // `Number::as_f64`), without a `Number` between.
                    let f = match n {
                        Num::F(f) => f,
                        Num::I(i) => i as f64,
                        Num::U(u) => u as f64,
                    };
                    self.st.item[t] = Some(Item::Float(f));
                    return Ok(());
                }
                let raw = (!matches!(n, Num::F(_))).then_some(text);
                self.scalar(node, item, Scalar::Num(n.into()), None, raw)
            }
        }
    }

    /// A string without escapes at `node` (not a list item) by the node's
    /// shortcut ([`Fast`]): `true` when it staged it, `false` for the
    /// general way ([`Self::scalar`], which gives the same answers).
    /// `raw`: its quoted text in the page.
    #[inline]
    fn fast_str(&mut self, node: usize, s: &'de str, raw: &'de str) -> R<bool> {
        let slots = &mut self.st.slots;
        match self.trie.nodes[node].fast {
            Fast::Str(t) => slots[t] = Slot::Str(Text::Borrowed(s)),
            Fast::StrKey(t, k) => {
                slots[t] = Slot::Str(Text::Borrowed(s));
                slots[k] = Slot::KeyRaw(raw);
            }
            Fast::Key(k) => slots[k] = Slot::KeyRaw(raw),
            Fast::Date(t) => slots[t] = Slot::Date(date_days(s).ok_or(Bail)?),
            Fast::Timestamp(t) => slots[t] = Slot::Timestamp(timestamp_micros(s).ok_or(Bail)?),
            Fast::None | Fast::Int(_) => return Ok(false),
        }
        Ok(true)
    }

    /// A scalar at `node`, for its terminals that are not json columns.
    /// `borrowed`: the same string, borrowed from the page; `raw`: its
    /// text in the page when that is what serde_json prints.
    fn scalar(
        &mut self,
        node: usize,
        item: bool,
        s: Scalar<'_>,
        borrowed: Option<&'de str>,
        raw: Option<&'de str>,
    ) -> R<()> {
        let trie = self.trie;
        for &t in &trie.nodes[node].plain_here {
            let target = &trie.targets[t];
            if item {
                let kind = target.item_kind().ok_or(Bail)?;
                self.st.item[t] = Some(match (kind, &s, borrowed) {
                    // The common case without a `Cell` between (the same
                    // answer as `scalar_cell` and `item_of`).
                    (ColumnType::String, Scalar::Str(_), Some(b)) => Item::Str(Text::Borrowed(b)),
                    _ => {
                        let cell = scalar_cell(kind, s.clone()).ok_or(Bail)?;
                        self.st.item_of(cell, borrowed)
                    }
                });
                continue;
            }
            self.st.slots[t] = match target.kind {
                Kind::Key => match (&s, raw) {
                    (Scalar::Null, _) => Slot::Unset,
                    (_, Some(raw)) => Slot::KeyRaw(raw),
                    _ => self.st.key_text(&s),
                },
                Kind::Column(_) if target.item_kind().is_some() => match s {
                    Scalar::Null => Slot::Null,
                    _ => return Err(Bail),
                },
                Kind::Column(kind) => match (kind, &s, borrowed) {
                    // The common cases without a `Cell` between (the same
                    // answers as `scalar_cell`, which takes the rest).
                    (ColumnType::String, Scalar::Str(_), Some(b)) => Slot::Str(Text::Borrowed(b)),
                    (ColumnType::Int64, Scalar::Num(n), _) if n.is_i64() => Slot::Int(n.as_i64().ok_or(Bail)?),
                    _ => {
                        let cell = scalar_cell(kind, s.clone()).ok_or(Bail)?;
                        self.st.slot_of(cell, borrowed)
                    }
                },
            };
        }
        Ok(())
    }

    /// At `{`: the members whose keys are children of `node`; the rest skipped.
    fn object(&mut self, node: usize, item: bool) -> R<()> {
        let trie = self.trie;
        let n = &trie.nodes[node];
        // An object for the key, a scalar or a list column.
        if !n.plain_here.is_empty() {
            return Err(Bail);
        }
        self.lx.open()?;
        if self.lx.empty(b'}')? {
            return Ok(());
        }
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            self.seen.fill(0);
            self.stamp = 1;
        }
        let stamp = self.stamp;
        let mark = self.lx.keys_mark();
        let mut guess = 0;
        loop {
            if self.lx.peek()? != b'"' {
                return Err(Bail);
            }
            // The key records usually have next, matched with its closing
            // quote and colon; else the key read and looked up.
            let child = match n.guessed_quoted(self.lx.b, self.lx.pos + 1, &mut guess) {
                Some((len, c)) => {
                    self.lx.pos += len + 1;
                    Some(c)
                }
                None => {
                    let (a, b, escaped) = self.lx.string()?;
                    if escaped {
                        return Err(Bail);
                    }
                    self.lx.eat(b':')?;
                    let c = n.child_guessed(&self.lx.b[a..b], &mut guess);
                    if c.is_none() {
                        self.lx.note_key(mark, a, b);
                    }
                    c
                }
            };
            match child {
                None => self.lx.skip()?,
                Some(c) => {
                    // A repeated key: serde_json keeps the last value.
                    if self.seen[c] == stamp {
                        return Err(Bail);
                    }
                    self.seen[c] = stamp;
                    self.value(c, item)?;
                }
            }
            if !self.lx.more(b'}')? {
                self.lx.keys_reset(mark);
                return Ok(());
            }
        }
    }

    /// At `[`: a list column's own array of scalars, or a path through a
    /// list of objects (one item per element, null where it lacks the path).
    fn array(&mut self, node: usize, item: bool) -> R<()> {
        let trie = self.trie;
        let n = &trie.nodes[node];
        if item {
            return Err(Bail);
        }
        self.lx.open()?;
        if !n.plain_here.is_empty() {
            if !n.children.is_empty() || !n.lists_here {
                return Err(Bail);
            }
            for &t in &n.plain_here {
                self.st.slots[t] = Slot::List;
                self.st.items[t].clear();
            }
            if self.lx.empty(b']')? {
                return Ok(());
            }
            loop {
                if matches!(self.lx.peek()?, b'{' | b'[') {
                    return Err(Bail);
                }
                self.bare(node, true)?;
                for &t in &n.plain_here {
                    let item = self.st.item[t].take().ok_or(Bail)?;
                    self.st.items[t].push(item);
                }
                if !self.lx.more(b']')? {
                    return Ok(());
                }
            }
        }
        if !n.lists_below {
            return Err(Bail);
        }
        for &t in &n.through {
            self.st.slots[t] = Slot::List;
            self.st.items[t].clear();
        }
        if self.lx.empty(b']')? {
            return Ok(());
        }
        loop {
            for &t in &n.through {
                self.st.item[t] = None;
            }
            self.bare(node, true)?;
            for &t in &n.through {
                let item = self.st.item[t].take().unwrap_or(Item::Null);
                self.st.items[t].push(item);
            }
            if !self.lx.more(b']')? {
                return Ok(());
            }
        }
    }
}
