"""Presets and schedules of every estimator family, in one place.

A preset names a training budget: a schedule (how long each phase runs, in optimizer steps or
epochs) with its learning rate and batch size. Estimators take ``preset=`` and override parts of
it with ``schedule={...}``, ``learning_rate=`` and ``batch_size=``; :func:`resolve_settings`
combines the three. TreeVAE has several phases (:class:`Schedule`); the other models train in one
phase called ``train`` (:class:`SinglePhaseSchedule`).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from dendrogen.training.schedules import Phase, check_precision

#: how a schedule counts phase lengths.
UNITS = ("steps", "epochs")
#: A subtree budgeted in passes over its rows runs at most this many times ``subtree`` steps. On
#: Fashion-MNIST (60,000 rows) the largest measured subtree ran 1,640 of ``fast``'s 2,000.
SUBTREE_EPOCHS_MAX_FACTOR = 4


def _check_fields(schedule: Any, lengths: tuple[str, ...], positive: tuple[str, ...]) -> None:
    """Raise a ValueError naming the schedule setting that is not a valid value."""
    if schedule.unit not in UNITS:
        raise ValueError(f"schedule unit must be one of {list(UNITS)}, got {schedule.unit!r}")
    check_precision(schedule.precision)
    for name in lengths:
        value = getattr(schedule, name)
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
            raise ValueError(f"schedule {name!r} must be an integer >= 0, got {value!r}")
    for name in positive:
        value = getattr(schedule, name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
            raise ValueError(f"schedule {name!r} must be a positive number, got {value!r}")


@dataclass
class Schedule:
    """TreeVAE's phases: how long each runs and how its KL weight and learning rate evolve.

    ``unit`` is "steps" (budgeted optimizer steps; α ramps 0→1 over ``kl_ramp`` of each phase,
    the learning rate drops ×0.1 at ``lr_drop_at``) or "epochs" (the paper: α = min(1,
    kl_start + e·kl_decay), lr ×0.1 every ``lr_drop_epochs`` epochs). ``split_threshold_cap``
    caps growth's confidence threshold t = min(1/n_eff, cap) (treevae.md §3, step 2.4).
    ``lr`` is the preset's learning rate; the estimator's ``learning_rate`` replaces it.

    Structure learning (docs in BENCHMARKS.md, "Trustworthy trees"):

    - ``split_init``: "random" (the paper, the default: a new split starts from random routers)
      or "kmeans" (2-means on the router's input seats it; the initial tree after
      ``split_init_warmup`` of its phase).
    - ``max_epochs`` (steps unit): a phase runs at most this many passes over its rows, but at
      least ``min_steps_fraction`` of its budget.
    - ``growth_kl_max``: the cap on α in every phase but fine-tuning (the reference code's
      effective ≤ 0.15; 1 by default: 0.15 lowered DP on the nested data and left it unchanged
      on Fashion-MNIST, over 9 and 3 seeds, BENCHMARKS.md).
    - ``subtree_epochs`` (steps unit): a subtree phase runs this many passes over the rows of the
      split leaf, as the paper's epochs do, instead of ``subtree`` steps whatever their number
      (at least ``min_steps_fraction`` of ``subtree``, at most ``SUBTREE_EPOCHS_MAX_FACTOR`` (4)
      times it, so that on data far larger than Fashion-MNIST a subtree does not outgrow the
      budget); None keeps ``subtree`` steps. ``fast`` sets 10 (since session 15: level or better
      on digits, Fashion-MNIST at 10 and 20 leaves and the nested clusters, BENCHMARKS.md).
    - ``growth_prune``: before each growth decision, undo every split that left a child winning
      under ``min_leaf_fraction`` of the rows (the parent becomes a leaf again; after
      ``MAX_SPLIT_ATTEMPTS`` (3) failures a node is not split again) and prune other such
      leaves; ``fast`` sets True (since session 16). False (the paper, the default of
      ``Schedule``) prunes only once growth has ended: an empty leaf then counts
      towards ``max_leaves`` by its soft mass, and full-tree training can move a subtree's rows
      onto it (seen on ``make_hierarchical`` images).
    - ``split_candidates``: how many leaves compete for each split (1, the default: the paper's
      leaf with the most confident samples). With k > 1, the first k of that order are each split
      in a copy of the model and their subtrees trained for ``split_trial`` of the subtree phase;
      the one with the best ELBO on a held-out slice of the training rows is kept and goes on
      from its trial (``estimators/treevae_split_trials.py``).

    - ``likelihood_probe``: with ``likelihood="auto"`` on grey data in [0, 1], each of the
      Bernoulli and the fitted-variance Gaussian trains a two-leaf tree for this many steps (at
      most ``initial``'s in the steps unit) and the one that explains a held-out slice best is kept
      (``estimators/treevae_likelihood_choice.py``); 0 (the default of ``Schedule``, and
      ``paper``) keeps the Bernoulli there. ``fast`` sets 300 (since session 18).

    Speed: ``leaf_eps`` (ε, in [0, 1)) makes the full-tree phases decode a leaf only on the rows
    whose path probability exceeds it (``models/treevae/leaf_decoding.py``); the skipped path
    mass (≤ ε per leaf and sample) is logged per epoch as ``skipped``. 0 decodes every leaf (the
    paper; the ``paper`` and ``tiny`` presets); ``fast`` uses 1e-3. ``leaf_min_rows``: in those
    phases each leaf still decodes at least this many rows (its most probable ones; all B where
    the batch is smaller), so that its BatchNorm statistics never come from a few samples and its
    router keeps a gradient from the rows it could win.

    ``precision``: "fp32" (default) or "bf16", the training steps' forward pass under bfloat16
    autocast (``dendrogen.training.schedules.autocast``; README, "Precision").
    """

    unit: str = "steps"
    initial: int = 2000
    subtree: int = 500
    intermediate: int = 500
    finetune: int = 2000
    lr: float = 1e-3
    weight_decay: float = 1e-5
    kl_start: float = 0.0
    kl_decay: float = 0.001
    kl_ramp: float = 0.5
    lr_drop_at: float = 2 / 3
    lr_drop_epochs: int = 100
    finetune_kl_decay: float | None = None
    split_threshold_cap: float = 0.5
    max_epochs: float | None = None
    min_steps_fraction: float = 0.25
    growth_kl_max: float = 1.0
    growth_prune: bool = False
    subtree_epochs: float | None = None
    split_init: str = "random"
    split_init_warmup: float = 0.25
    split_space: str = "router"
    split_candidates: int = 1
    split_trial: float = 0.25
    likelihood_probe: int = 0
    leaf_eps: float = 0.0
    leaf_min_rows: int = 16
    precision: str = "fp32"
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_fields(
            self,
            ("initial", "subtree", "intermediate", "finetune", "lr_drop_epochs",
             "likelihood_probe"),
            ("lr", "kl_decay", "finetune_kl_decay", "split_threshold_cap", "max_epochs",
             "min_steps_fraction", "growth_kl_max", "split_init_warmup", "subtree_epochs",
             "split_trial"),
        )  # fmt: skip
        count = self.split_candidates
        if isinstance(count, bool) or not isinstance(count, numbers.Integral) or count < 1:
            raise ValueError(f"schedule 'split_candidates' must be an integer ≥ 1, got {count!r}")
        if self.split_space not in ("router", "encoder", "input"):
            raise ValueError(
                "schedule 'split_space' must be 'router', 'encoder' or 'input', "
                f"got {self.split_space!r}"
            )
        if self.split_init not in ("random", "kmeans", "gmm"):
            raise ValueError(
                "schedule 'split_init' must be 'random', 'kmeans' or 'gmm', "
                f"got {self.split_init!r}"
            )
        eps = self.leaf_eps
        if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not 0 <= eps < 1:
            raise ValueError(f"schedule 'leaf_eps' must be a number in [0, 1), got {eps!r}")
        if not isinstance(self.growth_prune, bool):
            raise ValueError(
                f"schedule 'growth_prune' must be True or False, got {self.growth_prune!r}"
            )
        rows = self.leaf_min_rows
        if isinstance(rows, bool) or not isinstance(rows, numbers.Integral) or rows < 1:
            raise ValueError(f"schedule 'leaf_min_rows' must be an integer ≥ 1, got {rows!r}")
        for name in ("min_steps_fraction", "growth_kl_max", "split_init_warmup", "split_trial"):
            if getattr(self, name) > 1:
                raise ValueError(f"schedule {name!r} must be at most 1, got {getattr(self, name)}")

    def phase(
        self, name: str, length: int, steps_per_epoch: int, data_steps_per_epoch: int | None = None
    ) -> Phase:
        """Phase ``name`` of budget ``length`` over rows giving ``steps_per_epoch`` batches;
        ``data_steps_per_epoch`` (the whole training set's, default the same) is what
        ``max_epochs`` counts, so a subtree on a small subset is not cut shorter than the
        initial tree."""
        if self.unit == "epochs":
            decay = self.kl_decay
            if name == "finetune":
                # The paper's fine-tuning warms the KL up again, faster (treevae.md §3.4).
                decay = self.finetune_kl_decay or max(0.01, 1 / max(1, length - 1))
            return Phase.from_epochs(
                name, length, steps_per_epoch, kl_start=self.kl_start, kl_decay=decay,
                lr=self.lr, weight_decay=self.weight_decay, lr_drop_epochs=self.lr_drop_epochs,
            )  # fmt: skip
        kl_max = 1.0 if name == "finetune" else self.growth_kl_max
        if name == "subtree" and self.subtree_epochs is not None:
            steps = max(math.ceil(length * self.min_steps_fraction),
                        math.ceil(self.subtree_epochs * steps_per_epoch))  # fmt: skip
            steps = min(steps, SUBTREE_EPOCHS_MAX_FACTOR * length)
        else:
            steps = self.steps_for(length, data_steps_per_epoch or steps_per_epoch)
        return Phase.from_steps(
            name, steps, lr=self.lr,
            weight_decay=self.weight_decay, kl_start=min(self.kl_start, kl_max),
            kl_ramp=self.kl_ramp, lr_drop_at=self.lr_drop_at, kl_max=kl_max,
        )  # fmt: skip

    def steps_for(self, length: int, steps_per_epoch: int) -> int:
        """Optimizer steps of a phase budgeted ``length`` steps, for a training set giving
        ``steps_per_epoch`` batches: at most ``max_epochs`` passes over it, but at least
        ``min_steps_fraction`` of the budget, so small data sets are not over-trained."""
        if self.max_epochs is None or length <= 0:
            return length
        floor = math.ceil(length * self.min_steps_fraction)
        return min(length, max(floor, math.ceil(self.max_epochs * steps_per_epoch)))


@dataclass
class SinglePhaseSchedule:
    """One phase of plain Adam called ``train`` (HTVAE, SOM-VAE, VLAC, VLAE, GM-DGM).

    Attributes:
        unit: "steps" or "epochs" (what ``train`` counts).
        train: the length of the phase.
        min_steps: a floor on the number of steps, so that small data sets still get a useful fit.
        precision: "fp32" (default) or "bf16" (the training steps under bfloat16 autocast).
    """

    unit: str = "steps"
    train: int = 3000
    min_steps: int = 0
    precision: str = "fp32"

    def __post_init__(self) -> None:
        _check_fields(self, ("train", "min_steps"), ())
        if self.train < 1:
            raise ValueError(f"schedule 'train' must be an integer >= 1, got {self.train!r}")

    def steps(self, steps_per_epoch: int) -> int:
        """Optimizer steps of the phase for data of ``steps_per_epoch`` batches."""
        length = self.train * steps_per_epoch if self.unit == "epochs" else self.train
        return max(int(length), int(self.min_steps))


@dataclass
class VAESchedule:
    """One phase ``train`` with a KL warm-up and a stepped learning rate (VAE, LadderVAE;
    baselines.md §1).

    ``unit="epochs"`` (the paper): α = min(1, kl_start + e·kl_decay) at epoch e, lr ×0.1 every
    ``lr_drop_epochs`` epochs (0: never). ``unit="steps"``: α ramps from ``kl_start`` to 1 over
    ``kl_ramp`` of the phase, lr ×0.1 at ``lr_drop_at``; ``max_epochs`` caps the passes over the
    data (at least ``min_steps_fraction`` of ``train``), as TreeVAE's :class:`Schedule` does.
    ``precision``: "fp32" (default) or "bf16" (the training steps under bfloat16 autocast).
    """

    unit: str = "steps"
    train: int = 4000
    lr: float = 1e-3
    weight_decay: float = 1e-5
    kl_start: float = 0.0
    kl_decay: float = 0.01
    lr_drop_epochs: int = 100
    kl_ramp: float = 0.5
    lr_drop_at: float = 2 / 3
    max_epochs: float | None = None
    min_steps_fraction: float = 0.25
    precision: str = "fp32"

    def __post_init__(self) -> None:
        _check_fields(self, ("train", "lr_drop_epochs"), ("lr", "max_epochs", "min_steps_fraction"))
        if self.train < 1:
            raise ValueError(f"schedule 'train' must be an integer >= 1, got {self.train!r}")
        for name in ("kl_start", "kl_decay", "kl_ramp", "weight_decay"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or value < 0:
                raise ValueError(f"schedule {name!r} must be a number >= 0, got {value!r}")

    def phase(self, steps_per_epoch: int) -> Phase:
        """The ``train`` phase for data giving ``steps_per_epoch`` batches."""
        if self.unit == "epochs":
            return Phase.from_epochs(
                "train", self.train, steps_per_epoch, kl_start=self.kl_start,
                kl_decay=self.kl_decay, lr=self.lr, weight_decay=self.weight_decay,
                lr_drop_epochs=self.lr_drop_epochs,
            )  # fmt: skip
        steps = Schedule.steps_for(self, self.train, steps_per_epoch)  # type: ignore[arg-type]
        return Phase.from_steps(
            "train", steps, lr=self.lr, weight_decay=self.weight_decay,
            kl_start=min(1.0, self.kl_start), kl_ramp=self.kl_ramp, lr_drop_at=self.lr_drop_at,
        )  # fmt: skip


#: TreeVAE: ``paper`` reproduces the published schedule (1,710 epochs for 10 leaves); ``fast``
#: (the default) spends optimizer steps, not epochs, at most 100 passes over the training set per
#: phase (so a small data set is not over-trained); ``tiny`` exists for tests and estimator
#: checks. All three start splits from random routers, as the paper does: ``split_init="kmeans"``
#: (models/treevae/split_init.py) helped on nested synthetic clusters but scored lower on digits
#: (5 seeds) and on Fashion-MNIST (3 seeds; BENCHMARKS.md, "Trustworthy trees"), so it is an
#: option.
#: ``fast`` budgets each subtree in passes over its leaf's rows (``subtree_epochs=10``: the
#: first, largest splits train longest, small leaves stop at a quarter of ``subtree``).
#: ``fast`` undoes a split whose child wins no rows before growing on (``growth_prune``; the
#: paper prunes only after growth).
#: ``fast`` decodes sparsely (``leaf_eps=1e-3``): a grown tree's full-tree step is about 2× as
#: fast and no seed table measured a loss of quality (BENCHMARKS.md, "Sparse leaf decoding").
TREEVAE_PRESETS: dict[str, dict[str, Any]] = {
    "paper": {
        "schedule": dict(
            unit="epochs", initial=150, subtree=150, intermediate=80, finetune=200,
            kl_start=0.0, kl_decay=0.001, finetune_kl_decay=None,
        ),
        "learning_rate": 1e-3, "batch_size": 256,
    },
    "fast": {
        "schedule": dict(unit="steps", initial=2000, subtree=500, intermediate=500, finetune=2000,
                         max_epochs=100, subtree_epochs=10, leaf_eps=1e-3, growth_prune=True,
                         likelihood_probe=300),
        "learning_rate": 1e-3, "batch_size": 256,
    },
    "tiny": {
        "schedule": dict(unit="steps", initial=40, subtree=20, intermediate=0, finetune=20),
        "learning_rate": 1e-3, "batch_size": 256,
    },
}  # fmt: skip

#: HTVAE and SOM-VAE: one phase of Adam over encoder, decoder and maps (Algorithm 1).
MAP_PRESETS: dict[str, dict[str, Any]] = {
    # htvae.md §3: 20 epochs, Adam 5e-4, batch 32.
    "paper": {"schedule": dict(unit="epochs", train=20, min_steps=0),
              "learning_rate": 5e-4, "batch_size": 32},
    # Minutes on 2 CPU cores for Fashion-MNIST, seconds for a few thousand samples.
    "fast": {"schedule": dict(unit="epochs", train=3, min_steps=1500),
             "learning_rate": 1e-3, "batch_size": 64},
    # Tests and scikit-learn's estimator checks.
    "tiny": {"schedule": dict(unit="epochs", train=1, min_steps=20),
             "learning_rate": 1e-3, "batch_size": 16},
}  # fmt: skip

#: VLAC, VLAE, GM-DGM. The paper's schedule is 150k steps with a KL warm-up of 2000 steps and a
#: Gumbel temperature exp(-3e-5 t) updated every 1000 steps (vlac.md §4–5, §11); a preset with
#: fewer steps keeps the same shape over its own length (both are rescaled by steps / 150k).
LADDER_PAPER_STEPS = 150_000
LADDER_PRESETS: dict[str, dict[str, Any]] = {
    # vlac.md §10–11: full widths, Adam 2e-4, batch 100, 150k steps (~a day per run on 2 cores).
    "paper": {"schedule": dict(unit="steps", train=LADDER_PAPER_STEPS),
              "learning_rate": 2e-4, "batch_size": 100, "widths": "paper"},
    # CPU default: halved channels, quartered FC width, Adam 1e-3, 3000 steps (5 epochs of
    # Fashion-MNIST; about 10 minutes on 2 shared cores, see benchmarks/results/vlac.md).
    "fast": {"schedule": dict(unit="steps", train=3000),
             "learning_rate": 1e-3, "batch_size": 100, "widths": "fast"},
    # Tests and scikit-learn's estimator checks.
    "tiny": {"schedule": dict(unit="steps", train=30),
             "learning_rate": 1e-3, "batch_size": 32, "widths": "fast"},
}  # fmt: skip

#: VAE and LadderVAE (baselines.md §1–2). ``paper``: 350 epochs, α = min(1, e/100), Adam 1e-3
#: with coupled weight decay 1e-5, lr ×0.1 every 100 epochs, batch 256. ``fast``: a step budget
#: of at most 100 passes over the data, the same shape of KL warm-up and lr drop. ``htvae``: the
#: VAE of VAE-HKMeans / VAE-RGMM (§8): 20 epochs of Adam 5e-4, batch 32, KL weight 1 throughout.
VAE_PRESETS: dict[str, dict[str, Any]] = {
    "paper": {"schedule": dict(unit="epochs", train=350, kl_start=0.0, kl_decay=0.01,
                               lr_drop_epochs=100),
              "learning_rate": 1e-3, "batch_size": 256},
    "fast": {"schedule": dict(unit="steps", train=4000, max_epochs=100),
             "learning_rate": 1e-3, "batch_size": 256},
    "htvae": {"schedule": dict(unit="epochs", train=20, kl_start=1.0, kl_decay=0.0,
                               lr_drop_epochs=0, weight_decay=0.0),
              "learning_rate": 5e-4, "batch_size": 32},
    "tiny": {"schedule": dict(unit="steps", train=30),
             "learning_rate": 1e-3, "batch_size": 64},
}  # fmt: skip

#: the name TreeVAE's presets had when they lived in ``dendrogen.models.treevae.config``.
PRESETS = TREEVAE_PRESETS


def make_schedule(
    preset: str,
    overrides: dict[str, Any] | None = None,
    *,
    presets: dict[str, dict[str, Any]] | None = None,
    schedule_class: type = Schedule,
    variant_defaults: dict[str, Any] | None = None,
) -> Any:
    """The schedule of a preset with ``overrides`` (e.g. ``{"initial": 500}``) applied.

    ``variant_defaults`` sit between the two: settings a model variant changes in every preset
    (the contrastive TreeVAE's dense decoding), which the user's ``overrides`` still replace.
    Raises ValueError for an unknown preset, an unknown setting or an invalid value.
    """
    presets = TREEVAE_PRESETS if presets is None else presets
    if preset not in presets:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(presets)}")
    if overrides is not None and not isinstance(overrides, dict):
        raise TypeError(f"schedule must be a dict of settings, got {type(overrides).__name__}")
    params = (
        dict(presets[preset]["schedule"]) | dict(variant_defaults or {}) | dict(overrides or {})
    )
    names = {f.name for f in fields(schedule_class)}
    unknown = set(params) - names
    if unknown:
        raise ValueError(f"unknown schedule settings {sorted(unknown)}; known: {sorted(names)}")
    return schedule_class(**params)


@dataclass
class Settings:
    """A preset resolved against an estimator's overrides."""

    schedule: Any
    learning_rate: float
    batch_size: int
    extra: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def resolve_settings(
    presets: dict[str, dict[str, Any]],
    preset: str,
    schedule: dict[str, Any] | None,
    learning_rate: float | None,
    batch_size: int | None,
    schedule_class: type = SinglePhaseSchedule,
    variant_defaults: dict[str, Any] | None = None,
) -> Settings:
    """Combine a preset with the estimator's ``schedule``, ``learning_rate`` and ``batch_size``
    (None keeps the preset's value); ``variant_defaults`` as in :func:`make_schedule`."""
    base = presets[preset] if preset in presets else {}
    sched = make_schedule(preset, schedule, presets=presets, schedule_class=schedule_class,
                          variant_defaults=variant_defaults)  # fmt: skip
    lr = float(base["learning_rate"] if learning_rate is None else learning_rate)
    if not math.isfinite(lr) or lr <= 0:
        raise ValueError(f"learning_rate must be a positive number, got {learning_rate!r}")
    if hasattr(sched, "lr") and (learning_rate is not None or "lr" not in (schedule or {})):
        sched = replace(sched, lr=lr)  # the estimator's learning_rate wins over the preset's
    elif hasattr(sched, "lr"):
        lr = float(sched.lr)  # an explicit schedule={"lr": ...} still works
    extra = {k: v for k, v in base.items() if k not in ("schedule", "learning_rate", "batch_size")}
    return Settings(
        schedule=sched,
        learning_rate=lr,
        batch_size=int(base["batch_size"] if batch_size is None else batch_size),
        extra=extra,
    )


__all__ = [
    "LADDER_PAPER_STEPS",
    "LADDER_PRESETS",
    "MAP_PRESETS",
    "PRESETS",
    "TREEVAE_PRESETS",
    "UNITS",
    "VAE_PRESETS",
    "Schedule",
    "Settings",
    "SinglePhaseSchedule",
    "VAESchedule",
    "make_schedule",
    "resolve_settings",
]
