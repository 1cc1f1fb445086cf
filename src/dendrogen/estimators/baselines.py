"""``dendrogen.Agglomerative`` and ``dendrogen.Bisecting``: the hierarchical baselines of the
papers, a tree grown over an embedding (baselines.md §3–5, §8–9).

- ``embedding="raw"``: the flattened inputs (Agg on raw pixels, §3);
- ``embedding="vae"``: μ(x) of a :class:`~dendrogen.estimators.vae.VAE` trained first (§4, §8);
- ``embedding="laddervae"``: the posterior means of z_1 (``layer="top"``: z_J) of a
  :class:`~dendrogen.estimators.vae.LadderVAE` (§5).

The embedding model is trained with the shared training parameters (preset, schedule,
learning_rate, ...) plus ``embedding_params`` (e.g. ``{"latent_dim": 64, "arch": "htvae"}``);
it is saved with the tree in the same model folder.
"""

from __future__ import annotations

import os
from numbers import Integral
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.base import ClusterMixin, TransformerMixin, clone
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from dendrogen.estimators.base import DeepEstimator, register
from dendrogen.estimators.cluster_trees import (
    MAX_WARD_POINTS,
    Split,
    descend,
    grow_divisive,
    nearest,
    truncate_splits,
    ward_cuts,
)
from dendrogen.estimators.vae import VAE, Autoencoder, LadderVAE
from dendrogen.training import VAE_PRESETS
from dendrogen.tree import Tree

EMBEDDINGS: dict[str, type[Autoencoder] | None] = {"raw": None, "vae": VAE, "laddervae": LadderVAE}
_TRAINING = ("preset", "schedule", "learning_rate", "batch_size", "device", "random_state",
             "verbose", "checkpoint_every", "distributed")  # fmt: skip


class EmbeddingBaseline(ClusterMixin, TransformerMixin, DeepEstimator):
    """What Agglomerative and Bisecting share: the embedding model, its fit, save and load."""

    _parameter_constraints: ClassVar[dict[str, list]] = {
        **DeepEstimator._parameter_constraints,
        "preset": [StrOptions(set(VAE_PRESETS))],
        "embedding": [StrOptions(set(EMBEDDINGS))],
        "embedding_params": [dict, None],
        "layer": [StrOptions({"bottom", "top"}), Interval(Integral, 1, None, closed="left")],
        "n_leaves": [Interval(Integral, 1, None, closed="left")],
    }

    def _make_embedder(self) -> Autoencoder | None:
        cls = EMBEDDINGS[self.embedding]
        if cls is None:
            return None
        params = {name: getattr(self, name) for name in _TRAINING} | dict(
            self.embedding_params or {}
        )
        known = cls().get_params()
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise ValueError(f"embedding_params {unknown} are not {cls.__name__} parameters; "
                             f"known: {sorted(set(known) - set(_TRAINING))}")  # fmt: skip
        return cls(**params)

    def _embedding_options(self) -> dict[str, Any]:
        return {"layer": self.layer} if self.embedding == "laddervae" else {}

    def _fit_embedding(self, X: Any, checkpoint_dir: str | os.PathLike | None) -> np.ndarray:
        """Validate X, train the embedding model on it; the training embeddings (N, D)."""
        self._start_fit()
        embedder = self._make_embedder()
        X = self._validate(X, reset=True)
        self.embedder_ = embedder
        if embedder is None:
            self._check_enough_samples(X.shape[0], 1)
            self.module_ = torch.nn.Module()  # nothing trained: raw inputs
            return X.reshape(len(X), -1).astype(np.float64)
        embedder.fit(X, checkpoint_dir=checkpoint_dir)
        self.module_ = embedder.module_
        self.history_ = embedder.history_
        return embedder.transform(X, **self._embedding_options()).astype(np.float64)

    def transform(self, X: Any) -> np.ndarray:
        """The embedding the tree is grown on: flattened X, μ(x) or LadderVAE means. (N, D)."""
        X = self._validate(X, reset=False)
        if self.embedder_ is None:
            return X.reshape(len(X), -1).astype(np.float64)
        return self.embedder_.transform(X, **self._embedding_options()).astype(np.float64)

    def fit_predict(self, X: Any, y: Any = None, **kwargs: Any) -> np.ndarray:
        return self.fit(X, y, **kwargs).labels_

    def score(self, X: Any, y: Any = None) -> float:
        """The embedding model's mean ELBO per sample; for raw inputs, the negative mean squared
        distance of each sample to its cluster's centre (k-means' objective per sample)."""
        if self.embedder_ is not None:
            self._validate(X, reset=False)
            return self.embedder_.score(X)
        E = self.transform(X)
        centres = self._cluster_centres()
        return -float(((E - centres[nearest(E, centres)]) ** 2).sum(1).mean())

    def _cluster_centres(self) -> np.ndarray:
        raise NotImplementedError

    def _model_scores(self, X: Any) -> dict[str, float]:
        if self.embedder_ is None:
            return {}
        terms = self.embedder_.elbo_terms(X)
        return {"elbo": float(terms["elbo"].mean()), "rl": float(terms["rl"].mean())}

    def sample(self, n_samples: int = 1, **selectors: Any) -> np.ndarray:
        """Generations of the embedding model (N, *input_shape); raw inputs have none."""
        check_is_fitted(self)
        if self.embedder_ is None:
            raise ValueError("embedding='raw' has no generative model to sample from")
        return self.embedder_.sample(n_samples, **selectors)

    def plot(self, X: Any, y: Any = None, path: str | os.PathLike | None = None, **options: Any):
        """The tree with examples of X (N, *input_shape) at each leaf (``dendrogen tree``); no
        generations (a baseline's generative model has no per-leaf prior). Returns the Figure,
        saved to ``path`` when given."""
        from dendrogen.plots import save_figure
        from dendrogen.plots.tree import plot_tree

        check_is_fitted(self)
        X = self._validate(X, reset=False)
        fig = plot_tree(self, X, None if y is None else np.asarray(y), n_generated=0, **options)
        if path is not None:
            save_figure(fig, path)
        return fig

    # ------------------------------------------------------------------ save / load
    def _state_config(self) -> dict[str, Any]:
        if self.embedder_ is None:
            return {"embedder": None}
        return {"embedder": self.embedder_._state_config()}

    def _restore(self, fitted: dict[str, Any], tree: Tree | None) -> None:
        self.embedder_ = self._make_embedder()
        self.history_ = []
        if self.embedder_ is None:
            self.module_ = torch.nn.Module()
        else:
            self.embedder_.input_shape_ = self.input_shape_
            self.embedder_.n_features_in_ = self.n_features_in_
            self.embedder_._restore(fitted["embedder"], None)
            self.module_ = self.embedder_.module_
        self.tree_ = tree
        self.labels_ = None  # replaced by the saved training labels


@register
class Agglomerative(EmbeddingBaseline):
    """Agg, VAE + Agg and LadderVAE + Agg (baselines.md §3–5): Ward's linkage (SciPy) on an
    embedding, truncated to ``n_leaves`` leaves (§0.3).

    Args:
        embedding: "raw" (flattened inputs), "vae" (μ(x) of a VAE) or "laddervae".
        embedding_params: parameters of the VAE / LadderVAE beyond the shared ones below.
        layer: the LadderVAE layer embedded, "bottom" (z_1, default), "top" (z_J) or 1..J.
        n_leaves: leaves of ``tree_`` (20 in the TreeVAE protocol).
        n_clusters: clusters of ``labels_`` and ``predict`` (the dendrogram cut to that many).
        max_points: above this many points Ward's O(N²) linkage is refused unless
            ``subsample``; then it runs on ``max_points`` random points, the others going to
            the nearest leaf centroid.
        preset, schedule, learning_rate, batch_size, device, random_state, verbose,
            checkpoint_every, distributed: the embedding model's training (as for
            :class:`dendrogen.VAE`).

    Ward has no out-of-sample rule: ``predict`` gives the nearest training cluster centroid, and
    ``evaluate(X, y)`` and ``tree_for(X)`` run Ward on the embeddings of X itself, as the
    papers do on the test points.

    Fitted attributes: ``tree_`` (the truncated dendrogram; node ids are linkage ids),
    ``labels_``, ``cluster_centers_`` (n_clusters, D), ``leaf_centers_`` (n_leaves, D),
    ``leaves_``, ``embedder_`` (the VAE / LadderVAE, None for raw inputs), ``module_``.
    """

    _parameter_constraints: ClassVar[dict[str, list]] = {
        **EmbeddingBaseline._parameter_constraints,
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "max_points": [Interval(Integral, 2, None, closed="left")],
        "subsample": ["boolean"],
    }

    def __init__(
        self,
        embedding: str = "vae",
        embedding_params: dict | None = None,
        layer: str | int = "bottom",
        n_leaves: int = 20,
        n_clusters: int = 10,
        max_points: int = MAX_WARD_POINTS,
        subsample: bool = False,
        preset: str = "fast",
        schedule: dict | None = None,
        learning_rate: float | None = None,
        batch_size: int | None = None,
        device: str = "cpu",
        random_state: int | None = None,
        verbose: bool = False,
        checkpoint_every: float = 120.0,
        distributed: bool | None = None,
    ) -> None:
        self.embedding = embedding
        self.embedding_params = embedding_params
        self.layer = layer
        self.n_leaves = n_leaves
        self.n_clusters = n_clusters
        self.max_points = max_points
        self.subsample = subsample
        self.preset = preset
        self.schedule = schedule
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.checkpoint_every = checkpoint_every
        self.distributed = distributed

    def _ward(self) -> dict[str, Any]:
        return {"max_points": self.max_points, "subsample": self.subsample,
                "random_state": self.random_state}  # fmt: skip

    def fit(
        self, X: Any, y: Any = None, *, checkpoint_dir: str | os.PathLike | None = None
    ) -> Agglomerative:
        """Train the embedding model on X (N, ...) (``y`` is ignored), then run Ward on the
        training embeddings."""
        self._validate_params()
        E = self._fit_embedding(X, checkpoint_dir)
        (tree, leaf_of_point), (_, flat) = ward_cuts(E, [self.n_leaves, self.n_clusters],
                                                     **self._ward())  # fmt: skip
        self.tree_ = tree
        self.leaves_ = list(tree.leaves)
        self.leaf_centers_ = np.stack([E[leaf_of_point == leaf].mean(0) for leaf in self.leaves_])
        clusters, self.labels_ = np.unique(flat, return_inverse=True)
        self.labels_ = self.labels_.astype(np.int64)
        self.cluster_centers_ = np.stack([E[flat == c].mean(0) for c in clusters])
        return self

    def _cluster_centres(self) -> np.ndarray:
        return self.cluster_centers_

    def predict(self, X: Any) -> np.ndarray:
        """The nearest training cluster (by centroid in the embedding) of each sample. (N,)."""
        return nearest(self.transform(X), self.cluster_centers_).astype(np.int64)

    def predict_node(self, X: Any) -> np.ndarray:
        """The leaf of ``tree_`` with the nearest centroid, as a node id. (N,)."""
        leaves = np.asarray(self.leaves_, dtype=np.int64)
        return leaves[nearest(self.transform(X), self.leaf_centers_)]

    def tree_for(self, X: Any, n_leaves: int | None = None) -> tuple[Tree, np.ndarray]:
        """Ward's tree of the embeddings of X itself, truncated to ``n_leaves`` (default the
        estimator's): ``(tree, leaf_of_point)``, leaf_of_point (N,)."""
        E = self.transform(X)
        return ward_cuts(E, [n_leaves or self.n_leaves], **self._ward())[0]

    def evaluate(
        self, X: Any, y: Any = None, n_leaves: int | None = None, true_tree: Tree | None = None
    ) -> dict[str, float]:
        """The TreeVAE protocol on (X, y): Ward on the embeddings of X; DP and LP with
        ``n_leaves`` leaves (default ``self.n_leaves``), ACC and NMI with as many clusters as
        classes in y; with ``true_tree`` (a hierarchy whose leaves are the classes), D_tree of
        the ``n_leaves`` tree. Also the embedding model's ELBO and RL."""
        from dendrogen.estimators.cluster_trees import tree_scores
        from dendrogen.metrics import d_tree

        check_is_fitted(self)
        out = self._model_scores(X)
        if y is None:
            return out
        y = np.asarray(y)
        sizes = [n_leaves or self.n_leaves, len(np.unique(y))]
        (tree, leaf_of_point), (_, flat) = ward_cuts(self.transform(X), sizes, **self._ward())
        out |= tree_scores(tree, leaf_of_point, flat, y)
        if true_tree is not None:
            out["d_tree"] = d_tree(tree, leaf_of_point, y, true_tree)
        return out

    def _state_config(self) -> dict[str, Any]:
        return super()._state_config() | {
            "leaf_centers": self.leaf_centers_.tolist(),
            "cluster_centers": self.cluster_centers_.tolist(),
        }

    def _state_tree(self) -> Tree | None:
        return self.tree_

    def _restore(self, fitted: dict[str, Any], tree: Tree | None) -> None:
        if tree is None:
            raise ValueError("a saved Agglomerative needs its tree.json")
        super()._restore(fitted, tree)
        self.leaves_ = list(tree.leaves)
        self.leaf_centers_ = np.asarray(fitted["leaf_centers"], dtype=np.float64)
        self.cluster_centers_ = np.asarray(fitted["cluster_centers"], dtype=np.float64)
        if len(self.leaf_centers_) != len(self.leaves_):
            raise ValueError("leaf_centers does not match the leaves of tree.json")


#: The settings of a Bisecting tree, which :meth:`Bisecting.regrow` may change.
TREE_SETTINGS = ("method", "mode", "n_leaves", "branching", "n_init")


@register
class Bisecting(EmbeddingBaseline):
    """VAE-HKMeans and VAE-RGMM (baselines.md §8–9): a divisive tree grown on an embedding by
    scikit-learn's ``KMeans`` or diagonal ``GaussianMixture``, splits recorded in order.

    Args:
        embedding: "vae" (default), "laddervae" or "raw".
        embedding_params: parameters of the VAE / LadderVAE beyond the shared ones below, e.g.
            ``{"arch": "htvae", "latent_dim": 64}`` for the HTVAE protocol.
        layer: the LadderVAE layer embedded, "bottom" (z_1), "top" (z_J) or 1..J.
        method: "kmeans" (HKMeans) or "gmm" (RGMM, diagonal covariances).
        mode: "bisect" (TreeVAE protocol: split the leaf of largest SSE in two until
            ``n_leaves``) or "levels" (HTVAE protocol: every node split into ``branching[l]``
            at level l; a node with fewer points stays a leaf).
        n_leaves: leaves grown in "bisect" mode.
        branching: the branching factor of each level in "levels" mode, top first.
        n_init: restarts of each k-means / mixture fit.
        preset, schedule, learning_rate, batch_size, device, random_state, verbose,
            checkpoint_every, distributed: the embedding model's training.

    ``predict`` descends the tree by each split's ``predict`` rule and gives the reached leaf's
    position in ``leaves_``; ``evaluate`` truncates the tree to ``n_leaves`` (DP, LP) and to as
    many leaves as classes (ACC, NMI) by keeping the first splits, or in "levels" mode scores
    the deepest nodes (purity, NMI) and D_tree.

    Fitted attributes: ``tree_``, ``splits_`` (the recorded splits, in order: a list of
    :class:`dendrogen.estimators.cluster_trees.Split`), ``leaves_``, ``labels_``, ``embedder_``,
    ``module_``.
    """

    _parameter_constraints: ClassVar[dict[str, list]] = {
        **EmbeddingBaseline._parameter_constraints,
        "method": [StrOptions({"kmeans", "gmm"})],
        "mode": [StrOptions({"bisect", "levels"})],
        "branching": ["array-like"],
        "n_init": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        embedding: str = "vae",
        embedding_params: dict | None = None,
        layer: str | int = "bottom",
        method: str = "kmeans",
        mode: str = "bisect",
        n_leaves: int = 20,
        branching: tuple[int, ...] = (4, 4, 4),
        n_init: int = 10,
        preset: str = "fast",
        schedule: dict | None = None,
        learning_rate: float | None = None,
        batch_size: int | None = None,
        device: str = "cpu",
        random_state: int | None = None,
        verbose: bool = False,
        checkpoint_every: float = 120.0,
        distributed: bool | None = None,
    ) -> None:
        self.embedding = embedding
        self.embedding_params = embedding_params
        self.layer = layer
        self.method = method
        self.mode = mode
        self.n_leaves = n_leaves
        self.branching = branching
        self.n_init = n_init
        self.preset = preset
        self.schedule = schedule
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.checkpoint_every = checkpoint_every
        self.distributed = distributed

    def fit(
        self, X: Any, y: Any = None, *, checkpoint_dir: str | os.PathLike | None = None
    ) -> Bisecting:
        """Train the embedding model on X (N, ...) (``y`` is ignored), then grow the tree on
        the training embeddings."""
        self._validate_params()
        branching = tuple(int(b) for b in np.atleast_1d(self.branching))
        if not branching or min(branching) < 2:
            raise ValueError(f"branching must list integers >= 2, got {self.branching!r}")
        return self._grow(self._fit_embedding(X, checkpoint_dir), branching)

    def regrow(self, X: Any, **tree_params: Any) -> Bisecting:
        """A new fitted Bisecting with its own tree grown on this fit's embedding of X (the
        training data, (N, ...)) under other tree settings (``method``, ``mode``, ``n_leaves``,
        ``branching``, ``n_init``). The embedding model is shared, not retrained, so
        VAE-HKMeans and VAE-RGMM of one VAE cost one training::

            hkmeans = Bisecting(method="kmeans", mode="levels").fit(X)
            rgmm = hkmeans.regrow(X, method="gmm")

        The result equals a fresh fit with those settings and the same ``random_state`` (fits
        are deterministic), and saves and loads like one."""
        check_is_fitted(self)
        unknown = sorted(set(tree_params) - set(TREE_SETTINGS))
        if unknown:
            raise ValueError(
                f"regrow changes only the tree settings {TREE_SETTINGS}; "
                f"{unknown} would need a new embedding: fit a new Bisecting"
            )
        other = clone(self).set_params(**tree_params)
        other._validate_params()
        branching = tuple(int(b) for b in np.atleast_1d(other.branching))
        if not branching or min(branching) < 2:
            raise ValueError(f"branching must list integers >= 2, got {other.branching!r}")
        E = self.transform(X)
        for name in ("_world", "input_shape_", "n_features_in_", "embedder_", "module_"):
            setattr(other, name, getattr(self, name))
        other.history_ = list(getattr(self, "history_", []))
        return other._grow(E, branching)

    def _grow(self, E: np.ndarray, branching: tuple[int, ...]) -> Bisecting:
        """Grow the tree on the training embeddings E (N, D) and label them."""
        self.tree_, self.splits_ = grow_divisive(
            E, method=self.method, mode=self.mode, n_leaves=self.n_leaves, branching=branching,
            n_init=self.n_init, random_state=self.random_state,
        )  # fmt: skip
        self.leaves_ = list(self.tree_.leaves)
        self.labels_ = self._labels(descend(self.splits_, E))
        return self

    def _labels(self, nodes: np.ndarray) -> np.ndarray:
        position = {leaf: i for i, leaf in enumerate(self.leaves_)}
        return np.asarray([position[int(n)] for n in nodes], dtype=np.int64)

    def _cluster_centres(self) -> np.ndarray:
        centres = {c: s.means[i] for s in self.splits_ for i, c in enumerate(s.children)}
        if not centres:  # no split was possible: one leaf, the root
            return np.zeros((1, int(np.prod(self.input_shape_))))
        return np.stack([centres[leaf] for leaf in self.leaves_])

    def predict_node(self, X: Any) -> np.ndarray:
        """The leaf node id each sample reaches. (N,)."""
        check_is_fitted(self)
        return descend(self.splits_, self.transform(X))

    def predict(self, X: Any) -> np.ndarray:
        """The position in ``leaves_`` of the leaf each sample reaches. (N,)."""
        return self._labels(self.predict_node(X))

    def evaluate(
        self, X: Any, y: Any = None, n_leaves: int | None = None, true_tree: Tree | None = None
    ) -> dict[str, float]:
        """Scores on (X, y), the embedding model's ELBO and RL. "bisect": DP and LP of the
        first splits making ``n_leaves`` leaves (default ``self.n_leaves``), ACC and NMI of those
        making as many leaves as classes. "levels": DP, LP, purity, NMI, ACC of the deepest
        nodes and D_tree (against ``true_tree``, whose leaves are the classes, else the flat
        labels) with path lengths in the tree as it is (htvae.md §7)."""
        from dendrogen.metrics import evaluate as evaluate_labels

        check_is_fitted(self)
        out = self._model_scores(X)
        if y is None:
            return out
        y = np.asarray(y)
        E = self.transform(X)
        if self.mode == "levels":
            nodes = descend(self.splits_, E)
            return out | evaluate_labels(y, tree=self.tree_, leaf_of_point=nodes,
                                         true_tree=true_tree, contract_unary=False)  # fmt: skip
        tree, kept = truncate_splits(self.splits_, n_leaves or self.n_leaves)
        _, flat = truncate_splits(self.splits_, len(np.unique(y)))
        out |= evaluate_labels(y, tree=tree, leaf_of_point=descend(kept, E),
                               pred=descend(flat, E), contract_unary=False)  # fmt: skip
        out.pop("d_tree", None)  # against flat labels it is not the HTVAE protocol's D_tree
        return out

    def _state_config(self) -> dict[str, Any]:
        return super()._state_config() | {"splits": [s.to_dict() for s in self.splits_]}

    def _state_tree(self) -> Tree | None:
        return self.tree_

    def _restore(self, fitted: dict[str, Any], tree: Tree | None) -> None:
        if tree is None:
            raise ValueError("a saved Bisecting needs its tree.json")
        super()._restore(fitted, tree)
        self.splits_ = [Split.from_dict(d) for d in fitted["splits"]]
        self.leaves_ = list(tree.leaves)
        rebuilt, _ = truncate_splits(self.splits_, None)
        if rebuilt != tree:
            raise ValueError("the splits do not make the tree of tree.json")


__all__ = ["EMBEDDINGS", "Agglomerative", "Bisecting", "EmbeddingBaseline"]
