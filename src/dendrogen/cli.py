"""The ``dendrogen`` command line (typer).

Sub-commands are defined next to each other here; the work itself lives in the library.
"""

from __future__ import annotations

import ast
import inspect
import json
import shutil
import time
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
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


# ---------------------------------------------------------------------------------------- helpers
def _estimator_class(model: str):
    from dendrogen.estimators import ESTIMATORS

    by_lower = {name.lower(): cls for name, cls in ESTIMATORS.items()}
    key = model.lower().replace("-", "").replace("_", "")
    if key not in by_lower:
        _fail(f"unknown model {model!r}; choose one of {', '.join(sorted(by_lower))}")
    return by_lower[key]


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def parse_settings(items: list[str]) -> dict[str, Any]:
    """``["a=1", "K=[1,5,50,1]", "schedule.initial=500"]`` → ``{"a": 1, "K": [...],
    "schedule": {"initial": 500}}``. Values are JSON or Python literals, else strings."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            _fail(f"--set takes key=value, got {item!r}")
        key, raw = item.split("=", 1)
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            try:
                value = ast.literal_eval(raw)
            except (ValueError, SyntaxError):
                value = raw
        target = out
        *parents, leaf = key.strip().split(".")
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = value
    return out


def _load_data(data: str, split: str, root: str | None, limit: int | None):
    from dendrogen.data import get_dataset, load_dataset

    try:
        X, y = load_dataset(data, split=split, root=root, limit=limit)
    except (FileNotFoundError, ValueError) as err:
        _fail(str(err))
    try:
        dataset = get_dataset(data, root=root)
    except (FileNotFoundError, ValueError):
        dataset = None
    return X, (None if y is None or (np.asarray(y) < 0).all() else y), dataset


def _load_model(path: str):
    from dendrogen.estimators import load

    try:
        return load(path)
    except (FileNotFoundError, ValueError) as err:
        _fail(str(err))


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
@app.command()
def fit(
    model: str = typer.Option(
        "treevae", "--model", "-m", help="treevae, htvae, somvae, vlac, vlae or gmdgm."
    ),
    data: str = typer.Option("digits", "--data", "-d", help="Data set name or file/folder."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder the fitted model is written to."),
    preset: str | None = typer.Option(None, "--preset", help="fast (default) or paper."),
    settings: list[str] = typer.Option(
        [], "--set", help="Model parameter key=value; repeatable, e.g. --set max_leaves=20."
    ),
    root: str | None = typer.Option(None, "--root", help="Directory searched first for data."),
    limit: int | None = typer.Option(None, "--limit", help="Use the first N training samples."),
    seed: int = typer.Option(0, "--seed", help="random_state of the model."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda or auto."),
    resume: bool = typer.Option(
        True,
        "--resume/--no-resume",
        help="Resume from OUT/checkpoint when a run there was interrupted.",
    ),
) -> None:
    """Fit a model on a data set's training split and save it (progress bar while it trains)."""
    cls = _estimator_class(model)
    params = parse_settings(settings)
    if preset is not None:
        params["preset"] = preset
    params.setdefault("random_state", seed)
    params.setdefault("device", device)
    params.setdefault("verbose", True)  # a progress bar on the command line
    known = cls().get_params()
    unknown = sorted(set(params) - set(known))
    if unknown:
        _fail(f"{cls.__name__} has no parameter(s) {unknown}; known: {sorted(known)}")
    X, _, _ = _load_data(data, "train", root, limit)
    try:
        est = cls(**params)
    except (TypeError, ValueError) as err:
        _fail(str(err))
    checkpoint = out / "checkpoint"
    if not resume and checkpoint.exists():
        shutil.rmtree(checkpoint)
    kwargs = {"checkpoint_dir": checkpoint} if _accepts(est.fit, "checkpoint_dir") else {}
    typer.echo(
        f"fitting {cls.__name__} on {data} (train: {X.shape[0]} samples of shape "
        f"{tuple(X.shape[1:])})"
    )
    start = time.perf_counter()
    try:
        est.fit(X, **kwargs)
    except ValueError as err:
        _fail(str(err))
    except KeyboardInterrupt:
        typer.echo(f"\ninterrupted; run the same command again to resume from {checkpoint}")
        raise typer.Exit(130) from None
    seconds = time.perf_counter() - start
    est.save(out)
    shutil.rmtree(checkpoint, ignore_errors=True)
    typer.echo(f"done in {seconds:.0f} s; model written to {out}")
    if hasattr(est, "tree_") and getattr(est, "tree_", None) is not None:
        typer.echo(f"tree: {est.tree_}")


@app.command()
def evaluate(
    model_dir: str = typer.Argument(..., help="Folder of a fitted model."),
    data: str = typer.Option("digits", "--data", "-d", help="Data set name or file/folder."),
    split: str = typer.Option("test", "--split", help="Split to evaluate on."),
    root: str | None = typer.Option(None, "--root", help="Directory searched first for data."),
    limit: int | None = typer.Option(None, "--limit", help="Use the first N samples."),
    ll_samples: int = typer.Option(
        0,
        "--ll-samples",
        help="Importance samples for the log-likelihood (TreeVAE; 1000 in the paper; 0 skips it).",
    ),
    layer: int | None = typer.Option(None, "--layer", help="VLAC layer to score."),
    json_out: Path | None = typer.Option(None, "--json", help="Also write the metrics here."),
) -> None:
    """Score a fitted model: DP, LP, ACC, NMI, ELBO, RL (and LL, D_tree where they apply)."""
    est = _load_model(model_dir)
    X, y, dataset = _load_data(data, split, root, limit)
    options: dict[str, Any] = {}
    if ll_samples:
        options["n_samples"] = ll_samples
    if layer is not None:
        options["layer"] = layer
    hierarchy = getattr(dataset, "hierarchy", None) if dataset is not None else None
    if hierarchy is not None and _accepts(est.evaluate, "true_tree"):
        options["true_tree"] = hierarchy
    try:
        metrics = est.evaluate(X, y, **options)
    except (TypeError, ValueError) as err:
        _fail(str(err))
    typer.echo(f"{type(est).__name__} from {model_dir} on {data} ({split}, {X.shape[0]} samples)")
    _print_metrics(metrics)
    from dendrogen.io import write_json

    target = json_out or Path(model_dir) / f"metrics_{Path(data).name}_{split}.json"
    write_json(target, metrics)
    typer.echo(f"metrics written to {target}")


@app.command()
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
    est = _load_model(model_dir)
    given = {"leaf": leaf, "level": level, "code": code, "layer": layer, "component": component}
    selectors = {k: v for k, v in given.items() if v is not None}
    try:
        samples = est.sample(n, **selectors)
    except (TypeError, ValueError) as err:
        _fail(str(err))
    if out.suffix == ".npy":
        out.parent.mkdir(parents=True, exist_ok=True)
        np.save(out, samples)
    else:
        from dendrogen.plots import plot_samples, save_figure

        title = ", ".join(f"{k} {v}" for k, v in selectors.items()) or "unconditional"
        save_figure(plot_samples(samples, title=f"{type(est).__name__}: {title}"), out)
    typer.echo(f"{n} samples written to {out}")


@app.command()
def tree(
    model_dir: str = typer.Argument(..., help="Folder of a fitted model."),
    data: str = typer.Option("digits", "--data", "-d", help="Data whose samples are shown."),
    out: Path = typer.Option(Path("tree.png"), "--out", "-o", help="Picture to write."),
    split: str = typer.Option("train", "--split", help="Split whose samples are shown."),
    root: str | None = typer.Option(None, "--root", help="Directory searched first for data."),
    limit: int | None = typer.Option(10000, "--limit", help="Use the first N samples."),
) -> None:
    """Draw the learned hierarchy with examples and generations at its nodes."""
    est = _load_model(model_dir)
    X, y, dataset = _load_data(data, split, root, limit)
    options: dict[str, Any] = {}
    names = getattr(dataset, "classes", None) if dataset is not None else None
    if names is not None and _accepts(est.plot, "class_names"):
        options["class_names"] = list(names)
    try:
        est.plot(X, y, path=out, **options)
    except (TypeError, ValueError) as err:
        _fail(str(err))
    typer.echo(f"picture written to {out}")


@app.command()
def demo(
    out: Path = typer.Option(Path("runs/demo"), "--out", "-o", help="Where to write results."),
) -> None:
    """Fit TreeVAE on the bundled digits; print DP, LP, ACC, NMI; write the model and picture."""
    from dendrogen.demo import run_demo

    run_demo(out)


if __name__ == "__main__":
    app()
