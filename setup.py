"""Build the optional C accelerator for line-protocol parsing.

The extension is optional: if no compiler is available the pure-Python parser
in pe_engine.lineprotocol.parse is used and everything still works, only slower.
"""
from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "pe_engine.lineprotocol._lpparse",
            sources=["pe_engine/lineprotocol/_lpparse.c"],
            optional=True,
            extra_compile_args=["-O3"],
        )
    ]
)
