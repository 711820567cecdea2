"""The console's own layers, read from the source (grimp): panes reach the engine only through
messages to the app; the console sources (live/, replay/) and the model are Textual-free, so a
headless tool or a test can use them without a terminal."""
from __future__ import annotations

import grimp
import pytest


@pytest.fixture(scope="module")
def graph() -> "grimp.ImportGraph":
    return grimp.build_graph("pe_tui", "pe_engine", include_external_packages=True, cache_dir=None)


@pytest.mark.parametrize("target", ["pe_tui.app", "pe_tui.live", "pe_tui.replay", "pe_tui.source", "pe_tui.ticker"])
def test_panes_and_screens_never_reach_the_app_or_a_source(graph, target: str) -> None:
    for importer in ("pe_tui.panes", "pe_tui.screens", "pe_tui.widgets"):
        chain = graph.find_shortest_chain(importer=importer, imported=target, as_packages=True)
        assert chain is None, f"{importer} reaches {target}: {' -> '.join(chain)}"


@pytest.mark.parametrize("package", ["pe_tui.live", "pe_tui.replay", "pe_tui.model", "pe_tui.source",
                                     "pe_tui.fmt", "pe_tui.demo"])
def test_sources_and_the_model_are_textual_free(graph, package: str) -> None:
    chain = graph.find_shortest_chain(importer=package, imported="textual", as_packages=True)
    assert chain is None, f"{package} imports Textual: {' -> '.join(chain)}"
