"""The HTML exploration report: one self-contained page per fitted model.

>>> from dendrogen.report import write_report
>>> write_report(model, X, y, "report.html")          # doctest: +SKIP

The page's data come from one JSON document (:func:`build_document`; schema in
``schema.json`` beside this file), written beside the page as ``report.json``; the page is a
Jinja2 template filled from it (:func:`render_html`), with inline SVG, PNG and a small script:
no network, no server.
"""

from __future__ import annotations

import json
import os
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

from sklearn.utils.validation import check_is_fitted

from dendrogen.report.document import SCHEMA_ID, SCHEMA_VERSION, build_document
from dendrogen.report.html import render_html


def schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the report document."""
    return json.loads(resources.files("dendrogen.report").joinpath("schema.json").read_text())


def write_report(
    model: Any, X: Any, y: Any = None, path: str | os.PathLike = "report.html", **options: Any
) -> Path:
    """Write the report of a fitted ``model`` on X (N, *input_shape) and labels y (N,) to
    ``path`` (an .html file), and its JSON document beside it (same name, ``.json``).

    ``options`` go to :func:`build_document` (``class_names``, ``data_name``, ``n_members``,
    ``n_generations``, ``max_image_bytes``, ``seed``). Both files are written atomically.
    Returns the path of the HTML file.
    """
    check_is_fitted(model)  # before any file is touched
    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"the report is an HTML file; give a path ending in .html, got {path}")
    if path.is_dir():
        raise ValueError(
            f"{path} is a folder; give the report's file name, e.g. {path}/report.html"
        )
    document = build_document(model, X, y, **options)
    html = render_html(document)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(path.with_suffix(".json"), json.dumps(document, indent=1, allow_nan=False))
    _write_atomic(path, html)
    return path


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        # mkstemp makes the file private (0600); a report is for sharing: the umask's mode
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


__all__ = ["SCHEMA_ID", "SCHEMA_VERSION", "build_document", "render_html", "schema", "write_report"]
