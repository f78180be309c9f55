#!/usr/bin/env python3
"""Renders the results of bench/run_suite.sh as the Markdown results table of BENCHMARKS.md.

    suite_table.py RESULTS                      print the table
    suite_table.py --update BENCHMARKS.md RESULTS   replace the text between the suite markers

RESULTS holds the suite's lines: "SUITE key=value", "RESULT <step> key=value ...", "SKIPPED <step>",
"FAILED <step>". Every figure is shown beside its floor or target and the load average at the
start of its step.
"""
import json
import re
import sys

BEGIN = "<!-- suite:begin (bench/run_suite.sh rewrites this section) -->"
END = "<!-- suite:end -->"


def parse(path):
    suite, results, notes = {}, [], []
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        if line.startswith("SUITE "):
            key, _, value = line[6:].partition("=")
            if key == "build":  # "build=... build_type=... commit=..." on one line
                for k, v in re.findall(r"(\w+)=(\S+)", line):
                    suite[k] = v
            else:
                suite[key] = value
        elif line.startswith("RESULT "):
            parts = line.split()
            fields = dict(p.split("=", 1) for p in parts[2:] if "=" in p)
            results.append((parts[1], fields))
        elif line.startswith(("SKIPPED ", "FAILED ")):
            notes.append(line)
    return suite, results, notes


def num(v, digits=0):
    try:
        f = float(v)
    except (TypeError, ValueError):
        return "—"
    return f"{f:,.{digits}f}"


def duration(ns):
    for unit, size in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= size:
            return f"{ns / size:,.2f} {unit}"
    return f"{ns:,.1f} ns"


def verdict(ok):
    return "met" if ok else "**not met**"


def render(suite, results, notes):
    out = []
    out.append(f"Command: `bash bench/run_suite.sh {suite.get('build', 'build')}` · date {suite.get('date', '?')} · "
               f"commit `{suite.get('commit', '?')}` ({suite.get('build_type', '?')}) · machine: {suite.get('machine', '?')} · "
               f"load average at the end: {suite.get('load_end', '?')}.")
    if suite.get("build_failed"):
        out.append("")
        out.append(f"**The build of this run failed for** `{suite['build_failed'].strip()}` (a change in progress "
                   "in the shared tree): the binaries built before it ran instead.")
    out.append("")
    out.append("| figure | measured | floor / target | verdict | load avg |")
    out.append("|---|---|---|---|---|")
    by_step = {}
    for step, f in results:
        by_step.setdefault(step, []).append(f)

    for f in by_step.get("ingest", []):
        sps, floor, ratio = float(f.get("spans_per_sec", 0)), float(f.get("floor_spans_per_sec", 0)), float(f.get("ratio", 0))
        load = f.get("load", "?")
        out.append(f"| durable ingest, OTLP/gRPC, {f.get('seconds')} s, {f.get('concurrency')} senders × {f.get('batch')} spans "
                   f"| {num(sps)} spans/s ({f.get('blocks', '?')} blocks written, {f.get('refused', '?')} refused) "
                   f"| decode-only floor {num(floor)} spans/s = **{ratio:.0%}**; target ≥ 150,000 and ≥ 40% "
                   f"| {verdict(sps >= 150000 and ratio >= 0.4)} | {load} |")
        out.append(f"| ingest ack latency | p50 {f.get('ack_p50_ms')} ms, p99 {f.get('ack_p99_ms')} ms | — | | {load} |")
        out.append(f"| ingest CPU | {f.get('cpu_s_per_mspan')} CPU s / M spans | floor {f.get('floor_cpu_s_per_mspan')} CPU s / M spans | | {load} |")
        rss = float(f.get("peak_rss_mib", 0))
        out.append(f"| ingest peak RSS (server, at the rate above) | {num(rss)} MiB | floor {f.get('floor_peak_rss_mib')} MiB; "
                   f"target ≤ 512 MiB at 100k spans/s | {verdict(rss <= 512)} | {load} |")
    for f in by_step.get("size", []):
        b, z = float(f["bytes_per_span"]), float(f["zstd19_bytes_per_span"])
        out.append(f"| bytes/span at rest (block data + index), {num(f.get('spans'))} spans | {b:.1f} B/span "
                   f"| zstd -19 of the OTLP protobuf {z:.1f} B/span = **{b / z:.2f}×**; target ≤ 40 B/span and ≤ 0.6× "
                   f"| {verdict(b <= 40 and b / z <= 0.6)} | {f.get('load', '?')} |")
    for f in by_step.get("trace_by_id", []):
        if "skipped" in f:
            out.append(f"| trace by ID, {f.get('storage')} | skipped ({f['skipped'].replace('_', ' ')}) | | | |")
            continue
        warm = f.get("state") == "warm"
        target = "target warm p99 ≤ 5 ms" if warm else "—"
        ok = verdict(float(f.get("p99_ms", "inf")) <= 5) if warm else ""
        out.append(f"| trace by ID, {f.get('storage')}, {f.get('state')} ({f.get('blocks')} blocks, {f.get('n')} lookups) "
                   f"| p50 {f.get('p50_ms')} ms, p99 {f.get('p99_ms')} ms; GETs per lookup mean {f.get('gets_mean')}, "
                   f"max {f.get('gets_max')}; {f.get('kib_read_mean')} KiB | {target} | {ok} | {f.get('load', '?')} |")
    search = by_step.get("search", [])
    for f in search:
        if f.get("query") == "all":
            p50 = float(f["p50_ms"])
            out.append(f"| **search mix p50**, {num(f.get('spans'))} spans in {f.get('blocks')} blocks (local folder) "
                       f"| p50 {f['p50_ms']} ms, p99 {f['p99_ms']} ms "
                       f"| page-cache floor p50 {f.get('floor_p50_us', '?')} µs; target p50 ≤ 100 ms | {verdict(p50 <= 100)} "
                       f"| {f.get('load', '?')} |")
    for f in search:
        if f.get("query") != "all":
            out.append(f"| search: {f['query']}, {f['window']} window ({f['n']} queries) | p50 {f['p50_ms']} ms, "
                       f"p99 {f['p99_ms']} ms; {f['gets_mean']} GETs, {f['kib_read_mean']} KiB read per query "
                       f"| floor p50 {f.get('floor_p50_us', '?')} µs | | {f.get('load', '?')} |")
    for f in by_step.get("restart", []):
        ready = f"`tracebucket serve` start → /ready {f['ready_s']} s; " if "ready_s" in f else ""
        out.append(f"| restart with a full WAL ({num(f.get('spans'))} spans, {f.get('wal_mib')} MiB WAL, "
                   f"{f.get('head_budget_mib')} MiB head budget) | {ready}Db::Open (WAL replay) {f.get('open_s')} s "
                   f"({num(f.get('replay_spans_per_sec'))} spans/s replayed) | — | | {f.get('load', '?')} |")
    for note in notes:
        out.append(f"| {note} | | | | |")

    for f in by_step.get("micro", []):
        try:
            data = json.load(open(f["json"], encoding="utf-8"))
        except (OSError, ValueError, KeyError):
            continue
        out.append("")
        out.append(f"Micro-benchmarks (`tb_micro_bench --benchmark_min_time=0.5`, load {f.get('load', '?')}; "
                   "512-span batches of the workload unless named otherwise):")
        out.append("")
        out.append("| benchmark | wall time | CPU time | throughput |")
        out.append("|---|---|---|---|")
        for b in data.get("benchmarks", []):
            rate = []
            if "items_per_second" in b:
                rate.append(f"{b['items_per_second']:,.0f} items/s")
            if "bytes_per_second" in b:
                rate.append(f"{b['bytes_per_second'] / 2**20:,.0f} MiB/s")
            scale = {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}[b.get("time_unit", "ns")]
            out.append(f"| `{b['name']}` | {duration(b['real_time'] * scale)} | {duration(b['cpu_time'] * scale)} "
                       f"| {', '.join(rate)} |")
    return "\n".join(out) + "\n"


def main(argv):
    if len(argv) == 4 and argv[1] == "--update":
        doc_path, results_path = argv[2], argv[3]
        table = render(*parse(results_path))
        doc = open(doc_path, encoding="utf-8").read()
        if BEGIN not in doc or END not in doc:
            sys.exit(f"{doc_path}: the suite markers are missing")
        head, rest = doc.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        open(doc_path, "w", encoding="utf-8").write(head + BEGIN + "\n" + table + END + tail)
    elif len(argv) == 2:
        sys.stdout.write(render(*parse(argv[1])))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
