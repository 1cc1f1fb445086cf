"""Argument checks shared by the estimators: integers given to methods (``sample(2.5)``,
``leaf="x"``) and the parameters of a model read back from a folder."""

from __future__ import annotations

from typing import Any

import numpy as np


class InvalidArgumentError(ValueError, TypeError):
    """A bad argument to a method (``sample(2.5)``, ``leaf="x"``): both a ValueError and a
    TypeError, like scikit-learn's InvalidParameterError, so either ``except`` catches it."""


def check_int(
    value: Any, name: str, low: int | None = None, high: int | None = None, hint: str = ""
) -> int:
    """``value`` as an int if it is an integer (Python or NumPy; not a bool, float or string)
    in ``[low, high]``, else an :class:`InvalidArgumentError` saying what is allowed."""
    if low is not None and high is not None:
        allowed = f"an integer in {low}..{high}"
    elif low is not None:
        allowed = "a positive integer" if low == 1 else f"an integer >= {low}"
    else:
        allowed = "an integer"
    ok = not isinstance(value, bool) and isinstance(value, int | np.integer)
    if ok:
        ok = (low is None or value >= low) and (high is None or value <= high)
    if not ok:
        kind = "" if isinstance(value, int | np.integer) else f" ({type(value).__name__})"
        raise InvalidArgumentError(f"{name} must be {allowed}{hint}, got {value!r}{kind}")
    return int(value)


def validate_params(est: Any) -> None:
    """Validate parameters (of a loaded model, or before a fit) with the estimator's declared rules
    (``_parameter_constraints``), or its hand-written ``_check_params`` where there are none."""
    if hasattr(type(est), "_parameter_constraints"):
        est._validate_params()  # sklearn's InvalidParameterError is a ValueError
    else:
        check = getattr(est, "_check_params", None)
        if callable(check):
            check()


def _check_consistent(
    params: dict[str, Any], fitted: dict[str, Any], chosen_by_fit: set[str] = frozenset()
) -> None:
    """A parameter saved twice (as a parameter and in the fitted model config) must agree: an
    edit of one of them would load a model that is not what its parameters say. The names in
    ``chosen_by_fit`` are exempt: the fit set them itself (e.g. TreeVAE's ``obs_var`` when its
    ``likelihood="auto"`` chose the fitted-variance Gaussian)."""
    for key in ("config", "model_config"):
        model_config = fitted.get(key)
        if not isinstance(model_config, dict):
            continue
        for name, value in model_config.items():
            given = params.get(name)
            if given is None or given == "auto" or isinstance(given, bool) or name in chosen_by_fit:
                continue
            if isinstance(given, int | float | str) and isinstance(value, int | float | str):
                if given != value:
                    raise ValueError(
                        f"parameter {name}={given!r} disagrees with the fitted model's "
                        f"{name}={value!r} (fitted.{key}.{name})"
                    )
