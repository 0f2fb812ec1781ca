"""The dlt peer of `make bench-peers`: dlt's `rest_api` source against the sandbox.

    dlt_pipeline.py BASE_URL WORK_DIR

The pull is the one benches/peers/orgsync.toml and plain_loop.py make: every
FI organization ({"?ALL": []}), ordered by business_id, the 14 paths of
schemas/organizations.toml, pages of 100. dlt's way:

- auth: `OAuth2ClientCredentials` against the sandbox's token endpoint
  (/api/oauth/token/, client id and secret as form fields; the sandbox answers
  with `access_token` and `expires_in`, the shape dlt expects, so nothing
  needed adapting);
- paging: `OffsetPaginator` putting `offset` and `limit` into the JSON body
  of a POST (`offset_body_path` / `limit_body_path`); the sandbox sends a bare
  array with no total, so `total_path=None` and the paginator stops after an
  empty page (one request more than orgsync and the plain loop make);
- destination: `filesystem` on a local folder under WORK_DIR, loader file
  format Parquet, compressed with zstd like the others (dlt's default is
  snappy; NORMALIZE__DATA_WRITER__COMPRESSION below switches it; the files'
  column chunks read back as ZSTD); its intermediate extract files are
  gzip-compressed (dlt's default, left on).

dlt's defaults otherwise: nested objects are flattened into columns
(`financial_data__revenue`), lists of objects go to child tables
(`organizations__official_industries`, ...) with `_dlt_id`/`_dlt_parent_id`,
and types are inferred. It does not reproduce orgsync's exact column types
(no `json` column, no list columns): it is what a dlt user gets for this pull.
Extract, normalize and load run in this one process (normalize with one
worker, dlt's default); telemetry is off (the bench makes no outside
connection). Concurrency 1: rest_api pages one resource sequentially.

Prints the number of rows in the `organizations` table on stdout;
benches/peers/driver.py measures this process and reads the Parquet back.
"""

import os
import sys

# Before dlt is imported: no telemetry, quiet, all state under WORK_DIR.
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")
# Parquet written by dlt's normalizer: zstd, as orgsync and the plain loop.
os.environ.setdefault("NORMALIZE__DATA_WRITER__COMPRESSION", "zstd")

import dlt  # noqa: E402
from dlt.sources.helpers.rest_client.auth import OAuth2ClientCredentials  # noqa: E402
from dlt.sources.helpers.rest_client.paginators import OffsetPaginator  # noqa: E402
from dlt.sources.rest_api import rest_api_source  # noqa: E402

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


def source(base_url):
    """The rest_api source: one resource, `organizations`."""
    return rest_api_source(
        {
            "client": {
                "base_url": f"{base_url}/",
                "auth": OAuth2ClientCredentials(
                    access_token_url=f"{base_url}/api/oauth/token/",
                    client_id="sandbox",
                    client_secret="sandbox-secret",
                    access_token_request_data={"scope": "vainu:api"},
                ),
                "paginator": OffsetPaginator(
                    limit=100,
                    offset=0,
                    offset_body_path="offset",
                    limit_body_path="limit",
                    total_path=None,
                    stop_after_empty_page=True,
                ),
            },
            "resources": [
                {
                    "name": "organizations",
                    "write_disposition": "replace",
                    "endpoint": {
                        "path": "api/v3/organizations/",
                        "method": "POST",
                        "json": {
                            "query": {"?ALL": []},
                            "database": "FI",
                            "fields": FIELDS,
                            "order": "business_id",
                        },
                        "data_selector": "$",
                    },
                }
            ],
        }
    )


def main():
    base_url, work_dir = sys.argv[1], sys.argv[2]
    pipeline = dlt.pipeline(
        pipeline_name="peers",
        pipelines_dir=os.path.join(work_dir, "pipelines"),
        destination=dlt.destinations.filesystem(bucket_url="file://" + os.path.join(work_dir, "out")),
        dataset_name="vainu",
    )
    pipeline.run(source(base_url), loader_file_format="parquet")
    rows = pipeline.last_trace.last_normalize_info.row_counts.get("organizations", 0)
    print(rows)


if __name__ == "__main__":
    main()
