"""The ``dendrogen`` command line (typer).

Sub-commands are defined next to each other here; the work itself lives in the library.
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import typer

from dendrogen.cli_inputs import (
    check_device,
    estimator_class,
    fail,
    load_data,
    load_model,
    parse_settings,
    picture_path,
)

app = typer.Typer(
    name="dendrogen",
    help="Find a hierarchy of clusters in data and generate new data from any node of it.",
    no_args_is_help=True,
    add_completion=False,
)
data_app = typer.Typer(help="Inspect the data sets dendrogen can read.", no_args_is_help=True)
app.add_typer(data_app, name="data")

#: Picture formats ``sample`` and ``tree`` write (``sample`` also writes arrays: .npy).
PICTURE_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg")


@app.callback()
def main(
    ctx: typer.Context,
    debug: bool = typer.Option(
        False, "--debug", help="Show the full traceback of an error instead of one line."
    ),
) -> None:
    """Find a hierarchy of clusters in data and generate new data from any node of it."""
    del ctx
    _OPTIONS["debug"] = debug


#: Global options of the running command (set by :func:`main` on every invocation).
_OPTIONS: dict[str, Any] = {"debug": False}


def _debug() -> bool:
    return bool(_OPTIONS["debug"])


def _one_line_errors(fn: Callable) -> Callable:
    """Run a command so that an error of the library is one ``error: ...`` line on stderr and
    exit status 1, never a traceback (``--debug`` shows it)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, typer.TyperException, KeyboardInterrupt):
            raise
        except Exception as err:  # one line for every error; --debug shows the traceback
            if _debug():
                traceback.print_exc()
            expected: tuple[type[BaseException], ...] = (
                ValueError, TypeError, FileNotFoundError, OSError
            )  # fmt: skip
            if "torch" in sys.modules:  # a failed or stopped peer process of a torchrun fit
                from dendrogen.training.distributed import DistributedError

                expected += (DistributedError,)
            message = (
                str(err).strip()
                if isinstance(err, expected)
                else (
                    f"{type(err).__name__}: {err} (an internal error; run with --debug for details)"
                )
            )
            typer.echo(f"error: {message or type(err).__name__}", err=True)
            raise typer.Exit(1) from None

    return wrapper


def command(*args: Any, **kwargs: Any) -> Callable:
    """``@app.command`` with :func:`_one_line_errors`."""

    def register(fn: Callable) -> Callable:
        return app.command(*args, **kwargs)(_one_line_errors(fn))

    return register


@data_app.command("info")
@_one_line_errors
def data_info(
    name: str = typer.Argument(..., help="A data set name (see `data list`) or a file/folder."),
    root: str | None = typer.Option(
        None,
        "--root",
        help="The only directory searched (default: $DENDROGEN_DATA, cache, system).",
    ),
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
@_one_line_errors
def data_list(
    root: str | None = typer.Option(
        None,
        "--root",
        help="The only directory searched (default: $DENDROGEN_DATA, cache, system).",
    ),
) -> None:
    """The known data sets and where each was found."""
    from dendrogen.data.registry import format_availability

    typer.echo(format_availability(root))


# ---------------------------------------------------------------------------------------- helpers
def _accepts(fn, name: str) -> bool:
    params = inspect.signature(fn).parameters
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def _print_metrics(metrics: dict[str, float]) -> None:
    width = max(len(k) for k in metrics)
    for key, value in metrics.items():
        typer.echo(
            f"  {key:<{width}}  {value:.4f}"
            if isinstance(value, float)
            else f"  {key:<{width}}  {value}"
        )


# ---------------------------------------------------------------------------------------- commands
@command()
def fit(
    model: str = typer.Option(
        "treevae",
        "--model",
        "-m",
        help="treevae, htvae, somvae, vlac, vlae, gmdgm; baselines: vae, laddervae, "
        "agglomerative, bisecting.",
    ),
    data: str = typer.Option("digits", "--data", "-d", help="Data set name or file/folder."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder the fitted model is written to."),
    preset: str | None = typer.Option(None, "--preset", help="fast (default) or paper."),
    settings: list[str] = typer.Option(
        [], "--set", help="Model parameter key=value; repeatable, e.g. --set max_leaves=20."
    ),
    root: str | None = typer.Option(None, "--root", help="The only directory searched for data."),
    limit: int | None = typer.Option(None, "--limit", help="Use the first N training samples."),
    seed: int = typer.Option(0, "--seed", help="random_state of the model."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda or auto."),
    resume: bool = typer.Option(
        True,
        "--resume/--no-resume",
        help="Resume from OUT/checkpoint when a run there was interrupted.",
    ),
    overwrite: bool = typer.Option(
        False,
        "--overwrite",
        help="Write into a non-empty folder that is not a dendrogen model (only the model's "
        "own files are written; other files are kept).",
    ),
    keep_checkpoint: bool = typer.Option(
        True,
        "--keep-checkpoint/--drop-checkpoint",
        help="Keep OUT/checkpoint after a successful fit, or remove its files.",
    ),
    contrastive: bool | None = typer.Option(
        None,
        "--contrastive/--no-contrastive",
        help="Contrastive TreeVAE, VAE or LadderVAE (two augmented views per image, NT-Xent); "
        "on by default for cifar10, cifar100 and celeba, whose augmentation it uses.",
    ),
) -> None:
    """Fit a model on a data set's training split and save it (progress bar while it trains).

    Under ``torchrun`` every process runs this command; they train one model data-parallel and
    only rank 0 prints, writes the checkpoint and the model.
    """
    from dendrogen import io
    from dendrogen.cli_options import contrastive_setting
    from dendrogen.estimators.base import validate_params
    from dendrogen.training.distributed import launched_by_torchrun

    main = os.environ.get("RANK", "0") == "0" or not launched_by_torchrun()
    say = typer.echo if main else (lambda *_a, **_k: None)

    cls = estimator_class(model)
    params = parse_settings(settings)
    if preset is not None:
        params["preset"] = preset
    params.setdefault("random_state", seed)
    params.setdefault("device", device)
    params.setdefault("verbose", main)  # a progress bar on the command line (rank 0's)
    try:
        contrastive_setting(params, cls.__name__, data, contrastive)
    except ValueError as err:
        fail(str(err))
    known = cls().get_params()
    unknown = sorted(set(params) - set(known))
    if unknown:
        fail(f"{cls.__name__} has no parameter(s) {unknown}; known: {sorted(known)}")
    if not isinstance(params.get("schedule", {}), dict | None):
        fail(
            f"schedule is a group of settings (e.g. --set schedule.initial=500), "
            f"got schedule={params['schedule']!r}"
        )
    check_device(params["device"])
    out = io.check_output_dir(out, overwrite=overwrite)
    try:
        if main:
            out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        fail(f"cannot create the folder {out}: {err.strerror or err}")
    est = cls(**params)
    validate_params(est)
    X, _, _ = load_data(data, "train", root, limit)
    checkpoint = out / "checkpoint"
    if not resume and main:  # before the fit's first collective: the ranks then agree
        io.remove_state(checkpoint)
    kwargs = {"checkpoint_dir": checkpoint} if _accepts(est.fit, "checkpoint_dir") else {}
    say(
        f"fitting {cls.__name__} on {data} (train: {X.shape[0]} samples of shape "
        f"{tuple(X.shape[1:])})"
    )
    start = time.perf_counter()
    try:
        est.fit(X, **kwargs)
    except KeyboardInterrupt:
        say(f"\ninterrupted; run the same command again to resume from {checkpoint}")
        raise typer.Exit(130) from None
    seconds = time.perf_counter() - start
    if not main:
        return
    est.save(out, overwrite=overwrite)
    say(f"done in {seconds:.0f} s; model written to {out}")
    if getattr(est, "likelihood_scores_", None):  # likelihood="auto" probed its candidates
        scores = ", ".join(f"{k} {v:.2f}" for k, v in est.likelihood_scores_.items())
        say(f"likelihood: {est.likelihood_} (probes' held-out ELBO, nats: {scores})")
    if kwargs and not keep_checkpoint:
        io.remove_state(checkpoint)
    elif kwargs and checkpoint.exists():
        say(f"checkpoint kept in {checkpoint} (--drop-checkpoint removes it)")
    if hasattr(est, "tree_") and getattr(est, "tree_", None) is not None:
        say(f"tree: {est.tree_}")


@command()
def evaluate(
    model_dir: str = typer.Argument(..., help="Folder of a fitted model."),
    data: str = typer.Option("digits", "--data", "-d", help="Data set name or file/folder."),
    split: str = typer.Option("test", "--split", help="Split to evaluate on."),
    root: str | None = typer.Option(None, "--root", help="The only directory searched for data."),
    limit: int | None = typer.Option(None, "--limit", help="Use the first N samples."),
    ll_samples: int = typer.Option(
        0,
        "--ll-samples",
        help="Importance samples for the log-likelihood (TreeVAE; 1000 in the paper; 0 skips it).",
    ),
    layer: int | None = typer.Option(None, "--layer", help="VLAC layer to score."),
    json_out: Path | None = typer.Option(None, "--json", help="Also write the metrics here."),
    attributes: bool = typer.Option(
        False,
        "--attributes",
        help="Also write the frequency of each binary attribute per leaf (CelebA; the TreeVAE "
        "paper's Table 3) as a CSV table and a heat-map PNG beside the metrics.",
    ),
) -> None:
    """Score a fitted model: DP, LP, ACC, NMI, ELBO, RL (and LL, D_tree where they apply)."""
    est = load_model(model_dir)
    X, y, dataset = load_data(data, split, root, limit)
    options: dict[str, Any] = {}
    if ll_samples:
        options["n_samples"] = ll_samples
    if layer is not None:
        options["layer"] = layer
    hierarchy = getattr(dataset, "hierarchy", None) if dataset is not None else None
    if hierarchy is not None and _accepts(est.evaluate, "true_tree"):
        options["true_tree"] = hierarchy
    metrics = est.evaluate(X, y, **options)
    typer.echo(f"{type(est).__name__} from {model_dir} on {data} ({split}, {X.shape[0]} samples)")
    _print_metrics(metrics)
    from dendrogen.io import write_json

    target = json_out or Path(model_dir) / f"metrics_{Path(data).name}_{split}.json"
    write_json(target, metrics)
    typer.echo(f"metrics written to {target}")
    if attributes:
        from dendrogen.cli_options import write_attribute_table

        stem = target.parent / f"attributes_{Path(data).name}_{split}"
        try:
            table, picture = write_attribute_table(est, X, dataset, split, limit, stem)
        except ValueError as err:
            fail(str(err))
        typer.echo(f"attribute frequencies per leaf written to {table} and {picture}")


@command()
def sample(
    model_dir: str = typer.Argument(..., help="Folder of a fitted model."),
    n: int = typer.Option(64, "-n", help="Number of samples."),
    out: Path = typer.Option(
        Path("samples.png"), "--out", "-o", help="Picture (.png) or array (.npy) to write."
    ),
    leaf: int | None = typer.Option(None, "--leaf", help="TreeVAE: cluster label of a leaf."),
    level: int | None = typer.Option(None, "--level", help="HTVAE: map level (1 = finest)."),
    code: int | None = typer.Option(None, "--code", help="HTVAE: code index on that level."),
    layer: int | None = typer.Option(None, "--layer", help="VLAC: layer."),
    component: int | None = typer.Option(None, "--component", help="VLAC: mixture component."),
) -> None:
    """Generate new data from the whole model or from one node (leaf, code or component)."""
    if out.suffix == ".npy":
        target = out
    else:
        target = picture_path(out, "samples.png", (*PICTURE_SUFFIXES, ".npy"))
    est = load_model(model_dir)
    given = {"leaf": leaf, "level": level, "code": code, "layer": layer, "component": component}
    selectors = {k: v for k, v in given.items() if v is not None}
    samples = est.sample(n, **selectors)
    if target.suffix == ".npy":
        target.parent.mkdir(parents=True, exist_ok=True)
        np.save(target, samples)
    else:
        from dendrogen.plots import plot_samples, save_figure

        title = ", ".join(f"{k} {v}" for k, v in selectors.items()) or "unconditional"
        save_figure(plot_samples(samples, title=f"{type(est).__name__}: {title}"), target)
    typer.echo(f"{n} samples written to {target}")


@command()
def tree(
    model_dir: str = typer.Argument(..., help="Folder of a fitted model."),
    data: str = typer.Option("digits", "--data", "-d", help="Data whose samples are shown."),
    out: Path = typer.Option(Path("tree.png"), "--out", "-o", help="Picture to write."),
    split: str = typer.Option("train", "--split", help="Split whose samples are shown."),
    root: str | None = typer.Option(None, "--root", help="The only directory searched for data."),
    limit: int | None = typer.Option(10000, "--limit", help="Use the first N samples."),
) -> None:
    """Draw the learned hierarchy with examples and generations at its nodes."""
    out = picture_path(out, "tree.png", PICTURE_SUFFIXES)
    est = load_model(model_dir)
    X, y, dataset = load_data(data, split, root, limit)
    options: dict[str, Any] = {}
    names = getattr(dataset, "classes", None) if dataset is not None else None
    if names is not None and _accepts(est.plot, "class_names"):
        options["class_names"] = list(names)
    try:
        est.plot(X, y, path=out, **options)
    except NotImplementedError as err:
        fail(f"{err}; `dendrogen sample` generates from it")
    typer.echo(f"picture written to {out}")


@command()
def report(
    model_dir: str = typer.Argument(..., help="Folder of a fitted model (RUN)."),
    data: str = typer.Option(..., "--data", "-d", help="Data set name or file/folder to explore."),
    out: Path = typer.Option(
        Path("report.html"), "--out", "-o", help="HTML file to write; its JSON goes beside it."
    ),
    split: str = typer.Option("train", "--split", help="Split whose samples are described."),
    root: str | None = typer.Option(None, "--root", help="The only directory searched for data."),
    limit: int | None = typer.Option(None, "--limit", help="Use the first N samples."),
    max_image_mb: float = typer.Option(
        6.0, "--max-image-mb", help="Cap on the embedded images (MB); the page stays near it."
    ),
) -> None:
    """Write an HTML page to explore a fitted model: its tree, nodes, metrics and curves."""
    if out.is_dir():
        out = out / "report.html"
    if out.suffix.lower() not in (".html", ".htm"):
        fail(f"cannot write {out}: the report is an HTML file; give a name ending in .html")
    if max_image_mb <= 0:
        fail(f"--max-image-mb must be positive, got {max_image_mb}")
    est = load_model(model_dir)
    X, y, dataset = load_data(data, split, root, limit)
    names = getattr(dataset, "classes", None) if dataset is not None else None
    path = est.report(
        X, y, path=out, class_names=None if names is None else list(names),
        data_name=f"{data} ({split})", max_image_bytes=int(max_image_mb * 1e6),
    )  # fmt: skip
    size = path.stat().st_size
    shown = f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size / 1e3:.0f} kB"
    typer.echo(f"report written to {path} ({shown}); its data: {path.with_suffix('.json')}")


@command(add_help_option=False, context_settings={"allow_extra_args": True,
         "ignore_unknown_options": True, "help_option_names": []})  # fmt: skip
def bench(ctx: typer.Context) -> None:
    """Print a paper's table: mean ± std over seeds beside the published values (see --help)."""
    from dendrogen.bench.paper_tables import main

    main(list(ctx.args), prog="dendrogen bench")


@command()
def demo(
    out: Path = typer.Option(Path("runs/demo"), "--out", "-o", help="Where to write results."),
) -> None:
    """Fit TreeVAE on the digits; print DP, LP, ACC, NMI; write the model, pictures, report."""
    from dendrogen.demo import run_demo

    run_demo(out)


if __name__ == "__main__":
    app()
