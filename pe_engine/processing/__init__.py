"""The processing engine: triggers, plugins, their caches and activations (DESIGN §4).

Start at `manager.ProcessingEngine`; it sees the rest of the engine only through `ports`.
"""
