"""Executor implementations, one module each (DESIGN §10): `thread` today, `process` later."""
