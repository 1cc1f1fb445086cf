"""The ``dendrogen`` command line (typer).

Sub-commands are defined next to each other here; the work itself lives in the library.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="dendrogen",
    help="Find a hierarchy of clusters in data and generate new data from any node of it.",
    no_args_is_help=True,
    add_completion=False,
)
data_app = typer.Typer(help="Inspect the data sets dendrogen can read.", no_args_is_help=True)
app.add_typer(data_app, name="data")


@app.command()
def demo() -> None:
    """Run the main job on the bundled digits and print what was found."""
    from dendrogen.demo import run_demo

    run_demo()


if __name__ == "__main__":
    app()
