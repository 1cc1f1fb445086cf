"""``benchmarks/paper_tables.py`` on the bundled digits with the tiny preset: every row, the
summary over seeds, the published values beside ours, JSON, markdown and one PNG per metric."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tables():
    spec = importlib.util.spec_from_file_location("paper_tables", ROOT / "benchmarks" /
                                                  "paper_tables.py")  # fmt: skip
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_treevae_table_on_digits_with_the_tiny_preset(tables, tmp_path, monkeypatch):
    monkeypatch.setattr(tables, "PEERS_PYTHON", tmp_path / "no-peers" / "python")
    record = tables.main(["--data", "digits", "--seeds", "0", "--preset", "tiny",
                          "--leaves", "10", "--out", str(tmp_path)])  # fmt: skip
    methods = ["Agg", "VAE+Agg", "LadderVAE+Agg", "TreeVAE"]
    assert [r["method"] for r in record["rows"]] == methods
    assert "DeepECT (clustpy)" in record["skipped"]  # no .venv-peers: said, not hidden
    for row in record["rows"]:
        assert all(0 <= row[m] <= 1 for m in ("dp", "lp", "acc", "nmi")), row
    # the Agg row is Ward on the raw test pixels, truncated to 10 leaves (the protocol)
    from scipy.cluster.hierarchy import linkage

    from dendrogen.data import load_dataset
    from dendrogen.metrics import dendrogram_purity

    Xt, yt = load_dataset("digits", split="test")
    Z = linkage(Xt.reshape(len(Xt), -1).astype(np.float64), "ward")
    assert record["summary"]["Agg"]["dp"]["mean"] == pytest.approx(
        dendrogram_purity(Z, yt, n_leaves=10)
    )
    saved = json.loads((tmp_path / "table_treevae_digits.json").read_text())
    assert saved["summary"].keys() == record["summary"].keys()
    text = (tmp_path / "table_treevae_digits.md").read_text()
    assert "| VAE+Agg |" in text and "79.9 ± 2.2" in text  # ours beside the published value
    assert "not run" in text
    for metric in ("dp", "lp", "acc", "nmi"):
        assert (tmp_path / f"table_treevae_digits_{metric}.png").stat().st_size > 1000


def test_htvae_table_on_digits_with_the_tiny_preset(tables, tmp_path):
    record = tables.main(["--data", "digits", "--seeds", "0", "1", "--preset", "tiny", "--table",
                          "htvae", "--methods", "VAE-HKMeans", "SOM-VAE", "--out",
                          str(tmp_path)])  # fmt: skip
    summary = record["summary"]
    assert set(summary) == {"VAE-HKMeans", "SOM-VAE"}
    assert summary["VAE-HKMeans"]["d_tree"]["n"] == 2 and "d_tree" not in summary["SOM-VAE"]
    values = [r["purity"] for r in record["rows"] if r["method"] == "VAE-HKMeans"]
    assert summary["VAE-HKMeans"]["purity"]["std"] == pytest.approx(np.std(values, ddof=1))
    text = (tmp_path / "table_htvae_digits.md").read_text()
    assert "N.A." in text and "0.900 ± 0.002" in text


FAKE_PEER = """#!/bin/sh
# stands in for .venv-peers/bin/python: writes what benchmarks/peer_deepect.py writes
exec {python} - "$@" <<'PY'
import json, sys
import numpy as np
from dendrogen.data import load_dataset
from dendrogen.tree import Tree
out = sys.argv[sys.argv.index("--out") + 1]
_, yt = load_dataset("digits", split="test")
tree = Tree.from_parents({{0: None, 1: 0, 2: 0}})
leaf = np.where(yt < 5, 1, 2)
json.dump({{"y_test": yt.tolist(), "tree": tree.to_dict(), "leaf_of_point": leaf.tolist(),
           "flat": (yt % 3).tolist(), "clustpy": {{"dp": 0.25, "lp": 0.5, "acc": 0.125}},
           "times": {{"fit_s": 1.0}}}}, open(out, "w"))
PY
"""


def test_the_peer_row_is_scored_with_dendrogens_metrics_beside_clustpys(tables, tmp_path,
                                                                         monkeypatch):  # fmt: skip
    import sys

    from dendrogen.data import load_dataset
    from dendrogen.metrics import tree_dendrogram_purity
    from dendrogen.tree import Tree

    fake = tmp_path / "python"
    fake.write_text(FAKE_PEER.format(python=sys.executable))
    fake.chmod(0o755)
    monkeypatch.setattr(tables, "PEERS_PYTHON", fake)
    record = tables.main(["--data", "digits", "--seeds", "3", "--preset", "tiny", "--methods",
                          "DeepECT (clustpy)", "--out", str(tmp_path)])  # fmt: skip
    _, yt = load_dataset("digits", split="test")
    tree = Tree.from_parents({0: None, 1: 0, 2: 0})
    expected = tree_dendrogram_purity(tree, np.where(yt < 5, 1, 2), yt)
    stats = record["summary"]["DeepECT (clustpy)"]
    assert stats["dp"]["mean"] == pytest.approx(expected) and stats["dp"]["n"] == 1
    assert stats["clustpy_dp"]["mean"] == 0.25 and stats["deepect_fit_s"]["mean"] == 1.0
    text = (tmp_path / "table_treevae_digits.md").read_text()
    assert "clustpy's own metrics:" in text and "DP 25.0 ± 0.0" in text
    assert (tmp_path / "deepect_digits_seed3.json").exists()
