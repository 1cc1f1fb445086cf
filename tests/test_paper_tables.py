"""The paper tables (``dendrogen bench``, :mod:`dendrogen.bench.paper_tables`, and its wrapper
``benchmarks/paper_tables.py``) on the bundled digits with the tiny preset: every row, the
summary over seeds, the published values beside ours, JSON, markdown and one PNG per metric."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tables():
    from dendrogen.bench import paper_tables

    return paper_tables


@pytest.mark.heavy(seconds=10)
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
                          "htvae", "--methods", "VAE-HKMeans", "VAE-RGMM", "SOM-VAE", "--out",
                          str(tmp_path)])  # fmt: skip
    summary = record["summary"]
    assert set(summary) == {"VAE-HKMeans", "VAE-RGMM", "SOM-VAE"}
    assert summary["VAE-HKMeans"]["d_tree"]["n"] == 2 and "d_tree" not in summary["SOM-VAE"]
    # one VAE per seed for both VAE rows; VAE-RGMM's time counts that VAE's training in full
    by_seed = {(r["method"], r["seed"]): r for r in record["rows"]}
    for seed in (0, 1):
        hkmeans, rgmm = by_seed["VAE-HKMeans", seed], by_seed["VAE-RGMM", seed]
        assert rgmm["vae_shared_with"] == "VAE-HKMeans"
        assert rgmm["fit_s"] == pytest.approx(hkmeans["fit_s"] + rgmm["tree_s"], abs=0.11)
    values = [r["purity"] for r in record["rows"] if r["method"] == "VAE-HKMeans"]
    assert summary["VAE-HKMeans"]["purity"]["std"] == pytest.approx(np.std(values, ddof=1))
    text = (tmp_path / "table_htvae_digits.md").read_text()
    assert "N.A." in text and "0.900 ± 0.002" in text


FAKE_PEER = """#!/bin/sh
# stands in for .venv-peers/bin/python: writes what dendrogen.bench.peer_deepect writes
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


@pytest.mark.heavy(seconds=16)
def test_dendrogen_bench_runs_the_table_through_the_cli(tmp_path):
    from typer.testing import CliRunner

    from dendrogen.cli import app

    result = CliRunner().invoke(app, ["bench", "--data", "digits", "--seeds", "0", "1",
                                      "--preset", "tiny", "--leaves", "10", "--methods", "Agg",
                                      "TreeVAE", "--peers", str(tmp_path / "none"), "--out",
                                      str(tmp_path)])  # fmt: skip
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "table_treevae_digits.json").read_text())
    assert record["command"].startswith("dendrogen bench --data digits")
    assert [(r["method"], r["seed"]) for r in record["rows"]] == [
        ("Agg", 0), ("Agg", 1), ("TreeVAE", 0), ("TreeVAE", 1)]  # fmt: skip
    tree_rows = [r for r in record["rows"] if r["method"] == "TreeVAE"]
    assert all(0 <= r[m] <= 1 for r in tree_rows for m in ("dp", "lp", "acc", "nmi"))
    assert all(1 < r["n_leaves"] <= 10 for r in tree_rows)
    dp = [r["dp"] for r in tree_rows]
    assert record["summary"]["TreeVAE"]["dp"]["mean"] == pytest.approx(np.mean(dp))
    assert record["summary"]["TreeVAE"]["dp"]["std"] == pytest.approx(np.std(dp, ddof=1))
    assert "| TreeVAE |" in result.output and "87.9 ± 4.9" in result.output  # MNIST's, beside
    help_text = CliRunner().invoke(app, ["bench", "--help"]).output
    assert "--table" in help_text and "--seeds" in help_text and "--merge" in help_text
    bad = CliRunner().invoke(app, ["bench", "--table", "nope"])
    assert bad.exit_code == 2 and "invalid choice" in bad.output


def test_the_script_is_a_wrapper_of_the_package(tmp_path):
    rows = [{"method": "Agg", "seed": s, "fit_s": 1.0, "dp": d, "lp": 0.5, "acc": 0.5,
             "nmi": 0.5} for s, d in ((0, 0.25), (1, 0.75))]  # fmt: skip
    (tmp_path / "run.json").write_text(json.dumps({"rows": rows}))
    command = [sys.executable, str(ROOT / "benchmarks" / "paper_tables.py"), "--methods", "Agg",
               "--merge", str(tmp_path / "run.json"), "--out", str(tmp_path)]  # fmt: skip
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    assert "| Agg | 50.0 ± 35.4 | 63.7 ± 0.0 |" in out  # mean and sample std of 25 and 75
    assert (tmp_path / "table_treevae_digits.md").read_text().count("| Agg |") == 1


FAKE_TIMED_PEER = """#!/bin/sh
# stands in for .venv-peers/bin/python: a peer whose fit time is 0.01 s per epoch
exec {python} - "$@" <<'PY'
import json, sys
import numpy as np
from dendrogen.data import load_dataset
from dendrogen.tree import Tree
arg = lambda name, default: int(sys.argv[sys.argv.index(name) + 1]) if name in sys.argv else default
epochs = {{"pretrain_epochs": arg("--pretrain-epochs", 100),
          "clustering_epochs": arg("--clustering-epochs", 150)}}
out = sys.argv[sys.argv.index("--out") + 1]
_, yt = load_dataset("digits", split="test")
tree = Tree.from_parents({{0: None, 1: 0, 2: 0}})
json.dump({{"y_test": yt.tolist(), "tree": tree.to_dict(),
           "leaf_of_point": np.where(yt < 5, 1, 2).tolist(), "flat": (yt % 2).tolist(),
           "clustpy": {{}}, "times": {{"fit_s": 0.01 * sum(epochs.values())}},
           "budget": epochs}}, open(out, "w"))
PY
"""


@pytest.mark.heavy(seconds=13)
def test_treevae_vs_deepect_scales_the_peers_epochs_to_treevaes_fit_time(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "treevae_vs_deepect", ROOT / "benchmarks" / "treevae_vs_deepect.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.matched_epochs(50.0, 100.0) == {"pretrain_epochs": 50, "clustering_epochs": 75}
    assert module.matched_epochs(1.0, 1000.0) == {"pretrain_epochs": 1, "clustering_epochs": 1}
    fake = tmp_path / "python"
    fake.write_text(FAKE_TIMED_PEER.format(python=sys.executable))
    fake.chmod(0o755)
    record = module.main(["--seeds", "0", "--treevae-preset", "tiny", "--peers", str(fake),
                          "--out", str(tmp_path)])  # fmt: skip
    default, tree, matched = record["rows"]  # interleaved: default, TreeVAE, matched per seed
    assert default["fit_s"] == 2.5 and tree["method"] == "TreeVAE"
    assert matched["target_s"] == tree["fit_s"] > 0
    assert matched["epochs"] == module.matched_epochs(tree["fit_s"], 2.5)
    assert matched["fit_s"] == pytest.approx(tree["fit_s"], abs=0.02)  # the budget was matched
    assert all(0 <= r[m] <= 1 for r in record["rows"] for m in ("dp", "lp", "acc", "nmi"))
    text = (tmp_path / "vs_deepect_digits.md").read_text()
    assert "| DeepECT (clustpy), TreeVAE's fit time |" in text and "| TreeVAE |" in text
    # the other direction: TreeVAE's phase budgets scaled to the peer's default fit time
    other = module.main(["--seeds", "0", "--treevae-preset", "tiny", "--peers", str(fake), "--out",
                         str(tmp_path), "--treevae-at-deepect-time",
                         str(tmp_path / "vs_deepect_digits.json")])  # fmt: skip
    default, scaled = other["rows"]
    assert scaled["method"] == "TreeVAE, DeepECT's fit time" and scaled["target_s"] == 2.5
    assert scaled["schedule"] == module.scaled_schedule("tiny", 2.5 / tree["fit_s"])
    assert scaled["schedule"]["intermediate"] == 0  # a phase the preset skips stays skipped
    assert (tmp_path / "vs_deepect_digits_treevae_matched.md").exists()
    # per-seed records of separate processes merge into one table, without fitting anything
    seed1 = tmp_path / "seed1.json"
    seed1.write_text(json.dumps(
        json.loads((tmp_path / "vs_deepect_digits.json").read_text())
        | {"seeds": [1], "rows": [r | {"seed": 1} for r in record["rows"]]}
    ))  # fmt: skip
    merged = module.main(["--merge", str(tmp_path / "vs_deepect_digits.json"), str(seed1),
                          "--out", str(tmp_path / "merged")])  # fmt: skip
    assert merged["seeds"] == [0, 1] and len(merged["rows"]) == 6
    assert merged["summary"]["TreeVAE"]["dp"]["n"] == 2
    again = module.main(["--merge", str(tmp_path / "vs_deepect_digits_treevae_matched.json"),
                         "--out", str(tmp_path / "merged_other_way")])  # fmt: skip
    assert again["treevae_reference"] and "TreeVAE, DeepECT's fit time" in again["summary"]
    with pytest.raises(SystemExit, match="differ"):  # a record of the other direction
        other_way = tmp_path / "vs_deepect_digits_treevae_matched.json"
        module.main(["--merge", str(seed1), str(other_way), "--out", str(tmp_path / "merged")])


def test_schedule_option_reaches_the_deep_fits(tables, tmp_path, monkeypatch):
    """``--schedule`` overrides the preset's budget of the table's deep models (how a longer
    VAE training is run for the VAE rows) and is recorded with the table."""
    import dendrogen

    budgets = []

    class Recording(dendrogen.Agglomerative):
        def fit(self, X, y=None, **kwargs):
            budgets.append(self.schedule)
            return super().fit(X, y, **kwargs)

    monkeypatch.setattr(dendrogen, "Agglomerative", Recording)
    record = tables.main(["--data", "digits", "--seeds", "0", "--preset", "tiny", "--leaves",
                          "10", "--methods", "VAE+Agg", "--schedule", '{"train": 3}',
                          "--out", str(tmp_path)])  # fmt: skip
    assert budgets == [{"train": 3}]
    assert record["schedule"] == {"train": 3}
