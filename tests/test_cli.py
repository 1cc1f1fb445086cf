"""The command line end to end: fit, evaluate, sample and tree on the bundled digits."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from dendrogen.cli import app, parse_settings

runner = CliRunner()


def invoke(*args: str):
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result


def test_parse_settings():
    assert parse_settings(["a=1", "K=[1,5,50,1]", "schedule.initial=500", "arch=mlp"]) == {
        "a": 1, "K": [1, 5, 50, 1], "schedule": {"initial": 500}, "arch": "mlp"}  # fmt: skip


def test_treevae_fit_evaluate_sample_tree(tmp_path):
    out = tmp_path / "tv"
    fitted = invoke("fit", "--model", "treevae", "--data", "digits", "--preset", "tiny",
                    "--limit", "300", "--set", "batch_size=32", "--set", "max_leaves=3",
                    "--set", "schedule.likelihood_probe=20", "--out", str(out))  # fmt: skip
    assert (out / "tree.json").exists() and (out / "checkpoint" / "config.json").exists()
    assert "likelihood: " in fitted.output and "held-out ELBO" in fitted.output  # the probe's
    result = invoke("evaluate", str(out), "--data", "digits", "--limit", "200",
                    "--ll-samples", "3", "--json", str(tmp_path / "m.json"))  # fmt: skip
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert {"dp", "lp", "acc", "nmi", "elbo", "ll"} <= set(metrics) and "dp" in result.output
    invoke("sample", str(out), "--leaf", "0", "-n", "5", "--out", str(tmp_path / "s.npy"))
    assert np.load(tmp_path / "s.npy").shape == (5, 1, 8, 8)
    invoke("sample", str(out), "-n", "4", "--out", str(tmp_path / "s.png"))
    invoke("tree", str(out), "--data", "digits", "--limit", "200", "--out", str(tmp_path / "t.png"))
    assert (tmp_path / "s.png").stat().st_size > 0 and (tmp_path / "t.png").stat().st_size > 0


@pytest.mark.parametrize(
    ("model", "settings", "selector"),
    [("htvae", ["--preset", "tiny", "--set", "map_sizes=4x4,2x2", "--set", "batch_size=32"],
      ["--level", "2"]),
     ("vlac", ["--set", "K=[1,3]", "--set", "z_dims=[2,2]", "--set", "schedule.train=20",
               "--set", "batch_size=32"], ["--layer", "2"])],
)  # fmt: skip
def test_other_models_through_the_cli(tmp_path, model, settings, selector):
    out = tmp_path / model
    invoke("fit", "--model", model, "--data", "digits", "--limit", "200", *settings,
           "--out", str(out))  # fmt: skip
    invoke("evaluate", str(out), "--data", "digits", "--limit", "100")
    invoke("sample", str(out), *selector, "-n", "3", "--out", str(tmp_path / "s.npy"))
    assert np.load(tmp_path / "s.npy").shape[0] == 3


def test_cli_errors_are_clear(tmp_path):
    result = runner.invoke(app, ["fit", "--model", "nope", "--out", str(tmp_path / "x")])
    assert result.exit_code == 1 and "unknown model" in result.output
    result = runner.invoke(app, ["fit", "--set", "colour=3", "--out", str(tmp_path / "x")])
    assert result.exit_code == 1 and "no parameter" in result.output
    result = runner.invoke(app, ["evaluate", str(tmp_path / "missing")])
    assert result.exit_code == 1 and "not a saved dendrogen model" in result.output
