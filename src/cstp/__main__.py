"""`python -m cstp` → the same entry point as `cstp-server`."""

import sys

from cstp.cli import main

sys.exit(main())
