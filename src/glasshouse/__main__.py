"""``python -m glasshouse`` runs the CLI."""

from glasshouse.cli.main import app

app()
