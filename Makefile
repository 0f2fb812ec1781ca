# orgsync: the two commands a newcomer runs are `make run` and `make test`.
CARGO ?= cargo
BIN := target/debug/orgsync
RUN_OUT := out

.PHONY: all build run test fmt lint unit bench bench-decode bench-parsers bench-parquet bench-keyset bench-peers bench-peers-pgo release-pgo clean moto

all: build

build:
	$(CARGO) build

## Build, then run the example job against the built-in sandbox API.
run: build
	$(BIN) run --sandbox --overwrite --out-dir $(RUN_OUT) jobs/fi_software.toml

## fmt check + clippy (-D warnings) + every test; what CI runs.
test: fmt lint unit

fmt:
	$(CARGO) fmt --check

lint:
	$(CARGO) clippy --all-targets -- -D warnings

## moto's S3-compatible server for tests/s3.rs, in a venv under target/
## (idempotent: the stamp file is there once the install succeeded). Only
## the S3 backend and the server's own needs (flask, flask-cors), not
## moto[server] (every backend: about 320 MB and minutes to install, against
## 140 MB and ~35 s).
MOTO_VENV := target/venv-moto
MOTO_STAMP := $(MOTO_VENV)/.installed
moto: $(MOTO_STAMP)

$(MOTO_STAMP):
	python3 -m venv $(MOTO_VENV)
	$(MOTO_VENV)/bin/pip install --quiet --disable-pip-version-check 'moto[s3]>=5.1,<6' flask flask-cors
	touch $(MOTO_STAMP)

unit: $(MOTO_STAMP)
	$(CARGO) test --all-targets
	VAINU_CLIENT_ID=ci VAINU_CLIENT_SECRET=ci $(BIN) validate jobs/ benches/peers/orgsync.toml benches/pgo/jobs/

## Release build, then the benchmark harness (benches/pipeline) against `orgsync sandbox`
## as a separate process; ORGSYNC_BENCH_RUNS / _SIZES / _ONLY narrow it (see benches/pipeline/main.rs).
bench:
	$(CARGO) bench --bench pipeline

## In-process page decode -> zstd Parquet, records per CPU-second: today's Value path against
## the streaming PageDecoder and JSON Lines (benches/decode.rs); ORGSYNC_BENCH_RECORDS / _RUNS / _ONLY.
bench-decode:
	$(CARGO) bench --bench decode

## simd-json and sonic-rs against serde_json on bench-decode's pages (benches/parsers: a package
## of its own, so neither crate is orgsync's dependency). Opt-in; ORGSYNC_BENCH_RECORDS / _REPS.
PARSER_PAGES := target/parser-pages
bench-parsers:
	rm -rf $(PARSER_PAGES)
	ORGSYNC_BENCH_DUMP_PAGES=$(CURDIR)/$(PARSER_PAGES) $(CARGO) bench --bench decode
	$(CARGO) run --release --manifest-path benches/parsers/Cargo.toml --target-dir target/parsers -- $(PARSER_PAGES)

## In-process CPU of the Parquet write alone, one row per WriterProperties variant (the same
## decoded batches each time), with file size and row-group min/max: benches/parquet_write.rs;
## ORGSYNC_BENCH_RECORDS / _RUNS / _ONLY.
bench-parquet:
	$(CARGO) bench --bench parquet_write

## In-process cost of one de-duplication key (Dedup::keep_hash) against the all-in-memory set it
## replaced: ns per key and bytes per key; ORGSYNC_BENCH_KEYS / _RUNS / _ONLY (before,after).
bench-keyset:
	$(CARGO) bench --bench keyset

## orgsync against dlt's rest_api source and a plain Python loop (requests + pyarrow), side by
## side against one `orgsync sandbox`: benches/peers/driver.py. Opt-in (not part of `make test`).
## The peers go into a venv under target/ (idempotent: a stamp file marks a finished install);
## ORGSYNC_PEERS_RECORDS / _RUNS / _ONLY / _BIN narrow it (see benches/peers/driver.py).
PEERS_VENV := target/venv-peers
PEERS_STAMP := $(PEERS_VENV)/.installed
PEERS_PYTHON ?= python3

$(PEERS_STAMP):
	$(PEERS_PYTHON) -m venv $(PEERS_VENV)
	$(PEERS_VENV)/bin/pip install --quiet --disable-pip-version-check 'dlt[parquet]>=1.30,<2' 'pyarrow>=17,<27' 'requests>=2.32,<3'
	touch $(PEERS_STAMP)

bench-peers: $(PEERS_STAMP)
	$(CARGO) build --release
	$(PEERS_VENV)/bin/python benches/peers/driver.py

## A profile-guided (PGO) release build at target/pgo/orgsync: an instrumented build trained on
## five pulls from `orgsync sandbox`, then the optimized build (benches/pgo/build.sh; needs an
## llvm-profdata of LLVM 19 or newer, and installs rustup's llvm-tools when there is none; two
## release builds of time).
release-pgo:
	CARGO=$(CARGO) benches/pgo/build.sh

## bench-peers with the PGO build as one more tool (`orgsync-pgo`), interleaved with the others.
bench-peers-pgo: $(PEERS_STAMP) release-pgo
	ORGSYNC_PEERS_PGO_BIN=$(CURDIR)/target/pgo/orgsync $(PEERS_VENV)/bin/python benches/peers/driver.py

clean:
	$(CARGO) clean
	rm -rf $(RUN_OUT)
