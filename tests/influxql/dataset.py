"""The differential tests' data set: deterministic line protocol (fixed seed, fixed absolute times).

Two hours from 2026-01-05T00:00:00Z (epoch 1767571200 s):

- `cpu`    tags host (srv1..srv4), region (eu: srv1, srv2; us: srv3, srv4); fields usage_user,
           usage_system (floats, some negative, rounded so ties happen), n (integer, few values).
           Every 30 s; srv4 has a gap from 00:40 to 00:55 (for fill(previous)/fill(linear)).
- `mem`    tag host (srv1..srv3); fields used, free (integers), pct (float). Every minute.
- `disk`   tags host (srv1, srv2), path (/, /var); fields free (integer), status (string),
           ok (boolean). Every minute.
- `events` sparse: irregular, millisecond times; tags kind and source each sometimes missing;
           fields value (float), code (integer), msg (string) each sometimes missing.
- `net io` (a name that needs quoting; `net\\ io` in line protocol) tag iface; fields rx, tx
           (integers). Every minute.
"""
from __future__ import annotations

import random
from collections import Counter

DB = "diffdb"
START_S = 1767571200  # 2026-01-05T00:00:00Z
START_NS = START_S * 1_000_000_000
SPAN_S = 2 * 3600
SEC = 1_000_000_000

CPU_HOSTS = {"srv1": "eu", "srv2": "eu", "srv3": "us", "srv4": "us"}
MEM_HOSTS = ("srv1", "srv2", "srv3")
DISK_HOSTS = ("srv1", "srv2")
DISK_PATHS = ("/", "/var")
IFACES = ("eth0", "eth1")


def _escape_str(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"')


def _fmt(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return f"{v}i"
    if isinstance(v, float):
        return repr(v)
    return f'"{_escape_str(str(v))}"'


def _line(measurement: str, tags: dict[str, str], fields: dict[str, object], t_ns: int) -> str:
    head = measurement.replace(",", "\\,").replace(" ", "\\ ")
    for k in sorted(tags):
        v = tags[k].replace(",", "\\,").replace(" ", "\\ ").replace("=", "\\=")
        head += f",{k}={v}"
    body = ",".join(f"{k}={_fmt(v)}" for k, v in fields.items())
    return f"{head} {body} {t_ns}"


def _points() -> list[tuple[str, dict[str, str], dict[str, object], int]]:
    rng = random.Random(20260105)
    pts: list[tuple[str, dict[str, str], dict[str, object], int]] = []
    # cpu: every 30 s
    for i in range(SPAN_S // 30):
        t = START_NS + i * 30 * SEC
        for j, (host, region) in enumerate(CPU_HOSTS.items()):
            if host == "srv4" and 40 * 60 <= i * 30 < 55 * 60:
                continue
            user = round(rng.uniform(-5.0, 95.0), 1)
            system = round(rng.uniform(-2.0, 20.0), 1)
            if i % 17 == 0:
                user = 42.5  # the same value in many series: ties for min/max/mode
            pts.append(("cpu", {"host": host, "region": region},
                        {"usage_user": user, "usage_system": system, "n": (i + j) % 5 - 1}, t))
    # mem: every minute
    for i in range(SPAN_S // 60):
        t = START_NS + i * 60 * SEC
        for j, host in enumerate(MEM_HOSTS):
            used = 1000 + 10 * ((i * (j + 1)) % 37)
            free = 4000 - used + rng.randint(-3, 3)
            pts.append(("mem", {"host": host}, {"used": used, "free": free,
                                                "pct": round(100.0 * used / (used + free), 3)}, t))
    # disk: every minute
    statuses = ("ok", "ok", "warn", "crit")
    for i in range(SPAN_S // 60):
        t = START_NS + i * 60 * SEC
        for host in DISK_HOSTS:
            for path in DISK_PATHS:
                free = 50_000 - 100 * i + rng.randint(-500, 500) - (20_000 if path == "/var" else 0)
                status = statuses[rng.randrange(len(statuses))]
                pts.append(("disk", {"host": host, "path": path},
                            {"free": free, "status": status, "ok": status == "ok"}, t))
    # events: sparse and irregular
    t = START_NS + 7 * SEC + 125_000_000
    k = 0
    while t < START_NS + SPAN_S * SEC:
        tags: dict[str, str] = {}
        if k % 3 != 0:
            tags["kind"] = ("start", "stop", "error")[k % 4 % 3]
        if k % 5 not in (1, 4):
            tags["source"] = ("app", "db")[k % 2]
        fields: dict[str, object] = {}
        if k % 4 != 3:
            fields["value"] = round(rng.uniform(-10.0, 10.0), 2)
        if k % 3 != 1:
            fields["code"] = (200, 404, 500, 200)[k % 4]
        if k % 2 == 0 or not fields:
            fields["msg"] = ("boot", "disk full", 'said "hi"', "ok")[k % 4]
        pts.append(("events", tags, fields, t))
        t += rng.randint(20, 140) * SEC + rng.randint(0, 999) * 1_000_000
        k += 1
    # "net io": a measurement name with a space
    for i in range(SPAN_S // 60):
        t = START_NS + i * 60 * SEC
        for j, iface in enumerate(IFACES):
            pts.append(("net io", {"iface": iface}, {"rx": 1000 * i + j, "tx": 500 * i + rng.randint(0, 9)}, t))
    return pts


POINTS = _points()
LINES = "\n".join(_line(*p) for p in POINTS) + "\n"
COUNTS: dict[str, int] = dict(Counter(p[0] for p in POINTS))


def batches(size: int = 1000) -> list[str]:
    """The line protocol in a few bodies of at most `size` lines."""
    lines = LINES.splitlines()
    return ["\n".join(lines[i:i + size]) + "\n" for i in range(0, len(lines), size)]
