"""``likelihood="auto"`` on grey data: a short probe of each likelihood, scored on held-out rows.

The probe must compare two real log densities (the Bernoulli only is one with its continuous
normaliser), pick by a margin no CPU's rounding can flip, and leave the fit it chooses exactly
as a fit asked for that likelihood.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dendrogen import TreeVAE
from dendrogen.data import load_dataset
from dendrogen.data.synthetic import make_hierarchical
from dendrogen.estimators.base import load
from dendrogen.nn.likelihoods import Bernoulli, ContinuousBernoulli
from dendrogen.training import TREEVAE_PRESETS, Schedule

SMALL = dict(max_leaves=2, preset="tiny", latent_dim=2, width=16, random_state=0)
PROBE = {"likelihood_probe": 40}  # all of tiny's initial phase


def grey_patterns() -> np.ndarray:
    """Four classes of fixed grey 8×8 patterns under even noise (std 0.05): the data where
    the fitted Gaussian beats the Bernoulli by a wide margin (BENCHMARKS.md, session 18)."""
    return make_hierarchical(400, n_coarse=2, n_fine=2, image=True, random_state=0).X


def test_continuous_bernoulli_is_a_density_on_the_unit_interval():
    x = torch.linspace(0, 1, 20001)[:, None]
    for logit in (-30.0, -4.0, -1e-3, 0.0, 0.5, 7.0):
        density = ContinuousBernoulli().log_prob(torch.full_like(x, logit), x).exp()
        assert torch.trapezoid(density, x[:, 0]).item() == pytest.approx(1.0, abs=1e-3), logit


def test_continuous_bernoulli_adds_only_the_normaliser():
    output, x = torch.randn(4, 1, 3, 3) * 3, torch.rand(4, 1, 3, 3)
    gap = ContinuousBernoulli().log_prob(output, x) - Bernoulli().log_prob(output, x)
    eta = output.double()
    expected = (eta.abs().log() - torch.tanh(eta / 2).abs().log()).flatten(1).sum(1)
    assert torch.allclose(gap.double(), expected, atol=1e-4)


@pytest.fixture(scope="module")
def grey_fit(tmp_path_factory) -> tuple[TreeVAE, object]:
    """A probed fit on :func:`grey_patterns` and the folder of its checkpoint."""
    folder = tmp_path_factory.mktemp("likelihood_choice") / "ckpt"
    return TreeVAE(**SMALL, schedule=PROBE).fit(grey_patterns(), checkpoint_dir=folder), folder


def test_probe_picks_the_gaussian_on_grey_patterns_and_fits_as_if_asked_for_it(grey_fit):
    X = grey_patterns()
    auto = grey_fit[0]
    assert auto.likelihood_ == "gaussian"
    # Seeds 0–3 at 1 and 2 threads: the Gaussian ahead by 3.5–8.3 nats (seed 0: 5.5–5.6); the
    # threads moved a score by at most 1.3.
    assert auto.likelihood_scores_["gaussian"] > auto.likelihood_scores_["bernoulli"]
    asked = TreeVAE(**SMALL, likelihood="gaussian", obs_var="auto").fit(X)
    np.testing.assert_array_equal(auto.labels_, asked.labels_)
    assert auto.obs_var_ == asked.obs_var_ and auto.score(X) == asked.score(X)


def test_probe_keeps_the_bernoulli_on_digits_and_fits_as_if_asked_for_it():
    X, _ = load_dataset("digits", split="train")
    X = X[:400]
    auto = TreeVAE(**SMALL, schedule=PROBE).fit(X)
    assert auto.likelihood_ == "bernoulli"
    scores = auto.likelihood_scores_
    # Seeds 0–3 at 1 and 2 threads: the Bernoulli ahead by 29.0–32.5 nats.
    assert scores["bernoulli"] > scores["gaussian"] + 10, scores
    asked = TreeVAE(**SMALL, likelihood="bernoulli").fit(X)
    np.testing.assert_array_equal(auto.labels_, asked.labels_)
    assert auto.score(X) == asked.score(X)


def test_no_probe_when_the_likelihood_is_given_or_the_preset_has_none():
    X = grey_patterns()
    assert TreeVAE(**SMALL).fit(X).likelihood_scores_ == {}  # tiny: likelihood_probe 0
    given = TreeVAE(**SMALL, likelihood="bernoulli", schedule=PROBE).fit(X)
    assert given.likelihood_ == "bernoulli" and given.likelihood_scores_ == {}
    probes = {
        name: Schedule(**p["schedule"]).likelihood_probe for name, p in TREEVAE_PRESETS.items()
    }
    assert probes["fast"] > 0 and probes["paper"] == 0  # the paper's schedule keeps its Bernoulli


def test_the_choice_survives_save_load_and_a_resumed_fit(grey_fit, tmp_path, monkeypatch):
    X = grey_patterns()
    model, checkpoint = grey_fit
    model.save(tmp_path / "m")
    loaded = load(tmp_path / "m")
    assert loaded.likelihood_ == "gaussian" and loaded.obs_var_ == model.obs_var_
    assert loaded.likelihood_scores_ == model.likelihood_scores_

    # A fit that resumes from the checkpoint takes the recorded choice and probes nothing.
    def no_probe(*args, **kwargs):
        raise AssertionError("a resumed fit must not probe again")

    monkeypatch.setattr("dendrogen.estimators.treevae.choose_likelihood", no_probe)
    again = TreeVAE(**SMALL, schedule=PROBE).fit(X, checkpoint_dir=checkpoint)
    assert again.likelihood_scores_ == model.likelihood_scores_
    np.testing.assert_array_equal(again.labels_, model.labels_)


def test_two_rows_are_too_few_to_probe_and_keep_the_bernoulli():
    X = grey_patterns()[:2]
    model = TreeVAE(**SMALL, batch_size=2, schedule=PROBE).fit(X)
    assert model.likelihood_ == "bernoulli" and model.likelihood_scores_ == {}


def test_a_negative_probe_length_is_refused():
    with pytest.raises(ValueError, match="likelihood_probe"):
        TreeVAE(**SMALL, schedule={"likelihood_probe": -1}).fit(grey_patterns())
