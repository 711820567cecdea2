"""pe_tui: the Textual operations console for pe (runs the engine in-process, in its own thread).

Start it with `pe-tui` (or `pe tui`); `pe-tui --demo` is the zero-configuration showcase.
"""
