"""Line-protocol parse throughput: our C parser, our pure-Python parser, line-protocol-parser.

Run from the repo root: /work/venv/bin/python benchmarks/parse.py [--lines N] [--repeat R]

Every timing covers the whole call that turns the text into Python objects
(for line-protocol-parser: splitting the body and calling parse_line per line).
Best of R runs, with the garbage collector left on (as in production); a full
collection runs before each timed run.
"""
from __future__ import annotations

import argparse
import gc
import os
import random
import sys
import time
from typing import Callable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pe_engine.lineprotocol import parse as lp  # noqa: E402


def make_body(n: int, seed: int = 42, full_floats: bool = False) -> bytes:
    """cpu-like lines: 3 tags (~1000 hosts), 4 floats + 1 integer, ns timestamps.

    Floats have 2-4 decimals, or with full_floats the 16-17 significant digits
    Telegraf writes (repr), which exercises the slower exact float path.
    """
    rng = random.Random(seed)
    if full_floats:
        return b"".join(
            (f"cpu,host=host_{h},region=r_{h % 8},az=az_{h % 4} usage_user={rng.uniform(0, 100)!r},"
             f"usage_system={rng.uniform(0, 30)!r},usage_idle={rng.uniform(0, 100)!r},"
             f"usage_iowait={rng.randrange(0, 5000)}i,usage_steal={rng.uniform(0, 2)!r} "
             f"{1_700_000_000_000_000_000 + i * 10_000_000}\n").encode()
            for i, h in ((i, rng.randrange(1000)) for i in range(n))
        )
    regions = [f"r_{i}" for i in range(8)]
    zones = [f"az_{i}" for i in range(4)]
    ts = 1_700_000_000_000_000_000
    out = []
    for i in range(n):
        host = rng.randrange(1000)
        out.append(
            f"cpu,host=host_{host},region={regions[host % 8]},az={zones[host % 4]} "
            f"usage_user={rng.uniform(0, 100):.3f},usage_system={rng.uniform(0, 30):.3f},"
            f"usage_idle={rng.uniform(0, 100):.2f},usage_iowait={rng.randrange(0, 5000)}i,"
            f"usage_steal={rng.uniform(0, 2):.4f} {ts + i * 10_000_000}"
        )
    return ("\n".join(out) + "\n").encode()


def best_of(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--lines", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    body = make_body(args.lines)
    n = args.lines
    print(f"body: {n} lines, {len(body)} bytes ({len(body) / n:.0f} B/line)")

    if not lp.c_extension_available():
        print("C extension not built: run `python setup.py build_ext --inplace` first", file=sys.stderr)
        sys.exit(1)
    os.environ.pop("PE_PURE_PYTHON_LP", None)

    # sanity: both of ours agree and accept everything
    ours = lp.parse_lp(body, default_time_ns=0)
    assert not ours.errors and ours.rows == n, ours.errors[:3]
    assert ours == lp.parse_lp_python(body, default_time_ns=0)

    t_c = best_of(lambda: lp.parse_lp(body, default_time_ns=0), args.repeat)
    t_py = best_of(lambda: lp.parse_lp_python(body, default_time_ns=0), args.repeat)
    rate_c = n / t_c
    rate_py = n / t_py
    print(f"pe parse_lp (C)          {rate_c:12,.0f} lines/s  ({t_c * 1e3:8.1f} ms)")
    print(f"pe parse_lp_python       {rate_py:12,.0f} lines/s  ({t_py * 1e3:8.1f} ms)  C/Python = {rate_c / rate_py:.1f}x")
    full = make_body(n, full_floats=True)
    assert lp.parse_lp(full).rows == n
    t_full = best_of(lambda: lp.parse_lp(full, default_time_ns=0), args.repeat)
    print(f"pe parse_lp (C), floats with 17 significant digits: {n / t_full:,.0f} lines/s")

    try:
        import line_protocol_parser  # type: ignore[import-not-found]
    except ImportError:
        print("line_protocol_parser not installed; skipping comparison")
        print(f"RESULT parse_lines_per_s {rate_c:.0f} lines/s")
        return

    text = body.decode()

    def theirs() -> None:
        parse_line = line_protocol_parser.parse_line
        for line in text.splitlines():
            if line:
                parse_line(line)

    t_theirs = best_of(theirs, args.repeat)
    rate_theirs = n / t_theirs
    print(f"line_protocol_parser     {rate_theirs:12,.0f} lines/s  ({t_theirs * 1e3:8.1f} ms)")
    print(f"RESULT parse_lines_per_s {rate_c:.0f} lines/s")
    print(f"RESULT parse_ratio_vs_line_protocol_parser {rate_c / rate_theirs:.2f} ratio")


if __name__ == "__main__":
    main()
