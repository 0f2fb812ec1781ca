"""The plain-Python peer of `make bench-peers`: what a data engineer writes by hand.

    plain_loop.py BASE_URL OUT_FILE

One process, one loop: an OAuth 2.0 client-credentials token (form POST to
/api/oauth/token/), then POST /api/v3/organizations/ with offset/limit in
the JSON body, 100 records a page, until a short or empty page. Each page's
records are flattened into the 14 columns of schemas/organizations.toml with
the same types orgsync writes (string, date32, int64, list<string>, the
`official_industries` list kept as its JSON text, list<float64>, a UTC
timestamp in microseconds) and appended to per-column Python lists; every
10,000 records they become a pyarrow Table written as one zstd row group of
a Parquet file (bounded memory: the whole result is never held).

It does not retry, renew tokens, rate-limit, de-duplicate or validate types
beyond what pyarrow refuses: it is the lower bound of what a Python client
costs, not a replacement for orgsync. Concurrency 1 (one request in flight).
Prints the number of records written on stdout; benches/peers/driver.py
measures its CPU, peak RSS and wall time and reads the file back.
"""

import datetime
import json
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import requests

CLIENT_ID = "sandbox"
CLIENT_SECRET = "sandbox-secret"
PAGE_SIZE = 100
FLUSH_ROWS = 10_000

# The 14 paths of schemas/organizations.toml, as the API is asked for them.
FIELDS = [
    "business_id",
    "name",
    "founded",
    "legal_entity",
    "financial_data.revenue",
    "financial_data.employees",
    "financial_data.year",
    "financial_data.profit",
    "official_industries.code",
    "official_industries",
    "visiting_address.city",
    "visiting_address.coordinates",
    "technology_data.name",
    "modifications.basic",
]

SCHEMA = pa.schema(
    [
        ("business_id", pa.string()),
        ("name", pa.string()),
        ("founded", pa.date32()),
        ("legal_entity", pa.string()),
        ("revenue", pa.int64()),
        ("employees", pa.int64()),
        ("financial_year", pa.int64()),
        ("profit", pa.int64()),
        ("industry_codes", pa.list_(pa.string())),
        ("official_industries", pa.string()),
        ("city", pa.string()),
        ("coordinates", pa.list_(pa.float64())),
        ("technologies", pa.list_(pa.string())),
        ("modified_at", pa.timestamp("us", tz="UTC")),
    ]
)


def token(session, base_url):
    """An access token from the client-credentials grant."""
    resp = session.post(
        f"{base_url}/api/oauth/token/",
        data={
            "grant_type": "client_credentials",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "scope": "vainu:api",
        },
        timeout=121,
    )
    resp.raise_for_status()
    return resp.json()["access_token"]


def plucked(items, key):
    """`key` of every object in a list of objects (None when the list is)."""
    if items is None:
        return None
    return [item.get(key) for item in items]


def date_of(text):
    return None if text is None else datetime.date.fromisoformat(text)


def timestamp_of(text):
    if text is None:
        return None
    return datetime.datetime.fromisoformat(text).replace(tzinfo=datetime.timezone.utc)


def append(columns, record):
    """One record's 14 values, appended to the column lists."""
    fin = record.get("financial_data") or {}
    industries = record.get("official_industries")
    address = record.get("visiting_address") or {}
    modifications = record.get("modifications") or {}
    columns["business_id"].append(record.get("business_id"))
    columns["name"].append(record.get("name"))
    columns["founded"].append(date_of(record.get("founded")))
    columns["legal_entity"].append(record.get("legal_entity"))
    columns["revenue"].append(fin.get("revenue"))
    columns["employees"].append(fin.get("employees"))
    columns["financial_year"].append(fin.get("year"))
    columns["profit"].append(fin.get("profit"))
    columns["industry_codes"].append(plucked(industries, "code"))
    columns["official_industries"].append(
        None if industries is None else json.dumps(industries, ensure_ascii=False, separators=(",", ":"))
    )
    columns["city"].append(address.get("city"))
    columns["coordinates"].append(address.get("coordinates"))
    columns["technologies"].append(plucked(record.get("technology_data"), "name"))
    columns["modified_at"].append(timestamp_of(modifications.get("basic")))


def empty_columns():
    return {name: [] for name in SCHEMA.names}


def main():
    base_url, out_file = sys.argv[1], sys.argv[2]
    session = requests.Session()
    headers = {"Authorization": f"Bearer {token(session, base_url)}"}
    url = f"{base_url}/api/v3/organizations/"
    body = {"query": {"?ALL": []}, "database": "FI", "fields": FIELDS, "order": "business_id"}
    written = 0
    offset = 0
    columns = empty_columns()
    with pq.ParquetWriter(out_file, SCHEMA, compression="zstd") as writer:
        while True:
            resp = session.post(url, json={**body, "offset": offset, "limit": PAGE_SIZE}, headers=headers, timeout=121)
            resp.raise_for_status()
            page = resp.json()
            for record in page:
                append(columns, record)
            offset += len(page)
            if len(columns["business_id"]) >= FLUSH_ROWS or len(page) < PAGE_SIZE:
                if columns["business_id"]:
                    writer.write_table(pa.table(columns, schema=SCHEMA))
                    written += len(columns["business_id"])
                    columns = empty_columns()
            if len(page) < PAGE_SIZE:
                break
    print(written)


if __name__ == "__main__":
    main()
