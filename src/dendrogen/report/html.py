"""Fill the page's Jinja2 template from the report document.

Everything drawn is derived here from the document alone (tree and curve geometry), so the HTML
is a function of the JSON written beside it. The document itself is embedded once, as a
``<script type="application/json">`` block that the page's small script reads; the images live
only there (the script sets each ``<img data-image=...>`` from it), so they are not doubled.
"""

from __future__ import annotations

import json
from typing import Any

import jinja2

#: Geometry of the tree diagram (SVG user units).
NODE_GAP_X = 56
LEVEL_GAP_Y = 72
MARGIN = 30
#: Size of one learning-curve chart.
CHART_W, CHART_H, CHART_PAD = 300, 130, 28


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("dendrogen.report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = _format_number
    return env


def render_html(document: dict[str, Any]) -> str:
    """The self-contained HTML page of a report document (see ``schema.json``)."""
    template = _environment().get_template("report.html.j2")
    return template.render(
        doc=document,
        nodes_by_id={node["id"]: node for node in document["nodes"]},
        tree=tree_geometry(document),
        charts=curve_geometry(document),
        document_json=_script_safe_json(document),
    )


def tree_geometry(document: dict[str, Any]) -> dict[str, Any]:
    """Positions of the nodes: leaves evenly spaced left to right in depth-first order, parents
    centred over their children, one row per depth. Returns ``{"width", "height", "nodes":
    [{"id", "x", "y", ...}], "edges": [{"x1", "y1", "x2", "y2"}]}``."""
    by_id = {n["id"]: n for n in document["nodes"]}
    pos: dict[int, tuple[float, float]] = {}
    next_leaf = [0]

    def place(node_id: int) -> float:
        node = by_id[node_id]
        if node["children"]:
            xs = [place(c) for c in node["children"]]
            x = (min(xs) + max(xs)) / 2
        else:
            x = MARGIN + next_leaf[0] * NODE_GAP_X
            next_leaf[0] += 1
        pos[node_id] = (x, MARGIN + node["depth"] * LEVEL_GAP_Y)
        return x

    place(document["root"])
    width = 2 * MARGIN + max(0, next_leaf[0] - 1) * NODE_GAP_X
    height = 2 * MARGIN + max(n["depth"] for n in document["nodes"]) * LEVEL_GAP_Y + 14
    nodes = []
    biggest = max([n["size"] for n in document["nodes"]] + [1])
    for node in document["nodes"]:
        x, y = pos[node["id"]]
        # circle area grows with the node's size, so big clusters stand out at a glance
        radius = 6 + 12 * (node["size"] / biggest) ** 0.5
        nodes.append({"id": node["id"], "x": round(x, 1), "y": round(y, 1),
                      "r": round(radius, 1), "hit": round(max(radius, 14), 1),
                      "node": node})  # fmt: skip
    edges = []
    for node in document["nodes"]:
        if node["parent"] is not None:
            (x1, y1), (x2, y2) = pos[node["parent"]], pos[node["id"]]
            edges.append({"x1": x1, "y1": y1, "x2": x2, "y2": y2})
    return {"width": max(width, 120), "height": height, "nodes": nodes, "edges": edges}


def curve_geometry(document: dict[str, Any]) -> list[dict[str, Any]]:
    """One chart per learning-curve series: an SVG polyline over the running epoch index, the
    value range, and the phase boundaries as vertical lines."""
    curves = document["curves"]
    n = curves["n_rows"]
    charts = []
    inner_w, inner_h = CHART_W - 2 * CHART_PAD, CHART_H - 2 * CHART_PAD
    for key, values in curves["series"].items():
        finite = [v for v in values if v is not None]
        if not finite:
            continue
        low, high = min(finite), max(finite)
        span = (high - low) or 1.0
        points = []
        for i, v in enumerate(values):
            if v is None:
                continue
            x = CHART_PAD + (inner_w * i / (n - 1) if n > 1 else inner_w / 2)
            y = CHART_PAD + inner_h * (1 - (v - low) / span)
            points.append(f"{x:.1f},{y:.1f}")
        bounds = [
            round(CHART_PAD + inner_w * p["start"] / (n - 1), 1)
            for p in curves["phases"][1:]
            if n > 1
        ]
        charts.append({"key": key, "points": " ".join(points), "low": low, "high": high,
                       "last": finite[-1], "phase_lines": bounds, "width": CHART_W,
                       "height": CHART_H, "pad": CHART_PAD})  # fmt: skip
    return charts


def _script_safe_json(document: dict[str, Any]) -> str:
    """JSON that can sit inside a ``<script>`` element: ``<``, ``>`` and ``&`` escaped, so no
    string in the document can close the element."""
    text = json.dumps(document, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _format_number(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, int):
        return f"{value:,}"
    value = float(value)
    if value.is_integer() and abs(value) < 1e6:  # counts returned as floats (n_leaves)
        return f"{int(value):,}"
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
        return f"{value:.3e}"
    return f"{value:.4g}" if abs(value) < 10 else f"{value:.2f}"
