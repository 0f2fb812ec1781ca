//! The sandbox's fields catalog (`GET /api/v3/organizations_fields/`), in
//! the shape VAINU_API.md describes: one entry per path of the sandbox's
//! own data set (`data.rs`), so a job that asks for what the sandbox
//! serves passes the check, plus one permission-gated field,
//! [`GATED_FIELD`], that the data set does not hold and that answers 403
//! when a request asks for it in `fields`. Data only; the route is in
//! `server.rs`.

use serde_json::{Value, json};

use super::data::DATABASES;
use super::error::SandboxError;

/// A field this sandbox's account has no permission for.
pub const GATED_FIELD: &str = "contacts.email";
/// The permission it needs.
const GATED_PERMISSION: &str = "contacts";

/// (path, English name, type, item type, category, filterable, returnable)
type Row = (
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    &'static str,
    bool,
    bool,
);

/// Every path of the data set, parents and leaves.
const FIELDS: &[Row] = &[
    ("business_id", "Business ID", "string", None, "basic", true, true),
    ("name", "Company name", "string", None, "basic", true, true),
    ("founded", "Founding date", "date", None, "basic", true, true),
    ("legal_entity", "Legal entity", "string", None, "basic", true, true),
    (
        "official_industries",
        "Official industries",
        "array",
        Some("object"),
        "industry",
        true,
        true,
    ),
    (
        "official_industries.code",
        "Industry code",
        "string",
        None,
        "industry",
        true,
        true,
    ),
    (
        "official_industries.description",
        "Industry description",
        "string",
        None,
        "industry",
        true,
        true,
    ),
    (
        "financial_data",
        "Financial data",
        "object",
        None,
        "financials",
        true,
        true,
    ),
    (
        "financial_data.revenue",
        "Revenue",
        "integer",
        None,
        "financials",
        true,
        true,
    ),
    (
        "financial_data.employees",
        "Employees",
        "integer",
        None,
        "financials",
        true,
        true,
    ),
    (
        "financial_data.year",
        "Financial year",
        "integer",
        None,
        "financials",
        true,
        true,
    ),
    (
        "financial_data.profit",
        "Profit",
        "integer",
        None,
        "financials",
        true,
        true,
    ),
    (
        "visiting_address",
        "Visiting address",
        "object",
        None,
        "location",
        true,
        true,
    ),
    ("visiting_address.city", "City", "string", None, "location", true, true),
    (
        "visiting_address.postal_code",
        "Postal code",
        "string",
        None,
        "location",
        true,
        true,
    ),
    // Coordinates come back but cannot be filtered on (?GEO_WITHIN_SPHERE is not simulated).
    (
        "visiting_address.coordinates",
        "Coordinates",
        "array",
        Some("float"),
        "location",
        false,
        true,
    ),
    (
        "technology_data",
        "Technologies",
        "array",
        Some("object"),
        "technology",
        true,
        true,
    ),
    (
        "technology_data.name",
        "Technology name",
        "string",
        None,
        "technology",
        true,
        true,
    ),
    (
        "modifications",
        "Modification times",
        "object",
        None,
        "meta",
        true,
        true,
    ),
    (
        "modifications.basic",
        "Basic data modified",
        "datetime",
        None,
        "meta",
        true,
        true,
    ),
    (
        "modifications.financial_statements",
        "Financial statements modified",
        "datetime",
        None,
        "meta",
        true,
        true,
    ),
];

fn entry(row: &Row, permissions: &[&str]) -> Value {
    let (path, name, kind, item, category, filter, export) = *row;
    let mut availability = Vec::new();
    if filter {
        availability.extend(["filter", "search"]);
    }
    if export {
        availability.extend(["export", "profile"]);
    }
    let mut meta = json!({"type": kind});
    if let Some(item) = item {
        meta["item_type"] = json!(item);
    }
    json!({
        "api": {"v3": {"path": path}},
        "names": {"translations": {"en": name}},
        "application_availability": availability,
        "requires_permission": permissions,
        "meta_data": meta,
        "main_category": category,
        "databases": DATABASES,
    })
}

/// The catalog as the API answers it: a JSON array of entries.
pub(crate) fn catalog() -> Value {
    let mut entries: Vec<Value> = FIELDS.iter().map(|row| entry(row, &[])).collect();
    let gated: Row = (GATED_FIELD, "Contact e-mail", "string", None, "contacts", false, true);
    entries.push(entry(&gated, &[GATED_PERMISSION]));
    Value::Array(entries)
}

/// A 403 when `fields` asks for the gated field (or something under it),
/// as the real API answers for a field the account is not entitled to.
pub(crate) fn check_permissions(fields: &[String]) -> Result<(), SandboxError> {
    let gated: Vec<&str> = fields
        .iter()
        .map(String::as_str)
        .filter(|f| *f == GATED_FIELD || f.starts_with(&format!("{GATED_FIELD}.")) || *f == "contacts")
        .collect();
    if gated.is_empty() {
        return Ok(());
    }
    Err(SandboxError::Forbidden {
        detail: format!("Insufficient permissions for fields: {}", gated.join(", ")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::parse_catalog;
    use crate::sandbox::test_support::{TestResult, all, client, config, orgs, post, token};
    use crate::sandbox::{Dataset, Sandbox, SandboxConfig};
    use crate::schema::FieldPath;

    #[test]
    fn every_leaf_of_the_data_set_is_in_the_catalog_and_back() {
        let catalog = parse_catalog(catalog().to_string().as_bytes()).unwrap();
        let record = Dataset::new(42, 50).record("FI", 3);
        fn leaves(v: &Value, prefix: String, out: &mut Vec<String>) {
            if let Value::Object(m) = v {
                for (k, v) in m {
                    let p = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    out.push(p.clone());
                    leaves(v, p, out);
                }
            } else if let Value::Array(items) = v {
                for i in items.iter().filter(|i| i.is_object()) {
                    leaves(i, prefix.clone(), out);
                }
            }
        }
        let mut paths = Vec::new();
        leaves(&record, String::new(), &mut paths);
        for p in &paths {
            assert!(catalog.get(p).is_some(), "{p} is in the data set but not the catalog");
        }
        let data = Dataset::new(42, 200);
        for e in catalog.entries().iter().filter(|e| e.path != GATED_FIELD) {
            let path = FieldPath::parse(&e.path);
            assert!(
                (0..data.len()).any(|i| !path.extract(&data.record("FI", i)).is_null()),
                "{} is in the catalog but never in the data set",
                e.path
            );
        }
    }

    #[tokio::test]
    async fn served_over_http_with_auth_a_403_for_the_gated_field_and_a_404_knob() -> TestResult {
        let client = client();
        let sb = Sandbox::start(config(5), 0).await?;
        let t = token(&client, &sb).await?;
        let url = format!("{}/api/v3/organizations_fields/?api_versions=v3", sb.base_url());
        let resp = client.get(&url).bearer_auth(&t).send().await?;
        assert_eq!(resp.status().as_u16(), 200);
        assert_eq!(resp.json::<Value>().await?, catalog());
        assert_eq!(client.get(&url).send().await?.status().as_u16(), 401, "needs a token");
        let (status, body) = post(&client, &orgs(&sb), &t, &all(json!({"fields": ["name", GATED_FIELD]}))).await?;
        assert_eq!(status.as_u16(), 403);
        assert_eq!(
            body,
            json!({"detail": "Insufficient permissions for fields: contacts.email", "error_code": "FORBIDDEN", "status_code": 403})
        );
        assert_eq!(sb.stats().catalog_requests, 2);
        sb.shutdown().await;

        let sb = Sandbox::start(
            SandboxConfig {
                no_catalog: true,
                ..config(5)
            },
            0,
        )
        .await?;
        let t = token(&client, &sb).await?;
        let url = format!("{}/api/v3/organizations_fields/?api_versions=v3", sb.base_url());
        assert_eq!(client.get(&url).bearer_auth(&t).send().await?.status().as_u16(), 404);
        sb.shutdown().await;
        Ok(())
    }

    #[test]
    fn gated_field_is_forbidden_others_are_not() {
        let cases: &[(&[&str], bool)] = &[
            (&["business_id", "name"], true),
            (&["business_id", "contacts.email"], false),
            (&["contacts"], false),
            (&["contacts.email.domain"], false),
            (&["contactsx"], true),
        ];
        for (fields, ok) in cases {
            let fields: Vec<String> = fields.iter().map(|s| s.to_string()).collect();
            let r = check_permissions(&fields);
            assert_eq!(r.is_ok(), *ok, "{fields:?}");
            if let Err(e) = r {
                assert_eq!(e.status().as_u16(), 403);
            }
        }
    }
}
