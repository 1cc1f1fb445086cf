"""The command line: one ``error:`` line and a non-zero exit (never a traceback) for bad input,
nothing of the user's deleted, the checkpoint kept after a fit, and output paths reported as
they really are."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from dendrogen import TreeVAE
from dendrogen.cli import app

runner = CliRunner()
FIT = ("fit", "--preset", "tiny", "--limit", "100", "--set", "batch_size=32",
       "--set", "max_leaves=3")  # fmt: skip


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    X = np.random.default_rng(0).random((32, 1, 8, 8)).astype(np.float32)
    est = TreeVAE(max_leaves=2, max_depth=1, latent_dim=2, width=8, batch_size=16,
                  schedule=dict(initial=4, subtree=2, intermediate=0, finetune=2),
                  random_state=0, verbose=False)  # fmt: skip
    return est.fit(X).save(tmp_path_factory.mktemp("cli") / "model")


def fails(*args: str, match: str) -> str:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and match in errors[0], result.stderr
    return errors[0]


def test_bad_settings_and_devices_are_one_line(tmp_path):
    fails("fit", "--set", "schedule=5", "--out", tmp_path / "a", match="schedule")
    fails("fit", "--set", "schedule=5", "--set", "schedule.initial=3", "--out", tmp_path / "a",
          match="already set to 5")  # fmt: skip
    fails("fit", "--set", "schedule.initial=abc", "--set", "batch_size=32", "--limit", "100",
          "--preset", "tiny", "--out", tmp_path / "a", match="")  # fmt: skip
    fails("fit", "--device", "bogus", "--out", tmp_path / "a", match="unknown device 'bogus'")


def test_out_at_a_file_under_a_file_or_unwritable(tmp_path):
    f = tmp_path / "f.txt"
    f.write_text("keep")
    fails("fit", "--out", f, match="is a file")
    fails("fit", "--out", f / "sub", match="is a file")
    fails("fit", "--out", "/proc/dendrogen-no/such", match="cannot create the folder")
    assert f.read_text() == "keep"


def test_out_in_a_foreign_folder_needs_overwrite_and_keeps_files(tmp_path):
    out = tmp_path / "d"
    out.mkdir()
    (out / "notes.txt").write_text("keep")
    fails(*FIT, "--out", out, match="not a dendrogen model folder")
    result = runner.invoke(app, [*FIT, "--out", str(out), "--overwrite"])
    assert result.exit_code == 0, result.output
    assert (out / "notes.txt").read_text() == "keep"
    assert (out / "config.json").exists() and (out / "checkpoint" / "config.json").exists()
    assert "checkpoint kept in" in result.output
    (out / "checkpoint" / "mine.txt").write_text("keep")
    result = runner.invoke(app, [*FIT, "--out", str(out), "--drop-checkpoint"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (out / "checkpoint").iterdir()) == ["mine.txt"]


def test_evaluate_a_broken_folder(model_dir, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("config.json", "tree.json", "model.safetensors"):
        (broken / name).write_bytes((model_dir / name).read_bytes())
    (broken / "model.safetensors").write_bytes((model_dir / "model.safetensors").read_bytes()[:50])
    fails("evaluate", broken, match="model.safetensors")
    (broken / "config.json").write_text("{oops")
    fails("evaluate", broken, match="config.json is not valid JSON")
    config = json.loads((model_dir / "config.json").read_text())
    config["params"]["max_leaves"] = "abc"
    (broken / "config.json").write_text(json.dumps(config))
    (broken / "model.safetensors").write_bytes((model_dir / "model.safetensors").read_bytes())
    fails("evaluate", broken, match="max_leaves")


def test_sample_paths(model_dir, tmp_path):
    fails("sample", model_dir, "-o", tmp_path / "x.txt", match="unsupported file type '.txt'")
    assert not (tmp_path / "x.txt").exists()
    folder = tmp_path / "pics"
    folder.mkdir()
    result = runner.invoke(app, ["sample", str(model_dir), "-n", "2", "-o", str(folder)])
    assert result.exit_code == 0, result.output
    assert (folder / "samples.png").is_file() and not (tmp_path / "pics.png").exists()
    assert f"written to {folder / 'samples.png'}" in result.output
    result = runner.invoke(app, ["sample", str(model_dir), "-n", "2", "-o", str(tmp_path / "s")])
    assert result.exit_code == 0 and f"written to {tmp_path / 's.png'}" in result.output
    assert (tmp_path / "s.png").is_file()
    fails("sample", model_dir, "-n", "0", match="n_samples")


def test_debug_shows_the_traceback(tmp_path):
    f = tmp_path / "f.txt"
    f.write_text("keep")
    result = runner.invoke(app, ["--debug", "fit", "--out", str(f)])
    assert result.exit_code == 1 and "Traceback" in result.stderr
