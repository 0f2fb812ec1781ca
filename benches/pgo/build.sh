#!/usr/bin/env bash
# `make release-pgo`: a profile-guided (PGO) release build of orgsync, at
# target/pgo/orgsync. The plain `cargo build --release` stays as it is.
#
#   1. target/release/orgsync (the plain release build): the sandbox the
#      training pulls from, so the sandbox's own code (the same binary's
#      `sandbox` command, which shares tokio, hyper and serde_json with the
#      client) does not count in the profile;
#   2. an instrumented build (target/pgo/gen, -Cprofile-generate);
#   3. training: the instrumented binary runs five pulls against that
#      sandbox (50,000 records each), every hot path a user's run takes:
#      benches/peers/orgsync.toml (zstd Parquet with `key`, one request in
#      flight) and the variants of it in benches/pgo/jobs/ (Parquet without
#      `key` eight in flight, CSV and JSON Lines with zstd, an export-mode
#      pull: the JSON Lines download). `make test` validates those job files;
#   4. llvm-profdata merges the raw profiles (target/pgo/orgsync.profdata);
#   5. the PGO build (target/pgo/use, -Cprofile-use), copied to
#      target/pgo/orgsync.
#
# Needs an llvm-profdata that reads rustc's raw profiles (LLVM 19 or newer;
# rustc 1.95 is LLVM 22). In order: LLVM_PROFDATA; rustup's llvm-tools
# component (the same LLVM as rustc); llvm-profdata-22 down to -19 (Debian
# 12: `apt-get install llvm-19`); else, with rustup, it installs llvm-tools
# (`rustup component add llvm-tools`). About two release builds of time
# (14-17 min on 2 vCPUs). Exit 2 when no llvm-profdata can be had, 1 when a
# step fails.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PGO=$ROOT/target/pgo
CARGO=${CARGO:-cargo}
RECORDS=${ORGSYNC_PGO_RECORDS:-50000}

rustup_profdata="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin/llvm-profdata"
profdata=${LLVM_PROFDATA:-}
if [ -z "$profdata" ]; then
    for candidate in "$rustup_profdata" llvm-profdata-22 llvm-profdata-21 llvm-profdata-20 llvm-profdata-19; do
        if command -v "$candidate" > /dev/null 2>&1; then
            profdata=$candidate
            break
        fi
    done
fi
if [ -z "$profdata" ] && command -v rustup > /dev/null 2>&1; then
    echo "release-pgo: no llvm-profdata found; installing rustup's llvm-tools (rustup component add llvm-tools)"
    if rustup component add llvm-tools && [ -x "$rustup_profdata" ]; then
        profdata=$rustup_profdata
    fi
fi
if [ -z "$profdata" ]; then
    echo "release-pgo: no llvm-profdata 19 or newer found: install one (rustup component add llvm-tools," >&2
    echo "or Debian: apt-get install llvm-19), or set LLVM_PROFDATA to its path" >&2
    exit 2
fi

echo "release-pgo: 1/5 the plain release build (the training's sandbox)"
"$CARGO" build --release --bin orgsync

echo "release-pgo: 2/5 the instrumented build (target/pgo/gen)"
RUSTFLAGS="${RUSTFLAGS:-} -Cprofile-generate=$PGO/raw" \
    "$CARGO" build --release --target-dir "$PGO/gen" --bin orgsync
# Build scripts and proc macros of that build wrote profiles too: only the
# training's count.
rm -rf "$PGO/raw" "$PGO/train"
mkdir -p "$PGO/train"

echo "release-pgo: 3/5 training against the sandbox ($RECORDS records)"
sandbox_log=$PGO/train/sandbox.log
"$ROOT/target/release/orgsync" sandbox --port 0 --records "$RECORDS" -q > "$sandbox_log" 2>&1 &
sandbox_pid=$!
trap 'kill "$sandbox_pid" 2> /dev/null || true' EXIT
url=
for _ in $(seq 100); do
    url=$(grep -o 'http://127.0.0.1:[0-9]*' "$sandbox_log" | head -1 || true)
    [ -n "$url" ] && break
    sleep 0.1
done
if [ -z "$url" ]; then
    echo "release-pgo: the sandbox did not print its URL: $(cat "$sandbox_log")" >&2
    exit 1
fi

for job in "$ROOT"/benches/peers/orgsync.toml "$ROOT"/benches/pgo/jobs/*.toml; do
    echo "release-pgo:   $(basename "$job" .toml)"
    (cd "$PGO/train" && ORGSYNC_BASE_URL=$url VAINU_CLIENT_ID=sandbox VAINU_CLIENT_SECRET=sandbox-secret \
        "$PGO/gen/release/orgsync" run -q --overwrite --out-dir "$PGO/train/out" "$job")
done
kill "$sandbox_pid" 2> /dev/null || true
trap - EXIT

echo "release-pgo: 4/5 merging the profiles ($profdata)"
if ! "$profdata" merge -o "$PGO/orgsync.profdata" "$PGO/raw"; then
    echo "release-pgo: $profdata could not merge rustc's profiles (rustc: $(rustc -vV | grep LLVM));" >&2
    echo "use an llvm-profdata at least as new as LLVM 19 (LLVM_PROFDATA=...)" >&2
    exit 1
fi

echo "release-pgo: 5/5 the PGO build (target/pgo/use)"
RUSTFLAGS="${RUSTFLAGS:-} -Cprofile-use=$PGO/orgsync.profdata" \
    "$CARGO" build --release --target-dir "$PGO/use" --bin orgsync
cp "$PGO/use/release/orgsync" "$PGO/orgsync"
echo "release-pgo: target/pgo/orgsync"
