"""Splits chosen by the ELBO (``schedule={"split_candidates": k}``): the candidates come in the
paper's order, the best held-out ELBO wins, the winner's subtree phase goes on from its trial,
and the fit stays deterministic and resumable."""

from __future__ import annotations

import numpy as np
import pytest
from hierarchy_data import make_nested_clusters

from dendrogen import TreeVAE
from dendrogen.estimators.treevae_split_trials import held_out_rows
from dendrogen.models.treevae.growth import choose_split, split_candidates
from dendrogen.tree import Tree

# Fixed 40-step subtrees (not ``fast``'s 10 passes over the leaf), so that every subtree phase's
# full length is known to the test.
SCHEDULE = dict(initial=60, subtree=40, intermediate=0, finetune=20, split_candidates=3,
                subtree_epochs=None)  # fmt: skip


def _model(**schedule) -> TreeVAE:
    return TreeVAE(
        max_leaves=5, max_depth=3, latent_dim=2, width=16, likelihood="gaussian", batch_size=50,
        schedule=SCHEDULE | schedule, random_state=3, verbose=False, checkpoint_every=0.0,
    )  # fmt: skip


@pytest.fixture(scope="module")
def nested():
    return make_nested_clusters(n=600, seed=3)[0]


@pytest.fixture(scope="module")
def fitted(nested):
    return _model().fit(nested)


def test_candidates_follow_the_papers_order_and_skip_what_it_skips():
    tree = Tree()
    a, _ = tree.add_children(tree.root)
    tree.add_children(a)  # leaves 3, 4 at depth 2, leaf 2 at depth 1
    probs = np.zeros((100, 3))
    probs[:50, 0], probs[50:80, 2], probs[80:, 1] = 1, 1, 1  # 50, 20, 30 confident rows
    found = split_candidates(tree, probs, 3, max_leaves=10, max_depth=5, min_samples=1)
    assert [c.leaf for c in found] == [3, 2, 4]
    assert [len(c.subset) for c in found] == [50, 30, 20]
    first = choose_split(tree, probs, max_leaves=10, max_depth=5, min_samples=1)
    assert first.leaf == 3 and np.array_equal(first.subset, found[0].subset)
    shallow = split_candidates(tree, probs, 3, max_leaves=10, max_depth=2, min_samples=25)
    assert [c.leaf for c in shallow] == [2]  # leaves at max_depth and small ones drop out
    stop = split_candidates(tree, probs, 3, max_leaves=3, max_depth=5, min_samples=1)
    assert len(stop) == 1 and stop[0].leaf is None


def test_the_best_heldout_elbo_wins_and_its_phase_goes_on_from_the_trial(fitted, nested):
    events = [e for e in fitted.history_ if "event" in e]
    trials = [e for e in events if e["event"] == "split_trials"]
    splits = {e["g"]: e for e in events if e["event"] == "split"}
    assert trials and trials[0]["g"] == 0, "the first split had one candidate"
    for trial in trials:
        assert trial["chosen"] == trial["leaves"][int(np.argmax(trial["heldout_elbo"]))]
        assert splits[trial["g"]]["leaf"] == trial["chosen"]
    assert any(t["chosen"] != t["leaves"][0] for t in trials), "the ELBO never changed the pick"
    # Each subtree phase logs every epoch once, to its full length, trial included.
    steps = [r["step"] for r in fitted.history_ if r.get("phase") == "subtree"]
    phases = np.split(steps, np.flatnonzero(np.diff(steps) <= 0) + 1)
    assert len(phases) == len(splits)
    assert all(p[-1] == 40 and np.all(np.diff(p) > 0) for p in phases), phases
    assert np.array_equal(np.unique(fitted.labels_), np.arange(fitted.n_leaves_))


def test_the_heldout_slice_is_a_tenth_of_the_rows_and_fixed_by_the_seed():
    held = held_out_rows(600, 3)
    assert len(held) == 60 and len(set(held.tolist())) == 60
    np.testing.assert_array_equal(held, held_out_rows(600, 3))
    assert len(held_out_rows(10**6, 0)) == 2048 and len(held_out_rows(4, 0)) == 1


def test_split_trials_are_deterministic(fitted, nested):
    again = _model().fit(nested)
    assert again.tree_.to_dict() == fitted.tree_.to_dict()
    np.testing.assert_array_equal(again.labels_, fitted.labels_)
    np.testing.assert_allclose(again.predict_proba(nested), fitted.predict_proba(nested))


def _stop_at_save(step: int):
    """A ``_save_checkpoint`` condition: the first save of a subtree phase at ``step``."""
    return lambda cursor, state: (
        state is not None and state.phase == "subtree" and state.step == step
    )


# Each case is a full fit and a resume (17 s); the fast suite keeps the one that resumes inside
# a trial, the most intricate, and the slow sweep runs the other two.
@pytest.mark.heavy(seconds=17)
@pytest.mark.parametrize(
    "where",
    [
        pytest.param("after the choice", marks=pytest.mark.slow),
        pytest.param("after the trial", marks=pytest.mark.slow),
        "inside a trial",
    ],
)
def test_a_fit_interrupted_around_a_trial_resumes_to_the_same_model(
    fitted, nested, tmp_path, monkeypatch, where
):
    """Trials save nothing; the choice is saved with the winner's phase state (its trial is
    10 of the subtree's 40 steps), and the phase resumes from it."""
    original_save, original_score = TreeVAE._save_checkpoint, TreeVAE._elbo_terms
    stop = {"after the choice": _stop_at_save(10), "after the trial": _stop_at_save(25)}.get(where)
    scored = {"n": 0}

    def saving(self, ckpt, cursor, subset, state):
        original_save(self, ckpt, cursor, subset, state)
        if stop is not None and stop(cursor, state):
            raise KeyboardInterrupt

    def scoring(*args, **kwargs):
        scored["n"] += 1
        if where == "inside a trial" and scored["n"] == 2:
            raise KeyboardInterrupt
        return original_score(*args, **kwargs)

    monkeypatch.setattr(TreeVAE, "_save_checkpoint", saving)
    monkeypatch.setattr(TreeVAE, "_elbo_terms", scoring)
    with pytest.raises(KeyboardInterrupt):
        _model().fit(nested, checkpoint_dir=tmp_path / "ckpt")
    monkeypatch.setattr(TreeVAE, "_save_checkpoint", original_save)
    monkeypatch.setattr(TreeVAE, "_elbo_terms", original_score)
    resumed = _model().fit(nested, checkpoint_dir=tmp_path / "ckpt")
    assert resumed.tree_.to_dict() == fitted.tree_.to_dict()
    np.testing.assert_allclose(resumed.predict_proba(nested), fitted.predict_proba(nested),
                               atol=1e-5)  # fmt: skip
    assert resumed.history_ == fitted.history_


def test_split_init_runs_inside_each_trial(nested):
    model = _model(split_init="kmeans").fit(nested)
    inits = [e for e in model.history_ if e.get("event") == "split_init"]
    splits = [e for e in model.history_ if e.get("event") == "split"]
    assert [e["node"] for e in inits[1:]] == [e["leaf"] for e in splits]


@pytest.mark.parametrize(
    "schedule, match",
    [
        ({"split_candidates": 0}, "split_candidates"),
        ({"split_candidates": 1.5}, "split_candidates"),
        ({"split_trial": 0}, "split_trial"),
        ({"split_trial": 2}, "split_trial"),
    ],
)
def test_bad_split_trial_settings(nested, schedule, match):
    with pytest.raises(ValueError, match=match):
        _model(**schedule).fit(nested)


def test_contrastive_trials_train_on_augmented_views(monkeypatch):
    """The contrastive model's subtree loss needs its pairs of views in the trials too."""
    from dendrogen.data.synthetic import make_colour_shapes
    from dendrogen.training import Trainer

    calls = []
    original = Trainer.run

    def spy(self, phase, model, *args, **kwargs):
        calls.append((phase.name, kwargs.get("stop_at"), kwargs.get("augment") is not None))
        return original(self, phase, model, *args, **kwargs)

    monkeypatch.setattr(Trainer, "run", spy)
    X = make_colour_shapes(192, n_fine=2, size=16, random_state=0).X
    model = TreeVAE(
        contrastive=True, max_leaves=4, max_depth=3, latent_dim=4, width=16, batch_size=16,
        random_state=0, schedule=dict(initial=80, subtree=4, intermediate=0, finetune=4,
                                      split_candidates=2),
    ).fit(X)  # fmt: skip
    assert any(e.get("event") == "split_trials" for e in model.history_)
    trials = [c for c in calls if c[0] == "subtree" and c[1] is not None]
    assert trials and all(augmented for *_, augmented in calls), calls
