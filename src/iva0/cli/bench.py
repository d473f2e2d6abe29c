"""`iva0 bench` commands (not built yet)."""

import typer


def register(app: typer.Typer) -> None:
    pass
