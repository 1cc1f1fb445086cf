"""The exploration report's JSON document (TreeVAE, HTVAE, VLAC), its HTML page, its size cap
and the ``dendrogen report`` command. The page in a real browser: test_report_browser.py."""

from __future__ import annotations

import json
import os
import re

import numpy as np
import pytest

from dendrogen import HTVAE, VLAC, TreeVAE
from dendrogen.report import build_document, render_html, schema, write_report
from dendrogen.report.images import ImageBudget

# No likelihood probe (a fit of its own, tested in tests/test_likelihood_choice.py).
TINY_SCHEDULE = dict(initial=30, subtree=15, intermediate=10, finetune=15, likelihood_probe=0)


@pytest.fixture(scope="module")
def digits():
    from dendrogen.data import load_dataset

    X, y = load_dataset("digits", split="train")
    return X[:300], y[:300]


@pytest.fixture(scope="module")
def treevae(digits):
    return TreeVAE(max_leaves=4, max_depth=2, latent_dim=2, width=16, batch_size=32,
                   schedule=TINY_SCHEDULE, random_state=0).fit(digits[0])  # fmt: skip


@pytest.fixture(scope="module")
def htvae(digits):
    return HTVAE(map_sizes=((2, 2), (1, 2)), latent_dim=4, widths=(8, 8), preset="tiny",
                 batch_size=32, random_state=0).fit(digits[0])  # fmt: skip


@pytest.fixture(scope="module")
def vlac(digits):
    return VLAC(K=[1, 3], z_dims=[2, 2], arch="mlp", hidden=8, schedule={"train": 20},
                batch_size=32, random_state=0).fit(digits[0])  # fmt: skip


def check_against_schema(doc: dict) -> None:
    """The document has every key schema.json requires, at the top, per node and per map/layer
    entry (a light check: no JSON Schema library is a dependency)."""
    spec = schema()
    assert set(spec["required"]) <= set(doc)
    node_keys = set(spec["$defs"]["node"]["required"])
    for node in doc["nodes"]:
        assert node_keys <= set(node), node_keys - set(node)
    for key in ("maps", "layers"):
        required = set(spec["properties"][key]["items"]["required"])
        assert all(required <= set(entry) for entry in doc[key])
    json.dumps(doc, allow_nan=False)  # plain JSON: no NaN, no numpy types


def check_tree_consistent(doc: dict) -> None:
    """Parents and children agree, the root holds every sample, and a parent's size is at
    least each child's."""
    nodes = {n["id"]: n for n in doc["nodes"]}
    assert nodes[doc["root"]]["parent"] is None
    assert nodes[doc["root"]]["size"] == doc["data"]["n_samples"]
    for node in doc["nodes"]:
        for child in node["children"]:
            assert nodes[child]["parent"] == node["id"]
            assert nodes[child]["size"] <= node["size"]
        if node["class_counts"] is not None:
            assert sum(node["class_counts"]) == node["size"]


def test_treevae_document(treevae, digits):
    X, y = digits
    doc = build_document(treevae, X, y, class_names=[f"digit {i}" for i in range(10)])
    check_against_schema(doc)
    check_tree_consistent(doc)
    assert doc["model"]["family"] == "treevae" and doc["model"]["class"] == "TreeVAE"
    assert len(doc["nodes"]) == len(treevae.tree_)
    # leaf sizes are the predicted cluster sizes, in the order of the cluster labels
    labels = treevae.predict(X)
    leaves = {n["attrs"]["cluster_label"]: n for n in doc["nodes"] if n["kind"] == "leaf"}
    assert {k: v["size"] for k, v in leaves.items()} == {
        k: int((labels == k).sum()) for k in range(treevae.n_leaves_)
    }
    for leaf in leaves.values():
        counts = np.bincount(y[labels == leaf["attrs"]["cluster_label"]], minlength=10)
        assert leaf["class_counts"] == counts.tolist()
        if leaf["size"]:
            assert leaf["purity"] == pytest.approx(counts.max() / counts.sum())
            assert leaf["majority"] == f"digit {counts.argmax()}"
            assert 0 < leaf["routing_confidence"] <= 1
            in_leaf = np.flatnonzero(labels == leaf["attrs"]["cluster_label"])
            assert set(leaf["member_indices"]) <= set(in_leaf.tolist())
            assert leaf["members_image"] in doc["images"]
            assert leaf["generations_image"] in doc["images"]
    root = next(n for n in doc["nodes"] if n["id"] == doc["root"])
    assert root["routing_confidence"] == pytest.approx(1.0, abs=1e-5)
    # every node: the mean over its members of P(node | x), the mass of the leaves under it
    probs = treevae.predict_proba(X)
    for node in doc["nodes"]:
        columns = [treevae.leaves_.index(l) for l in treevae.tree_.leaves_under(node["id"])]
        members = np.isin(labels, columns)
        assert node["size"] == members.sum()
        if members.any():
            expected = probs[members][:, columns].sum(1).mean()
            assert node["routing_confidence"] == pytest.approx(expected, rel=1e-6)
    metrics = {m["key"]: m for m in doc["metrics"]}
    assert {"dp", "lp", "acc", "nmi", "elbo"} <= set(metrics)
    assert "purity" in metrics["dp"]["definition"].lower()
    assert metrics["elbo"]["value"] == pytest.approx(treevae.score(X), rel=1e-4)
    # learning curves: one value per per-epoch row of history_, growth: the split events
    rows = [r for r in treevae.history_ if "event" not in r]
    assert doc["curves"]["n_rows"] == len(rows)
    assert doc["curves"]["series"]["loss"] == pytest.approx([r["loss"] for r in rows])
    splits = [e for e in doc["growth"] if e["event"] == "split"]
    assert len(splits) == sum(1 for r in treevae.history_ if r.get("event") == "split") >= 1
    assert f"Leaf {splits[0]['fields']['leaf']} split into" in splits[0]["text"]
    assert doc["missing"] == []


def test_growth_events_of_unknown_kinds_are_shown_generically(treevae, digits):
    treevae_copy = TreeVAE(**treevae.get_params())
    treevae_copy.__dict__.update(treevae.__dict__)
    treevae_copy.history_ = [
        *treevae.history_,
        {"event": "split_init", "node": 3, "inertia": 1.5, "g": 2},
        {"event": "something_new", "detail": [1, 2]},
    ]
    doc = build_document(treevae_copy, digits[0][:50], n_generations=0)
    texts = [e["text"] for e in doc["growth"]]
    assert "Split init at growth step 2: node=3, inertia=1.5." in texts
    assert "Something new: detail=[1, 2]." in texts
    assert "something_new" in render_html(doc)


def test_htvae_document_maps_and_no_labels(htvae, digits):
    X, _ = digits
    doc = build_document(htvae, X)  # no labels
    check_against_schema(doc)
    check_tree_consistent(doc)
    assert doc["model"]["family"] == "maps"
    assert not doc["data"]["labelled"] and doc["data"]["classes"] == []
    assert all(n["class_counts"] is None and n["purity"] is None for n in doc["nodes"])
    assert any("labels" in line and "no y" in line for line in doc["missing"])
    assert not any(m["key"] in ("dp", "acc", "nmi") for m in doc["metrics"])
    # one grid per level, cells row-major, each cell's node is the node of that code
    assert [(m["level"], m["rows"], m["cols"]) for m in doc["maps"]] == [(1, 2, 2), (2, 1, 2)]
    nodes = {n["id"]: n for n in doc["nodes"]}
    paths = htvae.predict_path(X)
    for grid in doc["maps"]:
        for cell in grid["cells"]:
            node = nodes[cell["node"]]
            assert node["attrs"] == {"level": grid["level"], "code": cell["code"]}
            expected = int((paths[:, grid["level"] - 1] == cell["code"]).sum())
            assert cell["size"] == node["size"] == expected
            assert cell["image"] in doc["images"]
            if node["size"]:
                assert 0 < node["routing_confidence"] <= 1
    # routing confidence of a finest code: the mean softmax(−squared distance) of the chosen
    # code, by brute force over the (N, K, L) differences
    z = htvae.transform(X).astype(np.float64)
    codes = htvae.codes(1).reshape(-1, z.shape[1]).astype(np.float64)
    logits = -((z[:, None, :] - codes[None, :, :]) ** 2).sum(-1)
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    for cell in doc["maps"][0]["cells"]:
        members = paths[:, 0] == cell["code"]
        if members.any():
            expected = probs[members, cell["code"]].mean()
            assert nodes[cell["node"]]["routing_confidence"] == pytest.approx(expected, rel=1e-6)
    html = render_html(doc)
    assert html.count('class="cell select"') == sum(len(m["cells"]) for m in doc["maps"])
    assert "no y was given" in html


def test_vlac_document_layers_and_components(vlac, digits):
    X, y = digits
    doc = build_document(vlac, X, y)
    check_against_schema(doc)
    check_tree_consistent(doc)
    assert doc["model"]["family"] == "ladder"
    shapes = [(l["layer"], l["K"], len(l["components"])) for l in doc["layers"]]
    assert shapes == [(1, 1, 0), (2, 3, 3)]
    predicted = vlac.predict(X, layer=2)
    nodes = {n["id"]: n for n in doc["nodes"]}
    for component in doc["layers"][1]["components"]:
        node = nodes[component["node"]]
        assert node["kind"] == "component" and node["parent"] == doc["layers"][1]["node"]
        expected = int((predicted == component["component"]).sum())
        assert component["size"] == node["size"] == expected
        assert node["generations_image"] in doc["images"]  # every component generates
    metrics = {m["key"] for m in doc["metrics"]}
    assert {"elbo", "acc", "nmi", "acc_l2"} <= metrics


def test_partly_labelled_data_keeps_histograms_and_says_why_metrics_are_missing(treevae, digits):
    X, y = digits
    y = y.copy()
    y[::2] = -1
    doc = build_document(treevae, X, y, n_generations=0)
    root = next(n for n in doc["nodes"] if n["id"] == doc["root"])
    assert sum(root["class_counts"]) == doc["data"]["n_labelled"] == 150
    assert not any(m["key"] == "acc" for m in doc["metrics"])
    assert any("unlabelled" in line for line in doc["missing"])


def test_image_budget_caps_the_page_and_says_so(treevae, digits):
    X, y = digits
    doc = build_document(treevae, X, y, max_image_bytes=3000)
    assert sum(len(v) for v in doc["images"].values()) <= 3000
    assert any("left out" in line for line in doc["missing"])
    # the root comes first (breadth first): it keeps its images when deep nodes lose theirs
    root = doc["nodes"][0]
    assert root["members_image"] is not None
    assert any(n["generations_image"] is None for n in doc["nodes"][1:])


def test_image_budget_skips_non_images():
    budget = ImageBudget(10_000, (0.0, 1.0))
    assert budget.add("v", np.zeros((4, 5), dtype=np.float32)) is None  # vectors of size 5
    assert budget.add("i", np.zeros((4, 1, 8, 8), dtype=np.float32)) == "i"
    assert budget.images["i"].startswith("data:image/png;base64,")


def test_a_60000_image_run_gives_a_page_under_10_mb(tmp_path):
    """A 28×28 model described on 60,000 images: the page holds no per-sample data and its
    images are capped, so it stays far under 10 MB (the size does not grow with N)."""
    rng = np.random.default_rng(0)
    prototypes = (rng.random((4, 1, 28, 28)) > 0.6).astype(np.float32)
    X_small = np.clip(prototypes[rng.integers(0, 4, 256)] + 0.1 * rng.random((256, 1, 28, 28)),
                      0, 1).astype(np.float32)  # fmt: skip
    model = TreeVAE(max_leaves=3, max_depth=2, latent_dim=2, width=8, batch_size=64,
                    schedule=dict(initial=8, subtree=4, intermediate=0, finetune=4),
                    random_state=0).fit(X_small)  # fmt: skip
    X = np.concatenate([X_small] * 235)[:60_000]
    y = np.arange(60_000) % 10
    path = write_report(model, X, y, tmp_path / "big.html")
    size = path.stat().st_size
    assert size < 10e6, size
    doc = json.loads(path.with_suffix(".json").read_text())
    assert doc["data"]["n_samples"] == 60_000
    assert sum(len(n["member_indices"]) for n in doc["nodes"]) <= 8 * len(doc["nodes"])


def test_html_is_self_contained_and_escapes_the_document(treevae, digits, tmp_path):
    X, y = digits
    names = [f"</script><b>{i}" for i in range(10)]  # hostile class names
    path = treevae.report(X, y, path=tmp_path / "r.html", class_names=names)
    html = path.read_text()
    # no network: no external scripts, styles, images or fonts
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert "<link" not in html
    # the document closes its script element once (the hostile names are escaped)
    assert html.count("</script>") == 2
    embedded = re.search(r'<script type="application/json" id="report-data">(.*?)</script>',
                         html, re.S).group(1)  # fmt: skip
    assert json.loads(embedded) == json.loads(path.with_suffix(".json").read_text())
    assert html.count('class="node ') == len(treevae.tree_)
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # shareable, not mkstemp's 0600


def test_report_refuses_bad_paths_and_inputs(treevae, digits, tmp_path):
    X, y = digits
    with pytest.raises(ValueError, match=r"ending in \.html"):
        treevae.report(X, y, path=tmp_path / "r.png")
    with pytest.raises(ValueError, match="y must have shape"):
        treevae.report(X, y[:10], path=tmp_path / "r.html")
    with pytest.raises(ValueError, match="shape"):
        treevae.report(X.reshape(len(X), -1)[:, :10], path=tmp_path / "r.html")
    assert not list(tmp_path.iterdir())  # nothing written half-way
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        TreeVAE().report(X, path=tmp_path / "r.html")


def test_report_command(cli, tmp_path):
    from typer.testing import CliRunner

    from dendrogen.cli import app

    run = tmp_path / "run"
    cli("fit", "--model", "treevae", "--data", "digits", "--preset", "tiny", "--limit", "200",
        "--set", "batch_size=32", "--set", "max_leaves=3", "--out", run)  # fmt: skip
    result = cli("report", run, "--data", "digits", "--limit", "150", "--out", tmp_path / "r.html")
    assert "report written to" in result.output
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["data"]["n_samples"] == 150 and doc["data"]["name"] == "digits (train)"
    assert [c["name"] for c in doc["data"]["classes"]][:2] == ["0", "1"]
    assert (tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")
    bad = CliRunner().invoke(app, ["report", str(run), "--data", "digits", "--out", "r.txt"])
    assert bad.exit_code == 1 and bad.output.startswith("error:") and "Traceback" not in bad.output
    missing = CliRunner().invoke(app, ["report", str(tmp_path / "nope"), "--data", "digits"])
    assert missing.exit_code == 1 and missing.output.startswith("error:")


def test_a_loaded_model_without_history_says_so(vlac, digits, tmp_path):
    from dendrogen import load

    vlac.save(tmp_path / "model")
    doc = build_document(load(tmp_path / "model"), digits[0][:100], n_generations=0)
    assert doc["curves"]["series"] == {}
    assert any(line.startswith("learning curves:") for line in doc["missing"])
    assert "No learning curves" in render_html(doc)


@pytest.mark.heavy(seconds=19)
def test_make_demo_writes_the_report(tmp_path, monkeypatch, capsys):
    import dendrogen.demo

    short = dict(initial=20, subtree=10, intermediate=0, finetune=10)
    monkeypatch.setattr(dendrogen.demo, "DEMO_SCHEDULE", short)
    dendrogen.demo.run_demo(tmp_path, verbose=False)
    report = tmp_path / "report.html"
    assert f"exploration report (open it in a browser): {report}" in capsys.readouterr().out
    doc = json.loads(report.with_suffix(".json").read_text())
    assert doc["data"]["name"] == "digits (train)" and doc["data"]["n_samples"] == 1437
