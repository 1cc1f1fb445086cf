"""The CIFAR-10, CIFAR-100 and CelebA benchmark commands end to end on small stand-in files in
the official formats (issue 16): ``dendrogen fit`` (contrastive by default on these data sets)
with the paper's architecture (latent 64, width 512, the ResNet and the Gaussian likelihood),
then ``dendrogen evaluate``. The files hold 1% of each CIFAR split (500 + 100 images of CIFAR-10,
the same of CIFAR-100) and 300 CelebA faces of random pixels; the schedules are cut to a few
steps, so these runs check that the commands work, not what they score."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from dendrogen import load
from dendrogen.cli import app
from dendrogen.data.celeba import CROP_BOX
from dendrogen.data.hierarchies import CELEBA_ATTRIBUTES, CIFAR100_SPEC, coarse_labels_of
from dendrogen.models.treevae.contrastive import ContrastiveTreeVAEModel

pytestmark = pytest.mark.slow

RNG = np.random.default_rng(16)
#: the documented command's architecture with a schedule of a few steps.
PAPER = ("--preset", "paper", "--set", "latent_dim=64", "--set", "width=512",
         "--set", "max_leaves=3", "--set", "batch_size=100", "--set", "schedule.unit=steps",
         "--set", "schedule.initial=3", "--set", "schedule.subtree=2",
         "--set", "schedule.intermediate=0", "--set", "schedule.finetune=2")  # fmt: skip


def dump(path: Path, obj: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)


def write_cifar10(root: Path, per_batch: int = 100, n_test: int = 100) -> None:
    folder = root / "cifar10" / "cifar-10-batches-py"
    for i in range(1, 6):
        dump(folder / f"data_batch_{i}", {
            b"batch_label": f"training batch {i} of 5".encode(),
            b"data": RNG.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
            b"labels": RNG.integers(0, 10, per_batch).tolist(),
            b"filenames": [b"x.png"] * per_batch})  # fmt: skip
    dump(folder / "test_batch", {b"data": RNG.integers(0, 256, (n_test, 3072), dtype=np.uint8),
                                 b"labels": RNG.integers(0, 10, n_test).tolist()})  # fmt: skip
    dump(folder / "batches.meta", {b"label_names": [b"airplane"] * 10})


def write_cifar100(root: Path, n_train: int = 500, n_test: int = 100) -> None:
    folder = root / "cifar100" / "cifar-100-python"
    for split, n in (("train", n_train), ("test", n_test)):
        fine = RNG.integers(0, 100, n)
        dump(folder / split, {
            b"data": RNG.integers(0, 256, (n, 3072), dtype=np.uint8),
            b"fine_labels": fine.tolist(),
            b"coarse_labels": coarse_labels_of(CIFAR100_SPEC, 100)[fine].tolist(),
            b"filenames": [b"x.png"] * n})  # fmt: skip


def write_celeba(root: Path, n: int = 300) -> None:
    folder = root / "celeba" / "img_align_celeba"
    folder.mkdir(parents=True)
    for i in range(n):
        img = RNG.integers(0, 256, (218, 178, 3), dtype=np.uint8)
        Image.fromarray(img).save(folder / f"{i + 1:06d}.png")
    attrs = RNG.choice([-1, 1], size=(n, 40))
    lines = [str(n), " ".join(CELEBA_ATTRIBUTES)]
    lines += [f"{i + 1:06d}.jpg " + " ".join(f"{v:2d}" for v in row) for i, row in enumerate(attrs)]
    (folder.parent / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    parts = [0 if i < n - 40 else 2 for i in range(n)]  # 260 train, 40 test
    (folder.parent / "list_eval_partition.txt").write_text(
        "".join(f"{i + 1:06d}.jpg {p}\n" for i, p in enumerate(parts))
    )
    assert CROP_BOX  # the loader crops 148x148 at (15, 40) and resizes to 64


@pytest.mark.parametrize(
    ("data", "writer", "shape"),
    [("cifar10", write_cifar10, (3, 32, 32)), ("cifar100", write_cifar100, (3, 32, 32)),
     ("celeba", write_celeba, (3, 64, 64))],
)  # fmt: skip
def test_benchmark_command_runs_end_to_end(tmp_path, data, writer, shape):
    writer(tmp_path)
    out = tmp_path / "run"
    runner = CliRunner()
    result = runner.invoke(app, ["fit", "--model", "treevae", "--data", data, "--root",
                                 str(tmp_path), *PAPER, "--out", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    model = load(out)
    assert isinstance(model.module_, ContrastiveTreeVAEModel)
    assert model.input_shape_ == shape and model.likelihood_ == "gaussian"
    assert model.module_.arch == f"resnet{shape[-1]}" and model.module_.config.latent_dim == 64
    result = runner.invoke(app, ["evaluate", str(out), "--data", data, "--root", str(tmp_path),
                                 "--json", str(tmp_path / "m.json")])  # fmt: skip
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert {"dp", "lp", "acc", "nmi", "elbo"} <= set(metrics)
    assert all(np.isfinite(v) for v in metrics.values())
