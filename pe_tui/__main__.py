"""`python -m pe_tui ...` is `pe-tui ...`."""
import sys

from .app import main

sys.exit(main())
