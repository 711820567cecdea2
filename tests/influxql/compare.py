"""Normalise and compare two InfluxDB v1 `/query` JSON answers (pe's and a real 1.x's).

`diff(pe, ref)` is None when they agree, else a readable message naming the first difference.
Agreement means, statement by statement: both answered an error or neither did (the messages
are shown, not compared); the same series in the same order with the same name, tags, and
columns in the same order; the same rows, where numbers are equal within a relative tolerance of
1e-9 and an int equals a float of the same value (pe writes an integral float as 32.0 where 1.x
writes 32: a known, deliberate difference), strings and times are equal exactly, and booleans
are never numbers. Rows of one series with the same time are compared as a multiset (InfluxQL
does not order points of equal time, e.g. several hosts' points in one ungrouped series: 1.x
merges them in storage order). A missing `tags`/`values` is the same as an empty one; `partial` is ignored.
A whole-query error (top-level `error`, e.g. a parse error) counts as one erroring statement.
"""
from __future__ import annotations

import json
import math
from typing import Any

REL_TOL = 1e-9
ABS_TOL = 1e-12


def merge_chunks(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """One answer from a chunked response's JSON objects: a statement's results are joined, and a
    series continued in the next chunk (the previous one was `partial`) gets its rows appended."""
    results: dict[int, dict[str, Any]] = {}
    order: list[int] = []
    for chunk in chunks:
        if "error" in chunk and "results" not in chunk:
            return chunk
        for r in chunk.get("results", []):
            sid = r.get("statement_id", 0)
            if sid not in results:
                results[sid] = {"statement_id": sid}
                order.append(sid)
            out = results[sid]
            if "error" in r:
                out["error"] = r["error"]
            for s in r.get("series", []):
                series = out.setdefault("series", [])
                prev = series[-1] if series else None
                if (prev is not None and prev.pop("partial", False) and prev.get("name") == s.get("name")
                        and (prev.get("tags") or {}) == (s.get("tags") or {})):
                    prev.setdefault("values", []).extend(s.get("values", []))
                    if s.get("partial"):
                        prev["partial"] = True
                else:
                    series.append(dict(s))
            if r.get("messages"):
                out.setdefault("messages", []).extend(r["messages"])
    for r in results.values():
        for s in r.get("series", []):
            s.pop("partial", None)
    return {"results": [results[sid] for sid in order]}


def normalise(answer: dict[str, Any]) -> list[dict[str, Any]]:
    """A list of statements, each {"error": str | None, "series": [{name, tags, columns, values}]}."""
    if "error" in answer and "results" not in answer:
        return [{"error": str(answer["error"]), "series": [], "whole_query": True}]
    out = []
    for r in sorted(answer.get("results", []), key=lambda r: r.get("statement_id", 0)):
        series = [{"name": s.get("name", ""), "tags": dict(s.get("tags") or {}),
                   "columns": list(s.get("columns", [])), "values": [list(v) for v in s.get("values") or []]}
                  for s in r.get("series", []) or []]
        out.append({"error": r.get("error"), "series": series})
    return out


def _cell_key(v: Any) -> tuple[Any, ...]:
    if v is None:
        return (0,)
    if isinstance(v, bool):
        return (1, v)
    if isinstance(v, (int, float)):
        return (2, float(v))
    return (3, str(v))


def _tie_sorted(columns: list[str], rows: list[list[Any]]) -> list[list[Any]]:
    """Rows with each run of equal times sorted by value (the runs stay in place)."""
    if not columns or columns[0] != "time":
        return rows
    out: list[list[Any]] = []
    i = 0
    while i < len(rows):
        j = i + 1
        while j < len(rows) and rows[j][:1] == rows[i][:1]:
            j += 1
        out.extend(sorted(rows[i:j], key=lambda r: [_cell_key(v) for v in r]) if j - i > 1 else rows[i:j])
        i = j
    return out


def values_equal(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if isinstance(a, float) and isinstance(b, float) and (math.isnan(a) or math.isnan(b)):
            return math.isnan(a) and math.isnan(b)
        if isinstance(a, int) and isinstance(b, int):
            return a == b
        return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=ABS_TOL)
    return type(a) is type(b) and a == b


def rows_equal(a: list[Any], b: list[Any]) -> bool:
    return len(a) == len(b) and all(values_equal(x, y) for x, y in zip(a, b))


def short(obj: Any, limit: int = 300) -> str:
    text = json.dumps(obj, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


def _label(s: dict[str, Any]) -> str:
    return f"{s['name']!r} tags={s['tags']}"


def diff(pe: dict[str, Any], ref: dict[str, Any], shape_only: bool = False) -> str | None:
    """None if the answers agree, else what differs first (pe's side first, then 1.x's).
    `shape_only`: compare series, columns and row counts, not the values."""
    a, b = normalise(pe), normalise(ref)
    if len(a) != len(b) and not (any(s.get("whole_query") for s in a + b)):
        return f"statement count: pe {len(a)}, 1.x {len(b)}"
    if any(s.get("whole_query") for s in a + b):  # a whole-query error on either side
        a_err, b_err = any(s["error"] for s in a), any(s["error"] for s in b)
        if a_err and b_err:
            return None
        return f"error: pe {_errors(a) or 'none'}; 1.x {_errors(b) or 'none'}\npe:  {short(pe)}\n1.x: {short(ref)}"
    for i, (sa, sb) in enumerate(zip(a, b)):
        where = f"statement {i}: "
        if (sa["error"] is None) != (sb["error"] is None):
            return (where + f"error: pe {sa['error']!r}, 1.x {sb['error']!r}\n"
                    f"pe:  {short(sa['series'])}\n1.x: {short(sb['series'])}")
        if sa["error"] is not None:
            continue
        la, lb = sa["series"], sb["series"]
        if [(s["name"], s["tags"]) for s in la] != [(s["name"], s["tags"]) for s in lb]:
            return (where + f"series differ: pe {len(la)}, 1.x {len(lb)}\n"
                    f"pe:  {short([_label(s) for s in la], 600)}\n1.x: {short([_label(s) for s in lb], 600)}"
                    + _first_rows(la, lb))
        for j, (xa, xb) in enumerate(zip(la, lb)):
            here = where + f"series {j} {_label(xa)}: "
            if xa["columns"] != xb["columns"]:
                return here + (f"columns: pe {xa['columns']}, 1.x {xb['columns']}\n"
                               f"pe rows:  {short(xa['values'][:3])}\n1.x rows: {short(xb['values'][:3])}")
            va, vb = _tie_sorted(xa["columns"], xa["values"]), _tie_sorted(xb["columns"], xb["values"])
            for k, (ra, rb) in enumerate(zip(va, vb)):
                if shape_only:
                    break
                if not rows_equal(ra, rb):
                    return here + (f"row {k} of {len(xa['values'])}/{len(xb['values'])} (columns {xa['columns']}):\n"
                                   f"pe:  {short(ra)}\n1.x: {short(rb)}")
            if len(xa["values"]) != len(xb["values"]):
                n = min(len(xa["values"]), len(xb["values"]))
                return here + (f"row count: pe {len(xa['values'])}, 1.x {len(xb['values'])}; first extra row: "
                               f"pe {short(xa['values'][n:n + 1])} 1.x {short(xb['values'][n:n + 1])}")
    return None


def _first_rows(la: list[dict[str, Any]], lb: list[dict[str, Any]]) -> str:
    ra = la[0]["values"][:2] if la else []
    rb = lb[0]["values"][:2] if lb else []
    ca = la[0]["columns"] if la else []
    cb = lb[0]["columns"] if lb else []
    return f"\npe first:  {short(ca)} {short(ra)}\n1.x first: {short(cb)} {short(rb)}"


def _errors(stmts: list[dict[str, Any]]) -> str:
    return "; ".join(repr(s["error"]) for s in stmts if s["error"])


def errors_of(answer: dict[str, Any]) -> list[str]:
    """Every error message of an answer (the whole query's or its statements')."""
    return [s["error"] for s in normalise(answer) if s["error"]]
