"""`python -m mixflow` runs the same command as `mixflow`."""

from mixflow.cli import main

main()
