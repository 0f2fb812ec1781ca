//! The key trie a [`PageDecoder`](super::PageDecoder) is compiled to, once
//! per snapshot: the columns' dotted paths (and the dedup key's path, as one
//! more target) merged into a tree of object keys. Each node knows the
//! targets that end there, every target at or below it, and whether its
//! value is built as a `serde_json::Value` instead of streamed (see
//! [`Node::materialize`]). It does not read JSON.

use crate::schema::{Column, ColumnType, FieldPath};

/// What a target fills: an output column, or the dedup key's hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Column(ColumnType),
    Key,
}

/// One column (or the key) the decoder fills, by index.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub kind: Kind,
    pub nullable: bool,
    pub segments: Vec<String>,
}

impl Target {
    /// The item type of a list column.
    pub fn item_kind(&self) -> Option<ColumnType> {
        match self.kind {
            Kind::Column(ColumnType::ListString) => Some(ColumnType::String),
            Kind::Column(ColumnType::ListInt64) => Some(ColumnType::Int64),
            Kind::Column(ColumnType::ListFloat64) => Some(ColumnType::Float64),
            _ => None,
        }
    }
}

/// The scanner's shortcut for a leaf whose value is one common scalar
/// target (or a string column that is also the key): it writes the slot
/// without going through `Scalar` and `scalar_cell`, with the same answers
/// (`scan.rs`); anything else at the leaf takes the general way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Fast {
    #[default]
    None,
    /// A string column.
    Str(usize),
    /// A string column and the key, at the same path.
    StrKey(usize, usize),
    /// The key alone.
    Key(usize),
    Int(usize),
    Date(usize),
    Timestamp(usize),
}

impl Fast {
    /// The shortcut for a node with these terminals (none when it has
    /// children or json columns: those take the general way).
    fn of(targets: &[Target], plain_here: &[usize], json_here: &[usize], leaf: bool) -> Fast {
        if !leaf || !json_here.is_empty() {
            return Fast::None;
        }
        let kind = |t: usize| targets[t].kind;
        match *plain_here {
            [t] => match kind(t) {
                Kind::Key => Fast::Key(t),
                Kind::Column(ColumnType::String) => Fast::Str(t),
                Kind::Column(ColumnType::Int64) => Fast::Int(t),
                Kind::Column(ColumnType::Date) => Fast::Date(t),
                Kind::Column(ColumnType::Timestamp) => Fast::Timestamp(t),
                Kind::Column(_) => Fast::None,
            },
            [a, b] => match (kind(a), kind(b)) {
                (Kind::Column(ColumnType::String), Kind::Key) => Fast::StrKey(a, b),
                (Kind::Key, Kind::Column(ColumnType::String)) => Fast::StrKey(b, a),
                _ => Fast::None,
            },
            _ => Fast::None,
        }
    }
}

/// Object keys this many or fewer are matched by comparing in order.
const LINEAR_MAX: usize = 16;

#[derive(Debug, Default)]
pub(crate) struct Node {
    /// (key, node index), in first-seen order.
    pub children: Vec<(Box<str>, usize)>,
    /// Larger key sets: key -> node index.
    pub index: Option<std::collections::HashMap<Box<str>, usize>>,
    /// Targets whose path ends here.
    pub terminals: Vec<usize>,
    /// Targets at or below this node.
    pub below: Vec<usize>,
    /// Depth-1 nodes only: the value is built as a `Value` and every target
    /// below is extracted and converted the `Value` way. Set when a `json`
    /// column lies below (its text is the `Value`'s JSON text, duplicate
    /// keys and all; the key's text is written as it streams, and a key
    /// that is an array or object sends the page down the `Value` path), or a path ends at a node other paths go
    /// through (`official_industries` as json and `official_industries.code`).
    pub materialize: bool,
    /// Some target below is not a list column: an array met here (a path
    /// through a list) cannot fill it, the `Value` path refuses it.
    pub scalar_below: bool,
    /// For the scanner (`scan.rs`), which reads json columns as it walks:
    /// the json columns ending here,
    pub json_here: Vec<usize>,
    /// the other targets ending here,
    pub plain_here: Vec<usize>,
    /// every target below that is not a json column ending here,
    pub through: Vec<usize>,
    /// every one of `plain_here` is a list column,
    pub lists_here: bool,
    /// every one of `through` is a list column,
    pub lists_below: bool,
    /// the shortcut for its scalar value,
    pub fast: Fast,
    /// the one target ending here when it is a list of floats and nothing
    /// else ends here: a number met as one of its items is the item, as
    /// `scalar_cell` would make it (coordinates),
    pub float_items: Option<usize>,
    /// per child: its key, the closing quote and the colon of compact
    /// JSON, when the key holds no quote, backslash or control character
    /// (then input that starts with these bytes after an opening quote is
    /// exactly this key, unescaped, and its colon), with the child's node.
    pub quoted: Vec<Option<(Box<[u8]>, usize)>>,
}

impl Node {
    /// The child for object key `key`.
    #[inline]
    pub fn child(&self, key: &str) -> Option<usize> {
        match &self.index {
            Some(map) => map.get(key).copied(),
            None => self.children.iter().find(|(k, _)| &**k == key).map(|(_, i)| *i),
        }
    }

    /// At `text[at..]`, after a key's opening quote: the guessed child's key,
    /// closing quote and colon, matched at once (no scan for the string's
    /// end). `Some((bytes matched, child))`, and `*guess` moves past it;
    /// `None` says nothing (read the key the general way).
    #[inline]
    pub fn guessed_quoted(&self, text: &[u8], at: usize, guess: &mut usize) -> Option<(usize, usize)> {
        let (q, child) = self.quoted.get(*guess)?.as_ref()?;
        if !same_key(q, text.get(at..at.checked_add(q.len())?)?) {
            return None;
        }
        *guess += 1;
        Some((q.len(), *child))
    }

    /// [`Self::child`], trying first the child at position `*guess` (where
    /// the key after the previous one usually is: records of a page share
    /// their key order). `*guess` moves past the child found.
    #[inline]
    pub fn child_guessed(&self, key: &[u8], guess: &mut usize) -> Option<usize> {
        if let Some((k, c)) = self.children.get(*guess)
            && same_key(k.as_bytes(), key)
        {
            *guess += 1;
            return Some(*c);
        }
        if self.index.is_some() {
            return self.child(std::str::from_utf8(key).ok()?);
        }
        let at = self.children.iter().position(|(k, _)| same_key(k.as_bytes(), key))?;
        *guess = at + 1;
        Some(self.children[at].1)
    }
}

/// Byte equality of two keys, without a call to `memcmp` for the short keys
/// records have: 4 to 32 bytes are compared as two overlapping words of 4, 8 or 16 bytes.
#[inline]
fn same_key(a: &[u8], b: &[u8]) -> bool {
    /// The first and the last `K` bytes of each (overlapping when shorter
    /// than `2 * K`), compared as fixed-size arrays: word compares, no call.
    fn ends<const K: usize>(a: &[u8], b: &[u8]) -> bool {
        a.first_chunk::<K>() == b.first_chunk::<K>() && a.last_chunk::<K>() == b.last_chunk::<K>()
    }
    if a.len() != b.len() {
        return false;
    }
    match a.len() {
        4..8 => ends::<4>(a, b),
        8..16 => ends::<8>(a, b),
        16..=32 => ends::<16>(a, b),
        _ => a == b,
    }
}

/// The compiled paths. Node 0 is the record.
#[derive(Debug)]
pub(crate) struct Trie {
    pub nodes: Vec<Node>,
    pub targets: Vec<Target>,
    /// Index of the key target, if there is a key.
    pub key: Option<usize>,
}

impl Trie {
    pub fn compile(columns: &[Column], key: Option<&FieldPath>) -> Trie {
        let mut targets: Vec<Target> = columns
            .iter()
            .map(|c| Target {
                kind: Kind::Column(c.kind),
                nullable: c.nullable,
                segments: c.path.segments().to_vec(),
            })
            .collect();
        let key_index = key.map(|k| {
            targets.push(Target {
                kind: Kind::Key,
                nullable: true,
                segments: k.segments().to_vec(),
            });
            targets.len() - 1
        });
        let mut nodes = vec![Node::default()];
        for (t, target) in targets.iter().enumerate() {
            let mut at = 0;
            nodes[0].below.push(t);
            for seg in &target.segments {
                at = match nodes[at].child(seg) {
                    Some(next) => next,
                    None => {
                        nodes.push(Node::default());
                        let next = nodes.len() - 1;
                        nodes[at].children.push((seg.as_str().into(), next));
                        next
                    }
                };
                nodes[at].below.push(t);
            }
            nodes[at].terminals.push(t);
        }
        for node in &mut nodes {
            if node.children.len() > LINEAR_MAX {
                node.index = Some(node.children.iter().cloned().collect());
            }
            node.scalar_below = node.below.iter().any(|&t| targets[t].item_kind().is_none());
            let json = |t: &usize| targets[*t].kind == Kind::Column(ColumnType::Json);
            let (json_here, plain_here) = node.terminals.iter().copied().partition(|t| json(t));
            node.json_here = json_here;
            node.plain_here = plain_here;
            node.through = node
                .below
                .iter()
                .copied()
                .filter(|t| !node.json_here.contains(t))
                .collect();
            node.lists_here = node.plain_here.iter().all(|&t| targets[t].item_kind().is_some());
            node.lists_below = node.through.iter().all(|&t| targets[t].item_kind().is_some());
            node.fast = Fast::of(&targets, &node.plain_here, &node.json_here, node.children.is_empty());
            node.float_items = match (node.plain_here.as_slice(), node.json_here.is_empty()) {
                (&[t], true) if targets[t].item_kind() == Some(ColumnType::Float64) => Some(t),
                _ => None,
            };
            node.quoted = node
                .children
                .iter()
                .map(|(k, child)| {
                    let plain = k.bytes().all(|b| b != b'"' && b != b'\\' && b >= 0x20);
                    plain.then(|| ([k.as_bytes(), b"\":"].concat().into_boxed_slice(), *child))
                })
                .collect();
        }
        let depth1: Vec<usize> = nodes[0].children.iter().map(|(_, i)| *i).collect();
        for n in depth1 {
            let mut stack = vec![n];
            let mut materialize = false;
            while let Some(at) = stack.pop() {
                let node = &nodes[at];
                let whole_value = node
                    .terminals
                    .iter()
                    .any(|&t| targets[t].kind == Kind::Column(ColumnType::Json));
                if whole_value || (!node.terminals.is_empty() && !node.children.is_empty()) {
                    materialize = true;
                }
                stack.extend(node.children.iter().map(|(_, i)| *i));
            }
            nodes[n].materialize = materialize;
        }
        Trie {
            nodes,
            targets,
            key: key_index,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(path: &str, kind: ColumnType) -> Column {
        Column::for_field(path, kind)
    }

    #[test]
    fn compiles_paths_and_flags() {
        let columns = [
            col("business_id", ColumnType::String),
            col("financial_data.revenue", ColumnType::Int64),
            col("official_industries.code", ColumnType::ListString),
            col("official_industries", ColumnType::Json),
            col("technology_data.name", ColumnType::ListString),
        ];
        let key = FieldPath::parse("business_id");
        let trie = Trie::compile(&columns, Some(&key));
        assert_eq!(trie.key, Some(5));
        let root = &trie.nodes[0];
        assert_eq!(root.below.len(), 6);
        let node = |path: &str| {
            path.split('.')
                .try_fold(0, |at, seg| trie.nodes[at].child(seg))
                .map(|i| &trie.nodes[i])
                .unwrap()
        };
        assert_eq!(node("business_id").terminals, vec![0, 5]);
        assert!(!node("business_id").materialize, "a key at a leaf is streamed");
        assert!(!node("financial_data").materialize);
        assert!(node("financial_data").scalar_below);
        assert!(node("official_industries").materialize, "json and a path through it");
        assert!(!node("technology_data").materialize);
        assert!(!node("technology_data").scalar_below);
        assert_eq!(root.child("nope"), None);
    }

    /// A child's key with its closing quote and colon is kept for the scanner's
    /// one-comparison match only when no quote, backslash or control
    /// character in it would end or escape the string early.
    #[test]
    fn quoted_keys_table() {
        let cases: [(&str, Option<&[u8]>); 5] = [
            ("code", Some(b"code\":")),
            ("\u{e4}", Some("\u{e4}\":".as_bytes())),
            ("q\"x", None),
            ("b\\s", None),
            ("t\tab", None),
        ];
        for (key, want) in cases {
            let trie = Trie::compile(&[col(key, ColumnType::String)], None);
            let got = trie.nodes[0].quoted[0].as_ref().map(|(q, child)| {
                assert_eq!(*child, 1, "{key:?}: the child's node");
                &q[..]
            });
            assert_eq!(got, want, "{key:?}");
        }
    }

    /// Which leaves get the scanner's shortcut: one scalar column of a
    /// common type, the key, or a string column that is also the key;
    /// never a node with children, a json column, a list or another type.
    #[test]
    fn fast_table() {
        use ColumnType::*;
        // (columns, key, node, its shortcut)
        type Case = (
            Vec<(&'static str, ColumnType)>,
            Option<&'static str>,
            &'static str,
            Fast,
        );
        let cases: Vec<Case> = vec![
            (vec![("a", String)], None, "a", Fast::Str(0)),
            (vec![("a", String)], Some("a"), "a", Fast::StrKey(0, 1)),
            (vec![("b", String)], Some("a"), "a", Fast::Key(1)),
            (vec![("a", Int64)], None, "a", Fast::Int(0)),
            (vec![("a", Date)], None, "a", Fast::Date(0)),
            (vec![("a", Timestamp)], None, "a", Fast::Timestamp(0)),
            (vec![("a", Int64)], Some("a"), "a", Fast::None),
            (vec![("a", Float64)], None, "a", Fast::None),
            (vec![("a", Bool)], None, "a", Fast::None),
            (vec![("a", ListString)], None, "a", Fast::None),
            (vec![("a", Json)], None, "a", Fast::None),
            (vec![("a", String), ("a", Json)], None, "a", Fast::None),
            (vec![("a", String), ("a", String)], None, "a", Fast::None),
            (vec![("a", String), ("a.b", String)], None, "a", Fast::None),
            (vec![("a.b", String)], None, "a", Fast::None),
            (vec![("a.b", String)], None, "a.b", Fast::Str(0)),
        ];
        for (cols, key, at, want) in cases {
            let columns: Vec<Column> = cols.iter().map(|(p, k)| col(p, *k)).collect();
            let key = key.map(FieldPath::parse);
            let trie = Trie::compile(&columns, key.as_ref());
            let node = at.split('.').try_fold(0, |n, seg| trie.nodes[n].child(seg)).unwrap();
            assert_eq!(trie.nodes[node].fast, want, "{cols:?} key {key:?} at {at}");
        }
    }

    #[test]
    fn many_keys_use_an_index() {
        let columns: Vec<Column> = (0..40).map(|i| col(&format!("k{i}"), ColumnType::Int64)).collect();
        let trie = Trie::compile(&columns, None);
        assert!(trie.nodes[0].index.is_some());
        for i in 0..40 {
            assert_eq!(trie.nodes[0].child(&format!("k{i}")), Some(i + 1));
        }
        assert_eq!(trie.nodes[0].child("k40"), None);
    }

    /// `same_key` is byte equality for every length around its word sizes,
    /// a difference at any position included.
    #[test]
    fn same_key_is_byte_equality() {
        for n in 0..40usize {
            let a: Vec<u8> = (0..n).map(|i| b'a' + (i % 26) as u8).collect();
            assert!(same_key(&a, &a.clone()), "len {n}");
            for at in 0..n {
                let mut b = a.clone();
                b[at] ^= 0x20;
                assert!(!same_key(&a, &b), "len {n}, differs at {at}");
            }
            let mut longer = a.clone();
            longer.push(b'x');
            assert!(!same_key(&a, &longer), "len {n} vs {}", n + 1);
        }
    }
}
