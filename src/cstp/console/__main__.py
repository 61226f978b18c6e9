"""`python -m cstp.console` runs the `cstp` command."""

from cstp.console.main import main

main()
