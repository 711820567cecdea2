"""The differential InfluxQL corpus: a few hundred queries over tests/influxql/dataset.py's data.

Each `Case` has a short id (the pytest parameter id), the query text, and `features`: the
InfluxQL features it exercises (the test module decides from them, and from its table of
expected differences, what pe must answer). Part is generated (aggregates x fields x GROUP BY,
fills x aggregates, ...), part written by hand. Every GROUP BY time() has an absolute time range.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Case:
    id: str
    q: str
    features: frozenset[str] = field(default_factory=frozenset)


# time ranges (1767571200 s = 2026-01-05T00:00:00Z)
H1 = "time >= '2026-01-05T00:00:00Z' AND time < '2026-01-05T01:00:00Z'"
ALL = "time >= '2026-01-05T00:00:00Z' AND time < '2026-01-05T02:00:00Z'"
EPOCH = "time >= 1767571200000000000 AND time < 1767574800000000000"
EPOCH_S = "time >= 1767571200s AND time < 1767573000s"
MID = "time >= '2026-01-05T00:30:00Z' AND time <= '2026-01-05T01:10:00Z'"
ARITH = "time > '2026-01-05T01:00:00Z' - 10m AND time < '2026-01-05T01:30:00Z'"
SHORT = "time >= '2026-01-05T00:10:00Z' AND time < '2026-01-05T00:12:00Z'"
GAP = "time >= '2026-01-05T00:30:00Z' AND time < '2026-01-05T01:05:00Z'"  # srv4 has no data 00:40-00:55
ODD = "time >= '2026-01-05T00:03:00Z' AND time < '2026-01-05T00:47:00Z'"  # not on a bucket boundary
NODATA = "time >= '2025-01-01T00:00:00Z' AND time < '2025-01-01T01:00:00Z'"

# Functions pe does not support yet (the InfluxQL feature names `features` uses).
UNSUPPORTED_FUNCTIONS = ("mode", "distinct", "integral", "top", "bottom", "sample", "derivative",
                         "non_negative_derivative", "difference", "non_negative_difference",
                         "moving_average", "cumulative_sum", "elapsed")

_FUNC = re.compile(r"\b([a-z_]+)\s*\(", re.I)


def _features(q: str) -> frozenset[str]:
    """What a query exercises, read off its text (function names, tz, subqueries, SHOW, ...)."""
    low = q.lower()
    found = {m.group(1).lower() for m in _FUNC.finditer(q)}
    out = {f for f in found if f in UNSUPPORTED_FUNCTIONS or f in ("tz", "fill", "time", "percentile")}
    if re.search(r"\bfrom\s*\(", low):
        out.add("subquery")
    if low.lstrip().startswith("show"):
        out.add("show")
    return frozenset(out)


CASES: list[Case] = []
_seen: set[str] = set()


def add(id_: str, q: str) -> None:
    assert id_ not in _seen, id_
    _seen.add(id_)
    CASES.append(Case(id_, q, _features(q)))


# ------------------------------------------------------------------ generated: aggregates
AGGS = {
    "count": "count({f})", "mean": "mean({f})", "median": "median({f})", "sum": "sum({f})",
    "min": "min({f})", "max": "max({f})", "first": "first({f})", "last": "last({f})",
    "spread": "spread({f})", "stddev": "stddev({f})", "p90": "percentile({f}, 90)",
    "mode": "mode({f})", "distinct": "distinct({f})", "integral": "integral({f})",
    "countdistinct": "count(distinct({f}))",
}
GROUPINGS = {
    "all": "",
    "t10m": " GROUP BY time(10m)",
    "t10m_host": " GROUP BY time(10m), host",
    "host": " GROUP BY host",
    "star": " GROUP BY *",
}
UNSUPPORTED_AGGS = ("mode", "distinct", "integral", "countdistinct")
for agg, tmpl in AGGS.items():
    for fld in ("usage_user", "n"):
        for gname, gb in GROUPINGS.items():
            if fld == "n" and gname not in (("all",) if agg in UNSUPPORTED_AGGS else ("t10m_host",)):
                continue  # the integer field: one grouping each
            if agg in UNSUPPORTED_AGGS and gname in ("t10m_host", "star"):
                continue  # the unsupported ones: fewer combinations
            if gname == "star" and agg not in ("count", "mean", "max", "first"):
                continue
            add(f"agg-{agg}-{fld}-{gname}", f"SELECT {tmpl.format(f=fld)} FROM cpu WHERE {H1}{gb}")

# a few on other measurements and field types
for agg in ("count", "mean", "last", "spread"):
    add(f"agg-mem-{agg}-used", f"SELECT {agg}(used) FROM mem WHERE {ALL} GROUP BY time(30m), host")
for agg in ("count", "first", "last"):
    add(f"agg-disk-{agg}-status", f"SELECT {agg}(status) FROM disk WHERE {ALL} GROUP BY time(1h)")
    add(f"agg-disk-{agg}-ok", f"SELECT {agg}(ok) FROM disk WHERE {ALL} GROUP BY host")
for agg in ("count", "mean", "max", "sum"):
    add(f"agg-events-{agg}-value", f"SELECT {agg}(value) FROM events WHERE {ALL} GROUP BY time(20m)")

# ------------------------------------------------------------------ generated: fill modes
FILLS = {"null": "fill(null)", "none": "fill(none)", "previous": "fill(previous)",
         "linear": "fill(linear)", "zero": "fill(0)", "minus1": "fill(-1)", "default": ""}
for fname, fill in FILLS.items():
    for agg in ("mean", "count"):
        add(f"fill-{fname}-{agg}-srv4", f"SELECT {agg}(usage_user) FROM cpu WHERE host = 'srv4' AND {GAP} "
                                        f"GROUP BY time(5m) {fill}".rstrip())
    add(f"fill-{fname}-mean-host", f"SELECT mean(usage_user) FROM cpu WHERE {GAP} GROUP BY time(5m), host {fill}".rstrip())
    if fname in ("previous", "linear", "minus1"):
        add(f"fill-{fname}-sum-int", f"SELECT sum(n) FROM cpu WHERE host = 'srv4' AND {GAP} GROUP BY time(5m) {fill}".rstrip())
    add(f"fill-{fname}-nodata", f"SELECT mean(usage_user) FROM cpu WHERE {NODATA} GROUP BY time(10m) {fill}".rstrip())
    add(f"fill-{fname}-events", f"SELECT mean(value), count(code) FROM events WHERE {H1} GROUP BY time(5m) {fill}".rstrip())

# ------------------------------------------------------------------ generated: time ranges x windows
RANGES = {"h1": H1, "epoch": EPOCH, "epoch_s": EPOCH_S, "mid": MID, "arith": ARITH, "odd": ODD, "short": SHORT}
for rname, rng in RANGES.items():
    add(f"range-{rname}-count", f"SELECT count(usage_user) FROM cpu WHERE {rng}")
    add(f"range-{rname}-mean-t7m", f"SELECT mean(usage_user) FROM cpu WHERE {rng} GROUP BY time(7m)")
    add(f"range-{rname}-max-t5m-off", f"SELECT max(usage_system) FROM cpu WHERE {rng} GROUP BY time(5m, 1m)")
for win in ("1m", "15m", "90s", "1d"):
    add(f"window-{win}", f"SELECT count(usage_user), sum(n) FROM cpu WHERE {ODD} GROUP BY time({win})")
for off in ("30s", "-1m", "9m"):
    add(f"offset-{off}", f"SELECT mean(usage_user) FROM cpu WHERE {H1} GROUP BY time(10m, {off})")

# ------------------------------------------------------------------ generated: selectors and transformations
for sel in ("top", "bottom"):
    add(f"{sel}-3", f"SELECT {sel}(usage_user, 3) FROM cpu WHERE {H1}")
    add(f"{sel}-3-host", f"SELECT {sel}(usage_user, 3) FROM cpu WHERE {H1} GROUP BY host")
    add(f"{sel}-tag", f"SELECT {sel}(usage_user, host, 2) FROM cpu WHERE {H1}")
    add(f"{sel}-time", f"SELECT {sel}(n, 2) FROM cpu WHERE {H1} GROUP BY time(15m)")
add("sample-2", f"SELECT sample(usage_user, 2) FROM cpu WHERE host = 'srv1' AND {H1}")
TRANSFORMS = {
    "derivative": "derivative({f})", "derivative-1m": "derivative({f}, 1m)",
    "nnderivative": "non_negative_derivative({f})", "difference": "difference({f})",
    "nndifference": "non_negative_difference({f})", "mavg3": "moving_average({f}, 3)",
    "cumsum": "cumulative_sum({f})",
}
for tname, tmpl in TRANSFORMS.items():
    add(f"tr-{tname}-raw", f"SELECT {tmpl.format(f='usage_user')} FROM cpu WHERE host = 'srv1' AND {SHORT}")
    add(f"tr-{tname}-mean", f"SELECT {tmpl.format(f='mean(usage_user)')} FROM cpu WHERE {H1} GROUP BY time(5m)")
    if tname in ("difference", "derivative", "cumsum"):
        add(f"tr-{tname}-int-host", f"SELECT {tmpl.format(f='n')} FROM cpu WHERE {SHORT} GROUP BY host")
add("tr-derivative-mean-1m", f"SELECT derivative(mean(usage_user), 1m) FROM cpu WHERE {H1} GROUP BY time(5m)")
add("tr-nnderivative-max-host", f"SELECT non_negative_derivative(max(free), 1m) FROM mem WHERE {H1} GROUP BY time(10m), host")
add("tr-difference-sum-fill0", f"SELECT difference(sum(n)) FROM cpu WHERE {GAP} GROUP BY time(5m) fill(0)")
add("tr-elapsed", f"SELECT elapsed(usage_user) FROM cpu WHERE host = 'srv1' AND {SHORT}")
add("tr-elapsed-1s", f"SELECT elapsed(value, 1s) FROM events WHERE {H1}")
add("tr-cumsum-count", f"SELECT cumulative_sum(count(value)) FROM events WHERE {ALL} GROUP BY time(15m)")

# ------------------------------------------------------------------ hand-written: raw selects
HAND = [
    ("raw-star-limit", "SELECT * FROM cpu LIMIT 8"),
    ("raw-star-range", f"SELECT * FROM cpu WHERE {SHORT}"),
    ("raw-star-mem", f"SELECT * FROM mem WHERE {SHORT}"),
    ("raw-star-disk", f"SELECT * FROM disk WHERE {SHORT}"),
    ("raw-star-events", "SELECT * FROM events"),
    ("raw-star-events-group", "SELECT * FROM events GROUP BY *"),
    ("raw-events-fields", "SELECT value, code, msg FROM events"),
    ("raw-events-kind-tag", "SELECT value, kind FROM events"),
    ("raw-events-empty-tag", "SELECT value FROM events WHERE kind = ''"),
    ("raw-events-notempty-tag", "SELECT value FROM events WHERE kind != ''"),
    ("raw-events-group-kind", "SELECT value FROM events GROUP BY kind"),
    ("raw-events-group-kind-source", "SELECT code FROM events GROUP BY kind, source"),
    ("raw-fields", f"SELECT usage_user, usage_system FROM cpu WHERE {SHORT}"),
    ("raw-field-and-tag", f"SELECT usage_user, host FROM cpu WHERE {SHORT}"),
    ("raw-tag-only", f"SELECT host FROM cpu WHERE {SHORT}"),
    ("raw-tag-type", f"SELECT usage_user, host::tag, n::field FROM cpu WHERE {SHORT}"),
    ("raw-regex-fields", f"SELECT /usage_.*/ FROM cpu WHERE {SHORT}"),
    ("raw-regex-fields-anchored", f"SELECT /^u/ FROM mem WHERE {SHORT}"),
    ("raw-regex-meas", f"SELECT * FROM /c.*/ WHERE {SHORT}"),
    ("raw-regex-meas-usage", f"SELECT usage_user FROM /^c/ WHERE {SHORT}"),
    ("raw-two-meas", f"SELECT * FROM cpu, mem WHERE {SHORT}"),
    ("raw-two-meas-field", f"SELECT used, usage_user FROM cpu, mem WHERE {SHORT}"),
    ("raw-quoted-meas", f'SELECT * FROM "net io" WHERE {SHORT}'),
    ("raw-quoted-meas-fields", 'SELECT rx, tx FROM "net io" WHERE iface = \'eth1\' LIMIT 3'),
    ("raw-fq-meas", f'SELECT usage_user FROM diffdb.autogen.cpu WHERE {SHORT}'),
    ("raw-fq-meas-default-rp", f'SELECT usage_user FROM diffdb..cpu WHERE {SHORT}'),
    ("raw-quoted-idents", f'SELECT "usage_user" FROM "cpu" WHERE "host" = \'srv2\' AND {SHORT}'),
    ("arith-add", f"SELECT usage_user + usage_system FROM cpu WHERE {SHORT}"),
    ("arith-mul", f"SELECT usage_user * 2 FROM cpu WHERE {SHORT}"),
    ("arith-alias", f"SELECT usage_user * 2 AS double, usage_system / 4 AS q FROM cpu WHERE {SHORT}"),
    ("arith-sub-int", f"SELECT n - 1 FROM cpu WHERE {SHORT}"),
    ("arith-int-div", f"SELECT used / 3 FROM mem WHERE {SHORT}"),
    ("arith-int-mul-int", f"SELECT used * free FROM mem WHERE {SHORT}"),
    ("arith-parens", f"SELECT (usage_user + usage_system) * 10 FROM cpu WHERE {SHORT}"),
    ("arith-mod", f"SELECT n % 2 FROM cpu WHERE {SHORT}"),
    ("arith-neg", f"SELECT -usage_user FROM cpu WHERE {SHORT}"),
    ("arith-int-float", f"SELECT used + pct FROM mem WHERE {SHORT}"),
    ("arith-div-zero", f"SELECT usage_user / 0 FROM cpu WHERE {SHORT}"),
    ("arith-bitand", f"SELECT used & 255 FROM mem WHERE {SHORT}"),
    ("arith-agg", f"SELECT mean(usage_user) * 2 FROM cpu WHERE {H1} GROUP BY time(15m)"),
    ("arith-two-aggs", f"SELECT max(usage_user) - min(usage_user) AS range FROM cpu WHERE {H1} GROUP BY time(15m)"),
    ("arith-agg-int", f"SELECT sum(used) / count(used) FROM mem WHERE {H1}"),
    ("alias-raw", f"SELECT usage_user AS u FROM cpu WHERE {SHORT}"),
    ("alias-agg", f"SELECT mean(usage_user) AS avg, max(usage_user) AS top FROM cpu WHERE {H1}"),
    ("alias-dup-names", f"SELECT mean(usage_user), mean(usage_system) FROM cpu WHERE {H1}"),
    ("alias-same-agg-twice", f"SELECT max(usage_user), max(usage_user) FROM cpu WHERE {H1}"),
    ("multi-agg", f"SELECT count(usage_user), mean(usage_user), min(n), max(n), sum(n) FROM cpu WHERE {H1} GROUP BY time(20m)"),
    ("multi-agg-fields-mixed", f"SELECT mean(usage_user), count(n), last(usage_system) FROM cpu WHERE {H1} GROUP BY host"),
    ("selector-with-field", f"SELECT max(usage_user), usage_system FROM cpu WHERE {H1}"),
    ("selector-with-tag", f"SELECT min(usage_user), host FROM cpu WHERE {H1}"),
    ("selector-first-time", f"SELECT first(usage_user) FROM cpu WHERE {H1} GROUP BY host"),
    ("selector-max-tie", f"SELECT max(n) FROM cpu WHERE {H1}"),
    ("selector-min-tie-host", f"SELECT min(n) FROM cpu WHERE {H1} GROUP BY host"),
    ("selector-last-string", f"SELECT last(status) FROM disk WHERE {H1} GROUP BY host, path"),
    ("count-star", f"SELECT count(*) FROM cpu WHERE {H1}"),
    ("count-star-events", "SELECT count(*) FROM events"),
    ("mean-star", f"SELECT mean(*) FROM mem WHERE {H1}"),
    ("max-regex", f"SELECT max(/usage_.*/) FROM cpu WHERE {H1}"),
    ("count-regex-group", f"SELECT count(/u.*/) FROM cpu WHERE {H1} GROUP BY time(30m)"),
    ("count-no-range", "SELECT count(usage_user) FROM cpu"),
    ("mean-no-range-host", "SELECT mean(usage_user) FROM cpu GROUP BY host"),
    ("count-all-meas", f"SELECT count(*) FROM /.*/ WHERE {ALL}"),
    ("percentile-50", f"SELECT percentile(usage_user, 50) FROM cpu WHERE {H1}"),
    ("percentile-0", f"SELECT percentile(usage_user, 0) FROM cpu WHERE {H1}"),
    ("percentile-100-int", f"SELECT percentile(n, 100) FROM cpu WHERE {H1}"),
    ("percentile-999", f"SELECT percentile(usage_user, 99.9) FROM cpu WHERE {H1} GROUP BY host"),
    ("median-even", f"SELECT median(usage_user) FROM cpu WHERE host = 'srv1' AND {SHORT}"),
    ("stddev-one-point", f"SELECT stddev(usage_user) FROM cpu WHERE host = 'srv1' AND time = '2026-01-05T00:10:00Z'"),
    ("time-equals", "SELECT * FROM cpu WHERE time = '2026-01-05T00:10:00Z'"),
    ("time-equals-epoch-ms", "SELECT * FROM cpu WHERE time = 1767571800000ms"),
    ("time-fraction", "SELECT * FROM events WHERE time >= '2026-01-05T00:00:07.125Z' AND time < '2026-01-05T00:05:00Z'"),
    ("time-date-only", "SELECT count(usage_user) FROM cpu WHERE time >= '2026-01-05' AND time < '2026-01-06'"),
    ("time-now-minus", "SELECT usage_user FROM cpu WHERE host = 'srv1' AND time > now() - 3650d LIMIT 3"),
    ("time-future", "SELECT count(usage_user) FROM cpu WHERE time > now()"),
    ("time-or-range", "SELECT count(usage_user) FROM cpu WHERE time < '2026-01-05T00:10:00Z' OR time > '2026-01-05T01:50:00Z'"),
    ("time-inverted", "SELECT count(usage_user) FROM cpu WHERE time > '2026-01-05T01:00:00Z' AND time < '2026-01-05T00:00:00Z'"),
    ("time-upper-only", "SELECT count(usage_user) FROM cpu WHERE time < '2026-01-05T00:10:00Z'"),
    # WHERE on tags and fields
    ("where-tag-eq", f"SELECT usage_user FROM cpu WHERE host = 'srv2' AND {SHORT}"),
    ("where-tag-neq", f"SELECT usage_user FROM cpu WHERE host != 'srv2' AND {SHORT}"),
    ("where-tag-neq2", f"SELECT usage_user FROM cpu WHERE host <> 'srv2' AND {SHORT}"),
    ("where-tag-regex", f"SELECT usage_user FROM cpu WHERE host =~ /srv[12]/ AND {SHORT}"),
    ("where-tag-nregex", f"SELECT usage_user FROM cpu WHERE host !~ /^srv[12]$/ AND {SHORT}"),
    ("where-tag-or", f"SELECT usage_user FROM cpu WHERE (host = 'srv1' OR host = 'srv3') AND {SHORT}"),
    ("where-tag-and", f"SELECT usage_user FROM cpu WHERE host = 'srv1' AND region = 'eu' AND {SHORT}"),
    ("where-tag-and-none", f"SELECT usage_user FROM cpu WHERE host = 'srv1' AND region = 'us' AND {SHORT}"),
    ("where-field-gt", f"SELECT usage_user FROM cpu WHERE usage_user > 80 AND {H1}"),
    ("where-field-lt-neg", f"SELECT usage_user FROM cpu WHERE usage_user < 0 AND {H1}"),
    ("where-field-eq", f"SELECT usage_user, host FROM cpu WHERE usage_user = 42.5 AND {H1}"),
    ("where-field-int", f"SELECT n FROM cpu WHERE n >= 3 AND {SHORT}"),
    ("where-field-int-float-literal", f"SELECT n FROM cpu WHERE n = 3.0 AND {SHORT}"),
    ("where-field-string", f"SELECT status FROM disk WHERE status = 'crit' AND {SHORT}"),
    ("where-field-string-regex", f"SELECT status FROM disk WHERE status =~ /^w/ AND {SHORT}"),
    ("where-field-bool", f"SELECT ok, status FROM disk WHERE ok = true AND {SHORT}"),
    ("where-field-bool-false", f"SELECT ok FROM disk WHERE ok = false AND {SHORT}"),
    ("where-field-or-tag", f"SELECT usage_user FROM cpu WHERE (usage_user > 90 OR host = 'srv1') AND {SHORT}"),
    ("where-field-and-or", f"SELECT usage_user FROM cpu WHERE usage_user > 10 AND (host = 'srv1' OR host = 'srv4') AND {SHORT}"),
    ("where-field-arith", f"SELECT usage_user FROM cpu WHERE usage_user + usage_system > 100 AND {H1}"),
    ("where-field-two", f"SELECT * FROM cpu WHERE usage_user > usage_system * 5 AND {SHORT}"),
    ("where-agg-field", f"SELECT mean(usage_user) FROM cpu WHERE usage_user > 50 AND {H1} GROUP BY time(15m)"),
    ("where-agg-tag-regex", f"SELECT max(usage_user) FROM cpu WHERE region =~ /e/ AND {H1} GROUP BY time(15m), host"),
    ("where-missing-tag", f"SELECT usage_user FROM cpu WHERE nosuchtag = 'x' AND {SHORT}"),
    ("where-missing-tag-empty", f"SELECT usage_user FROM cpu WHERE nosuchtag = '' AND {SHORT}"),
    ("where-events-source-or", "SELECT value FROM events WHERE source = 'db' OR kind = 'error'"),
    ("where-events-field-null", "SELECT value, code FROM events WHERE code = 404"),
    ("where-double-quoted-string", f"SELECT usage_user FROM cpu WHERE \"host\" = 'srv3' AND {SHORT}"),
    ("where-tag-escaped-quote", "SELECT * FROM cpu WHERE host = 'it\\'s'"),
    # GROUP BY
    ("group-host", f"SELECT usage_user FROM cpu WHERE {SHORT} GROUP BY host"),
    ("group-region-host", f"SELECT usage_user FROM cpu WHERE {SHORT} GROUP BY region, host"),
    ("group-star-raw", f"SELECT usage_user FROM cpu WHERE {SHORT} GROUP BY *"),
    ("group-regex-tag", f"SELECT mean(usage_user) FROM cpu WHERE {H1} GROUP BY /reg.*/"),
    ("group-missing-tag", f"SELECT mean(usage_user) FROM cpu WHERE {H1} GROUP BY nosuchtag"),
    ("group-quoted-tag", f"SELECT mean(usage_user) FROM cpu WHERE {H1} GROUP BY \"host\""),
    ("group-time-host-star", f"SELECT count(usage_user) FROM cpu WHERE {H1} GROUP BY time(30m), *"),
    ("group-host-time-order", f"SELECT count(usage_user) FROM cpu WHERE {H1} GROUP BY host, time(30m)"),
    ("group-path-disk", f"SELECT min(free) FROM disk WHERE {ALL} GROUP BY path"),
    ("group-time-raw-error", f"SELECT usage_user FROM cpu WHERE {H1} GROUP BY time(5m)"),
    ("group-time-no-range", "SELECT mean(usage_user) FROM cpu WHERE time >= '2026-01-05T01:50:00Z' GROUP BY time(5m)"),
    # ORDER BY, LIMIT, OFFSET, SLIMIT, SOFFSET
    ("order-desc", f"SELECT usage_user FROM cpu WHERE host = 'srv1' AND {SHORT} ORDER BY time DESC"),
    ("order-asc", f"SELECT usage_user FROM cpu WHERE host = 'srv1' AND {SHORT} ORDER BY time ASC"),
    ("order-desc-limit", "SELECT * FROM cpu ORDER BY time DESC LIMIT 8"),
    ("order-desc-group", f"SELECT mean(usage_user) FROM cpu WHERE {H1} GROUP BY time(10m) ORDER BY time DESC"),
    ("order-desc-host", f"SELECT last(usage_user) FROM cpu WHERE {H1} GROUP BY time(20m), host ORDER BY time DESC"),
    ("order-desc-fill-prev", f"SELECT mean(usage_user) FROM cpu WHERE host = 'srv4' AND {GAP} GROUP BY time(5m) fill(previous) ORDER BY time DESC"),
    ("order-by-field-error", f"SELECT usage_user FROM cpu WHERE {SHORT} ORDER BY usage_user"),
    ("limit-raw", f"SELECT usage_user FROM cpu WHERE {H1} LIMIT 4"),
    ("limit-offset", f"SELECT usage_user FROM cpu WHERE {H1} LIMIT 8 OFFSET 4"),
    ("limit-group", f"SELECT usage_user FROM cpu WHERE {H1} GROUP BY host LIMIT 2"),
    ("limit-offset-group", f"SELECT usage_user FROM cpu WHERE {H1} GROUP BY host LIMIT 2 OFFSET 3"),
    ("limit-agg", f"SELECT mean(usage_user) FROM cpu WHERE {H1} GROUP BY time(5m) LIMIT 3"),
    ("limit-offset-agg", f"SELECT mean(usage_user) FROM cpu WHERE {H1} GROUP BY time(5m) LIMIT 3 OFFSET 2"),
    ("limit-agg-host", f"SELECT max(n) FROM cpu WHERE {H1} GROUP BY time(5m), host LIMIT 2"),
    ("offset-only", f"SELECT usage_user FROM cpu WHERE host = 'srv1' AND {SHORT} OFFSET 2"),
    ("offset-past-end", f"SELECT usage_user FROM cpu WHERE host = 'srv1' AND {SHORT} LIMIT 2 OFFSET 100"),
    ("limit-zero", f"SELECT usage_user FROM cpu WHERE {SHORT} LIMIT 0"),
    ("slimit", f"SELECT mean(usage_user) FROM cpu WHERE {H1} GROUP BY host SLIMIT 2"),
    ("slimit-soffset", f"SELECT mean(usage_user) FROM cpu WHERE {H1} GROUP BY host SLIMIT 2 SOFFSET 1"),
    ("soffset-only", f"SELECT mean(usage_user) FROM cpu WHERE {H1} GROUP BY host SOFFSET 3"),
    ("slimit-raw", f"SELECT usage_user FROM cpu WHERE {SHORT} GROUP BY host SLIMIT 1"),
    ("slimit-limit", f"SELECT usage_user FROM cpu WHERE {SHORT} GROUP BY host LIMIT 1 SLIMIT 3"),
    ("slimit-time-host", f"SELECT count(n) FROM cpu WHERE {H1} GROUP BY time(30m), host SLIMIT 2 SOFFSET 1"),
    ("slimit-two-meas", f"SELECT * FROM cpu, mem WHERE {SHORT} GROUP BY host SLIMIT 1"),
    # tz(), subqueries
    ("tz-paris-raw", f"SELECT usage_user FROM cpu WHERE host = 'srv1' AND {SHORT} tz('Europe/Paris')"),
    ("tz-paris-group", f"SELECT mean(usage_user) FROM cpu WHERE {H1} GROUP BY time(15m) tz('Europe/Paris')"),
    ("tz-utc", f"SELECT count(n) FROM cpu WHERE {ALL} GROUP BY time(1h) tz('UTC')"),
    ("tz-day", "SELECT count(n) FROM cpu WHERE time >= '2026-01-04T00:00:00Z' AND time < '2026-01-07T00:00:00Z' GROUP BY time(1d) tz('America/New_York')"),
    ("sub-max-mean", f"SELECT max(m) FROM (SELECT mean(usage_user) AS m FROM cpu WHERE {H1} GROUP BY time(5m), host)"),
    ("sub-max-mean-host", f"SELECT max(m) FROM (SELECT mean(usage_user) AS m FROM cpu WHERE {H1} GROUP BY time(5m), host) GROUP BY host"),
    ("sub-raw", f"SELECT usage_user FROM (SELECT usage_user, host FROM cpu WHERE {SHORT}) WHERE host = 'srv2'"),
    ("sub-sum-count", f"SELECT sum(c) FROM (SELECT count(usage_user) AS c FROM cpu WHERE {H1} GROUP BY time(10m), host) WHERE {H1} GROUP BY time(30m)"),
    ("sub-arith", f"SELECT d * 2 FROM (SELECT usage_user - usage_system AS d FROM cpu WHERE host = 'srv3' AND {SHORT})"),
    # empty results
    ("empty-range", f"SELECT * FROM cpu WHERE {NODATA}"),
    ("empty-range-agg", f"SELECT count(usage_user) FROM cpu WHERE {NODATA}"),
    ("empty-range-agg-host", f"SELECT mean(usage_user) FROM cpu WHERE {NODATA} GROUP BY host"),
    ("empty-meas", "SELECT * FROM nosuch"),
    ("empty-meas-agg", f"SELECT count(x) FROM nosuch WHERE {H1} GROUP BY time(10m)"),
    ("empty-tag-value", f"SELECT usage_user FROM cpu WHERE host = 'srv9' AND {H1}"),
    ("empty-field", f"SELECT nosuchfield FROM cpu WHERE {SHORT}"),
    ("empty-field-agg", f"SELECT mean(nosuchfield) FROM cpu WHERE {H1}"),
    ("partial-missing-field", f"SELECT usage_user, nosuchfield FROM cpu WHERE host = 'srv1' AND {SHORT}"),
    ("empty-regex-meas", "SELECT * FROM /^zzz/"),
    ("empty-db-missing", "SELECT * FROM nosuchdb.autogen.cpu"),
    # errors
    ("err-syntax", "SELEC * FROM cpu"),
    ("err-syntax-from", "SELECT * FORM cpu"),
    ("err-syntax-unterminated", "SELECT * FROM cpu WHERE host = 'srv1"),
    ("err-unknown-func", f"SELECT nosuchfunc(usage_user) FROM cpu WHERE {H1}"),
    ("err-mix-agg-raw", f"SELECT mean(usage_user), usage_system FROM cpu WHERE {H1}"),
    ("err-agg-of-tag", f"SELECT mean(host) FROM cpu WHERE {H1}"),
    ("err-percentile-args", f"SELECT percentile(usage_user) FROM cpu WHERE {H1}"),
    ("err-mean-string", f"SELECT mean(status) FROM disk WHERE {H1}"),
    ("err-group-time-no-agg", f"SELECT * FROM cpu WHERE {H1} GROUP BY time(10m)"),
    ("err-fill-bad", f"SELECT mean(usage_user) FROM cpu WHERE {H1} GROUP BY time(10m) fill(bogus)"),
    ("err-only-tag", f"SELECT host FROM cpu WHERE {SHORT} GROUP BY host"),
    ("err-empty-query", " "),
    ("err-time-agg", f"SELECT mean(time) FROM cpu WHERE {H1}"),
    ("err-limit-neg", "SELECT * FROM cpu LIMIT -1"),
    ("err-count-no-args", f"SELECT count() FROM cpu WHERE {H1}"),
    ("err-group-time-zero", f"SELECT mean(usage_user) FROM cpu WHERE {H1} GROUP BY time(0s)"),
    # multi-statement
    ("multi-two", f"SELECT count(usage_user) FROM cpu WHERE {H1}; SELECT count(used) FROM mem WHERE {H1}"),
    ("multi-show-select", f"SHOW MEASUREMENTS; SELECT max(usage_user) FROM cpu WHERE {H1} GROUP BY host"),
    ("multi-error-middle", f"SELECT count(n) FROM cpu WHERE {H1}; SELECT mean(status) FROM disk WHERE {H1}; SELECT count(used) FROM mem"),
    ("multi-trailing-semicolon", f"SELECT count(n) FROM cpu WHERE {H1};"),
    ("multi-syntax-error", "SELECT count(n) FROM cpu; SELEC 1"),
    ("multi-three", "SHOW DATABASES; SHOW RETENTION POLICIES ON diffdb; SHOW TAG KEYS FROM mem"),
]
for cid, q in HAND:
    add(cid, q)

# ------------------------------------------------------------------ SHOW statements
SHOWS = [
    ("show-databases", "SHOW DATABASES"),
    ("show-measurements", "SHOW MEASUREMENTS"),
    ("show-measurements-regex", "SHOW MEASUREMENTS WITH MEASUREMENT =~ /c.*/"),
    ("show-measurements-eq", "SHOW MEASUREMENTS WITH MEASUREMENT = cpu"),
    ("show-measurements-eq-quoted", 'SHOW MEASUREMENTS WITH MEASUREMENT = "net io"'),
    ("show-measurements-limit", "SHOW MEASUREMENTS LIMIT 2"),
    ("show-measurements-limit-offset", "SHOW MEASUREMENTS LIMIT 2 OFFSET 1"),
    ("show-measurements-where", "SHOW MEASUREMENTS WHERE host = 'srv3'"),
    ("show-measurements-where-regex", "SHOW MEASUREMENTS WHERE host =~ /srv[12]/"),
    ("show-measurements-on", "SHOW MEASUREMENTS ON diffdb"),
    ("show-measurements-none", "SHOW MEASUREMENTS WITH MEASUREMENT =~ /^zzz/"),
    ("show-tag-keys", "SHOW TAG KEYS"),
    ("show-tag-keys-from", "SHOW TAG KEYS FROM cpu"),
    ("show-tag-keys-from-two", "SHOW TAG KEYS FROM cpu, disk"),
    ("show-tag-keys-from-regex", "SHOW TAG KEYS FROM /^[dm]/"),
    ("show-tag-keys-limit", "SHOW TAG KEYS LIMIT 1"),
    ("show-tag-keys-events", "SHOW TAG KEYS FROM events"),
    ("show-tag-keys-missing", "SHOW TAG KEYS FROM nosuch"),
    ("show-tag-keys-quoted", 'SHOW TAG KEYS FROM "net io"'),
    ("show-tag-values-host", "SHOW TAG VALUES WITH KEY = host"),
    ("show-tag-values-from-host", "SHOW TAG VALUES FROM cpu WITH KEY = host"),
    ("show-tag-values-in", "SHOW TAG VALUES FROM cpu WITH KEY IN (host, region)"),
    ("show-tag-values-regex", "SHOW TAG VALUES WITH KEY =~ /h.*/"),
    ("show-tag-values-regex-from", "SHOW TAG VALUES FROM disk WITH KEY =~ /.*/"),
    ("show-tag-values-where", "SHOW TAG VALUES FROM cpu WITH KEY = host WHERE region = 'us'"),
    ("show-tag-values-where-regex", "SHOW TAG VALUES FROM cpu WITH KEY = region WHERE host =~ /[34]$/"),
    ("show-tag-values-neq", "SHOW TAG VALUES FROM cpu WITH KEY != host"),
    ("show-tag-values-limit", "SHOW TAG VALUES FROM cpu WITH KEY = host LIMIT 2"),
    ("show-tag-values-limit-offset", "SHOW TAG VALUES FROM cpu WITH KEY = host LIMIT 2 OFFSET 1"),
    ("show-tag-values-events", "SHOW TAG VALUES FROM events WITH KEY IN (kind, source)"),
    ("show-tag-values-missing-key", "SHOW TAG VALUES FROM cpu WITH KEY = nosuchtag"),
    ("show-field-keys", "SHOW FIELD KEYS"),
    ("show-field-keys-from", "SHOW FIELD KEYS FROM disk"),
    ("show-field-keys-from-cpu", "SHOW FIELD KEYS FROM cpu"),
    ("show-field-keys-regex", "SHOW FIELD KEYS FROM /^e/"),
    ("show-field-keys-quoted", 'SHOW FIELD KEYS FROM "net io"'),
    ("show-field-keys-missing", "SHOW FIELD KEYS FROM nosuch"),
    ("show-series", "SHOW SERIES"),
    ("show-series-from", "SHOW SERIES FROM cpu"),
    ("show-series-where", "SHOW SERIES FROM cpu WHERE region = 'eu'"),
    ("show-series-where-regex", "SHOW SERIES WHERE host =~ /srv[13]/"),
    ("show-series-limit", "SHOW SERIES LIMIT 3"),
    ("show-series-limit-offset", "SHOW SERIES FROM disk LIMIT 2 OFFSET 1"),
    ("show-series-events", "SHOW SERIES FROM events"),
    ("show-series-quoted", 'SHOW SERIES FROM "net io"'),
    ("show-retention-policies", "SHOW RETENTION POLICIES"),
    ("show-retention-policies-on", "SHOW RETENTION POLICIES ON diffdb"),
    ("show-tag-keys-on", "SHOW TAG KEYS ON diffdb FROM mem"),
    ("show-err-syntax", "SHOW TAG VALUES FROM cpu"),
    ("show-err-bogus", "SHOW BOGUS"),
]
for cid, q in SHOWS:
    add(cid, q)

# (SELECT ... INTO is left out: 1.x would write the result into the data set every other case reads.)

# Cases whose answer is not deterministic in 1.x (sample() draws at random): only the shape
# (series, columns, row counts) is compared.
SHAPE_ONLY = {"sample-2"}

BY_ID: dict[str, Case] = {c.id: c for c in CASES}

# Subsets run again with other response options (ids of CASES).
EPOCH_CASES = ["raw-star-limit", "raw-star-events", "raw-fields", "time-fraction", "agg-mean-usage_user-t10m",
               "agg-max-n-t10m_host", "fill-previous-mean-srv4", "fill-linear-mean-srv4", "order-desc-group",
               "offset-30s", "range-odd-mean-t7m", "selector-first-time", "count-star", "multi-two",
               "show-series", "limit-offset-group"]
CHUNKED_CASES = ["raw-star-range", "raw-star-events", "group-host", "agg-count-usage_user-t10m_host",
                 "fill-null-mean-host", "multi-two", "show-tag-values-in", "limit-group", "count-no-range"]
