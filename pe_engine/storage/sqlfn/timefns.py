"""`tz(time[, zone])` and `date_bin_wallclock(interval, time[, origin])`, as InfluxDB 3.

tz: the same instant shown in another zone; a time without zone is taken as UTC. It is
turned into two DataFusion casts (naive -> UTC -> zone), so it runs at Arrow speed.

date_bin_wallclock: bins on the wall clock of the time's zone (the zone is the one of
its type, e.g. from tz()). Local time = UTC + offset; bin it like date_bin; back to
UTC. Around DST changes it follows InfluxDB: a bin start that does not exist locally
uses the offset in force 24 h earlier; an ambiguous one takes the earlier instant
unless the interval is no longer than the jump, then the input's own offset. For a
time without zone it is date_bin. Intervals with months are refused (as InfluxDB).
"""
from __future__ import annotations

import zoneinfo

import pyarrow as pa
import pyarrow.compute as pc
from datafusion import ScalarUDF, udf

DAY_NS = 86_400 * 1_000_000_000


def check_zone(name: str) -> str:
    """`name` when it is a known IANA zone (or UTC), else a clear error."""
    if name.upper() == "UTC":
        return "UTC"
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"tz: '{name}' is not a valid time zone (use an IANA name like 'Europe/Paris')") from None
    return name


def arrow_timestamp_type(zone: str | None) -> str:
    """The type text arrow_cast() takes for a nanosecond timestamp in `zone`."""
    return "Timestamp(Nanosecond, None)" if zone is None else f'Timestamp(Nanosecond, Some("{zone}"))'


def interval_ns(interval: pa.Array) -> int:
    """The one interval of a date_bin call in nanoseconds; months are refused."""
    months, days, nanos = interval.cast(pa.month_day_nano_interval())[0].as_py() or (0, 0, 0)
    if months:
        raise ValueError("date_bin_wallclock: intervals with months or years are not supported")
    stride = days * DAY_NS + nanos
    if stride <= 0:
        raise ValueError("date_bin_wallclock: the interval must be positive")
    return stride


def floor_bin(local: pa.Array, origin: int, stride: int) -> pa.Array:
    """origin + floor((local - origin) / stride) * stride, on int64 arrays."""
    delta = pc.subtract(local, origin)
    q = pc.divide(delta, stride)  # truncates toward zero
    back = pc.multiply(q, stride)
    q = pc.if_else(pc.and_(pc.less(delta, 0), pc.not_equal(back, delta)), pc.subtract(q, 1), q)
    return pc.add(pc.multiply(q, stride), origin)


def _utc_of_local(local: pa.Array, zone: str, how: str) -> pa.Array:
    naive = local.cast(pa.timestamp("ns"))
    return pc.assume_timezone(naive, zone, ambiguous=how, nonexistent=how).cast(pa.int64())


def to_local(utc_ns: pa.Array, zone: str) -> pa.Array:
    """UTC ns -> the wall clock of `zone` (int64 ns)."""
    return pc.local_timestamp(utc_ns.cast(pa.timestamp("ns", zone))).cast(pa.int64())


def local_bins_to_utc(bins: pa.Array, zone: str, stride: int, own_offset: pa.Array | None) -> pa.Array:
    """Bin starts on the wall clock -> UTC ns, with InfluxDB's rules for DST gaps and overlaps
    (`own_offset`: each row's local - utc; None for generated bins, which take the earlier)."""
    early = _utc_of_local(bins, zone, "earliest")
    late = _utc_of_local(bins, zone, "latest")
    exists = pc.equal(to_local(early, zone), bins)
    # a gap (spring forward): the offset of the same wall time a day before
    day_before = pc.subtract(bins, DAY_NS)
    before = pc.subtract(day_before, _utc_of_local(day_before, zone, "earliest"))
    gap = pc.subtract(bins, before)
    # an overlap (fall back): the earlier instant, or the input's offset for short intervals
    overlap = early
    if own_offset is not None:
        jump = pc.subtract(late, early)
        overlap = pc.if_else(pc.greater_equal(jump, stride), pc.subtract(bins, own_offset), early)
    return pc.if_else(exists, pc.if_else(pc.equal(early, late), early, overlap), gap)


def wallclock_bins(utc_ns: pa.Array, zone: str, stride: int, origin: int) -> pa.Array:
    """Bin starts (UTC ns) of `utc_ns` on the wall clock of `zone`."""
    local = to_local(utc_ns, zone)
    return local_bins_to_utc(floor_bin(local, origin, stride), zone, stride, pc.subtract(local, utc_ns))


def wallclock_series(lo: int, hi: int, zone: str, stride: int, origin: int) -> pa.Array:
    """Every wall-clock bin start (UTC ns, ascending, distinct) from lo's bin to hi's."""
    first, last = floor_bin(to_local(pa.array([lo, hi], pa.int64()), zone), origin, stride).to_pylist()
    local = pa.array(range(first, last + 1, stride) if last >= first else [], pa.int64())
    utc = pc.unique(local_bins_to_utc(local, zone, stride, None))
    return utc.take(pc.sort_indices(utc))


def wallclock_udf(name: str, time_type: pa.DataType, with_origin: bool) -> ScalarUDF:
    """date_bin_wallclock for one time type (its zone decides the wall clock)."""
    zone = getattr(time_type, "tz", None)

    def run(interval: pa.Array, times: pa.Array, origin: pa.Array | None = None) -> pa.Array:
        stride = interval_ns(interval)
        start = 0
        if origin is not None and len(origin) and origin[0].is_valid:
            start = origin.cast(pa.timestamp("ns")).cast(pa.int64())[0].as_py()
        utc = times.cast(pa.timestamp("ns", zone)).cast(pa.int64())
        if zone is None or zone.upper() in ("UTC", "+00:00"):
            out = floor_bin(utc, start, stride)
        else:
            out = wallclock_bins(utc, zone, stride, start)
        return out.cast(time_type)

    types = [pa.month_day_nano_interval(), time_type] + ([pa.timestamp("ns")] if with_origin else [])
    return udf(run, types, time_type, "immutable", name=name)
