"""``python -m brainfeat`` runs the command line."""

import sys

from brainfeat.cli import main

sys.exit(main())
