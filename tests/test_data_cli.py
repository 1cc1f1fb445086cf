"""`dendrogen data info` and `dendrogen data list`."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import dendrogen.data.base as data_base
from dendrogen.cli import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "home" / ".cache"))
    monkeypatch.delenv("DENDROGEN_DATA", raising=False)
    monkeypatch.setattr(data_base, "SYSTEM_LOCATIONS", {})


def write_idx(path: Path, arr: np.ndarray) -> None:
    head = struct.pack(">BBBB", 0, 0, 8, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    path.write_bytes(gzip.compress(head + arr.tobytes()))


def test_info_digits():
    result = runner.invoke(app, ["data", "info", "digits", "--split", "test"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "(360, 1, 8, 8)" in out and "float32" in out and "[0, 1]" in out
    assert "scikit-learn bundled" in out
    assert "10 (fine labels)" in out
    assert out.count("\n") >= 17  # one line per class with its count


def test_info_idx_files_with_root_and_coarse_labels(tmp_path):
    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    images = np.zeros((6, 28, 28), np.uint8)
    images[0, 0, 0] = 255
    write_idx(folder / "train-images-idx3-ubyte.gz", images)
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.array([0, 6, 6, 9, 8, 1], np.uint8))
    result = runner.invoke(app, ["data", "info", "fashion-mnist", "--root", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert str(folder) in result.output and "(6, 1, 28, 28)" in result.output
    lines = {line.split()[1]: line.split()[-1] for line in result.output.splitlines()[7:]}
    assert lines["T-shirt/top"] == "1" and lines["Shirt"] == "2" and lines["Pullover"] == "0"
    coarse = runner.invoke(
        app, ["data", "info", "fashion-mnist", "--root", str(tmp_path), "--labels", "coarse"]
    )
    assert coarse.exit_code == 0 and "light tops" in coarse.output and "footwear" in coarse.output


def test_info_not_found_exits_1_without_traceback(tmp_path):
    result = runner.invoke(app, ["data", "info", "fashion-mnist", "--root", str(tmp_path)])
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert "was not found" in result.output and str(tmp_path) in result.output
    assert "apt-get install dataset-fashion-mnist" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nosuchset"], "unknown data set"),
        (["digits", "--split", "validation"], "split must be one of"),
        (["digits", "--labels", "coarse"], "no super-classes"),
    ],
)
def test_info_bad_input_exits_1(args, message):
    result = runner.invoke(app, ["data", "info", *args])
    assert result.exit_code == 1 and message in result.output
    assert isinstance(result.exception, SystemExit)


def test_info_user_file(tmp_path):
    path = tmp_path / "mine.npz"
    np.savez(path, X=np.ones((5, 3)) * 7, y=np.array([0, 0, 1, 1, 1]))
    result = runner.invoke(app, ["data", "info", str(path)])
    assert result.exit_code == 0, result.output
    assert "(5, 3)" in result.output and "vector" in result.output and "[7, 7]" in result.output


def test_list():
    result = runner.invoke(app, ["data", "list"])
    assert result.exit_code == 0, result.output
    for name in ("digits", "mnist", "fashion-mnist", "cifar100", "omniglot5", "celeba"):
        assert name in result.output
    digits_line = next(line for line in result.output.splitlines() if line.startswith("digits"))
    mnist_line = next(line for line in result.output.splitlines() if line.startswith("mnist"))
    assert "bundled" in digits_line and "not found" in mnist_line


def test_help_lists_the_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0, result.output
    for command in ("data", "fit", "evaluate", "sample", "tree", "demo"):
        assert command in result.output
    data_help = runner.invoke(app, ["data", "--help"])
    assert data_help.exit_code == 0 and "info" in data_help.output and "list" in data_help.output
