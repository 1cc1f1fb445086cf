"""TreeVAE (Manduchi et al., 2023): config, module, growth decisions, log-likelihood."""

from typing import Any

from dendrogen.models.treevae.config import TreeVAEConfig
from dendrogen.models.treevae.likelihood import log_likelihood
from dendrogen.models.treevae.model import TreeVAEModel


def __getattr__(name: str) -> Any:
    # PRESETS, Schedule and make_schedule moved to dendrogen.training.presets; resolved lazily
    # so that importing the models layer does not import the training layer.
    if name in ("PRESETS", "Schedule", "make_schedule"):
        from dendrogen.training import presets

        return getattr(presets, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["TreeVAEConfig", "TreeVAEModel", "log_likelihood"]
