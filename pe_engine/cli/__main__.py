"""`python -m pe_engine.cli ...` is `pe ...`."""
import sys

from . import main

sys.exit(main())
