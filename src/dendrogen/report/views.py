"""What the report needs from each model family, behind one small interface.

A :class:`ModelView` answers, for every node of the hierarchy it shows: which samples of X are
in it, how confidently they were routed there, which members lie nearest its centre, and what it
generates. TreeVAE shows its tree; HTVAE and SOM-VAE their code hierarchy (a virtual root, then
the codes of the coarsest map down to the finest); VLAC, VLAE and GM-DGM have no tree, so their
view is a root, one node per layer and, under each mixture layer, one node per component.

Only public estimator methods are called, except ``_structure()`` of the ladder models (their
per-layer K and latent sizes, which no public attribute holds).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dendrogen.estimators.base import fixed_noise
from dendrogen.tree import Tree


class ModelView:
    """Base: subclasses fill ``tree`` and override the per-node questions."""

    family = "model"
    tree: Tree

    def __init__(self, model: Any, X: np.ndarray, seed: int = 0) -> None:
        self.model = model
        self.X = X
        self.seed = seed

    def title(self, node: int) -> str:
        return f"node {node}"

    def kind(self, node: int) -> str:
        if node == self.tree.root:
            return "root"
        return "leaf" if self.tree.is_leaf(node) else "internal"

    def attrs(self, node: int) -> dict[str, Any]:
        return dict(self.tree.attrs(node))

    def members(self, node: int) -> np.ndarray:
        """Indices into X of the samples assigned to ``node``: (n_members,) int64."""
        raise NotImplementedError

    def confidence(self, node: int, members: np.ndarray) -> float | None:
        """Mean probability (or a documented stand-in) with which the members reach ``node``."""
        return None

    def centrality(self, node: int, members: np.ndarray) -> np.ndarray | None:
        """A distance to the node's centre per member (lower = nearer): (n_members,)."""
        return None

    def generate(self, node: int, n: int) -> np.ndarray | None:
        """``n`` generations from ``node``: (n, *input_shape), or None when it has none."""
        return None

    def sections(self, budget: Any, node_sizes: dict[int, int]) -> dict[str, Any]:
        """Family-specific whole-model sections of the document (maps, layers)."""
        return {}


class TreeVAEView(ModelView):
    """TreeVAE: samples go to their most probable leaf and are members of every node on its
    path. Routing confidence is the mean of P(node | x) = Σ_{leaves under node} P(leaf | x) over
    the members. Centres are the members' mean root embedding (``transform(X)``). An internal
    node has no decoder of its own: its generations are generations of the leaves under it, in
    proportion to how many samples each leaf holds."""

    family = "treevae"

    def __init__(self, model: Any, X: np.ndarray, seed: int = 0) -> None:
        super().__init__(model, X, seed)
        self.tree = model.tree_
        self.leaves = list(model.leaves_)
        self.probs = model.predict_proba(X)  # (N, n_leaves)
        self.label = self.probs.argmax(axis=1)
        self.z = model.transform(X)  # (N, latent_dim)

    def title(self, node: int) -> str:
        if self.tree.is_leaf(node):
            return f"leaf {self.leaves.index(node)} (node {node})"
        return "root" if node == self.tree.root else f"node {node}"

    def attrs(self, node: int) -> dict[str, Any]:
        out = dict(self.tree.attrs(node))
        if self.tree.is_leaf(node):
            out["cluster_label"] = self.leaves.index(node)
        return out

    def _columns(self, node: int) -> list[int]:
        return [self.leaves.index(leaf) for leaf in self.tree.leaves_under(node)]

    def members(self, node: int) -> np.ndarray:
        return np.flatnonzero(np.isin(self.label, self._columns(node)))

    def confidence(self, node: int, members: np.ndarray) -> float | None:
        if members.size == 0:
            return None
        return float(self.probs[np.ix_(members, self._columns(node))].sum(axis=1).mean())

    def centrality(self, node: int, members: np.ndarray) -> np.ndarray | None:
        z = self.z[members]
        return np.linalg.norm(z - z.mean(axis=0), axis=1)

    def generate(self, node: int, n: int) -> np.ndarray | None:
        columns = self._columns(node)
        sizes = np.array([(self.label == c).sum() for c in columns], dtype=np.float64)
        weights = (
            sizes / sizes.sum() if sizes.sum() > 0 else np.full(len(columns), 1 / len(columns))
        )
        counts = _apportion(weights, n)
        parts = []
        with fixed_noise(self.seed + node):
            for column, count in zip(columns, counts, strict=True):
                if count:
                    parts.append(self.model.sample(int(count), leaf=column))
        return np.concatenate(parts) if parts else None


class MapView(ModelView):
    """HTVAE and SOM-VAE: the code hierarchy ``tree_`` (virtual root 0; code k of level i has
    ``attrs == {"level": i, "code": k}``). Members of a code are the samples discretised to it.
    Routing confidence is the mean softmax weight of the chosen code among the codes of its map,
    softmax(−‖x_i − code‖²), where x_1 is the sample's latent mean and x_i (i ≥ 2) the code it
    took on level i − 1 (the sequential discretisation of eq. 4). Centres are the code vectors."""

    family = "maps"

    def __init__(self, model: Any, X: np.ndarray, seed: int = 0) -> None:
        super().__init__(model, X, seed)
        self.tree = model.tree_
        self.paths = model.predict_path(X)  # (N, M), finest level first
        self.z = model.transform(X)  # (N, L)
        self.n_levels = self.paths.shape[1]
        self.code_vectors = [model.codes(level) for level in range(1, self.n_levels + 1)]
        self.chosen_prob = self._chosen_probabilities()  # (N, M)

    def _chosen_probabilities(self) -> np.ndarray:
        out = np.empty(self.paths.shape, dtype=np.float64)
        x = self.z.astype(np.float64)
        for i, grid in enumerate(self.code_vectors):
            codes = grid.reshape(-1, grid.shape[-1]).astype(np.float64)
            # ‖x‖² − 2x·c + ‖c‖²: an (N, K) table, never the (N, K, L) differences
            d2 = (x**2).sum(1)[:, None] - 2 * x @ codes.T + (codes**2).sum(1)[None, :]
            logits = -(d2 - d2.min(axis=1, keepdims=True))
            probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
            out[:, i] = probs[np.arange(len(x)), self.paths[:, i]]
            x = codes[self.paths[:, i]]
        return out

    def title(self, node: int) -> str:
        a = self.tree.attrs(node)
        return "root" if "level" not in a else f"level {a['level']} code {a['code']}"

    def kind(self, node: int) -> str:
        return "root" if node == self.tree.root else "code"

    def members(self, node: int) -> np.ndarray:
        a = self.tree.attrs(node)
        if "level" not in a:
            return np.arange(len(self.X))
        return np.flatnonzero(self.paths[:, a["level"] - 1] == a["code"])

    def confidence(self, node: int, members: np.ndarray) -> float | None:
        a = self.tree.attrs(node)
        if "level" not in a or members.size == 0:
            return None
        return float(self.chosen_prob[members, a["level"] - 1].mean())

    def centrality(self, node: int, members: np.ndarray) -> np.ndarray | None:
        a = self.tree.attrs(node)
        if "level" not in a:
            centre = self.z.mean(axis=0)
        else:
            grid = self.code_vectors[a["level"] - 1]
            centre = grid.reshape(-1, grid.shape[-1])[a["code"]]
        return np.linalg.norm(self.z[members] - centre, axis=1)

    def generate(self, node: int, n: int) -> np.ndarray | None:
        a = self.tree.attrs(node)
        if "level" not in a:
            return self.model.sample(n, random_state=self.seed)
        return self.model.sample(n, level=a["level"], code=a["code"], random_state=self.seed)

    def sections(self, budget: Any, node_sizes: dict[int, int]) -> dict[str, Any]:
        maps = []
        node_of = {(a["level"], a["code"]): n for n in self.tree.nodes
                   if "level" in (a := self.tree.attrs(n))}  # fmt: skip
        for level in range(1, self.n_levels + 1):
            rows, cols = self.code_vectors[level - 1].shape[:2]
            decoded = self.model.decode_codes(level)  # (K, *input_shape)
            cells = []
            for code in range(rows * cols):
                node = node_of[(level, code)]
                image = budget.add(f"map{level}/code{code}", decoded[code : code + 1])
                cells.append({"code": code, "node": node, "size": node_sizes[node],
                              "image": image})  # fmt: skip
            maps.append({"level": level, "rows": int(rows), "cols": int(cols), "cells": cells})
        return {"maps": maps}


class LadderView(ModelView):
    """VLAC, VLAE and GM-DGM: a root (the whole model), one node per layer (1 = nearest the
    data) and one node per mixture component. Members of component k of layer l are the samples
    with argmax q(y_l | x) = k; routing confidence is the mean of that probability; the members
    nearest the centre are those with the highest q(y_l = k | x)."""

    family = "ladder"

    def __init__(self, model: Any, X: np.ndarray, seed: int = 0) -> None:
        super().__init__(model, X, seed)
        self.K, self.z_dims = (list(v) for v in model._structure())
        self.probs: dict[int, np.ndarray] = {}
        tree = Tree()
        tree.attrs(tree.root)["name"] = "model"
        self.node_info: dict[int, dict[str, Any]] = {tree.root: {}}
        self.layer_nodes: dict[int, int] = {}
        for layer in range(1, len(self.K) + 1):
            node = tree.add_child(tree.root)
            self.layer_nodes[layer] = node
            self.node_info[node] = {"layer": layer, "K": self.K[layer - 1],
                                    "z_dim": self.z_dims[layer - 1]}  # fmt: skip
            if self.K[layer - 1] > 1 and hasattr(model, "predict_proba"):
                self.probs[layer] = model.predict_proba(X, layer=layer)  # (N, K_l)
                for k in range(self.K[layer - 1]):
                    child = tree.add_child(node)
                    self.node_info[child] = {"layer": layer, "component": k}
        self.tree = tree

    def title(self, node: int) -> str:
        info = self.node_info[node]
        if "component" in info:
            return f"layer {info['layer']} component {info['component']}"
        return f"layer {info['layer']}" if "layer" in info else "model"

    def kind(self, node: int) -> str:
        info = self.node_info[node]
        return "component" if "component" in info else "layer" if info else "root"

    def attrs(self, node: int) -> dict[str, Any]:
        return dict(self.node_info[node])

    def members(self, node: int) -> np.ndarray:
        info = self.node_info[node]
        if "component" not in info:
            return np.arange(len(self.X))
        return np.flatnonzero(self.probs[info["layer"]].argmax(axis=1) == info["component"])

    def confidence(self, node: int, members: np.ndarray) -> float | None:
        info = self.node_info[node]
        if "component" not in info or members.size == 0:
            return None
        return float(self.probs[info["layer"]][members, info["component"]].mean())

    def centrality(self, node: int, members: np.ndarray) -> np.ndarray | None:
        info = self.node_info[node]
        if "component" not in info:
            return None  # a layer holds every sample: no centre to speak of
        return -self.probs[info["layer"]][members, info["component"]]

    def generate(self, node: int, n: int) -> np.ndarray | None:
        info = self.node_info[node]
        if "component" in info:
            return self.model.sample(n, layer=info["layer"], component=info["component"],
                                     random_state=self.seed)  # fmt: skip
        if "layer" in info:
            return self.model.sample(n, layer=info["layer"], random_state=self.seed)
        return self.model.sample(n, random_state=self.seed)

    def sections(self, budget: Any, node_sizes: dict[int, int]) -> dict[str, Any]:
        layers = []
        for layer, node in self.layer_nodes.items():
            components = [
                {"component": self.node_info[c]["component"], "node": c, "size": node_sizes[c]}
                for c in self.tree.children(node)
            ]
            layers.append({"layer": layer, "node": node, "K": self.K[layer - 1],
                           "z_dim": self.z_dims[layer - 1], "components": components})  # fmt: skip
        return {"layers": layers}


def view_for(model: Any, X: np.ndarray, seed: int = 0) -> ModelView:
    """The view of a fitted estimator: TreeVAE, a map model, or a ladder model."""
    from dendrogen.estimators.ladder import LadderEstimator
    from dendrogen.estimators.maps import MapEstimator
    from dendrogen.estimators.treevae import TreeVAE

    if isinstance(model, TreeVAE):
        return TreeVAEView(model, X, seed)
    if isinstance(model, MapEstimator):
        return MapView(model, X, seed)
    if isinstance(model, LadderEstimator):
        return LadderView(model, X, seed)
    raise TypeError(
        f"no report for {type(model).__name__}: the report covers TreeVAE, HTVAE / SOM-VAE and "
        "VLAC / VLAE / GM-DGM; for a baseline use `dendrogen evaluate` and `dendrogen tree`"
    )


def _apportion(weights: np.ndarray, n: int) -> np.ndarray:
    """Split ``n`` into integers proportional to ``weights`` (largest remainders): (len,)."""
    raw = weights * n
    counts = np.floor(raw).astype(np.int64)
    for i in np.argsort(-(raw - counts), kind="stable")[: n - counts.sum()]:
        counts[i] += 1
    return counts
