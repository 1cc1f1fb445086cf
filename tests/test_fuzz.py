"""Property-based fuzzing of the public API: random shapes, dtypes, NaN/inf and bad parameters
given to fit/predict/sample/score of TreeVAE, HTVAE and VLAC (tiny settings). Every failure must
be a ValueError or TypeError with a message, never another exception type."""

from __future__ import annotations

import warnings

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dendrogen import HTVAE, VLAC, TreeVAE

TINY = {
    TreeVAE: dict(max_leaves=2, max_depth=1, latent_dim=2, width=4, batch_size=4, random_state=0,
                  schedule=dict(initial=2, subtree=1, intermediate=0, finetune=1)),
    HTVAE: dict(map_sizes="2x2,1x2", latent_dim=2, widths=(2, 4), preset="tiny", batch_size=4,
                schedule={"unit": "steps", "train": 2, "min_steps": 0}, random_state=0),
    VLAC: dict(K=[1, 2], z_dims=[1, 1], arch="mlp", hidden=4, batch_size=4, random_state=0,
               schedule={"train": 2}),
}  # fmt: skip
FUZZ = settings(max_examples=30, deadline=None, derandomize=True,
                suppress_health_check=list(HealthCheck))  # fmt: skip

#: parameter values that are wrong for every estimator (and some that are right).
ODD_VALUES = st.sampled_from(
    [-1, 0, 2.5, "abc", None, True, [1], {"a": 1}, float("nan"), float("inf"), 10**12, 1e-9, ""]
)
#: sample counts: wrong ones and small right ones (a huge right one would only exhaust memory).
COUNTS = st.sampled_from(
    [-1, 0, 2.5, "3", "abc", None, True, [1], {"a": 1}, float("nan"), float("inf"), 1e-9, ""]
) | st.integers(-3, 5)
PARAMETERS = st.sampled_from(
    ["random_state", "device", "batch_size", "learning_rate", "schedule", "preset", "verbose",
     "checkpoint_every", "latent_dim", "arch", "likelihood"]
)  # fmt: skip


def arrays() -> st.SearchStrategy:
    """Arrays of 0–3 trailing dimensions and 0–12 rows, of odd dtypes and odd values."""
    dtype = st.sampled_from([np.float32, np.float64, np.int64, np.bool_, np.float16])
    shape = st.tuples(st.integers(0, 12)).flatmap(
        lambda n: st.lists(st.integers(0, 5), max_size=3).map(lambda rest: n + tuple(rest))
    )

    def of_dtype(dt) -> st.SearchStrategy:
        elements = None
        if np.issubdtype(dt, np.floating):  # ordinary values, NaN/inf and the largest finite
            odd = [np.nan, np.inf, -np.inf, float(np.finfo(dt).max)]
            elements = st.floats(-3, 3, width=16) | st.sampled_from(odd)
        return hnp.arrays(dt, shape, elements=elements)

    return dtype.flatmap(of_dtype)


def inputs() -> st.SearchStrategy:
    return arrays() | st.sampled_from([None, "abc", 3, [[1.0, 2.0], [3.0]], [[0.5, 0.5]] * 6])


def _expect_clear_failure(call) -> None:
    """Run ``call``; any exception must be a ValueError/TypeError with a message."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            call()
        except (ValueError, TypeError) as err:
            assert str(err).strip(), f"{type(err).__name__} without a message"


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, size=(16, 1, 4, 4)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {cls: cls(**params).fit(X) for cls, params in TINY.items()}


@pytest.mark.parametrize("cls", list(TINY))
@FUZZ
@given(X=inputs())
def test_fit_on_random_data(cls, X):
    _expect_clear_failure(lambda: cls(**TINY[cls]).fit(X))


@pytest.mark.parametrize("cls", list(TINY))
@FUZZ
@given(name=PARAMETERS, value=ODD_VALUES)
def test_fit_with_odd_parameters(cls, name, value):
    X = np.random.default_rng(0).uniform(0, 1, size=(8, 6)).astype(np.float32)
    if name not in cls().get_params():
        with pytest.raises(ValueError, match=name):
            cls(**TINY[cls]).set_params(**{name: value})
        return
    _expect_clear_failure(lambda: cls(**(TINY[cls] | {name: value})).fit(X))


@pytest.mark.parametrize("cls", list(TINY))
@FUZZ
@given(X=inputs())
def test_predict_and_score_on_random_data(fitted, cls, X):
    model = fitted[cls]
    _expect_clear_failure(lambda: model.score(X))
    _expect_clear_failure(lambda: model.transform(X))
    if hasattr(model, "predict"):
        _expect_clear_failure(lambda: model.predict(X))


@pytest.mark.parametrize("cls", list(TINY))
@FUZZ
@given(n=COUNTS)
def test_sample_with_odd_counts(fitted, cls, n):
    _expect_clear_failure(lambda: fitted[cls].sample(n))
