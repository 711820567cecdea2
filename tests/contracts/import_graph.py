"""The import graph of pe_engine and pe_tui (grimp, the library import-linter is built on)."""
from __future__ import annotations

import grimp


def build() -> "grimp.ImportGraph":
    return grimp.build_graph("pe_engine", "pe_tui", cache_dir=None)


def cycles(graph: "grimp.ImportGraph") -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative).

    Imports under TYPE_CHECKING count too: a type-only loop is still two modules that
    cannot be understood one without the other; ports.py is how to break it.
    """
    modules = sorted(graph.modules)
    edges = {m: sorted(graph.find_modules_directly_imported_by(m) & graph.modules) for m in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for root in modules:
        if root in index:
            continue
        work = [(root, iter(edges[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, it = work[-1]
            for nxt in it:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(edges[nxt])))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    comp = []
                    while True:
                        m = stack.pop()
                        on_stack.discard(m)
                        comp.append(m)
                        if m == node:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))
    return out


if __name__ == "__main__":
    g = build()
    cs = cycles(g)
    print(f"{len(cs)} import cycle(s), {sum(len(c) for c in cs)} modules in them")
    for c in cs:
        print("  ", " ".join(c))
