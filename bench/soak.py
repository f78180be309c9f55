#!/usr/bin/env python3
"""A bounded soak run (issue 12 item 10): one `tracebucket serve` on the local-folder default takes
OTLP/HTTP JSON at a fixed rate while a query mix runs beside it, and is killed with SIGKILL and
restarted every few minutes. It reports errors by kind, the server's RSS over time, restart times,
query latencies, and what was acknowledged against what is stored.

  bench/soak.py --binary build/tracebucket [--minutes 30] [--rate 1000] [--kill-every 300]

Ingest: batches of --batch spans (traces of 1-9 spans with random IDs, 4 services), each sent until
it is acknowledged, as an OTLP exporter with retries does: a refused batch (connection refused while
the server restarts, 429/503) is sent again after a back-off; any other answer is an error. Each
acknowledged trace is remembered with its span count.
Queries, one every --query-every seconds, in turn: services, a search (service, 15 min, depth 20),
and a trace by ID of a trace acknowledged earlier, which must hold every acknowledged span (the head
is queryable at once and the WAL replays what a kill cut off).
At the end: POST /admin/flush and /admin/compact, then every block's span count from /admin/blocks
against the acknowledged spans, and --verify random acknowledged traces read back whole.
The standard library only, so that it runs anywhere the server does.
"""
import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

SERVICES = ["frontend", "checkout", "cart", "payment"]
OPERATIONS = ["GET /", "POST /cart", "charge", "query", "render"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, timeout=30):
    """(status, body bytes); status 0 when the connection failed."""
    req = urllib.request.Request(url, data=body, method=method)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (urllib.error.URLError, ConnectionError, socket.timeout, TimeoutError):
        return 0, b""


class Server:
    def __init__(self, binary, data_dir, log):
        self.binary, self.data_dir, self.log = binary, data_dir, log
        self.http_port, self.grpc_port = free_port(), free_port()
        self.base = f"http://127.0.0.1:{self.http_port}"
        self.proc = None
        self.env = dict(os.environ)
        # Blocks every 30 s and compaction every 20 s, so that a 30-minute run flushes, merges and
        # deletes many times; retired blocks are deleted 30 s after they leave the list.
        self.env.update({
            "TRACEBUCKET_FLUSH_AGE_SECONDS": "30",
            "TRACEBUCKET_COMPACTION_INTERVAL": "20s",
            "TRACEBUCKET_COMPACTION_GRACE_PERIOD": "30s",
        })

    def start(self):
        t0 = time.monotonic()
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--data-dir", self.data_dir, "--http-listen", f"127.0.0.1:{self.http_port}",
             "--grpc-listen", f"127.0.0.1:{self.grpc_port}", "--log-level", "warn"],
            env=self.env, stdout=self.log, stderr=self.log)
        while time.monotonic() - t0 < 120:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode} while starting")
            if http("GET", self.base + "/ready", timeout=2)[0] == 200:
                return time.monotonic() - t0
            time.sleep(0.05)
        raise RuntimeError("server not ready after 120 s")

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def rss_mib(self):
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            pass
        return None


def make_batch(rng, spans):
    """An OTLP/JSON body of about `spans` spans and its traces as {trace id hex: span count}."""
    now = time.time_ns()
    by_service = {s: [] for s in SERVICES}
    traces = {}
    left = spans
    while left > 0:
        n = min(left, rng.randint(1, 9))
        left -= n
        trace_id = "%032x" % rng.getrandbits(128)
        traces[trace_id] = n
        root = None
        for i in range(n):
            span_id = "%016x" % rng.getrandbits(64)
            start = now - rng.randint(0, 5_000_000_000)
            span = {
                "traceId": trace_id, "spanId": span_id, "name": rng.choice(OPERATIONS), "kind": 2,
                "startTimeUnixNano": str(start), "endTimeUnixNano": str(start + rng.randint(1_000, 900_000_000)),
                "attributes": [{"key": "http.status_code", "value": {"intValue": str(rng.choice([200, 200, 404, 500]))}},
                               {"key": "request.id", "value": {"stringValue": "%x" % rng.getrandbits(64)}}],
            }
            if root is not None:
                span["parentSpanId"] = root
            else:
                root = span_id
            by_service[SERVICES[(int(trace_id[:8], 16) + i) % len(SERVICES)]].append(span)
    body = {"resourceSpans": [
        {"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": svc}}]},
         "scopeSpans": [{"scope": {"name": "soak"}, "spans": s}]}
        for svc, s in by_service.items() if s]}
    return json.dumps(body).encode(), traces


class Soak:
    def __init__(self, args, server):
        self.args, self.server = args, server
        self.lock = threading.Lock()
        self.acked = {}           # trace id hex -> spans acknowledged
        self.acked_spans = 0
        self.errors = {}          # kind -> count
        self.refused = {}         # retried answers: status -> count
        self.query_ms = {"services": [], "search": [], "trace": []}
        self.rss = []             # (minute, MiB)
        self.restarts = []        # seconds to /ready after a SIGKILL
        self.stop = threading.Event()
        self.down = threading.Event()  # set while the server is being killed and restarted

    def error(self, kind):
        with self.lock:
            self.errors[kind] = self.errors.get(kind, 0) + 1

    def ingest(self):
        rng = random.Random(self.args.seed)
        interval = self.args.batch / self.args.rate
        next_at = time.monotonic()
        while not self.stop.is_set():
            body, traces = make_batch(rng, self.args.batch)
            backoff = 0.1
            while True:
                status, answer = http("POST", self.server.base + "/v1/traces", body)
                if status == 200:
                    rejected = json.loads(answer or b"{}").get("partialSuccess", {}).get("rejectedSpans", 0)
                    if int(rejected or 0) != 0:
                        self.error("partial success: spans rejected")
                    break
                with self.lock:
                    self.refused[status] = self.refused.get(status, 0) + 1
                if status not in (0, 429, 503):
                    self.error(f"ingest answered {status}: {answer[:200]!r}")
                    break
                time.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
            if status == 200:
                with self.lock:
                    self.acked.update(traces)
                    self.acked_spans += sum(traces.values())
            next_at += interval
            time.sleep(max(0.0, next_at - time.monotonic()))

    def query(self):
        rng = random.Random(self.args.seed + 1)
        turn = 0
        while not self.stop.wait(self.args.query_every):
            if self.down.is_set():
                continue
            kind = ("services", "search", "trace")[turn % 3]
            turn += 1
            if kind == "services":
                url = self.server.base + "/api/services"
            elif kind == "search":
                url = self.server.base + f"/api/traces?service={rng.choice(SERVICES)}&lookback=15m&limit=20"
            else:
                with self.lock:
                    if not self.acked:
                        continue
                    trace_id = rng.choice(list(self.acked.keys())[-5000:])
                    want = self.acked[trace_id]
                url = self.server.base + f"/api/traces/{trace_id}"
            t0 = time.monotonic()
            status, body = http("GET", url)
            ms = (time.monotonic() - t0) * 1000
            if self.down.is_set():
                continue  # killed under it: not the query's fault
            if status != 200:
                self.error(f"query {kind} answered {status}")
                continue
            self.query_ms[kind].append(ms)
            if kind == "trace":
                data = json.loads(body).get("data") or [{"spans": []}]
                got = {s["spanID"] for s in data[0]["spans"]}
                if len(got) < want:
                    self.error("trace by ID missing acknowledged spans")

    def run(self):
        restart = self.server.start()
        threads = [threading.Thread(target=self.ingest), threading.Thread(target=self.query)]
        for t in threads:
            t.start()
        t0 = time.monotonic()
        next_kill = t0 + self.args.kill_every
        next_sample = t0
        end = t0 + self.args.minutes * 60
        while time.monotonic() < end:
            now = time.monotonic()
            if now >= next_sample:
                rss = self.server.rss_mib()
                if rss is not None:
                    self.rss.append(((now - t0) / 60, rss))
                next_sample += 10
            if now >= next_kill:
                self.down.set()
                self.server.kill9()
                self.restarts.append(self.server.start())
                self.down.clear()
                print(f"{(now - t0) / 60:5.1f} min: killed -9, ready again in {self.restarts[-1]:.2f} s; "
                      f"{self.acked_spans} spans acknowledged", file=sys.stderr, flush=True)
                next_kill += self.args.kill_every
            time.sleep(0.2)
        self.stop.set()
        for t in threads:
            t.join()
        return restart


def pct(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", required=True)
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--rate", type=float, default=1000, help="spans per second offered")
    ap.add_argument("--batch", type=int, default=200, help="spans per request")
    ap.add_argument("--kill-every", type=float, default=300, help="seconds between SIGKILLs")
    ap.add_argument("--query-every", type=float, default=1.0)
    ap.add_argument("--verify", type=int, default=2000, help="acknowledged traces read back at the end")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dir", help="data folder (default: a temporary one, deleted at the end)")
    args = ap.parse_args()

    scratch = None if args.dir else tempfile.TemporaryDirectory(prefix="tb-soak.")
    data_dir = args.dir or scratch.name
    log = open(os.path.join(data_dir, "server.log"), "ab")
    server = Server(os.path.abspath(args.binary), os.path.join(data_dir, "data"), log)
    soak = Soak(args, server)
    try:
        soak.run()
        s1, _ = http("POST", server.base + "/admin/flush", timeout=600)
        s2, summary = http("POST", server.base + "/admin/compact", timeout=1800)
        if s1 != 200 or s2 != 200:
            soak.error(f"final flush/compact answered {s1}/{s2}")
        status, body = http("GET", server.base + "/admin/blocks")
        blocks = json.loads(body)["blocks"] if status == 200 else []
        stored = sum(b["spans"] for b in blocks)
        rng = random.Random(args.seed + 2)
        sample = rng.sample(list(soak.acked.items()), min(args.verify, len(soak.acked)))
        missing_traces = short_traces = doubled = 0
        for trace_id, want in sample:
            status, body = http("GET", server.base + f"/api/traces/{trace_id}")
            data = json.loads(body).get("data") if status == 200 else None
            if not data:
                missing_traces += 1
                continue
            ids = [s["spanID"] for s in data[0]["spans"]]
            if len(set(ids)) < want:
                short_traces += 1
            doubled += len(ids) - len(set(ids))
        rss = [r for _, r in soak.rss]
        print("SOAK minutes=%g rate=%g batch=%d kills=%d" % (args.minutes, args.rate, args.batch, len(soak.restarts)))
        print("SOAK acked_spans=%d acked_traces=%d stored_spans=%d blocks=%d" %
              (soak.acked_spans, len(soak.acked), stored, len(blocks)))
        print("SOAK verified_traces=%d missing_traces=%d traces_short_of_spans=%d spans_shown_twice=%d" %
              (len(sample), missing_traces, short_traces, doubled))
        print("SOAK errors=%s retried=%s" % (json.dumps(soak.errors, sort_keys=True),
                                             json.dumps({str(k): v for k, v in soak.refused.items()}, sort_keys=True)))
        print("SOAK restart_s p50=%.2f max=%.2f" % (pct(soak.restarts, 50), max(soak.restarts, default=float("nan"))))
        for kind, ms in soak.query_ms.items():
            print("SOAK query=%s n=%d p50_ms=%.1f p99_ms=%.1f" % (kind, len(ms), pct(ms, 50), pct(ms, 99)))
        print("SOAK rss_mib max=%.0f last=%.0f" % (max(rss, default=0), rss[-1] if rss else 0))
        by_minute = {}
        for minute, r in soak.rss:
            by_minute[int(minute)] = max(by_minute.get(int(minute), 0), r)
        print("SOAK rss_by_minute " + " ".join("%d:%.0f" % kv for kv in sorted(by_minute.items())))
        ok = not soak.errors and missing_traces == 0 and short_traces == 0 and stored >= soak.acked_spans
        print("SOAK verdict=%s" % ("ok" if ok else "FAILED"))
        return 0 if ok else 1
    finally:
        if server.proc and server.proc.poll() is None:
            server.proc.terminate()
            server.proc.wait()
        log.close()
        if scratch:
            scratch.cleanup()


if __name__ == "__main__":
    sys.exit(main())
