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


@data_app.command("info")
def data_info(
    name: str = typer.Argument(..., help="A data set name (see `data list`) or a file/folder."),
    root: str | None = typer.Option(None, "--root", help="Directory searched first."),
    split: str = typer.Option("train", "--split", help="train or test (svhn: extra)."),
    labels: str = typer.Option("fine", "--labels", help="fine, or coarse where defined."),
    limit: int | None = typer.Option(None, "--limit", help="Read only the first N samples."),
) -> None:
    """Where a data set was found, its shape, dtype, value range and per-class counts."""
    from dendrogen.data import summarize

    try:
        summary = summarize(name, split=split, root=root, labels=labels, limit=limit)
    except (FileNotFoundError, ValueError) as err:  # not found, bad file, bad name or option
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    typer.echo(summary.to_text())


@data_app.command("list")
def data_list(
    root: str | None = typer.Option(None, "--root", help="Directory searched first."),
) -> None:
    """The known data sets and where each was found."""
    from dendrogen.data.registry import format_availability

    typer.echo(format_availability(root))


@app.command()
def demo() -> None:
    """Run the main job on the bundled digits and print what was found."""
    from dendrogen.demo import run_demo

    run_demo()


if __name__ == "__main__":
    app()
