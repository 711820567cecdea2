"""Load-data generation for the benchmarks: cpu-like line protocol.

Every line has 3 tags (host, region, az) and 5 fields (usage_user,
usage_system, usage_idle floats, usage_iowait integer, usage_steal float)
and a nanosecond timestamp. Timestamps strictly increase line after line
(``step_ns`` apart), so no two lines ever share series+timestamp: a store
that overwrites such points (InfluxDB 1.x) and one that keeps both (pe)
end up with the same count.

    cpu_lines(n, start_ns, hosts=1000, seed=0) -> list[str]
    bodies(n_bodies, lines_per_body=5000, ...) -> list[bytes]

Body k holds lines k*lines_per_body .. (k+1)*lines_per_body-1 of one
continuous stream, so bodies never overlap in time either.

Run as a script to peek at the output:  python benchmarks/lpgen.py 3
"""
from __future__ import annotations

import random
import sys
import time

REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-1")
AZ_SUFFIXES = ("a", "b", "c")

DEFAULT_STEP_NS = 1_000  # 1 µs between consecutive lines


def default_start_ns() -> int:
    """A recent, whole-hour start so every run's data sits in 'now-ish' time."""
    hour = 3_600 * 1_000_000_000
    return (time.time_ns() // hour - 1) * hour


def _series_keys(hosts: int) -> list[str]:
    keys = []
    for h in range(hosts):
        region = REGIONS[h % len(REGIONS)]
        az = region + AZ_SUFFIXES[(h // len(REGIONS)) % len(AZ_SUFFIXES)]
        keys.append(f"cpu,host=host_{h:05d},region={region},az={az}")
    return keys


def cpu_lines(
    n: int,
    start_ns: int,
    hosts: int = 1000,
    seed: int = 0,
    step_ns: int = DEFAULT_STEP_NS,
    first_index: int = 0,
    shared_times: bool = False,
) -> list[str]:
    """``n`` lines; line i (counting from ``first_index``) has time start_ns + i*step_ns
    and host i % hosts. Deterministic for a given (seed, first_index).

    shared_times: line i has time start_ns + (i // hosts) * step_ns instead, so every host
    reports at the same timestamps (like a collector scraping all hosts at once)."""
    if n < 0 or hosts < 1 or step_ns < 1:
        raise ValueError("need n >= 0, hosts >= 1, step_ns >= 1")
    rnd = random.Random(seed * 1_000_003 + first_index)
    rand = rnd.random
    randrange = rnd.randrange
    keys = _series_keys(hosts)
    out = []
    append = out.append
    for i in range(first_index, first_index + n):
        user = rand() * 60.0
        system = rand() * 20.0
        idle = max(0.0, 100.0 - user - system)
        append(
            f"{keys[i % hosts]} usage_user={user:.3f},usage_system={system:.3f},"
            f"usage_idle={idle:.3f},usage_iowait={randrange(0, 50)}i,"
            f"usage_steal={rand() * 2.0:.3f} {start_ns + (i // hosts if shared_times else i) * step_ns}"
        )
    return out


def bodies(
    n_bodies: int,
    lines_per_body: int = 5000,
    start_ns: int | None = None,
    hosts: int = 1000,
    seed: int = 0,
    step_ns: int = DEFAULT_STEP_NS,
    shared_times: bool = False,
) -> list[bytes]:
    """``n_bodies`` newline-terminated request bodies of ``lines_per_body`` lines each,
    consecutive slices of one stream (distinct timestamps across all bodies)."""
    if start_ns is None:
        start_ns = default_start_ns()
    out = []
    for k in range(n_bodies):
        lines = cpu_lines(lines_per_body, start_ns, hosts, seed, step_ns, first_index=k * lines_per_body,
                          shared_times=shared_times)
        out.append(("\n".join(lines) + "\n").encode())
    return out


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    print("\n".join(cpu_lines(n, default_start_ns())))
