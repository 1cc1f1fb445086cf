"""One training path and one estimator contract (issue 11): parameters and optimizer state keyed
by name, the same-run rule with a data fingerprint, the Checkpoint layout, presets in training/,
no import circle, ``forward`` on every model, one ``fit`` signature, one set of shared parameters
with declared rules, ``score`` everywhere and literal docstrings."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from dendrogen import (
    GMDGM,
    HTVAE,
    SOMVAE,
    VAE,
    VLAC,
    VLAE,
    Agglomerative,
    Bisecting,
    LadderVAE,
    TreeVAE,
)
from dendrogen.estimators import ESTIMATORS
from dendrogen.estimators.base import DeepEstimator
from dendrogen.training import Checkpoint, data_fingerprint
from dendrogen.training.optimizer import make_adam
from dendrogen.training.trainer import (
    optimizer_state_by_name,
    optimizer_state_by_position,
    parameter_names,
)

ALL = [TreeVAE, HTVAE, SOMVAE, VLAC, VLAE, GMDGM, VAE, LadderVAE]
#: the baselines over embeddings: a tree over a VAE's (or the raw inputs') embedding
TREES = [Agglomerative, Bisecting]
SHARED = ("learning_rate", "batch_size", "device", "verbose", "random_state", "preset", "schedule")
TREE_TINY = dict(max_leaves=3, max_depth=2, latent_dim=2, width=8, batch_size=32, random_state=0,
                 schedule=dict(initial=6, subtree=4, intermediate=0, finetune=4))  # fmt: skip
VLAC_TINY = dict(K=[1, 2], z_dims=[2, 2], arch="mlp", hidden=8, batch_size=32, random_state=0,
                 schedule={"train": 6})  # fmt: skip
HTVAE_TINY = dict(map_sizes="2x2,1x2", latent_dim=4, widths=(4, 8), preset="tiny", batch_size=32,
                  schedule={"train": 1}, random_state=0)  # fmt: skip


@pytest.fixture(scope="module")
def X():
    rng = np.random.default_rng(0)
    return rng.uniform(0, 1, size=(96, 8)).astype(np.float32)


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(1)
    return rng.uniform(0, 1, size=(64, 1, 8, 8)).astype(np.float32)


# ------------------------------------------------------------------ item 2: exact resume by name
def test_optimizer_state_is_keyed_by_name_and_lands_on_the_same_tensor_in_another_order():
    torch.manual_seed(0)
    model = torch.nn.ModuleDict({"a": torch.nn.Linear(3, 3), "b": torch.nn.Linear(3, 3)})
    params = list(model.parameters())
    opt = make_adam(params, 1e-2, 0.0, torch.device("cpu"))
    model["a"](torch.randn(4, 3)).pow(2).sum().backward()
    (model["b"](torch.randn(4, 3)) * 3).pow(2).sum().backward()
    opt.step()
    saved = optimizer_state_by_name(opt.state_dict(), parameter_names(model, params))
    assert set(saved["state"]) == {"a.weight", "a.bias", "b.weight", "b.bias"}

    # The same model with its modules registered in the other order (as a rebuilt TreeVAE).
    rebuilt = torch.nn.ModuleDict({"b": model["b"], "a": model["a"]})
    params2 = list(rebuilt.parameters())
    opt2 = make_adam(params2, 1e-2, 0.0, torch.device("cpu"))
    opt2.load_state_dict(optimizer_state_by_position(saved, parameter_names(rebuilt, params2)))
    for name, p in rebuilt.named_parameters():
        assert torch.equal(opt2.state[p]["exp_avg"], opt.state[dict(model.named_parameters())[
            name]]["exp_avg"])  # fmt: skip
    with pytest.raises(ValueError, match="other parameters"):
        optimizer_state_by_position(saved, ["a.weight", "x"])


@pytest.mark.parametrize(
    ("cls", "params", "data"),
    [(VLAC, VLAC_TINY, "X"), (HTVAE, HTVAE_TINY | {"schedule": {"train": 3}}, "images"),
     (GMDGM, dict(n_components=2, z_dim=2, depth=2, arch="mlp", hidden=8, batch_size=16,
                  random_state=0, schedule={"train": 8}), "X"),
     (VAE, dict(latent_dim=2, width=8, batch_size=16, random_state=0, schedule={"train": 8}), "X"),
     (LadderVAE, dict(n_layers=3, latent_dim=2, width=8, batch_size=16, random_state=0,
                      schedule={"train": 8}), "images")],
)  # fmt: skip
def test_an_interrupted_fit_of_any_estimator_resumes_exactly(
    cls, params, data, tmp_path, request, monkeypatch
):
    data = request.getfixturevalue(data)
    reference = cls(**params).fit(data)
    original, calls = Checkpoint.save, {"n": 0}

    def interrupting(self, *args, **kwargs):
        original(self, *args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 3:  # mid-phase: checkpoint_every=0 saves after every step
            raise KeyboardInterrupt

    monkeypatch.setattr(Checkpoint, "save", interrupting)
    with pytest.raises(KeyboardInterrupt):
        cls(**params, checkpoint_every=0.0).fit(data, checkpoint_dir=tmp_path / "c")
    monkeypatch.setattr(Checkpoint, "save", original)
    resumed = cls(**params).fit(data, checkpoint_dir=tmp_path / "c")
    for name, tensor in reference.module_.state_dict().items():
        assert torch.equal(tensor, resumed.module_.state_dict()[name]), name
    assert resumed.history_ == reference.history_


def test_a_diverging_loss_is_a_clear_value_error():
    from dendrogen.training import Phase, Trainer

    model = torch.nn.Linear(2, 1)

    def loss_fn(x, alpha):
        return {"loss": model(x).sum() * float("inf")}

    with pytest.raises(ValueError, match="lower the learning rate"):
        Trainer(batch_size=2, progress=False).run(
            Phase("p", 3), model, model.parameters(), loss_fn, torch.ones(4, 2)
        )


def test_training_data_too_large_for_the_device_stay_on_the_host_with_a_warning(
    monkeypatch, caplog
):
    """A GPU without room for the whole data set: batches are copied one at a time instead."""
    from dendrogen.training import Trainer

    data = torch.ones(4, 2)

    def out_of_memory(self, *args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory (simulated)")

    monkeypatch.setattr(torch.Tensor, "to", out_of_memory)
    with caplog.at_level("WARNING", logger="dendrogen"):
        kept = Trainer(device="meta", progress=False)._on_device(data)
    assert kept is data
    assert "do not fit on meta" in caplog.text and "(4, 2)" in caplog.text


# ------------------------------------------------------------------ item 3: same run, same data
def test_data_fingerprint_sees_shape_dtype_and_values(X):
    fp = data_fingerprint(X)
    assert fp == data_fingerprint(X.copy())
    assert fp["shape"] == [96, 8] and fp["dtype"] == "float32"
    assert data_fingerprint(1 - X)["sample_sha256"] != fp["sample_sha256"]
    assert data_fingerprint(X.astype(np.float64))["dtype"] == "float64"
    assert data_fingerprint(X[:50])["shape"] == [50, 8]


def test_treevae_refuses_to_resume_on_other_data_and_says_how_to_start_fresh(X, tmp_path):
    ckpt = tmp_path / "c"
    TreeVAE(**TREE_TINY).fit(X, checkpoint_dir=ckpt)
    for other in (1 - X[:64], 1 - X):  # other shape; same shape, other values
        with pytest.raises(ValueError, match="data") as err:
            TreeVAE(**TREE_TINY).fit(other, checkpoint_dir=ckpt)
        assert "another checkpoint_dir" in str(err.value) and "delete" in str(err.value)
    with pytest.raises(ValueError, match=r"other settings.*latent_dim"):
        TreeVAE(**(TREE_TINY | {"latent_dim": 3})).fit(X, checkpoint_dir=ckpt)


@pytest.mark.parametrize(
    ("cls", "params", "data"),
    [(TreeVAE, TREE_TINY, "X"), (VLAC, VLAC_TINY, "X"), (HTVAE, HTVAE_TINY, "images")],
)
def test_run_only_parameters_do_not_block_a_resume(cls, params, data, tmp_path, request):
    data = request.getfixturevalue(data)
    ckpt = tmp_path / "c"
    first = cls(**params).fit(data, checkpoint_dir=ckpt)
    again = cls(**params, verbose=True, checkpoint_every=5.0).fit(data, checkpoint_dir=ckpt)
    for name, tensor in first.module_.state_dict().items():
        assert torch.equal(tensor, again.module_.state_dict()[name]), name
    with pytest.raises(ValueError, match="other data"):
        cls(**params).fit(1 - data, checkpoint_dir=ckpt)


def test_htvae_resumes_only_with_the_same_must_link_constraints(images, tmp_path):
    labels = np.repeat([0, 1, -1, 2], 16)
    HTVAE(**HTVAE_TINY).fit(images, labels, checkpoint_dir=tmp_path / "c")
    HTVAE(**HTVAE_TINY).fit(images, labels, checkpoint_dir=tmp_path / "c")  # the same run
    with pytest.raises(ValueError, match="other data"):
        HTVAE(**HTVAE_TINY).fit(images, np.roll(labels, 1), checkpoint_dir=tmp_path / "c")
    with pytest.raises(ValueError, match="other data"):
        HTVAE(**HTVAE_TINY).fit(images, checkpoint_dir=tmp_path / "c")


# ------------------------------------------------------------------ item 8: one training path
@pytest.mark.parametrize(
    ("cls", "params", "data"),
    [(TreeVAE, TREE_TINY, "X"), (VLAC, VLAC_TINY, "X"), (HTVAE, HTVAE_TINY, "images")],
)
def test_every_estimator_writes_one_checkpoint_layout_in_the_folder_itself(
    cls, params, data, tmp_path, request
):
    data = request.getfixturevalue(data)
    cls(**params).fit(data, checkpoint_dir=tmp_path / "c")
    files = {p.name for p in (tmp_path / "c").iterdir()}
    assert {"config.json", "model.safetensors", "trainer_state.pt", "driver.json"} <= files
    ckpt = Checkpoint(tmp_path / "c", cls.__name__, cls(**params).get_params(), data)
    assert ckpt.load() is not None  # the same run, as the estimator wrote it


def test_presets_live_in_training_and_old_imports_still_work():
    from dendrogen.models.treevae import PRESETS, Schedule, make_schedule
    from dendrogen.training import presets

    assert Schedule is presets.Schedule and PRESETS is presets.TREEVAE_PRESETS
    assert make_schedule("fast", {"initial": 7}).initial == 7


def _modules_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_layers_import_no_higher_layer():
    after_io = _modules_after("import dendrogen.io")
    assert not any(m.startswith("dendrogen.estimators") for m in after_io)
    after_models = _modules_after("import dendrogen.models.treevae, dendrogen.models.vlac")
    assert not any(m.startswith("dendrogen.training") for m in after_models)


def test_no_source_file_passes_about_500_lines():
    src = Path(__file__).parents[1] / "src" / "dendrogen"
    long = {str(p.relative_to(src)): n for p in src.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 520}  # fmt: skip
    assert not long, long


@pytest.mark.parametrize("cls", ALL)
def test_every_model_has_forward_returning_named_loss_terms(cls, images):
    est = cls(**{"TreeVAE": TREE_TINY, "VLAC": VLAC_TINY, "HTVAE": HTVAE_TINY}.get(
        cls.__name__, {"batch_size": 32, "random_state": 0}))  # fmt: skip
    if cls in (VAE, LadderVAE):
        est.set_params(preset="tiny", latent_dim=2, width=8)
    if cls in (VLAE, GMDGM):
        est.set_params(arch="mlp", hidden=8, schedule={"train": 2})
        if cls is GMDGM:
            est.set_params(n_components=2, z_dim=2, depth=2)
        else:
            est.set_params(n_layers=2, z_dims=[2, 2])
    if cls is SOMVAE:
        est.set_params(map_size=(2, 2), latent_dim=4, widths=(4, 8), preset="tiny")
    est.fit(images)
    terms = est.module_(torch.from_numpy(images[:8]))
    assert isinstance(terms, dict) and terms["loss"].dim() == 0
    assert torch.isfinite(terms["loss"]) and len(terms) >= 2


# ------------------------------------------------------------------ one estimator contract
@pytest.mark.parametrize("cls", ALL + TREES)
def test_one_fit_signature(cls):
    params = inspect.signature(cls.fit).parameters
    assert list(params)[:3] == ["self", "X", "y"] and params["y"].default is None
    assert params["checkpoint_dir"].kind is inspect.Parameter.KEYWORD_ONLY
    assert params["checkpoint_dir"].default is None


def test_shared_training_parameters_have_one_name_and_one_default():
    defaults = {cls: cls().get_params() for cls in ALL + TREES}
    for name in (*SHARED, "checkpoint_every"):
        values = {repr(d[name]) for d in defaults.values()}
        assert len(values) == 1, (name, values)
    for old in ("lr", "max_steps", "epochs"):
        assert not any(old in d for d in defaults.values())
    assert defaults[TreeVAE]["device"] == "cpu" and defaults[TreeVAE]["verbose"] is False


@pytest.mark.parametrize("cls", ALL + TREES)
@pytest.mark.parametrize(
    "bad",
    [
        {"random_state": "abc"},
        {"random_state": -1},
        {"device": "nope"},
        {"batch_size": 2.5},
        {"schedule": "fast"},
        {"learning_rate": 0},
        {"preset": "nope"},
        {"verbose": "yes"},
    ],
)
def test_bad_shared_parameters_are_clear_errors_before_training(cls, bad, X):
    with pytest.raises((ValueError, TypeError)) as err:
        cls(**bad).fit(X)
    assert next(iter(bad)) in str(err.value)


@pytest.mark.parametrize(
    ("cls", "schedule", "match"),
    [
        (TreeVAE, {"initial": -5}, "initial"),
        (TreeVAE, {"unit": "weeks"}, "unit"),
        (TreeVAE, {"initial": 2.5}, "initial"),
        (HTVAE, {"unit": "weeks"}, "unit"),
        (VLAC, {"train": 0}, "train"),
        (VLAC, {"steps": 5}, "unknown schedule"),
    ],
)
def test_bad_schedules_are_clear_errors(cls, schedule, match, X):
    with pytest.raises(ValueError, match=match):
        cls(schedule=schedule).fit(X)


def test_bad_model_specific_parameters(X):
    with pytest.raises(ValueError, match="arch"):
        VLAC(arch="bogus").fit(X)
    with pytest.raises(ValueError, match="max_leaves"):
        TreeVAE(max_leaves=1.5).fit(X)
    with pytest.raises(ValueError, match="sigma_mode"):
        HTVAE(sigma_mode="x").fit(X)


def test_learning_rate_and_schedule_reach_the_trainer(X):
    m = TreeVAE(**(TREE_TINY | {"learning_rate": 5e-3})).fit(X)
    assert {row["lr"] for row in m.history_ if "lr" in row and row["step"] < 3} <= {5e-3}
    v = VLAC(**(VLAC_TINY | {"schedule": {"train": 4}})).fit(X)
    assert v.n_iter_ == 4


@pytest.mark.parametrize("cls", [HTVAE, SOMVAE])
def test_map_models_score_the_mean_objective_per_sample(cls, images):
    params = HTVAE_TINY if cls is HTVAE else dict(
        map_size=(2, 2), latent_dim=4, widths=(4, 8), preset="tiny", batch_size=32,
        random_state=0)  # fmt: skip
    m = cls(**params).fit(images)
    score = m.score(images)
    assert np.isfinite(score) and score < 0  # a negative loss; higher is better
    assert score == m.score(images)  # fixed noise: reproducible
    assert m.score(images[:32]) != m.score(images[32:])


@pytest.mark.parametrize("cls", ALL + TREES)
def test_every_class_has_its_own_literal_docstring(cls):
    doc = cls.__dict__.get("__doc__")
    assert doc and "Args:" in doc
    assert doc.splitlines()[0].strip() not in (DeepEstimator.__doc__ or "")


def test_old_parameter_names_of_saved_models_are_read():
    upgraded = DeepEstimator._upgrade_params({"lr": 0.01, "max_steps": 40, "K": [1, 2]})
    assert upgraded == {"learning_rate": 0.01, "schedule": {"train": 40}, "K": [1, 2]}
    assert set(ESTIMATORS) == {c.__name__ for c in ALL + TREES}
