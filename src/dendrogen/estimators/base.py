"""What every dendrogen estimator shares: the parameter contract, input validation, devices,
seeding, checkpoints, save/load, batched inference, and :func:`load` beside the registry.

Every estimator has ``fit(X, y=None, *, checkpoint_dir=None)`` and the shared training parameters
of :data:`TRAINING_PARAMETER_CONSTRAINTS` (one name and one default everywhere); each class
declares its parameter rules in ``_parameter_constraints`` and ``fit`` starts with
``self._validate_params()``. Subclasses build their torch module in ``self.module_`` and describe
themselves for saving through ``_state_config`` / ``_state_tree`` and ``_restore``.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
from collections.abc import Callable, Iterator
from numbers import Integral, Real
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted, validate_data

from dendrogen import io
from dendrogen.estimators.validation import (
    InvalidArgumentError,
    _check_consistent,
    check_int,
    validate_params,
)
from dendrogen.training import Checkpoint
from dendrogen.training.distributed import World, is_main_process, setup
from dendrogen.tree import Tree

#: every estimator class by its saved name; filled by :func:`register`.
ESTIMATORS: dict[str, type[DeepEstimator]] = {}


#: Fitted arrays saved in model.safetensors beside the weights, under FITTED_PREFIX.
FITTED_ARRAYS = ("labels_",)
FITTED_PREFIX = "fitted."


def register(cls: type[DeepEstimator]) -> type[DeepEstimator]:
    """Class decorator: make ``dendrogen.load`` and the command line know an estimator."""
    cls._registry_name = cls.__name__
    ESTIMATORS[cls.__name__] = cls
    return cls


#: The shared training parameters: one name, one rule and (in every ``__init__``) one default
#: each: ``learning_rate=None`` and ``batch_size=None`` (the preset's), ``preset="fast"``,
#: ``schedule=None`` (a dict of overrides of the preset's schedule), ``device="cpu"``,
#: ``verbose=False``, ``random_state=None``, ``checkpoint_every=120.0`` (seconds),
#: ``distributed=None`` (data-parallel when launched by torchrun; True requires it).
TRAINING_PARAMETER_CONSTRAINTS: dict[str, list] = {
    "preset": [str],
    "schedule": [dict, None],
    "learning_rate": [Interval(Real, 0, None, closed="neither"), None],
    "batch_size": [Interval(Integral, 1, None, closed="left"), None],
    "device": [str, torch.device],
    "verbose": ["boolean"],
    "random_state": [Interval(Integral, 0, 2**32 - 1, closed="both"), None],
    "checkpoint_every": [Interval(Real, 0, None, closed="left")],
    "distributed": ["boolean", None],
}

#: Parameter names of earlier versions, still read from saved config.json files.
_RENAMED = {"lr": "learning_rate"}
_LENGTH_NAMES = ("max_steps", "epochs")  # now ``schedule={"train": n}``


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` picks CUDA when present, else the CPU; ValueError for a device torch does not
    know or one this machine lacks."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(
            f"device must be 'auto', 'cpu', 'cuda', 'cuda:N' or another torch device, got "
            f"{device!r}"
        ) from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r}, but CUDA is not available here; use 'cpu' or 'auto'")
    return resolved


@contextlib.contextmanager
def seeded(seed: int | None) -> Iterator[None]:
    """Seed torch, numpy and random for a block (reproducible fits with ``random_state``)."""
    if seed is None:
        yield
        return
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - seeds code that uses the global RNG
    random.seed(seed)
    yield


@contextlib.contextmanager
def fixed_noise(seed: int | None) -> Iterator[None]:
    """Draw a block's random numbers from a fixed seed without disturbing the global RNG, so
    stochastic evaluations (ELBO, log-likelihood) are reproducible."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0 if seed is None else seed)
        yield


class DeepEstimator(BaseEstimator):
    """Base class of the neural estimators (TreeVAE, HTVAE, VLAC and their baselines).

    Inputs are arrays of shape (N, D) for vectors, (N, C, T) for sequences or (N, C, H, W) for
    images, float values; the shape seen by ``fit`` is remembered in ``input_shape_`` and later
    calls must match it.
    """

    #: name under which ``dendrogen.load`` finds the class.
    _registry_name: ClassVar[str] = ""
    #: True when the likelihood needs inputs in [0, 1]; set per instance by subclasses.
    _unit_interval: bool = False
    #: scikit-learn's declared parameter rules; subclasses add theirs to these.
    _parameter_constraints: ClassVar[dict[str, list]] = dict(TRAINING_PARAMETER_CONSTRAINTS)

    # ------------------------------------------------------------------ the fit contract
    def _start_fit(self) -> None:
        """Check the parameters (declared rules, then the device) before looking at data."""
        self._validate_params()  # then the ranks of a torchrun fit (None for one process)
        self._world = setup(getattr(self, "distributed", None), resolve_device(self.device))

    @property
    def world_(self) -> World | None:
        """The ranks of the last (data-parallel) fit; None when it ran in one process."""
        return getattr(self, "_world", None)

    def _checkpoint(
        self, checkpoint_dir: str | os.PathLike | None, X: np.ndarray, **side_data: Any
    ) -> Checkpoint | None:
        """The :class:`~dendrogen.training.Checkpoint` of this fit on X (and ``side_data``, the
        other arrays given to ``fit`` that change the model, e.g. ``y``), or None."""
        if checkpoint_dir is None:
            return None
        name = self._registry_name or type(self).__name__
        return Checkpoint(
            checkpoint_dir, name, self.get_params(deep=False), X, side_data, world=self.world_
        )

    def _build_module(self, build: Callable[[], torch.nn.Module], X: np.ndarray) -> torch.nn.Module:
        """``build()`` the torch model for X (N, *shape), move it to the device and run its
        ``forward`` once on two samples, so that an architecture that cannot take this input
        shape fails here with a ValueError rather than as a torch error inside training.

        The trial pass runs in eval mode without gradients, on a forked RNG: it changes neither
        the weights, nor the BatchNorm statistics, nor the random numbers of the fit.
        """
        shape = tuple(X.shape[1:])
        try:
            module = build().to(self.device_)
            devices = [self.device_.index or 0] if self.device_.type == "cuda" else []
            with torch.random.fork_rng(devices=devices), torch.inference_mode():
                module.eval()
                module(torch.from_numpy(X[:2]).to(self.device_))
            module.train()
        except RuntimeError as err:  # torch's shape errors (kernel larger than the input...)
            arch = getattr(self, "arch", "auto")
            raise ValueError(
                f"{type(self).__name__} (arch={arch!r}) cannot take samples of shape {shape}: "
                f"{str(err).splitlines()[0]}"
            ) from None
        return module

    # ------------------------------------------------------------------ validation
    def _validate(self, X: Any, *, reset: bool) -> np.ndarray:
        """Validate ``X`` and return it as a C-contiguous float32 array of shape (N, *shape)."""
        if not reset:
            check_is_fitted(self)
        if isinstance(X, torch.Tensor):
            X = X.detach().cpu().numpy()
        if not reset:
            self._check_sample_shape(X)
        X = validate_data(
            self,
            X,
            reset=reset,
            allow_nd=True,
            dtype=[np.float32, np.float64],
            ensure_min_samples=1,
            ensure_all_finite=True,
        )
        X = np.ascontiguousarray(X, dtype=np.float32)
        if X.ndim < 2:
            raise ValueError(f"X must have at least 2 dimensions (N, ...), got shape {X.shape}")
        shape = tuple(int(s) for s in X.shape[1:])
        if 0 in shape:
            raise ValueError(f"X has samples of shape {shape}, which hold no values")
        if reset:
            self.input_shape_ = shape
        elif shape != tuple(self.input_shape_):
            raise ValueError(self._shape_message(shape))
        if not reset and self._needs_unit_interval():
            self._check_unit_interval(X)
        return X

    def _check_sample_shape(self, X: Any) -> None:
        """Before scikit-learn's feature count check: a sample shape that differs from the
        fitted one (e.g. flat images) gets a message naming both shapes, not "X has 64
        features, but ... is expecting 1 features". Plain (N, D) tables keep sklearn's message."""
        expected = tuple(getattr(self, "input_shape_", ()))
        shape = getattr(X, "shape", None)
        if shape is None:
            try:
                shape = np.shape(X)
            except (ValueError, TypeError):
                return  # ragged: validate_data says what is wrong
        shape = tuple(int(s) for s in shape)
        if not expected or len(shape) < 2 or (len(expected) == 1 and len(shape) == 2):
            return
        if shape[1:] != expected:
            raise ValueError(self._shape_message(shape[1:]))

    def _shape_message(self, shape: tuple[int, ...]) -> str:
        expected = tuple(self.input_shape_)
        message = (
            f"X has samples of shape {shape}, but {type(self).__name__} was fitted on samples "
            f"of shape {expected}"
        )
        if math.prod(shape) == math.prod(expected):
            dims = ", ".join(str(d) for d in expected)
            message += f"; reshape X first: X.reshape(-1, {dims})"
        return message

    @staticmethod
    def _check_unit_interval(X: np.ndarray) -> None:
        if X.size and (X.min() < 0 or X.max() > 1):
            raise ValueError(
                f"the Bernoulli likelihood needs values in [0, 1], but X lies in "
                f"[{X.min():.4g}, {X.max():.4g}]; rescale X (e.g. divide by its maximum) or use "
                f"likelihood='gaussian'"
            )

    def _needs_unit_interval(self) -> bool:
        return getattr(self, "likelihood", None) == "bernoulli"

    def _check_enough_samples(self, n: int, batch_size: int) -> None:
        if n < 2:
            raise ValueError(f"got {n} sample; at least 2 are needed to fit {type(self).__name__}")
        if n < batch_size:
            raise ValueError(
                f"got {n} samples, fewer than one batch (batch_size={batch_size}); "
                f"lower batch_size to at most {n}"
            )

    # ------------------------------------------------------------------ torch helpers
    @property
    def device_(self) -> torch.device:
        if self.world_ is not None:  # this rank's GPU under torchrun
            return self.world_.device
        return resolve_device(getattr(self, "device", "cpu"))

    def _batched(
        self,
        X: np.ndarray,
        fn: Callable[[torch.Tensor], Any],
        batch_size: int = 2048,
        module: torch.nn.Module | None = None,
    ) -> list[Any]:
        """Run ``fn`` on successive batches of X with ``module`` (default ``module_``) in eval
        mode without gradients."""
        module = self.module_ if module is None else module
        was_training = module.training
        module.eval()
        out = []
        try:
            with torch.inference_mode():
                for start in range(0, X.shape[0], batch_size):
                    xb = torch.from_numpy(X[start : start + batch_size]).to(self.device_)
                    out.append(fn(xb))
        finally:
            module.train(was_training)
        return out

    # ------------------------------------------------------------------ save / load
    def _state_config(self) -> dict[str, Any]:
        """Fitted metadata to restore (beyond ``get_params``); JSON-serialisable."""
        return {}

    def _state_tree(self) -> Tree | None:
        return None

    def save(
        self,
        path: str | os.PathLike,
        metrics: dict[str, Any] | None = None,
        overwrite: bool = False,
    ) -> Path:
        """Write the fitted model to a folder (config.json, tree.json, model.safetensors).

        Only those files (and ``metrics.json``) are written; anything else in the folder is
        kept. A path that is a file is refused, and so is a non-empty folder that is not a
        dendrogen model folder unless ``overwrite=True``. The write is all-or-nothing, and
        ``config.json`` records the SHA-256 of the other files, which ``load`` checks.
        """
        check_is_fitted(self)
        if not is_main_process():  # under torchrun only rank 0 writes
            return Path(path)
        config = {
            "class": self._registry_name or type(self).__name__,
            "params": self.get_params(deep=False),
            "fitted": {"input_shape": list(self.input_shape_), **self._state_config()},
        }
        tensors = dict(self.module_.state_dict())
        for name in FITTED_ARRAYS:  # fitted arrays travel with the weights, never pickled
            value = getattr(self, name, None)
            if isinstance(value, np.ndarray):
                tensors[FITTED_PREFIX + name] = torch.from_numpy(np.ascontiguousarray(value))
        return io.save_state(
            path,
            config,
            tensors,
            tree=self._state_tree(),
            metrics=metrics,
            overwrite=overwrite,
        )

    def _chosen_by_fit(self) -> set[str]:
        """Parameters whose fitted value the fit chose itself, so a saved model config may
        differ from them (none here; TreeVAE's ``obs_var`` under ``likelihood="auto"``)."""
        return set()

    @staticmethod
    def _upgrade_params(params: dict[str, Any]) -> dict[str, Any]:
        """Saved parameters under today's names (``lr`` → ``learning_rate``, ``max_steps`` /
        ``epochs`` → ``schedule={"train": n}``), so that older model folders still load."""
        params = dict(params)
        for old, new in _RENAMED.items():
            if old in params:
                value = params.pop(old)
                params.setdefault(new, value)
        for old in _LENGTH_NAMES:
            if old in params:
                value = params.pop(old)
                if value is not None:
                    params["schedule"] = {**(params.get("schedule") or {}), "train": value}
        return params

    @classmethod
    def _from_state(cls, config: dict[str, Any], tree: Tree | None, tensors: dict) -> DeepEstimator:
        """Rebuild a fitted estimator from ``io.read_state``'s output.

        Raises one ValueError naming the file at fault (config.json, tree.json or
        model.safetensors) for a missing key, a bad parameter value, or weights that do not fit
        the described model.
        """
        where = io.CONFIG
        try:
            params = config["params"]
            fitted = config["fitted"]
            if not isinstance(params, dict) or not isinstance(fitted, dict):
                raise TypeError("'params' and 'fitted' must be JSON objects")
            est = cls(**cls._upgrade_params(params))
            validate_params(est)
            est.input_shape_ = tuple(int(s) for s in fitted["input_shape"])
            est.n_features_in_ = est.input_shape_[0]
            _check_consistent(params, fitted, est._chosen_by_fit())
            where = f"{io.CONFIG} / {io.TREE}" if tree is not None else io.CONFIG
            est._restore(fitted, tree)
        except KeyError as err:
            raise ValueError(f"{where} lacks the entry {err}") from None
        except (TypeError, ValueError, AttributeError, IndexError, RuntimeError) as err:
            raise ValueError(f"{where} does not describe a valid {cls.__name__}: {err}") from None
        tensors = dict(tensors)
        for name in FITTED_ARRAYS:
            if FITTED_PREFIX + name in tensors:
                setattr(est, name, tensors.pop(FITTED_PREFIX + name).numpy())
        try:
            missing, unexpected = est.module_.load_state_dict(tensors, strict=False)
        except RuntimeError as err:  # a size mismatch: config.json was edited
            detail = " ".join(str(err).split())[:600]
            raise ValueError(
                f"{io.WEIGHTS} does not fit the model {io.CONFIG} describes: {detail}"
            ) from None
        if missing or unexpected:
            raise ValueError(
                f"{io.WEIGHTS} does not match the model that {io.CONFIG}"
                f"{' and ' + io.TREE if tree is not None else ''} describe: missing "
                f"{missing[:5]}, unexpected {unexpected[:5]}"
            )
        try:
            est.module_.to(est.device_).eval()
        except (RuntimeError, AssertionError, ValueError) as err:
            raise ValueError(
                f"{io.CONFIG} asks for device {params.get('device')!r}, which is not usable "
                f"here ({err}); load it with dendrogen.load(path, device='cpu')"
            ) from None
        return est

    def _restore(self, fitted: dict[str, Any], tree: Tree | None) -> None:
        """Rebuild ``self.module_`` (untrained) and fitted attributes from saved metadata."""
        raise NotImplementedError

    # ------------------------------------------------------------------ what the CLI calls
    def evaluate(self, X: Any, y: Any = None, **options: Any) -> dict[str, float]:
        """Every metric that applies to this model on (X, y), as a flat dict of floats.

        ``dendrogen evaluate`` prints it as a table and JSON. Options are model-specific
        (e.g. ``layer=`` for VLAC, ``true_tree=`` for D_tree).
        """
        raise NotImplementedError

    def sample(self, n_samples: int = 1, **selectors: Any) -> np.ndarray:
        """Generate ``n_samples`` new data points (N, *input_shape) in data space.

        ``selectors`` pick the node to generate from: ``leaf=`` (TreeVAE), ``level=``/``code=``
        (HTVAE), ``layer=``/``component=`` (VLAC); none means unconditional generation.
        """
        raise NotImplementedError

    def plot(self, X: Any, y: Any = None, path: str | os.PathLike | None = None, **options: Any):
        """Draw the learned structure with examples (``dendrogen tree``); returns the Figure,
        saved to ``path`` when given."""
        raise NotImplementedError(f"{type(self).__name__} has no tree to draw")

    def report(
        self, X: Any, y: Any = None, path: str | os.PathLike = "report.html", **options: Any
    ) -> Path:
        """Write the HTML report of this model on X (N, *input_shape) and optional labels y (N,)
        to ``path``, its JSON document beside it; options: :func:`dendrogen.report.write_report`."""
        from dendrogen.report import write_report

        return write_report(self, X, y, path, **options)

    # ------------------------------------------------------------------ misc
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.non_deterministic = False
        return tags

    @staticmethod
    def _n_batches(n: int, batch_size: int) -> int:
        return max(1, math.ceil(n / batch_size))


def load(path: str | os.PathLike, device: str | None = None) -> DeepEstimator:
    """Load a model saved with ``model.save(path)``; returns the fitted estimator.

    ``device`` replaces the saved ``device`` parameter (e.g. ``"cpu"`` for a model fitted on a
    GPU machine). It sits beside the registry of estimator classes (not in ``dendrogen.io``) so
    that ``io`` never imports the estimators that import it.

    Raises:
        FileNotFoundError: no folder at ``path``.
        ValueError: not a model folder, or a missing, damaged or edited file (named).
    """
    import dendrogen.estimators  # noqa: F401 - registers every estimator class

    config, tree, tensors = io.read_state(path)
    if device is not None and isinstance(config.get("params"), dict):
        config = config | {"params": config["params"] | {"device": device}}
    name = config.get("class")
    if name not in ESTIMATORS:
        raise ValueError(
            f"{Path(path) / io.CONFIG} names a {name!r} model, which this dendrogen does not know"
        )
    try:
        return ESTIMATORS[name]._from_state(config, tree, tensors)
    except ValueError as err:
        raise ValueError(f"{path} cannot be loaded: {err}") from None


__all__ = [
    "ESTIMATORS",
    "TRAINING_PARAMETER_CONSTRAINTS",
    "DeepEstimator",
    "InvalidArgumentError",
    "NotFittedError",
    "check_int",
    "fixed_noise",
    "load",
    "register",
    "resolve_device",
    "seeded",
    "validate_params",
]
