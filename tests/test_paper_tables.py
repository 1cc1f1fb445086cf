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
