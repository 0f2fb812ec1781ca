//! The sandbox data set: organizations shaped like Vainu's, generated on
//! demand. Record `i` of a database is a pure function of (seed, database, i),
//! so a million records cost no memory and never change between versions.
//! Index order is `business_id` order. The server's modification overlay is
//! not applied here (see `query.rs`).

use serde_json::{Map, Value, json};

use super::locale::{INDUSTRIES, Locale, PostalStyle, TECHNOLOGIES, locale};
use super::rng::SplitMix;

/// The databases the API knows.
pub const DATABASES: [&str; 5] = ["FI", "SE", "NO", "DK", "NL"];

/// 2022-01-01T00:00:00 as Unix seconds: the start of the modification window.
const MODIFIED_FROM: i64 = 1_640_995_200;
/// Seconds in 2022-01-01 ..= 2025-12-31 (1461 days).
const MODIFIED_SPAN: u64 = 1461 * 86_400;
/// 1950-01-01 as days since the Unix epoch.
const FOUNDED_FROM_DAYS: i64 = -7305;
/// Days in 1950-01-01 .. 2024-12-31.
const FOUNDED_SPAN_DAYS: u64 = 27_394;

/// The data set: same seed, same records.
#[derive(Debug, Clone)]
pub struct Dataset {
    seed: u64,
    records: u64,
}

impl Dataset {
    pub fn new(seed: u64, records: u64) -> Dataset {
        Dataset { seed, records }
    }

    /// Records per database.
    pub fn len(&self) -> u64 {
        self.records
    }

    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// The full record `index` of `database` (an index past `len()` still
    /// yields a record: the function is total).
    pub fn record(&self, database: &str, index: u64) -> Value {
        let mut rng = SplitMix::for_item(self.seed, database, index);
        let loc = locale(database);
        let mut rec = Map::new();
        let small = rng.below(7);
        rec.insert("business_id".into(), Value::String(business_id(database, index, small)));
        let form = rng.pick(loc.forms);
        rec.insert("name".into(), Value::String(name(&mut rng, loc, form.suffix)));
        rec.insert("founded".into(), founded(&mut rng));
        rec.insert("legal_entity".into(), Value::String(form.entity.to_string()));
        rec.insert("official_industries".into(), industries(&mut rng));
        rec.insert("financial_data".into(), financial_data(&mut rng));
        rec.insert("visiting_address".into(), address(&mut rng, loc));
        rec.insert("technology_data".into(), technologies(&mut rng));
        let basic = timestamp(MODIFIED_FROM + rng.below(MODIFIED_SPAN) as i64, rng.below(1_000_000));
        let statements = timestamp(MODIFIED_FROM + rng.below(MODIFIED_SPAN) as i64, rng.below(1_000_000));
        rec.insert(
            "modifications".into(),
            json!({"basic": basic, "financial_statements": statements}),
        );
        Value::Object(rec)
    }
}

/// Country prefix + 8 digits, strictly increasing with the index.
fn business_id(database: &str, index: u64, small: u64) -> String {
    format!(
        "{}{:08}",
        database,
        10_000_000u64
            .saturating_add(index.saturating_mul(7))
            .saturating_add(small)
    )
}

/// A company name with the awkward characters a CSV writer must survive.
fn name(rng: &mut SplitMix, loc: &Locale, suffix: &str) -> String {
    let surname = rng.pick(loc.surnames);
    let word = rng.pick(loc.words);
    let mut name = if rng.one_in(2) {
        format!("{surname} {word} {suffix}")
    } else {
        format!("{word} {surname} {suffix}")
    };
    if rng.one_in(20) {
        name = if rng.one_in(2) {
            let other = rng.pick(loc.surnames);
            format!("{surname}, {other} & {word} {suffix}")
        } else {
            format!("{name}, Ab")
        };
    }
    if rng.one_in(30) {
        name = format!("{word} \"{surname}\" {suffix}");
    }
    if rng.one_in(50) {
        let other = rng.pick(loc.surnames);
        name = format!("{name}\nc/o {other}");
    }
    name
}

fn founded(rng: &mut SplitMix) -> Value {
    if rng.one_in(12) {
        return Value::Null;
    }
    let (y, m, d) = civil_from_days(FOUNDED_FROM_DAYS + rng.below(FOUNDED_SPAN_DAYS) as i64);
    Value::String(format!("{y:04}-{m:02}-{d:02}"))
}

fn industries(rng: &mut SplitMix) -> Value {
    let n = rng.below(4);
    let start = rng.below(INDUSTRIES.len() as u64);
    let step = 1 + rng.below(3);
    let list = (0..n)
        .map(|k| {
            let (code, description) = INDUSTRIES[((start + k * step) % INDUSTRIES.len() as u64) as usize];
            json!({"code": code, "description": description})
        })
        .collect();
    Value::Array(list)
}

/// A positive integer spread over orders of magnitude `0..max_magnitude`.
fn magnitude(rng: &mut SplitMix, max_magnitude: u32) -> i64 {
    let base = 10i64.pow(rng.below(u64::from(max_magnitude)) as u32);
    base + rng.below(9 * base as u64) as i64
}

fn financial_data(rng: &mut SplitMix) -> Value {
    if rng.one_in(20) {
        return Value::Null;
    }
    let revenue = (!rng.one_in(8)).then(|| magnitude(rng, 9) * 10);
    let employees = (!rng.one_in(10)).then(|| magnitude(rng, 4) - 1);
    let year = 2018 + rng.below(7) as i64;
    let profit = if rng.one_in(8) {
        None
    } else {
        let base = revenue.unwrap_or(100_000);
        // Between -30 % and +20 % of revenue.
        let pct = rng.below(51) as i64 - 30;
        Some(base / 100 * pct)
    };
    json!({"revenue": revenue, "employees": employees, "year": year, "profit": profit})
}

fn address(rng: &mut SplitMix, loc: &Locale) -> Value {
    if rng.one_in(14) {
        return Value::Null;
    }
    let city = rng.pick(loc.cities);
    let code = city.postal_base + rng.below(90) as u32;
    let postal_code = match loc.postal {
        PostalStyle::Five => format!("{code:05}"),
        PostalStyle::SplitFive => format!("{} {:02}", code / 100, code % 100),
        PostalStyle::Four => format!("{code:04}"),
        PostalStyle::FourLetters => {
            let a = (b'A' + rng.below(26) as u8) as char;
            let b = (b'A' + rng.below(26) as u8) as char;
            format!("{code:04} {a}{b}")
        }
    };
    let lon = city.lon_micro + rng.below(100_001) as i64 - 50_000;
    let lat = city.lat_micro + rng.below(100_001) as i64 - 50_000;
    json!({
        "city": city.name,
        "postal_code": postal_code,
        "coordinates": [lon as f64 / 1e6, lat as f64 / 1e6],
    })
}

fn technologies(rng: &mut SplitMix) -> Value {
    let n = rng.below(6);
    let start = rng.below(TECHNOLOGIES.len() as u64);
    let list = (0..n)
        .map(|k| json!({"name": TECHNOLOGIES[((start + k) % TECHNOLOGIES.len() as u64) as usize]}))
        .collect();
    Value::Array(list)
}

/// A zone-less timestamp with microseconds: `2023-01-31T09:24:30.201000`.
pub(crate) fn timestamp(unix_secs: i64, micros: u64) -> String {
    let days = unix_secs.div_euclid(86_400);
    let secs = unix_secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_records_other_seed_other_records() {
        let a = Dataset::new(42, 100);
        let b = Dataset::new(42, 5);
        let c = Dataset::new(43, 100);
        for i in [0, 1, 4, 99] {
            assert_eq!(a.record("FI", i), b.record("FI", i), "record {i}");
        }
        let differing = (0..20).filter(|&i| a.record("FI", i) != c.record("FI", i)).count();
        assert_eq!(differing, 20);
        assert_ne!(a.record("FI", 3), a.record("SE", 3));
    }

    #[test]
    fn business_ids_are_prefixed_unique_and_increasing() {
        let ds = Dataset::new(7, 2000);
        for db in DATABASES {
            let ids: Vec<String> = (0..ds.len())
                .map(|i| ds.record(db, i)["business_id"].as_str().unwrap_or("").to_string())
                .collect();
            assert!(ids.iter().all(|id| id.starts_with(db) && id.len() == 10), "{db}");
            assert!(ids.windows(2).all(|w| w[0] < w[1]), "{db} not increasing");
        }
    }

    #[test]
    fn data_set_has_the_awkward_cases() {
        let ds = Dataset::new(42, 3000);
        let recs: Vec<Value> = (0..ds.len()).map(|i| ds.record("FI", i)).collect();
        let names: Vec<&str> = recs.iter().filter_map(|r| r["name"].as_str()).collect();
        assert_eq!(names.len(), recs.len());
        let count = |f: &dyn Fn(&str) -> bool| names.iter().filter(|n| f(n)).count();
        assert!(count(&|n| n.contains(',')) > 60);
        assert!(count(&|n| n.contains('"')) > 40);
        assert!(count(&|n| n.contains('\n')) > 20);
        assert!(count(&|n| n.contains(", Ab")) > 10);
        assert!(count(&|n| !n.is_ascii()) > 1000);
        assert!(recs.iter().any(|r| r["founded"].is_null()));
        assert!(recs.iter().any(|r| r["financial_data"].is_null()));
        assert!(recs.iter().any(|r| r["visiting_address"].is_null()));
        assert!(
            recs.iter()
                .any(|r| r["financial_data"]["revenue"].is_null() && !r["financial_data"].is_null())
        );
        assert!(
            recs.iter()
                .any(|r| { r["financial_data"]["profit"].as_i64().is_some_and(|p| p < 0) })
        );
        assert!(
            recs.iter()
                .any(|r| { r["official_industries"].as_array().is_some_and(|l| l.is_empty()) })
        );
        assert!(
            recs.iter()
                .any(|r| { r["official_industries"].as_array().is_some_and(|l| l.len() == 3) })
        );
        assert!(
            recs.iter()
                .any(|r| { r["technology_data"].as_array().is_some_and(|l| l.len() == 5) })
        );
        // SPEC's example filter `?EQ official_industries.code = "62"` finds records.
        let has_62 = |r: &&Value| {
            r["official_industries"]
                .as_array()
                .is_some_and(|l| l.iter().any(|i| i["code"] == "62"))
        };
        assert!(recs.iter().filter(has_62).count() > 100);
    }

    #[test]
    fn timestamps_and_dates_are_well_formed() {
        let ds = Dataset::new(1, 500);
        for i in 0..ds.len() {
            let r = ds.record("NO", i);
            for key in ["basic", "financial_statements"] {
                let ts = r["modifications"][key].as_str().unwrap_or("");
                assert_eq!(ts.len(), 26, "{ts}");
                assert!(
                    ("2022-01-01T00:00:00.000000"..="2025-12-31T23:59:59.999999").contains(&ts),
                    "{ts}"
                );
            }
            if let Some(f) = r["founded"].as_str() {
                assert_eq!(f.len(), 10);
                assert!(("1950-01-01"..="2024-12-31").contains(&f), "{f}");
            }
        }
    }

    #[test]
    fn civil_dates_table() {
        let cases = [
            (0, (1970, 1, 1)),
            (-7305, (1950, 1, 1)),
            (19_023, (2022, 1, 31)),
            (19_417, (2023, 3, 1)),
            (20_088, (2024, 12, 31)),
            (19_782, (2024, 2, 29)),
        ];
        for (days, want) in cases {
            assert_eq!(civil_from_days(days), want, "{days}");
        }
        assert_eq!(timestamp(1_675_157_070, 201_000), "2023-01-31T09:24:30.201000");
    }
}
