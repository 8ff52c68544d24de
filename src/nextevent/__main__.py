"""`python -m nextevent` runs the command line."""

from nextevent.cli import app

app()
