"""Training: the Trainer, phases, presets and schedules, and the one Checkpoint."""

from dendrogen.training.checkpoint import RUN_ONLY_PARAMS, Checkpoint, Resumed, data_fingerprint
from dendrogen.training.presets import (
    LADDER_PRESETS,
    MAP_PRESETS,
    TREEVAE_PRESETS,
    VAE_PRESETS,
    Schedule,
    Settings,
    SinglePhaseSchedule,
    VAESchedule,
    make_schedule,
    resolve_settings,
)
from dendrogen.training.schedules import Phase
from dendrogen.training.trainer import PhaseState, Trainer

__all__ = [
    "LADDER_PRESETS",
    "MAP_PRESETS",
    "RUN_ONLY_PARAMS",
    "TREEVAE_PRESETS",
    "VAE_PRESETS",
    "Checkpoint",
    "Phase",
    "PhaseState",
    "Resumed",
    "Schedule",
    "Settings",
    "SinglePhaseSchedule",
    "Trainer",
    "VAESchedule",
    "data_fingerprint",
    "make_schedule",
    "resolve_settings",
]
