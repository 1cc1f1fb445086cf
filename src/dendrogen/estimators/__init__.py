"""The scikit-learn face of dendrogen: one estimator per model, registered for loading and the
command line. Each model family has its own module; importing this package imports them all."""

from dendrogen.estimators.base import ESTIMATORS, DeepEstimator, register
from dendrogen.estimators.treevae import TreeVAE

__all__ = [
    "ESTIMATORS",
    "DeepEstimator",
    "TreeVAE",
    "register",
]
