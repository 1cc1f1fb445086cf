"""The report's JSON document: everything the page shows, built from a fitted model and data.

The document is plain JSON (schema: ``schema.json`` beside this file, id
:data:`SCHEMA_ID`); the HTML page is a template filled from it, and the same document is
written beside the page so that any tool can read what the page shows. It never holds
per-sample data: its size depends on the number of nodes, classes and history rows, and its
images are capped by ``max_image_bytes`` (see :mod:`dendrogen.report.images`).
"""

from __future__ import annotations

import datetime as _dt
import math
from typing import Any

import numpy as np

from dendrogen.report.glossary import define
from dendrogen.report.images import ImageBudget
from dendrogen.report.views import ModelView, view_for

SCHEMA_ID = "https://dendrogen.invalid/schemas/report-1.json"
SCHEMA_VERSION = 1

#: History keys that are bookkeeping rather than curves.
_NOT_CURVES = {"phase", "step", "event", "g"}
#: History keys that are schedules rather than measurements (drawn after the others).
_SCHEDULES = {"alpha", "lr"}


def build_document(
    model: Any,
    X: Any,
    y: Any = None,
    *,
    class_names: list[str] | None = None,
    data_name: str | None = None,
    n_members: int = 8,
    n_generations: int = 8,
    max_image_bytes: int = 6_000_000,
    seed: int = 0,
) -> dict[str, Any]:
    """Build the report document of a fitted ``model`` on X (N, *input_shape), labels y (N,).

    Args:
        model: a fitted dendrogen estimator (TreeVAE, HTVAE, SOM-VAE, VLAC, VLAE, GM-DGM).
        X: the samples to describe (validated as by ``predict``).
        y: optional class labels (N,); negative values count as unlabelled.
        class_names: names of the label values (``class_names[v]`` names value v).
        data_name: the data set's name, shown in the page's header.
        n_members: real members shown per node (those nearest its centre).
        n_generations: generations shown per node.
        max_image_bytes: cap on the characters of all embedded images together.
        seed: seed of the generations (the same seed gives the same page).

    Returns:
        A JSON-serialisable dict following ``schema.json``.
    """
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(model)
    # the estimator's own input check: same messages as predict (MapEstimator adds its own)
    validate = getattr(model, "_check_input", None) or model._validate
    X = validate(X, reset=False)
    labels = _check_labels(y, len(X))
    view = view_for(model, X, seed=seed)
    value_range = (0.0, 1.0) if X.min() >= 0 and X.max() <= 1 else (float(X.min()), float(X.max()))
    budget = ImageBudget(max_image_bytes, value_range)
    missing: list[str] = []
    classes = _classes(labels, class_names)

    nodes = _nodes(view, labels, classes, budget, n_members, n_generations)
    sizes = {node["id"]: node["size"] for node in nodes}
    doc: dict[str, Any] = {
        "$schema": SCHEMA_ID,
        "schema_version": SCHEMA_VERSION,
        "created": _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat(),
        "model": _model_info(model, view),
        "data": {
            "name": data_name,
            "n_samples": len(X),
            "sample_shape": [int(s) for s in X.shape[1:]],
            "labelled": labels is not None,
            "n_labelled": int((labels >= 0).sum()) if labels is not None else 0,
            "classes": classes,
        },
        "root": int(view.tree.root),
        "nodes": nodes,
        "metrics": _metrics(model, X, labels, missing),
        "curves": _curves(getattr(model, "history_", None) or []),
        "growth": _growth(getattr(model, "history_", None) or []),
        "maps": [],
        "layers": [],
    }
    doc |= view.sections(budget, sizes)
    if labels is None:
        missing.append("labels: no y was given, so there are no class histograms, purities or "
                       "label metrics (DP, LP, ACC, NMI)")  # fmt: skip
    if not doc["curves"]["series"]:
        missing.append("learning curves: the model's history_ is empty (HTVAE, SOM-VAE and the "
                       "ladder models do not save their training history; a freshly fitted "
                       "model has it)")  # fmt: skip
    if view.family == "treevae" and not doc["growth"]:
        missing.append("growth history: history_ holds no growth events")
    if budget.images == {} and not budget.skipped:
        missing.append("images: the samples are not images (N, 1 or 3, H, W), so members and "
                       "generations are not drawn")  # fmt: skip
    if budget.skipped:
        missing.append(f"images: {len(budget.skipped)} image strips were left out to keep the "
                       f"page under {max_image_bytes / 1e6:.1f} MB of images "
                       f"(max_image_bytes)")  # fmt: skip
    doc["images"] = budget.images
    doc["missing"] = missing
    return doc


def _check_labels(y: Any, n: int) -> np.ndarray | None:
    """Labels as int64 (N,) with −1 for unlabelled samples, or None when there are none."""
    if y is None:
        return None
    y = np.asarray(y)
    if y.shape != (n,):
        raise ValueError(f"y must have shape ({n},), got {y.shape}")
    if y.dtype.kind not in "iu" and not (y.dtype.kind == "f" and np.all(np.mod(y, 1) == 0)):
        raise ValueError(f"y must hold integer class labels, got dtype {y.dtype}")
    y = y.astype(np.int64)
    return None if (y < 0).all() else y


def _classes(labels: np.ndarray | None, names: list[str] | None) -> list[dict[str, Any]]:
    if labels is None:
        return []
    values = np.unique(labels[labels >= 0]).tolist()
    out = []
    for v in values:
        name = str(names[v]) if names is not None and 0 <= v < len(names) else str(v)
        out.append({"value": int(v), "name": name})
    return out


def _nodes(
    view: ModelView,
    labels: np.ndarray | None,
    classes: list[dict[str, Any]],
    budget: ImageBudget,
    n_members: int,
    n_generations: int,
) -> list[dict[str, Any]]:
    """One record per node, breadth first (so that images run out at the deep nodes first)."""
    tree = view.tree
    n_total = len(view.X)
    class_values = np.array([c["value"] for c in classes], dtype=np.int64)
    out = []
    for node in tree.bfs():
        members = view.members(node)
        record: dict[str, Any] = {
            "id": int(node),
            "parent": None if tree.parent(node) is None else int(tree.parent(node)),
            "children": [int(c) for c in tree.children(node)],
            "depth": int(tree.depth(node)),
            "title": view.title(node),
            "kind": view.kind(node),
            "attrs": view.attrs(node),
            "size": int(members.size),
            "fraction": float(members.size / n_total) if n_total else 0.0,
            "class_counts": None,
            "purity": None,
            "majority": None,
            "routing_confidence": _finite(view.confidence(node, members)),
        }
        if labels is not None:
            member_labels = labels[members]
            member_labels = member_labels[member_labels >= 0]
            counts = (member_labels[:, None] == class_values[None, :]).sum(axis=0)
            record["class_counts"] = [int(c) for c in counts]
            if counts.sum() > 0:
                best = int(counts.argmax())
                record["purity"] = float(counts[best] / counts.sum())
                record["majority"] = classes[best]["name"]
        nearest = _nearest(view, node, members, n_members)
        record["member_indices"] = [int(i) for i in nearest]
        record["members_image"] = budget.add(f"node{node}/members", view.X[nearest])
        generations = view.generate(node, n_generations) if n_generations > 0 else None
        record["generations_image"] = budget.add(f"node{node}/generations", generations)
        out.append(record)
    return out


def _nearest(view: ModelView, node: int, members: np.ndarray, n: int) -> np.ndarray:
    """Up to n members nearest the node's centre (ties by index; the first ones without one)."""
    if members.size == 0 or n <= 0:
        return members[:0]
    distance = view.centrality(node, members)
    if distance is None:
        return members[:n]
    return members[np.argsort(distance, kind="stable")[:n]]


def _model_info(model: Any, view: ModelView) -> dict[str, Any]:
    params = {}
    for key, value in model.get_params(deep=False).items():
        params[key] = value if _json_plain(value) else repr(value)
    return {
        "class": type(model).__name__,
        "family": view.family,
        "params": params,
        "n_nodes": len(view.tree),
        "n_leaves": len(view.tree.leaves),
        "depth": int(view.tree.max_depth),
    }


def _metrics(model: Any, X: np.ndarray, labels: np.ndarray | None, missing: list[str]) -> list:
    """``model.evaluate`` as rows ``{"key", "value", "definition"}``; a failure is reported in
    ``missing`` rather than breaking the page."""
    y = None
    if labels is not None and (labels >= 0).all():
        y = labels
    elif labels is not None:
        missing.append("label metrics: some samples are unlabelled (y < 0), so DP, LP, ACC and "
                       "NMI are not computed")  # fmt: skip
    try:
        values = model.evaluate(X, y)
    except (ValueError, TypeError, RuntimeError) as err:
        missing.append(f"metrics: evaluate failed ({err})")
        return []
    return [
        {"key": key, "value": _finite(value), "definition": define(key)}
        for key, value in values.items()
    ]


def _curves(history: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-epoch rows of ``history_`` as series over one running epoch index, and the phases
    (consecutive rows of one phase name) as index ranges."""
    rows = [r for r in history if isinstance(r, dict) and "event" not in r]
    keys: list[str] = []
    for row in rows:
        for key, value in row.items():
            if key not in _NOT_CURVES and key not in keys and _is_number(value):
                keys.append(key)
    # the objective first, the schedules (KL weight, learning rate) last
    keys.sort(key=lambda k: (k != "loss", k in _SCHEDULES))
    series = {key: [_finite(row.get(key)) for row in rows] for key in keys}
    phases: list[dict[str, Any]] = []
    for i, row in enumerate(rows):
        name = str(row.get("phase", ""))
        if phases and phases[-1]["name"] == name:
            phases[-1]["end"] = i
        else:
            phases.append({"name": name, "start": i, "end": i})
    return {"n_rows": len(rows), "series": series, "phases": phases}


def _growth(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Growth events of ``history_`` in order, each with a sentence saying what happened and
    why, and its raw fields (unknown kinds are shown by their fields)."""
    out = []
    for index, row in enumerate(history):
        if not isinstance(row, dict) or "event" not in row:
            continue
        fields = {k: (v if _json_plain(v) else repr(v)) for k, v in row.items()}
        out.append({"index": index, "event": str(row["event"]), "text": _describe(row),
                    "fields": fields})  # fmt: skip
    return out


def _describe(event: dict[str, Any]) -> str:
    kind = event.get("event")
    when = f" at growth step {event['g']}" if "g" in event else ""
    if kind == "split":
        why = event.get("reason") or (
            f"among the leaves that could still split, it held the most confidently routed "
            f"samples ({event.get('samples', '?')})"
        )
        return f"Leaf {event.get('leaf')} split into {event.get('children')}{when}: {why}."
    if kind == "prune":
        return (f"Leaf {event.get('leaf')} was pruned (removed nodes {event.get('removed')}): "
                f"it held too few samples.")  # fmt: skip
    if kind == "stop":
        return f"Growth stopped{when}: {event.get('reason', 'no reason recorded')}."
    if kind == "restarts":
        return (f"Best of {len(event.get('scores') or [])} restarts kept in phase "
                f"{event.get('phase')}{when}: restart {event.get('kept')}.")  # fmt: skip
    details = ", ".join(f"{k}={v}" for k, v in event.items() if k not in ("event", "g"))
    return f"{str(kind).replace('_', ' ').capitalize()}{when}" + (
        f": {details}." if details else "."
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)


def _finite(value: Any) -> float | None:
    """A float for JSON, None for None, NaN or infinity (JSON has no NaN)."""
    if value is None or not _is_number(value):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _json_plain(value: Any) -> bool:
    if value is None or isinstance(value, bool | int | float | str):
        return not isinstance(value, float) or math.isfinite(value)
    if isinstance(value, list | tuple):
        return all(_json_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _json_plain(v) for k, v in value.items())
    return False
