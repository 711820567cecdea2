"""When a schedule trigger fires next: absolute, epoch-aligned deadlines (no drift)."""
from __future__ import annotations

from ...durations import NS_PER_SEC
from .specs import CronSpec, EverySpec, TriggerSpec

__all__ = ["next_fire_ns", "next_fire_times"]


def next_fire_ns(spec: TriggerSpec, after_ns: int) -> int | None:
    """Next fire time (ns since the Unix epoch, UTC) strictly after `after_ns`.

    every: the next multiple of the interval since the epoch, so schedules do not
    drift and agree with InfluxDB's `(floor(now/d)+1)*d`. cron: the next matching
    whole second. Returns None only for a cron whose year field is exhausted.
    """
    if isinstance(spec, EverySpec):
        d = spec.nanoseconds
        return (after_ns // d + 1) * d
    if isinstance(spec, CronSpec):
        assert spec._plan is not None
        # Fire times are whole seconds, so "> after_ns" == "> floor(after_ns / 1e9) seconds".
        nxt = spec._plan.next_after(after_ns // NS_PER_SEC)
        return None if nxt is None else nxt * NS_PER_SEC
    raise TypeError(f"{spec.canonical()} is not a schedule trigger")


def next_fire_times(spec: TriggerSpec, after_ns: int, n: int) -> list[int]:
    """The next `n` fire times, ascending (fewer if a year-limited cron runs out)."""
    out: list[int] = []
    cur = after_ns
    for _ in range(max(0, n)):
        nxt = next_fire_ns(spec, cur)
        if nxt is None:
            break
        out.append(nxt)
        cur = nxt
    return out
