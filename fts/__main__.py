"""`python -m fts ...` runs the command line."""

from fts.cli import main

main()
