//! Answering queries over the data set: which record indexes match a filter
//! in which order (served straight from the index for `{"?ALL": []}` in
//! business_id order, otherwise one scan cached per (database, canonical
//! query, order)), fetching pages with the modification overlay applied, and
//! recording modifications. Request parsing is in `request.rs`.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use serde_json::Value;

use super::data::{DATABASES, Dataset};
use super::error::SandboxError;
use super::fields::{SortKey, compare_keys, project_paths, split};
use super::vql::Filter;

/// How many scanned result lists are kept.
const CACHE_ENTRIES: usize = 16;

/// A parsed `order`: a dot path, descending with a `-` prefix.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Order {
    pub raw: String,
    pub path: Vec<String>,
    pub descending: bool,
}

impl Order {
    pub(crate) fn parse(raw: &str) -> Option<Order> {
        let (descending, path) = match raw.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, raw),
        };
        (!path.is_empty()).then(|| Order {
            raw: raw.to_string(),
            path: split(path),
            descending,
        })
    }

    fn is_business_id(&self) -> bool {
        self.path.len() == 1 && self.path[0] == "business_id"
    }
}

/// The matching record indexes, in answer order.
#[derive(Debug, Clone)]
pub(crate) enum Matches {
    /// Every record, in index order or reversed.
    Direct { len: u64, descending: bool },
    /// A scanned (and possibly sorted) list.
    Listed(Arc<Vec<u32>>),
}

impl Matches {
    pub(crate) fn len(&self) -> u64 {
        match self {
            Matches::Direct { len, .. } => *len,
            Matches::Listed(list) => list.len() as u64,
        }
    }

    /// The record index at answer position `pos`.
    pub(crate) fn index(&self, pos: u64) -> Option<u64> {
        match self {
            Matches::Direct { len, descending } if pos < *len => Some(if *descending { len - 1 - pos } else { pos }),
            Matches::Direct { .. } => None,
            Matches::Listed(list) => list.get(usize::try_from(pos).ok()?).map(|&i| u64::from(i)),
        }
    }
}

type CacheKey = (String, String, String, u64);

/// A scanned result list; concurrent requests for the same key wait for
/// the one scan instead of each scanning.
type Slot = Arc<OnceLock<Arc<Vec<u32>>>>;

/// Scanned result lists and their insertion order (for FIFO eviction).
#[derive(Debug, Default)]
struct Cache {
    lists: HashMap<CacheKey, Slot>,
    fifo: VecDeque<CacheKey>,
}

/// The query engine: data set, modification overlay, result cache.
#[derive(Debug)]
pub(crate) struct Engine {
    dataset: Dataset,
    /// database -> index -> `modifications.basic` override.
    overlay: RwLock<HashMap<String, HashMap<u64, String>>>,
    generation: AtomicU64,
    cache: Mutex<Cache>,
}

impl Engine {
    pub(crate) fn new(dataset: Dataset) -> Self {
        Engine {
            dataset,
            overlay: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
            cache: Mutex::new(Cache::default()),
        }
    }

    /// Record `index` with the overlay applied.
    pub(crate) fn record(&self, database: &str, index: u64) -> Value {
        let overlay = self.overlay.read().unwrap_or_else(|e| e.into_inner());
        apply(self.dataset.record(database, index), overlay.get(database), index)
    }

    /// The indexes matching `filter` in `order`. May scan the whole database:
    /// call it from a blocking task.
    pub(crate) fn matches(&self, database: &str, filter: &Filter, query: &Value, order: Option<&Order>) -> Matches {
        let len = self.dataset.len();
        if filter.is_everything() && order.is_none_or(Order::is_business_id) {
            let descending = order.is_some_and(|o| o.descending);
            return Matches::Direct { len, descending };
        }
        let key = (
            database.to_string(),
            canonical(query),
            order.map(|o| o.raw.clone()).unwrap_or_default(),
            self.generation.load(Ordering::Acquire),
        );
        let slot = {
            let mut cache = self.lock_cache();
            let Cache { lists, fifo } = &mut *cache;
            match lists.get(&key) {
                Some(slot) => Arc::clone(slot),
                None => {
                    if fifo.len() >= CACHE_ENTRIES
                        && let Some(old) = fifo.pop_front()
                    {
                        lists.remove(&old);
                    }
                    let slot = Slot::default();
                    fifo.push_back(key.clone());
                    lists.insert(key, Arc::clone(&slot));
                    slot
                }
            }
        };
        let list = slot.get_or_init(|| Arc::new(self.scan(database, filter, order)));
        Matches::Listed(Arc::clone(list))
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn scan(&self, database: &str, filter: &Filter, order: Option<&Order>) -> Vec<u32> {
        let overlay = self.overlay.read().unwrap_or_else(|e| e.into_inner());
        let db_overlay = overlay.get(database);
        let end = self.dataset.len().min(u64::from(u32::MAX));
        let records = (0..end).filter_map(|i| {
            let rec = apply(self.dataset.record(database, i), db_overlay, i);
            filter.matches(&rec).then_some((i as u32, rec))
        });
        match order.filter(|o| !o.is_business_id() || o.descending) {
            None => records.map(|(i, _)| i).collect(),
            Some(o) => {
                let mut keyed: Vec<(Option<SortKey>, u32)> =
                    records.map(|(i, rec)| (SortKey::of(&rec, &o.path), i)).collect();
                keyed.sort_by(|a, b| compare_keys(&a.0, &b.0, o.descending).then(a.1.cmp(&b.1)));
                keyed.into_iter().map(|(_, i)| i).collect()
            }
        }
    }

    /// The projected records at answer positions `offset..offset+limit`.
    pub(crate) fn page(
        &self,
        database: &str,
        matches: &Matches,
        offset: u64,
        limit: u64,
        fields: &[String],
    ) -> Vec<Value> {
        let paths: Vec<Vec<String>> = fields.iter().map(|f| split(f)).collect();
        (offset..offset.saturating_add(limit))
            .map_while(|pos| matches.index(pos))
            .map(|i| project_paths(&self.record(database, i), &paths))
            .collect()
    }

    /// Mark records modified at `now` (a zone-less UTC timestamp).
    pub(crate) fn modify(&self, database: &str, indexes: &[u64], now: &str) -> Result<(), SandboxError> {
        check_database(database)?;
        if let Some(bad) = indexes.iter().find(|&&i| i >= self.dataset.len()) {
            return Err(SandboxError::invalid(format!(
                "index {bad} is out of range: the data set has {} records per database",
                self.dataset.len()
            )));
        }
        let mut overlay = self.overlay.write().unwrap_or_else(|e| e.into_inner());
        let db = overlay.entry(database.to_string()).or_default();
        for &i in indexes {
            db.insert(i, now.to_string());
        }
        self.generation.fetch_add(1, Ordering::AcqRel);
        let mut cache = self.lock_cache();
        cache.lists.clear();
        cache.fifo.clear();
        Ok(())
    }
}

fn apply(mut record: Value, overlay: Option<&HashMap<u64, String>>, index: u64) -> Value {
    if let Some(ts) = overlay.and_then(|o| o.get(&index))
        && let Some(m) = record.get_mut("modifications").and_then(Value::as_object_mut)
    {
        m.insert("basic".into(), Value::String(ts.clone()));
    }
    record
}

/// Reject a database code the API does not know.
pub(crate) fn check_database(database: &str) -> Result<(), SandboxError> {
    if DATABASES.contains(&database) {
        Ok(())
    } else {
        Err(SandboxError::invalid(format!(
            "Invalid database {database:?}: expected one of {}",
            DATABASES.join(", ")
        )))
    }
}

/// JSON text with object keys sorted, so equal queries share a cache entry.
fn canonical(v: &Value) -> String {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", Value::String(k.clone()), canonical(&map[k])))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Array(items) => {
            format!("[{}]", items.iter().map(canonical).collect::<Vec<_>>().join(","))
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn engine(records: u64) -> Engine {
        Engine::new(Dataset::new(42, records))
    }

    fn run(e: &Engine, query: Value, order: Option<&str>) -> Vec<u64> {
        let filter = Filter::parse(&query).unwrap_or(Filter::Any(vec![]));
        let order = order.and_then(Order::parse);
        let m = e.matches("FI", &filter, &query, order.as_ref());
        (0..m.len()).filter_map(|p| m.index(p)).collect()
    }

    #[test]
    fn everything_is_served_directly_in_both_directions() {
        let e = engine(50);
        let filter = Filter::All(vec![]);
        let q = json!({"?ALL": []});
        let asc = e.matches("FI", &filter, &q, Order::parse("business_id").as_ref());
        assert!(matches!(
            asc,
            Matches::Direct {
                len: 50,
                descending: false
            }
        ));
        let desc = e.matches("FI", &filter, &q, Order::parse("-business_id").as_ref());
        assert_eq!(desc.index(0), Some(49));
        assert_eq!(desc.index(49), Some(0));
        assert_eq!(desc.index(50), None);
    }

    #[test]
    fn order_ascending_descending_with_nulls_last() {
        let e = engine(300);
        let rev = |i: u64| e.record("FI", i)["financial_data"]["revenue"].as_i64();
        for (order, descending) in [("financial_data.revenue", false), ("-financial_data.revenue", true)] {
            let idx = run(&e, json!({"?ALL": []}), Some(order));
            assert_eq!(idx.len(), 300);
            let values: Vec<Option<i64>> = idx.iter().map(|&i| rev(i)).collect();
            let first_null = values.iter().position(Option::is_none).unwrap_or(values.len());
            assert!(first_null < 300, "some revenues are null");
            assert!(values[first_null..].iter().all(Option::is_none), "{order}: nulls last");
            let present: Vec<i64> = values[..first_null].iter().flatten().copied().collect();
            let sorted = present
                .windows(2)
                .all(|w| if descending { w[0] >= w[1] } else { w[0] <= w[1] });
            assert!(sorted, "{order}");
            // Null ties keep business_id order.
            assert!(idx[first_null..].windows(2).all(|w| w[0] < w[1]));
        }
    }

    #[test]
    fn filters_scan_and_cache_with_canonical_keys() {
        let e = engine(400);
        let a = run(
            &e,
            json!({"?GTE": {"financial_data.employees": 100, "financial_data.year": 2020}}),
            None,
        );
        let b = run(
            &e,
            json!({"?GTE": {"financial_data.year": 2020, "financial_data.employees": 100}}),
            None,
        );
        assert_eq!(a, b);
        assert!(!a.is_empty() && a.len() < 400);
        assert!(
            a.iter()
                .all(|&i| e.record("FI", i)["financial_data"]["employees"].as_i64() >= Some(100))
        );
        assert_eq!(e.lock_cache().lists.len(), 1);
    }

    #[test]
    fn concurrent_identical_queries_share_one_entry_and_cache_is_bounded() {
        let e = Arc::new(engine(300));
        let q = json!({"?EXISTS": "founded"});
        let results: Vec<Vec<u64>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4).map(|_| scope.spawn(|| run(&e, q.clone(), None))).collect();
            handles.into_iter().filter_map(|h| h.join().ok()).collect()
        });
        assert_eq!(results.len(), 4);
        assert!(results.windows(2).all(|w| w[0] == w[1]));
        assert_eq!(e.lock_cache().lists.len(), 1);
        for year in 0..(CACHE_ENTRIES as i64 + 4) {
            run(&e, json!({"?EQ": {"financial_data.year": 2000 + year}}), None);
        }
        assert_eq!(e.lock_cache().lists.len(), CACHE_ENTRIES);
        assert_eq!(e.lock_cache().fifo.len(), CACHE_ENTRIES);
    }

    #[test]
    fn modifications_overlay_changes_matches() {
        let e = engine(100);
        let q = json!({"?RANGE": {"modifications.basic": ["2030-01-01T00:00:00", null]}});
        assert!(run(&e, q.clone(), None).is_empty());
        assert!(e.modify("FI", &[3, 17], "2030-05-01T10:00:00.000001").is_ok());
        assert_eq!(run(&e, q, None), vec![3, 17]);
        assert_eq!(
            e.record("FI", 3)["modifications"]["basic"],
            "2030-05-01T10:00:00.000001"
        );
        assert!(e.modify("FI", &[100], "x").is_err());
        assert!(e.modify("XX", &[1], "x").is_err());
    }

    #[test]
    fn page_projects_and_stops_at_the_end() {
        let e = engine(10);
        let m = Matches::Direct {
            len: 10,
            descending: false,
        };
        let page = e.page("FI", &m, 8, 5, &["business_id".to_string()]);
        assert_eq!(page.len(), 2);
        assert_eq!(page[0], json!({"business_id": e.record("FI", 8)["business_id"]}));
    }

    #[test]
    fn database_check_table() {
        for (db, ok) in [
            ("FI", true),
            ("SE", true),
            ("NO", true),
            ("DK", true),
            ("NL", true),
            ("fi", false),
            ("XX", false),
            ("", false),
        ] {
            assert_eq!(check_database(db).is_ok(), ok, "{db}");
        }
    }
}
