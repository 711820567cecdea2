"""The system cache tree: its node data, the Tree widget, and the model of the nodes it should
show for a cache's contents (path -> label), which the pane diff-applies by node path."""
from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.widgets import Tree

from ...model import ValueCacheContents, ValueCacheItem, ValueCacheRow
from .format import compact, fmt_age, key_text, values_text
from .kinds import view_of

AUTO_EXPAND_LEAVES = 200  # a system cache tree this small opens fully expanded
KEY_PAD = 24  # leaf keys are padded to the widest sibling, up to this
# paths of the placeholder lines: a tuple inside, which no key value is
LOADING, EMPTY, MORE = (("…", "loading"),), (("…", "empty"),), (("…", "more"),)


@dataclass(slots=True)
class TreeData:
    """What a node of the system cache tree stands for."""

    path: tuple
    item: ValueCacheItem | None = None  # leaves: the row (LVC) or combination (DVC)


class ValueTree(Tree[TreeData]):
    """The system cache tree. `enter` is left to the pane (its Binding is in the footer and
    help): leaves open the full row, other nodes expand or collapse."""

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "select_cursor":
            return False
        return super().check_action(action, parameters)


def tree_model(row: ValueCacheRow, c: ValueCacheContents | None,
                now: float) -> dict[tuple, tuple[Text, bool, TreeData]]:
    """The nodes the tree should show, in order: path -> (label, is leaf, data).

    Paths are tuples of key values (one per level); an LVC keeping several rows per key adds
    ("#", i) for its i-th newest row. Entries past their ttl / max_age by the console clock
    are left out (the cache drops them at its next write)."""
    want: dict[tuple, tuple[Text, bool, TreeData]] = {}
    if c is None:
        want[LOADING] = (Text("reading the cache…", style="dim italic"), True, TreeData(LOADING))
        return want
    elapsed = max(0.0, now - c.at)
    view = view_of(row)
    limit = view.expires_after(row)
    items = [(i, i.age + elapsed) for i in c.items if limit <= 0 or i.age + elapsed <= limit]
    cols = row.columns
    levels = len(cols)
    multi = view.has_rows and view.several_rows(row)
    # keys under each prefix (interior labels) and the widest value per level (aligned leaves)
    under: dict[tuple, int] = {}
    width = [0] * max(1, levels)
    rows_of: dict[tuple, int] = {}
    prev: tuple | None = None
    for it, _ in items:
        k = tuple(it.key)
        rows_of[k] = rows_of.get(k, 0) + 1
        if k == prev:
            continue
        prev = k
        for d in range(1, levels):
            under[k[:d]] = under.get(k[:d], 0) + 1
        for d in range(levels):
            width[d] = max(width[d], min(KEY_PAD, len(compact(k[d]))))
    noun = view.noun
    row_index: dict[tuple, int] = {}
    for it, age in items:
        k = tuple(it.key)
        for d in range(1, levels):  # interior levels
            p = k[:d]
            if p not in want:
                n = under[p]
                label = key_text(cols[d - 1], k[d - 1])
                label.append(f"  {n:,} {noun}{'s' if n != 1 else ''}", style="dim")
                want[p] = (label, False, TreeData(p))
        age_text = Text(f"{fmt_age(age):>5}", style="cyan")
        if not view.has_rows:  # DVC: the combination is the leaf
            label = key_text(cols[-1], k[-1], width[levels - 1])
            label.append("  last seen ", style="dim")
            label.append(fmt_age(age), style="cyan")
            label.append(" ago", style="dim")
            want[k] = (label, True, TreeData(k, it))
            continue
        if not multi:  # LVC, one row per key: the key is the leaf
            label = key_text(cols[-1], k[-1], width[levels - 1])
            label.append("  ")
            label.append_text(age_text)
            label.append("  ")
            values_text(it.values or {}, label)
            want[k] = (label, True, TreeData(k, it))
            continue
        if levels and k not in want:  # LVC, several rows per key: the key, then its rows
            n = rows_of[k]
            label = key_text(cols[-1], k[-1])
            label.append(f"  {n} row{'s' if n != 1 else ''} · newest {fmt_age(age)} ago", style="dim")
            want[k] = (label, False, TreeData(k))
        i = row_index.get(k, 0)
        row_index[k] = i + 1
        p = (*k, ("#", i))
        label = Text(no_wrap=True)
        label.append_text(age_text)
        label.append("  ")
        values_text(it.values or {}, label)
        want[p] = (label, True, TreeData(p, it))
    if not items:
        want[EMPTY] = (Text(view.empty(row), style="dim italic"), True, TreeData(EMPTY))
    shown = len(rows_of)
    if c.total > shown:
        more = c.total - shown
        t = Text(f"… {more:,} more {noun}{'s' if more != 1 else ''} (the console shows the first {shown:,})",
                 style="dim italic")
        want[MORE] = (t, True, TreeData(MORE))
    return want
