"""TreeVAE (Manduchi et al., 2023): config, module, growth decisions, log-likelihood."""

from dendrogen.models.treevae.config import PRESETS, Schedule, TreeVAEConfig, make_schedule
from dendrogen.models.treevae.likelihood import log_likelihood
from dendrogen.models.treevae.model import TreeVAEModel

__all__ = [
    "PRESETS",
    "Schedule",
    "TreeVAEConfig",
    "TreeVAEModel",
    "log_likelihood",
    "make_schedule",
]
