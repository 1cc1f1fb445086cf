"""Model folders: nothing the user owns is deleted or renamed, writes are all-or-nothing (a crash
at any step leaves the old or the new model, and the next access cleans up), and a missing,
damaged or edited file is one clear ValueError naming it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import dendrogen
from dendrogen import TreeVAE, io

TINY = dict(
    max_leaves=3, max_depth=2, latent_dim=2, width=8, batch_size=16, likelihood="gaussian",
    schedule=dict(initial=20, subtree=10, intermediate=0, finetune=10, subtree_epochs=None),
    random_state=0,
    verbose=False, min_leaf_fraction=0.0,
)  # fmt: skip


@pytest.fixture(scope="module")
def data():
    X = np.random.default_rng(0).random((64, 1, 8, 8)).astype(np.float32)
    return X


@pytest.fixture(scope="module")
def fitted(data):
    return TreeVAE(**TINY).fit(data)


def weights(path: Path) -> dict[str, torch.Tensor]:
    return io.read_state(path)[2]


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def leftovers(path: Path) -> list[str]:
    return sorted(
        p.name
        for p in path.iterdir()
        if p.name.startswith(io.STAGING_PREFIX) or p.name == io.COMMIT
    )


# ---------------------------------------------------------------------- nothing user-owned is lost
def test_save_writes_only_its_own_files(fitted, tmp_path):
    d = tmp_path / "d"
    fitted.save(d)
    (d / "notes.txt").write_text("keep")
    (d / "figures").mkdir()
    (d / "figures" / "a.png").write_bytes(b"png")
    fitted.save(d, metrics={"acc": 0.5})
    fitted.save(d)  # metrics.json was the library's: a save without metrics removes it
    assert sorted(p.name for p in d.iterdir()) == [
        "config.json", "figures", "model.safetensors", "notes.txt", "tree.json"]  # fmt: skip
    assert (d / "notes.txt").read_text() == "keep"
    assert (d / "figures" / "a.png").read_bytes() == b"png"
    assert isinstance(dendrogen.load(d), TreeVAE)


def test_save_refuses_a_file_and_a_path_under_a_file(fitted, tmp_path):
    f = tmp_path / "somefile"
    f.write_text("mine")
    with pytest.raises(ValueError, match="is a file"):
        fitted.save(f)
    with pytest.raises(ValueError, match="is a file"):
        fitted.save(f / "sub")
    with pytest.raises(ValueError, match="is a file"):
        fitted.save(f, overwrite=True)
    assert f.read_text() == "mine" and sorted(os.listdir(tmp_path)) == ["somefile"]


def test_save_refuses_a_foreign_folder_unless_overwrite(fitted, data, tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    (d / "notes.txt").write_text("keep")
    with pytest.raises(ValueError, match=r"not a dendrogen model folder.*overwrite=True"):
        fitted.save(d)
    assert os.listdir(d) == ["notes.txt"]
    fitted.save(d, overwrite=True)
    assert (d / "notes.txt").read_text() == "keep"
    assert np.array_equal(dendrogen.load(d).predict(data), fitted.predict(data))
    fitted.save(d)  # now a model folder: no flag needed
    empty = tmp_path / "empty"
    empty.mkdir()
    fitted.save(empty)
    assert io.check_output_dir(empty) == empty


def test_checkpoint_dir_at_a_file_is_refused_and_the_file_kept(data, tmp_path):
    f = tmp_path / "somefile"
    f.write_text("mine")
    with pytest.raises(ValueError, match="is a file"):
        TreeVAE(**TINY).fit(data, checkpoint_dir=f)
    assert f.read_text() == "mine" and sorted(os.listdir(tmp_path)) == ["somefile"]


def test_remove_state_removes_only_library_files(fitted, tmp_path):
    d = tmp_path / "ck"
    fitted.save(d)
    io.remove_state(d)
    assert not d.exists()
    fitted.save(d)
    (d / "notes.txt").write_text("keep")
    io.remove_state(d)
    assert os.listdir(d) == ["notes.txt"]
    fitted.save(d / "checkpoint")  # a checkpoint nested one level down goes too
    io.remove_state(d)
    assert os.listdir(d) == ["notes.txt"]
    (d / "notes.txt").unlink()
    fitted.save(d / "checkpoint")
    io.remove_state(d)
    assert not d.exists()


# ---------------------------------------------------------------------- all-or-nothing writes
def crash_after(monkeypatch, k: int) -> None:
    """Make the (k+1)-th os.replace raise, as if the process died there; folders are not
    removed either (a dead process cleans nothing up)."""
    real = os.replace
    calls = {"n": 0}

    def replace(src, dst):
        calls["n"] += 1
        if calls["n"] > k:
            raise OSError("simulated crash")
        return real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(shutil, "rmtree", lambda *a, **kw: None)


@pytest.mark.parametrize("first_write", [False, True])
def test_a_crash_at_any_step_leaves_the_old_or_the_new_model(
    fitted, tmp_path, monkeypatch, first_write
):
    old = {k: v.clone() for k, v in fitted.module_.state_dict().items()}
    new_est = TreeVAE(**TINY)
    new_est.__dict__.update({k: v for k, v in fitted.__dict__.items() if k.endswith("_")})
    new_est.module_ = type(fitted.module_)(fitted.module_.config, fitted.tree_)
    new_est.module_.load_state_dict({k: v + 1 for k, v in old.items()})
    new = dict(new_est.module_.state_dict())
    seen = set()
    for k in range(50):
        d = tmp_path / f"m{k}"
        if not first_write:
            fitted.save(d)
        (tmp_path / f"m{k}").mkdir(exist_ok=True)
        (d / "notes.txt").write_text("keep")
        crash_after(monkeypatch, k)
        try:
            new_est.save(d, metrics={"k": k}, overwrite=first_write)
            done = True
        except OSError:
            done = False
        monkeypatch.undo()
        if first_write and not (d / io.COMMIT).exists() and not (d / io.CONFIG).exists():
            with pytest.raises(ValueError, match="not a saved dendrogen model"):
                io.read_state(d)
            seen.add("none")
        else:
            got = {k2: v for k2, v in weights(d).items() if not k2.startswith("fitted.")}
            if same(got, old):
                seen.add("old")
                assert not (d / io.METRICS).exists()
            else:
                assert same(got, new), f"crash after {k} renames left a mixed model"
                assert json.loads((d / io.METRICS).read_text()) == {"k": k}
                seen.add("new")
        assert leftovers(d) == [], f"crash after {k} renames left {leftovers(d)}"
        assert (d / "notes.txt").read_text() == "keep"
        if done:
            break
    assert done and seen == ({"none", "new"} if first_write else {"old", "new"})


KILLED_WRITER = """
import sys, torch
from dendrogen import io
path = sys.argv[1]
print("ready", flush=True)
i = 0
while True:
    v = float(i % 2)
    io.save_state(path, {"class": "none", "i": i}, {"a": torch.full((300_000,), v),
                  "b": torch.full((300_000,), v)}, metrics={"v": v})
    i += 1
"""


def test_sigkill_during_writes_leaves_a_complete_state(tmp_path):
    d = tmp_path / "ck"
    io.save_state(d, {"class": "none"}, {"a": torch.zeros(3), "b": torch.zeros(3)},
                  metrics={"v": 0.0})  # fmt: skip
    (d / "notes.txt").write_text("keep")
    delays = np.random.default_rng(0).uniform(0.05, 0.6, size=5)
    for delay in delays:
        child = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(d)],
                                 stdout=subprocess.PIPE, text=True)  # fmt: skip
        assert child.stdout.readline().strip() == "ready"
        time.sleep(float(delay))
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
        _, _, tensors = io.read_state(d)
        v = json.loads((d / io.METRICS).read_text())["v"]
        assert {tensors["a"].unique().tolist()[0], tensors["b"].unique().tolist()[0]} == {v}
        assert leftovers(d) == [] and (d / "notes.txt").read_text() == "keep"


def test_a_write_after_a_crash_cleans_up(fitted, tmp_path, monkeypatch):
    d = tmp_path / "m"
    fitted.save(d)
    crash_after(monkeypatch, 0)  # dies while staging: the old model stays
    with pytest.raises(OSError):
        fitted.save(d)
    monkeypatch.undo()
    stage = d / f"{io.STAGING_PREFIX}{os.getpid()}-x"
    stage.mkdir()  # and one left by a killed process (this pid, no write in progress)
    (stage / "model.safetensors").write_bytes(b"partial")
    fitted.save(d)
    assert leftovers(d) == [] and io.has_state(d)


def test_a_damaged_commit_marker_is_a_clear_error(fitted, tmp_path):
    d = tmp_path / "m"
    fitted.save(d)
    (d / io.COMMIT).write_text('{"staging": "../../etc", "files": [], "remove": ["notes.txt"]}')
    (d / "notes.txt").write_text("keep")
    with pytest.raises(ValueError, match=r"\.dendrogen-commit\.json .* is unreadable"):
        dendrogen.load(d)
    assert (d / "notes.txt").read_text() == "keep"


def test_folders_left_by_the_old_write_scheme_are_recovered(fitted, tmp_path):
    ck = tmp_path / "ck"
    fitted.save(tmp_path / ".ck.old-123")  # killed between the two renames of old write_folder
    (tmp_path / ".ck.tmp-abc").mkdir()
    config, _, _ = io.read_state(ck)
    assert config["class"] == "TreeVAE"
    assert sorted(os.listdir(tmp_path)) == ["ck"]


# ------------------------------------------------------------ tamper-evident, clear errors
def edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize(
    ("damage", "file", "message"),
    [
        (lambda d: (d / "tree.json").write_text((d / "tree.json").read_text() + " "),
         "tree.json", "does not match the SHA-256"),
        (lambda d: (d / "model.safetensors").write_bytes((d / "model.safetensors").read_bytes()
                                                          [:100]),
         "model.safetensors", "does not match the SHA-256"),
        (lambda d: (d / "tree.json").unlink(), "tree.json", "missing"),
        (lambda d: (d / "model.safetensors").unlink(), "model.safetensors", "missing"),
        (lambda d: (d / "config.json").write_text("{not json"), "config.json", "not valid JSON"),
        (lambda d: edit_json(d / "config.json", lambda c: c.pop("fitted")), "config.json",
         "lacks the entry 'fitted'"),
        (lambda d: edit_json(d / "config.json", lambda c: c["params"].update(max_leaves="abc")),
         "config.json", "max_leaves"),
        (lambda d: edit_json(d / "config.json", lambda c: c["params"].update(latent_dim=5)),
         "config.json", "latent_dim"),
        (lambda d: edit_json(d / "config.json", lambda c: (
            c["fitted"]["config"].update(latent_dim=5), c["params"].update(latent_dim=5))),
         "model.safetensors", "does not fit"),
        (lambda d: edit_json(d / "config.json", lambda c: c.update(sha256=None)) or
         (d / "model.safetensors").write_bytes(b"\x08" + bytes(20)),
         "model.safetensors", "damaged"),
    ],
    ids=["tree-edited", "weights-truncated", "tree-missing", "weights-missing", "bad-json",
         "missing-key", "bad-param", "param-vs-model", "latent-dim", "unhashed-truncated"],
)  # fmt: skip
def test_damaged_folders_give_one_clear_value_error(fitted, tmp_path, damage, file, message):
    d = tmp_path / "m"
    fitted.save(d)
    damage(d)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match=message) as info:
            dendrogen.load(d)
    assert file in str(info.value) and str(d) in str(info.value)


def test_swapped_children_in_tree_json_are_detected(tmp_path, fitted):
    assert fitted.n_leaves_ >= 2
    d = tmp_path / "m"
    fitted.save(d)
    tree = json.loads((d / "tree.json").read_text())
    root = tree["root"]
    kids = [i for i, e in enumerate(tree["nodes"]) if e["parent"] == root]
    a, b = kids[:2]
    tree["nodes"][a], tree["nodes"][b] = tree["nodes"][b], tree["nodes"][a]
    (d / "tree.json").write_text(json.dumps(tree))
    with pytest.raises(ValueError, match=r"tree\.json does not match the SHA-256"):
        dendrogen.load(d)


def test_without_hashes_the_tree_is_still_checked_against_the_weights(tmp_path, fitted):
    d = tmp_path / "m"
    fitted.save(d)
    edit_json(d / "config.json", lambda c: c.pop("sha256"))
    tree = json.loads((d / "tree.json").read_text())
    leaf = tree["nodes"][-1]["id"]
    tree["nodes"] = tree["nodes"][:-1]  # drop a leaf: its decoder's weights are unexpected
    (d / "tree.json").write_text(json.dumps(tree))
    with pytest.warns(UserWarning), pytest.raises(ValueError) as info:
        dendrogen.load(d)
    message = str(info.value)
    assert "model.safetensors does not match" in message and "tree.json" in message
    assert f".{leaf}." in message


def test_folders_without_hashes_load_with_a_warning(fitted, data, tmp_path):
    d = tmp_path / "m"
    fitted.save(d)
    edit_json(d / "config.json", lambda c: c.pop("sha256"))
    with pytest.warns(UserWarning, match="without file hashes"):
        loaded = dendrogen.load(d)
    assert np.array_equal(loaded.predict(data), fitted.predict(data))
