#!/usr/bin/env python3
"""Summarises `chitchat-bench` results (one JSON object per line, as bench/run.sh writes
them): the median of each figure over a scenario's runs, next to its target, as Markdown.

    summarize.py RESULTS.jsonl      the Markdown table of medians
    summarize.py --one < LINE       one line about a single run (run.sh prints it per run)
"""

import json
import statistics
import sys

# Targets (docs/performance.md): (field, bound, "le" or "ge").
TARGETS = {
    "fanout-small": [("lat_p99_ms", 1.0, "le"), ("server_cpu_us_per_delivery", 3.9, "le"), ("lost", 0, "le")],
    "fanout-large": [("lat_p99_ms", 5.0, "le"), ("server_cpu_us_per_delivery", 3.9, "le"), ("lost", 0, "le")],
    "many-rooms": [("lat_p99_ms", 2.0, "le"), ("server_cpu_us_per_delivery", 11.0, "le"), ("lost", 0, "le")],
    "probe": [("max_deliveries_per_sec", 480000, "ge"), ("p99_le_50ms_offered_per_sec", 320000, "ge")],
    "connections": [("sessions_per_sec", 2000, "ge"), ("rss_kb_per_session", 10.0, "le"), ("lost", 0, "le")],
}

FANOUT_COLUMNS = [
    ("lat_p50_ms", "p50 ms"), ("lat_p99_ms", "p99 ms"), ("lat_max_ms", "max ms"),
    ("server_cpu_us_per_delivery", "relay µs/delivery"), ("deliveries_per_sec", "deliveries/s"),
    ("lost", "lost"), ("server_cpu_s", "relay CPU s"), ("redis_cpu_s", "redis CPU s"),
    ("load_cpu_s", "load CPU s"), ("machine_cpu_busy_pct", "machine busy %"),
    ("other_cpu_s", "other CPU s"), ("server_rss_mb", "relay RSS MB"),
    ("udp_send_floor_us", "kernel µs/datagram"),
]
PROBE_COLUMNS = [
    ("max_deliveries_per_sec", "max deliveries/s"), ("p99_le_50ms_rate", "highest R, p99 <= 50 ms"),
    ("p99_le_50ms_deliveries_per_sec", "deliveries/s at it"),
    ("p99_le_50ms_offered_per_sec", "offered/s at it"), ("R", "best R"),
    ("lat_p99_ms", "p99 ms at best"), ("server_cpu_us_per_delivery", "relay µs/delivery at best"),
    ("load_cpu_s", "load CPU s at best"), ("machine_cpu_busy_pct", "machine busy % at best"),
]
CONN_COLUMNS = [
    ("opened", "opened"), ("sessions_per_sec", "sessions/s"),
    ("ramp_server_cpu_us_per_session", "relay µs/session (ramp)"),
    ("rss_kb_per_session", "KB/session"), ("server_rss_mb", "relay RSS MB"),
    ("idle_server_cpu_pct", "idle relay CPU %"), ("lost", "lost"), ("ended_early", "ended early"),
]


def fmt(v):
    if isinstance(v, float):
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        if abs(v) >= 10:
            return f"{v:.1f}"
        return f"{v:.3g}" if v else "0"
    return f"{v:,}" if isinstance(v, int) else str(v)


def kind(name):
    return "connections" if name.startswith("connections") else name


def verdict(name, med):
    marks = []
    for field, bound, how in TARGETS.get(kind(name), []):
        v = med.get(field)
        if v is None:
            continue
        ok = v <= bound if how == "le" else v >= bound
        marks.append(f"{field} {'<=' if how == 'le' else '>='} {fmt(bound)}: {'**met**' if ok else '**missed**'} ({fmt(v)})")
    return marks


def medians(rows, fields):
    out = {}
    for field, _ in fields:
        vals = [r[field] for r in rows if isinstance(r.get(field), (int, float))]
        if vals:
            m = statistics.median(vals)
            out[field] = float(m) if isinstance(m, float) or field not in ("lost", "opened") else int(m)
    return out


def table(rows_by_name):
    lines = []
    sections = [
        ("Fan-out", [n for n in rows_by_name if kind(n) in ("fanout-small", "fanout-large", "many-rooms")], FANOUT_COLUMNS),
        ("Probe", [n for n in rows_by_name if n == "probe"], PROBE_COLUMNS),
        ("Connections", [n for n in rows_by_name if kind(n) == "connections"], CONN_COLUMNS),
    ]
    for title, names, cols in sections:
        if not names:
            continue
        runs = max(len(rows_by_name[n]) for n in names)
        # Columns no run reported (results of older versions of the load generator) are left out.
        cols = [c for c in cols if any(c[0] in r for n in names for r in rows_by_name[n])]
        lines.append(f"### {title} (median of {runs} runs)\n")
        lines.append("| scenario | " + " | ".join(c for _, c in cols) + " |")
        lines.append("|---|" + "---:|" * len(cols))
        verdicts = []
        for n in names:
            med = medians(rows_by_name[n], cols + [(f, "") for f, _, _ in TARGETS.get(kind(n), [])])
            lines.append(f"| {n} | " + " | ".join(fmt(med.get(f, "")) for f, _ in cols) + " |")
            v = verdict(n, med)
            if v:
                verdicts.append(f"- {n}: " + "; ".join(v))
        lines.append("")
        lines.extend(verdicts)
        lines.append("")
    return "\n".join(lines)


def one(d):
    name = d.get("scenario", "?")
    if name == "connections":
        return (f"  {d['opened']}/{d['C']} sessions at {d['sessions_per_sec']:.0f}/s, "
                f"{d['rss_kb_per_session']:.2f} KB/session, idle CPU {d['idle_server_cpu_pct']:.1f}%, lost {d['lost']}")
    if name == "probe":
        return (f"  max {d['max_deliveries_per_sec']:.0f} deliveries/s; p99 <= 50 ms up to R={d['p99_le_50ms_rate']} "
                f"({d['p99_le_50ms_deliveries_per_sec']:.0f}/s)")
    return (f"  p50 {d['lat_p50_ms']:.3f} ms p99 {d['lat_p99_ms']:.3f} ms max {d['lat_max_ms']:.2f} ms, "
            f"{d['server_cpu_us_per_delivery']:.2f} µs/delivery, {d['deliveries_per_sec']:.0f}/s, lost {d['lost']}, "
            f"load CPU {d['load_cpu_s']:.2f} s, busy {d['machine_cpu_busy_pct']:.0f}%, other CPU {d.get('other_cpu_s', 0):.2f} s"
            + (f", kernel {d['udp_send_floor_us']:.2f} µs/datagram" if d.get("udp_send_floor_us") else ""))


def main():
    if sys.argv[1:] == ["--one"]:
        print(one(json.loads(sys.stdin.read())))
        return
    by_name = {}
    with open(sys.argv[1]) as f:
        for line in f:
            if line.strip():
                d = json.loads(line)
                by_name.setdefault(d.get("name", d["scenario"]), []).append(d)
    transports = sorted({r["transport"] for rows in by_name.values() for r in rows})
    print(f"Transport: {', '.join(transports)}\n")
    print(table(by_name))


if __name__ == "__main__":
    main()
