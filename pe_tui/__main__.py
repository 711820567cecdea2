"""`python -m pe_tui ...` is `pe-tui ...`."""
import sys

from .cli import main

sys.exit(main())
