"""`make bench-peers`: orgsync, dlt and a plain Python loop, side by side, against one sandbox.

    target/venv-peers/bin/python benches/peers/driver.py      (what `make bench-peers` runs)

Starts ONE `orgsync sandbox` (the release build) with ORGSYNC_PEERS_RECORDS
organizations (default 100000), then runs the same pull with each tool,
interleaved (orgsync, dlt, plain, orgsync, dlt, plain, ...) ORGSYNC_PEERS_RUNS
times each (default 3):

- orgsync: `orgsync run` with benches/peers/orgsync.toml (zstd Parquet into a
  temp folder);
- dlt: benches/peers/dlt_pipeline.py (rest_api source, OAuth2ClientCredentials,
  OffsetPaginator in the JSON body, filesystem destination, Parquet);
- plain: benches/peers/plain_loop.py (requests + pyarrow, zstd Parquet).

Each tool runs as a child process under /usr/bin/time (user + sys CPU of it
and every descendant it waited for, and its peak RSS; not os.wait4 on the
driver's own child, whose peak RSS would include the driver's), wall time is
measured around it. After each run the Parquet it wrote is read back: the
number of rows and of distinct business_ids must both equal the record
count, or the benchmark stops with an error (exit 1). It prints one line per
run, then a Markdown table of medians (and each tool's CPU range) with its ratios to orgsync,
and the versions of everything measured.

Knobs (environment): ORGSYNC_PEERS_RECORDS, ORGSYNC_PEERS_RUNS,
ORGSYNC_PEERS_ONLY (comma list of orgsync,orgsync-pgo,dlt,plain), ORGSYNC_PEERS_BIN
(the orgsync binary; default target/release/orgsync: set it to an older
build to measure that one), ORGSYNC_PEERS_PGO_BIN (a second orgsync
binary, run as one more tool, `orgsync-pgo`, interleaved with the others:
`make release-pgo` builds target/pgo/orgsync, and `make bench-peers-pgo`
sets it), ORGSYNC_PEERS_CONCURRENCY (comma list of requests in flight for
orgsync, default "1,4": each orgsync build runs once per value and round;
1 is the job file as it is, like the peers' one request at a time, shown as
`orgsync`; another value N runs a copy of it with `concurrency = N`, shown
as `orgsync@N`; 4 is a job's default). The sandbox itself always runs from
ORGSYNC_PEERS_SANDBOX_BIN (default: the ORGSYNC_PEERS_BIN binary).

It measures; it does not judge beyond printing whether dlt / orgsync CPU
reaches the issue's 50x. It never touches the network beyond 127.0.0.1.
"""

import datetime
import glob
import importlib.metadata
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TOOLS = ("orgsync", "orgsync-pgo", "dlt", "plain")
JOB = os.path.join(HERE, "orgsync.toml")
TIME = "/usr/bin/time"  # GNU time (Debian/Ubuntu package `time`)


class BenchError(Exception):
    """A run failed or wrote the wrong records: the benchmark's numbers would be meaningless."""


def whole(name, text):
    """`text` as a whole number >= 1, or a BenchError naming the knob."""
    try:
        value = int(text.strip())
    except ValueError:
        raise BenchError(f"{name}: {text.strip()!r} is not a whole number") from None
    if value < 1:
        raise BenchError(f"{name}: {text.strip()!r} must be at least 1")
    return value


def env_int(name, default):
    text = os.environ.get(name, "")
    return whole(name, text) if text else default


def env_list_int(name, default):
    """A comma list of whole numbers >= 1 (duplicates dropped, order kept)."""
    values = []
    for part in (os.environ.get(name, "") or default).split(","):
        value = whole(name, part)
        if value not in values:
            values.append(value)
    return values


def proc_cpu(pid):
    """User + system CPU seconds a live process has used (from /proc)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


class Sandbox:
    """One `orgsync sandbox --port 0` child; its URL is read from its first line."""

    def __init__(self, binary, records):
        self.log = tempfile.NamedTemporaryFile(prefix="orgsync-peers-sandbox-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(
            [binary, "sandbox", "--port", "0", "--records", str(records), "-q"],
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        line = self.proc.stdout.readline()
        urls = [w for w in line.split() if w.startswith("http://")]
        if not urls:
            self.stop()
            raise BenchError(f"{binary} sandbox did not print its URL (got {line!r})")
        self.url = urls[0].rstrip("/")

    def health(self):
        """'' while the sandbox runs; else how it ended and its stderr's tail (to explain a failed run)."""
        if self.proc.poll() is None:
            return ""
        with open(self.log.name, encoding="utf-8", errors="replace") as f:
            tail = f.read()[-2000:]
        return f"\nthe sandbox (pid {self.proc.pid}) is gone: exit status {self.proc.returncode}; its stderr: {tail!r}"

    def cpu(self):
        return proc_cpu(self.proc.pid)

    def warm_up(self, records):
        """Token, then the first and last page, so no tool pays for the sandbox's first query."""
        form = b"grant_type=client_credentials&client_id=sandbox&client_secret=sandbox-secret"
        with urllib.request.urlopen(f"{self.url}/api/oauth/token/", data=form, timeout=60) as r:
            access = json.load(r)["access_token"]
        for offset in (0, max(records - 100, 0)):
            body = json.dumps(
                {"query": {"?ALL": []}, "database": "FI", "order": "business_id", "offset": offset, "limit": 100}
            ).encode()
            req = urllib.request.Request(
                f"{self.url}/api/v3/organizations/",
                data=body,
                headers={"Authorization": f"Bearer {access}", "Content-Type": "application/json"},
            )
            with urllib.request.urlopen(req, timeout=120) as r:
                r.read()

    def stop(self):
        self.log.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        os.unlink(self.log.name)


def job_concurrency(text):
    """The `concurrency = N` of the peers' job file's text."""
    found = re.findall(r"(?m)^concurrency = (\d+)[ \t]*$", text)
    if len(found) != 1:
        raise BenchError(f"{JOB}: expected one `concurrency = N` line, found {len(found)}")
    return int(found[0])


def job_at(concurrency, work):
    """The peers' job file, or (another concurrency) a copy of it in `work`
    with only `concurrency` changed and the schema path made absolute."""
    with open(JOB, encoding="utf-8") as f:
        text = f.read()
    if concurrency == job_concurrency(text):
        return JOB
    text = re.sub(r"(?m)^concurrency = \d+[ \t]*$", f"concurrency = {concurrency}", text)
    text, n = re.subn(
        r'(?m)^schema = "([^"]+)"',
        lambda m: f"schema = {json.dumps(os.path.normpath(os.path.join(HERE, m.group(1))))}",
        text,
    )
    if n != 1:
        raise BenchError(f"{JOB}: expected one `schema = \"...\"` line, found {n}")
    path = os.path.join(work, f"orgsync-concurrency-{concurrency}.toml")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def label(build, concurrency):
    """A run's name in the output: the build, and `@N` unless one request is in flight."""
    return build if concurrency == 1 else f"{build}@{concurrency}"


def command(tool, binary, url, work, concurrency=1):
    """The child command line and its extra environment for one run of `tool`."""
    py = sys.executable
    if tool.startswith("orgsync"):
        job = job_at(concurrency, work)
        env = {"ORGSYNC_BASE_URL": url, "VAINU_CLIENT_ID": "sandbox", "VAINU_CLIENT_SECRET": "sandbox-secret"}
        return [binary, "run", "-q", "--overwrite", "--out-dir", work, job], env
    if tool == "dlt":
        return [py, os.path.join(HERE, "dlt_pipeline.py"), url, work], {"DLT_DATA_DIR": os.path.join(work, "dlt-home")}
    return [py, os.path.join(HERE, "plain_loop.py"), url, os.path.join(work, "plain.parquet")], {}


def parquet_files(tool, work):
    """The Parquet files holding one row per organization for `tool`'s run in `work`."""
    if tool.startswith("orgsync"):
        pattern = os.path.join(work, "orgsync", "part-*.parquet")
    elif tool == "dlt":
        # filesystem destination: <bucket>/<dataset>/<table>/<load_id>.<file_id>.parquet
        pattern = os.path.join(work, "out", "vainu", "organizations", "*.parquet")
    else:
        pattern = os.path.join(work, "plain.parquet")
    return sorted(glob.glob(pattern))


def check_written(tool, work, records):
    """Reads the run's Parquet back; raises unless rows == distinct business_ids == records."""
    files = parquet_files(tool, work)
    if not files:
        raise BenchError(f"{tool} wrote no Parquet file under {work}")
    ids = [pq.read_table(f, columns=["business_id"]).column("business_id") for f in files]
    rows = sum(len(c) for c in ids)
    distinct = len(pc.unique(pc.drop_null(pa.chunked_array([a for c in ids for a in c.chunks], pa.string()))))
    if rows != records or distinct != records:
        raise BenchError(
            f"{tool} wrote {rows} rows with {distinct} distinct business_ids in {len(files)} file(s) "
            f"under {work}, expected {records}: its numbers would not be comparable"
        )
    return rows, sum(os.path.getsize(f) for f in files)


def read_usage(path):
    """/usr/bin/time's "%U %S %M %e" line: user s, system s, peak RSS KiB."""
    try:
        with open(path, encoding="utf-8") as f:
            fields = f.read().split("\n")[-2].split()
        return float(fields[0]), float(fields[1]), float(fields[2])
    except (OSError, IndexError, ValueError) as e:
        raise BenchError(f"cannot read {TIME}'s usage line from {path}: {e}") from None


def run_once(tool, binary, sandbox, records, keep_tables, concurrency=1):
    """One measured run of `tool` (orgsync with `concurrency` requests in
    flight); returns its numbers. If `tool` is a key of `keep_tables`, the
    table it wrote is put there (read after the measurement)."""
    with tempfile.TemporaryDirectory(prefix=f"orgsync-peers-{tool}-") as work:
        argv, extra = command(tool, binary, sandbox.url, work, concurrency)
        env = {k: v for k, v in os.environ.items() if k != "RUST_LOG"}
        env.update(extra)
        log_path = os.path.join(work, "stderr.log")
        sandbox_cpu0 = sandbox.cpu()
        # Through /usr/bin/time, not os.wait4 on our own child: a child forked (vfork) from this
        # driver inherits the driver's peak RSS (Linux carries the old mm's high-water mark
        # across exec), which put a ~65-180 MiB floor under every measurement. time's own
        # child starts from time's ~1 MiB.
        usage_path = os.path.join(work, "usage.txt")
        timed = [TIME, "-o", usage_path, "-f", "%U %S %M %e", *argv]
        with open(log_path, "wb") as log, open(os.path.join(work, "stdout.log"), "wb") as out:
            started = time.monotonic()
            child = subprocess.run(timed, stdout=out, stderr=log, cwd=work, env=env, check=False)
            wall = time.monotonic() - started
        sandbox_cpu = sandbox.cpu() - sandbox_cpu0
        if child.returncode != 0:
            with open(log_path, encoding="utf-8", errors="replace") as f:
                tail = f.read()[-3000:]
            raise BenchError(f"{tool} exited {child.returncode}: {' '.join(argv)}\n{tail}{sandbox.health()}")
        user, system, maxrss_kib = read_usage(usage_path)
        rows, size = check_written(tool, work, records)
        if tool in keep_tables:
            keep_tables[tool] = pa.concat_tables(pq.read_table(f) for f in parquet_files(tool, work))
    return {
        "cpu": user + system,
        "user": user,
        "sys": system,
        "rss_mib": maxrss_kib / 1024,
        "wall": wall,
        "rows": rows,
        "bytes": size,
        "sandbox_cpu": sandbox_cpu,
    }


def same_data(orgsync, plain):
    """Whether the plain loop wrote the very table orgsync wrote (it should: same columns and types)."""
    try:
        theirs = orgsync.cast(plain.schema)  # orgsync's business_id is non-nullable, list items named "item"
    except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError) as e:
        return f"note: the plain loop's columns differ from orgsync's ({e})"
    if theirs.equals(plain):
        return "check: the plain loop's first Parquet holds exactly orgsync's first table (rows, values, types)"
    differ = [n for n in plain.column_names if not theirs[n].equals(plain[n])]
    return f"note: the plain loop's table differs from orgsync's in columns {differ}: not like for like"


def cpu_model():
    """The CPU's model name, family and model (/proc/cpuinfo): the ratios
    between tools depend on it, so the output names it."""
    fields = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        return "CPU model unknown"
    name = fields.get("model name", "CPU model unknown")
    if "cpu family" in fields and "model" in fields:
        return f"{name}, family {fields['cpu family']}, model {fields['model']}"
    return name


def versions(binary, pgo_binary):
    """Tool name -> version text, and the environment line."""
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False).stdout.split()
    orgsync = out[-1] if out else "?"
    commit = subprocess.run(
        ["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    if commit:
        orgsync += f" ({commit})"
    v = importlib.metadata.version
    py = platform.python_version()
    return {
        "orgsync": orgsync,
        "orgsync-pgo": f"{orgsync}, PGO ({os.path.relpath(pgo_binary, ROOT)})" if pgo_binary else "-",
        "dlt": f"dlt {v('dlt')}",
        "plain": f"requests {v('requests')} + pyarrow {v('pyarrow')}",
        "all": f"orgsync {orgsync}; dlt {v('dlt')}; pyarrow {v('pyarrow')}; requests {v('requests')}; Python {py}",
    }


def table(results, records, vers, tools):
    """The Markdown table of medians, ratios against the first orgsync run
    (`orgsync`, one request in flight, unless it did not run)."""
    med = {t: {k: statistics.median(r[k] for r in results[t]) for k in results[t][0]} for t in tools}
    base = next((med[t] for t in tools if t.startswith("orgsync")), None)
    lines = [
        "| tool | version | records | CPU-s (median) | CPU-s (min-max) | records / CPU-s | peak RSS MiB (median) "
        "| wall s (median) | CPU vs orgsync | RSS vs orgsync | wall vs orgsync | sandbox CPU-s (median) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for t in tools:
        m = med[t]
        spread = f"{min(r['cpu'] for r in results[t]):.2f}-{max(r['cpu'] for r in results[t]):.2f}"

        def ratio(key, m=m):
            return f"{m[key] / base[key]:.1f}x" if base and base[key] > 0 else "-"

        lines.append(
            f"| {t} | {vers[t]} | {records:,} | {m['cpu']:.2f} | {spread} | {records / m['cpu']:,.0f} | {m['rss_mib']:.1f} "
            f"| {m['wall']:.2f} | {ratio('cpu')} | {ratio('rss_mib')} | {ratio('wall')} | {m['sandbox_cpu']:.2f} |"
        )
    return "\n".join(lines), med


def main():
    records = env_int("ORGSYNC_PEERS_RECORDS", 100_000)
    runs = env_int("ORGSYNC_PEERS_RUNS", 3)
    pgo = os.environ.get("ORGSYNC_PEERS_PGO_BIN")
    pgo_binary = os.path.abspath(pgo) if pgo else None
    default_only = [t for t in TOOLS if t != "orgsync-pgo" or pgo_binary]
    only = [t.strip() for t in os.environ.get("ORGSYNC_PEERS_ONLY", ",".join(default_only)).split(",") if t.strip()]
    unknown = [t for t in only if t not in TOOLS]
    if unknown or not only:
        raise BenchError(f"ORGSYNC_PEERS_ONLY: unknown tool(s) {unknown}; choose from {', '.join(TOOLS)}")
    if "orgsync-pgo" in only and not pgo_binary:
        raise BenchError("ORGSYNC_PEERS_ONLY names orgsync-pgo: set ORGSYNC_PEERS_PGO_BIN (make release-pgo builds one)")
    tools = [t for t in TOOLS if t in only]
    concurrencies = env_list_int("ORGSYNC_PEERS_CONCURRENCY", "1,4")
    # (name in the output, tool, requests in flight): every orgsync build at every concurrency.
    plan = [
        (label(t, c) if t.startswith("orgsync") else t, t, c)
        for t in tools
        for c in (concurrencies if t.startswith("orgsync") else [1])
    ]
    binary = os.path.abspath(os.environ.get("ORGSYNC_PEERS_BIN") or os.path.join(ROOT, "target", "release", "orgsync"))
    sandbox_bin = os.path.abspath(os.environ.get("ORGSYNC_PEERS_SANDBOX_BIN") or binary)
    binaries = {t: (pgo_binary if t == "orgsync-pgo" else binary) for t in tools}
    for b in {binary, sandbox_bin}:
        if not os.access(b, os.X_OK):
            raise BenchError(f"{b} is not an executable orgsync: run `cargo build --release` (make bench-peers does)")
    if "orgsync-pgo" in tools and not os.access(pgo_binary, os.X_OK):
        raise BenchError(f"{pgo_binary} is not an executable orgsync: run `make release-pgo` (make bench-peers-pgo does)")
    if not os.access(TIME, os.X_OK):
        raise BenchError(f"{TIME} (GNU time) is missing: install it (apt-get install time)")
    vers = versions(binary, pgo_binary)
    for name, t, c in plan:
        vers[name] = vers[t] if c == 1 else f"{vers[t]}, concurrency {c}"
    names = [name for name, _, _ in plan]
    print(
        f"bench-peers: {records:,} records, {runs} interleaved runs of {', '.join(names)}; "
        f"{os.cpu_count()} CPUs ({cpu_model()}), load average {os.getloadavg()[0]:.1f} at start; "
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        flush=True,
    )
    sandbox = Sandbox(sandbox_bin, records)
    results = {name: [] for name in names}
    tables = {}
    try:
        sandbox.warm_up(records)
        print(f"sandbox {sandbox.url} (pid {sandbox.proc.pid})", flush=True)
        # The first orgsync run of the default build, and the plain loop's, keep their tables.
        kept = {next((name for name, t, _ in plan if t == "orgsync"), None), "plain"}
        for i in range(runs):
            for name, t, c in plan:
                keep = {t: None} if i == 0 and name in kept else {}
                r = run_once(t, binaries[t], sandbox, records, keep, c)
                tables.update(keep)
                results[name].append(r)
                print(
                    f"run {i + 1}/{runs} {name:13} cpu {r['cpu']:7.2f} s (user {r['user']:.2f} sys {r['sys']:.2f}) "
                    f"rss {r['rss_mib']:7.1f} MiB wall {r['wall']:7.2f} s rows {r['rows']:,} "
                    f"parquet {r['bytes'] / 2**20:.1f} MiB sandbox cpu {r['sandbox_cpu']:.2f} s",
                    flush=True,
                )
    finally:
        sandbox.stop()
    if "orgsync" in tables and "plain" in tables:
        print(same_data(tables["orgsync"], tables["plain"]))
    text, med = table(results, records, vers, names)
    print()
    print(text)
    print()
    print(f"versions: {vers['all']}; load average {os.getloadavg()[0]:.1f} at the end")
    for name, t, c in plan:
        if t.startswith("orgsync") and "dlt" in med:
            r = med["dlt"]["cpu"] / med[name]["cpu"]
            print(
                f"dlt / {name} client CPU: {r:.1f}x (issue 10's target: >= 50x): {'met' if r >= 50 else 'not met'}"
                f" ({'one request' if c == 1 else f'{c} requests'} in flight)"
            )


if __name__ == "__main__":
    try:
        main()
    except (BenchError, OSError) as e:
        print(f"bench-peers: {e}", file=sys.stderr)
        sys.exit(1)
