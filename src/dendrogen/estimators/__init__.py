"""The scikit-learn face of dendrogen: one estimator per model, registered for loading and the
command line. Each model family has its own module; importing this package imports them all."""

from dendrogen.estimators.base import ESTIMATORS, DeepEstimator, load, register
from dendrogen.estimators.baselines import Agglomerative, Bisecting
from dendrogen.estimators.htvae import HTVAE
from dendrogen.estimators.somvae import SOMVAE
from dendrogen.estimators.treevae import TreeVAE
from dendrogen.estimators.vae import VAE, LadderVAE
from dendrogen.estimators.vlac import GMDGM, VLAC, VLAE

__all__ = [
    "ESTIMATORS",
    "GMDGM",
    "HTVAE",
    "SOMVAE",
    "VAE",
    "VLAC",
    "VLAE",
    "Agglomerative",
    "Bisecting",
    "DeepEstimator",
    "LadderVAE",
    "TreeVAE",
    "load",
    "register",
]
