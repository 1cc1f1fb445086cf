"""Neural building blocks shared by the models: encoders/decoders per data kind, likelihoods,
Gaussian helpers and routers."""

from dendrogen.nn.architectures import default_architecture, make_decoder, make_encoder
from dendrogen.nn.gaussian import kl_normal, kl_std_normal, log_normal, precision_weighted
from dendrogen.nn.layers import LEAKY_SLOPE, DenseBlock
from dendrogen.nn.likelihoods import Likelihood, make_likelihood
from dendrogen.nn.routers import Router

__all__ = [
    "LEAKY_SLOPE",
    "DenseBlock",
    "Likelihood",
    "Router",
    "default_architecture",
    "kl_normal",
    "kl_std_normal",
    "log_normal",
    "make_decoder",
    "make_encoder",
    "make_likelihood",
    "precision_weighted",
]
