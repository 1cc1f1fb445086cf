"""Training: the Trainer, phases and schedules."""

from dendrogen.training.schedules import Phase
from dendrogen.training.trainer import PhaseState, Trainer

__all__ = ["Phase", "PhaseState", "Trainer"]
