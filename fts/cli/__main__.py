"""`python -m fts.cli ...` runs the command line."""

from fts.cli import main

main()
