"""The one tree type of the library.

A :class:`Tree` is plain data: integer node ids, parent and ordered children. Neural modules that
hang on a tree (TreeVAE's routers, decoders, ...) live elsewhere, keyed by node id, so growing or
pruning is an edit of this structure plus adding or removing modules.

Node ids are stable: they are never renumbered, and ids of removed nodes are not reused. Children
are ordered (left first), which is what drawing and TreeVAE's left/right routing need.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

__all__ = ["Tree"]


class Tree:
    """A rooted tree with ordered children and stable integer node ids.

    A tree always has a root. Nodes may have any number of children: binary trees from TreeVAE,
    pass-through (one child) nodes after pruning, or many children for a SOM hierarchy's virtual
    root. Each node may carry a small JSON-serialisable ``attrs`` dict (e.g. a name or a code).
    """

    def __init__(self, root: int = 0) -> None:
        self._parent: dict[int, int | None] = {root: None}
        self._children: dict[int, list[int]] = {root: []}
        self._attrs: dict[int, dict[str, Any]] = {}
        self._root = root
        self._next_id = root + 1

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_parents(cls, parents: dict[int, int | None] | Iterable[int]) -> Tree:
        """Build a tree from parent links.

        Args:
            parents: either a mapping ``{node_id: parent_id or None}`` (children keep the order of
                the mapping) or a parent array where ``parents[i]`` is the parent of node ``i``
                and ``-1`` marks the root.
        """
        if not isinstance(parents, dict):
            arr = np.asarray(list(parents), dtype=np.int64)
            parents = {i: (None if p < 0 else int(p)) for i, p in enumerate(arr)}
        roots = [n for n, p in parents.items() if p is None]
        if len(roots) != 1:
            raise ValueError(f"a tree needs exactly one root, found {len(roots)}: {roots[:10]}")
        tree = cls(root=int(roots[0]))
        for node, parent in parents.items():
            if parent is None:
                continue
            if parent not in parents:
                raise ValueError(f"node {node} has parent {parent}, which is not a node")
            tree._parent[int(node)] = int(parent)
            tree._children.setdefault(int(node), [])
            tree._children.setdefault(int(parent), []).append(int(node))
        tree._next_id = max(parents) + 1
        # Nodes not reachable from the root lie on a cycle. Walking down from the root costs O(V);
        # walking up from every node would cost O(V * depth), quadratic for deep linkage trees.
        reached = set(tree.bfs())
        if len(reached) != len(tree._parent):
            node = min(n for n in tree._parent if n not in reached)
            raise ValueError(f"the parent links contain a cycle through node {node}")
        return tree

    @classmethod
    def from_linkage(cls, Z: np.ndarray) -> Tree:
        """Build the full binary tree of a SciPy linkage matrix.

        Leaves are ids ``0..N-1`` (the observations); row ``r`` creates node ``N + r``, whose
        children are ``Z[r, 0]`` then ``Z[r, 1]``. The root is ``2N - 2``.
        """
        Z = np.asarray(Z)
        if Z.ndim != 2 or Z.shape[1] != 4:
            raise ValueError(f"a linkage matrix has shape (N-1, 4), got {Z.shape}")
        n = Z.shape[0] + 1
        # Insertion order is child order in from_parents: Z[r, 0] must stay the left child, which
        # is where scipy's dendrogram and leaves_list draw it (sorting by id would swap them).
        parents: dict[int, int | None] = {2 * n - 2: None}
        for r in range(n - 1):
            for c in (int(Z[r, 0]), int(Z[r, 1])):
                if c < 0 or c >= n + r:
                    raise ValueError(f"linkage row {r} references cluster {c} not yet created")
                if c in parents:
                    raise ValueError(f"linkage row {r} uses cluster {c} a second time")
                parents[c] = n + r
        return cls.from_parents(parents)

    def copy(self) -> Tree:
        """A deep copy (ids, order and attrs preserved)."""
        other = Tree(self._root)
        other._parent = dict(self._parent)
        other._children = {k: list(v) for k, v in self._children.items()}
        other._attrs = {k: dict(v) for k, v in self._attrs.items()}
        other._next_id = self._next_id
        return other

    # ------------------------------------------------------------------ queries
    @property
    def root(self) -> int:
        return self._root

    @property
    def nodes(self) -> list[int]:
        """All node ids in breadth-first order (root first, children left to right)."""
        return list(self.bfs())

    def __len__(self) -> int:
        return len(self._parent)

    def __contains__(self, node: object) -> bool:
        return node in self._parent

    def _check(self, node: int) -> None:
        if node not in self._parent:
            raise KeyError(f"node {node} is not in the tree")

    def parent(self, node: int) -> int | None:
        self._check(node)
        return self._parent[node]

    def children(self, node: int) -> list[int]:
        self._check(node)
        return list(self._children[node])

    def is_leaf(self, node: int) -> bool:
        self._check(node)
        return not self._children[node]

    def depth(self, node: int) -> int:
        """Number of edges between ``node`` and the root."""
        return len(self.path_to_root(node)) - 1

    def attrs(self, node: int) -> dict[str, Any]:
        """The mutable attribute dict of a node."""
        self._check(node)
        return self._attrs.setdefault(node, {})

    def bfs(self, start: int | None = None) -> Iterator[int]:
        """Nodes breadth-first from ``start`` (default root), children left to right."""
        frontier = [self._root if start is None else start]
        while frontier:
            nxt: list[int] = []
            for node in frontier:
                yield node
                nxt.extend(self._children[node])
            frontier = nxt

    def dfs(self, start: int | None = None) -> Iterator[int]:
        """Nodes in pre-order from ``start`` (default root), children left to right."""
        stack = [self._root if start is None else start]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(self._children[node]))

    @property
    def leaves(self) -> list[int]:
        """Leaf ids, left to right."""
        return [n for n in self.dfs() if not self._children[n]]

    @property
    def internal_nodes(self) -> list[int]:
        """Ids of nodes with at least one child, breadth-first."""
        return [n for n in self.bfs() if self._children[n]]

    @property
    def n_leaves(self) -> int:
        return len(self.leaves)

    @property
    def max_depth(self) -> int:
        """Depth of the deepest leaf (0 for a lone root)."""
        return max(self.depth(n) for n in self.leaves)

    def descendants(self, node: int) -> list[int]:
        """``node`` and every node below it, pre-order."""
        self._check(node)
        return list(self.dfs(node))

    def leaves_under(self, node: int) -> list[int]:
        return [n for n in self.dfs(node) if not self._children[n]]

    def path_to_root(self, node: int) -> list[int]:
        """``[node, parent(node), ..., root]``."""
        self._check(node)
        path = [node]
        while (p := self._parent[path[-1]]) is not None:
            path.append(p)
        return path

    def path_from_root(self, node: int) -> list[int]:
        """``[root, ..., node]``."""
        return self.path_to_root(node)[::-1]

    def lca(self, a: int, b: int) -> int:
        """Lowest common ancestor of two nodes."""
        ancestors = set(self.path_to_root(a))
        for node in self.path_to_root(b):
            if node in ancestors:
                return node
        raise AssertionError("unreachable: every node reaches the root")

    def distance(self, a: int, b: int) -> int:
        """Number of edges on the path between ``a`` and ``b``."""
        return self.depth(a) + self.depth(b) - 2 * self.depth(self.lca(a, b))

    def is_ancestor(self, ancestor: int, node: int) -> bool:
        """True when ``ancestor`` lies on the path from ``node`` to the root (itself included)."""
        return ancestor in self.path_to_root(node)

    # ------------------------------------------------------------------ editing
    def new_id(self) -> int:
        node = self._next_id
        self._next_id += 1
        return node

    def add_child(self, parent: int, node: int | None = None) -> int:
        """Append a new child to ``parent`` and return its id."""
        self._check(parent)
        if node is None:
            node = self.new_id()
        elif node in self._parent:
            raise ValueError(f"node {node} already exists")
        else:
            self._next_id = max(self._next_id, node + 1)
        self._parent[node] = parent
        self._children[node] = []
        self._children[parent].append(node)
        return node

    def add_children(self, leaf: int) -> tuple[int, int]:
        """Split a leaf: give it a left and a right child and return their ids."""
        self._check(leaf)
        if self._children[leaf]:
            raise ValueError(f"node {leaf} is not a leaf; only leaves can be split")
        return self.add_child(leaf), self.add_child(leaf)

    def merge_children(self, node: int) -> list[int]:
        """Undo a split: remove the children of ``node``, all of them leaves, so that ``node`` is
        a leaf again. Returns the removed ids."""
        self._check(node)
        children = list(self._children[node])
        if not children or any(self._children[c] for c in children):
            raise ValueError(f"node {node} needs children, and they must all be leaves")
        for child in children:
            self._detach(child)
        return children

    def remove_leaf(self, leaf: int, collapse: bool = True) -> list[int]:
        """Remove a leaf, then every ancestor that is left without children.

        Args:
            leaf: the leaf to remove; the root cannot be removed.
            collapse: if True, a parent left with a single child is spliced out (the child takes
                its place); if False it stays as a pass-through node with one child (TreeVAE's
                pruning keeps such nodes).

        Returns:
            The ids of all nodes removed from the tree.
        """
        self._check(leaf)
        if self._children[leaf]:
            raise ValueError(f"node {leaf} is not a leaf")
        if leaf == self._root:
            raise ValueError("the root cannot be removed")
        removed = []
        node = leaf
        while True:
            parent = self._parent[node]
            self._detach(node)
            removed.append(node)
            if parent is None or self._children[parent] or parent == self._root:
                break
            node = parent
        if collapse and parent is not None and len(self._children[parent]) == 1:
            removed.append(parent)
            self._splice(parent)
        return removed

    def _detach(self, node: int) -> None:
        parent = self._parent.pop(node)
        del self._children[node]
        self._attrs.pop(node, None)
        if parent is not None:
            self._children[parent].remove(node)

    def _splice(self, node: int) -> None:
        """Replace a one-child node by its child."""
        (child,) = self._children[node]
        parent = self._parent[node]
        if parent is None:
            self._root = child
            self._parent[child] = None
        else:
            siblings = self._children[parent]
            siblings[siblings.index(node)] = child
            self._parent[child] = parent
        del self._parent[node]
        del self._children[node]
        self._attrs.pop(node, None)

    def contract_unary(self) -> Tree:
        """A copy in which every one-child node is replaced by its child (ids kept)."""
        tree = self.copy()
        for node in list(tree.bfs()):
            if node in tree._children and len(tree._children[node]) == 1:
                tree._splice(node)
        return tree

    # ------------------------------------------------------------------ arrays and conversion
    def to_parent_array(self) -> tuple[np.ndarray, np.ndarray]:
        """Contiguous form for the metrics.

        Returns:
            ``(node_ids, parent)``: ``node_ids`` (V,) in breadth-first order and ``parent`` (V,)
            where ``parent[i]`` is the position of node ``node_ids[i]``'s parent, ``-1`` at the
            root.
        """
        ids = self.nodes
        pos = {n: i for i, n in enumerate(ids)}
        parent = np.array(
            [-1 if self._parent[n] is None else pos[self._parent[n]] for n in ids], dtype=np.int64
        )
        return np.array(ids, dtype=np.int64), parent

    def heights(self) -> dict[int, int]:
        """Height of every node: 0 at leaves, 1 + the largest child height above."""
        h: dict[int, int] = {}
        for node in reversed(self.nodes):
            kids = self._children[node]
            h[node] = 0 if not kids else 1 + max(h[c] for c in kids)
        return h

    def to_linkage(self) -> np.ndarray:
        """A SciPy linkage matrix with one observation per leaf.

        The tree is made binary first: one-child nodes are contracted and a node with more than
        two children becomes a left-leaning chain of merges. Observation ``i`` is
        ``self.leaves[i]``; merge heights are node heights, so ``scipy.cluster.hierarchy
        .dendrogram`` draws the tree with its leaves in this tree's left-to-right order.
        """
        tree = self.contract_unary()
        leaves = tree.leaves
        if len(leaves) < 2:
            raise ValueError("a linkage needs at least two leaves")
        cluster = {leaf: i for i, leaf in enumerate(leaves)}
        size = {leaf: 1 for leaf in leaves}
        height = tree.heights()
        rows: list[list[float]] = []
        n = len(leaves)
        for node in reversed(tree.nodes):
            kids = tree._children[node]
            if not kids:
                continue
            acc, acc_size = cluster[kids[0]], size[kids[0]]
            for kid in kids[1:]:
                acc_size += size[kid]
                rows.append([acc, cluster[kid], float(height[node]), acc_size])
                acc = n + len(rows) - 1
            cluster[node], size[node] = acc, acc_size
        Z = np.array(rows, dtype=np.float64)
        # SciPy wants rows sorted by height; re-index clusters after sorting.
        order = np.argsort(Z[:, 2], kind="stable")
        new_index = np.empty(len(order), dtype=np.int64)
        new_index[order] = np.arange(len(order))
        Z = Z[order]
        for col in (0, 1):
            ids = Z[:, col].astype(np.int64)
            merged = ids >= n
            ids[merged] = n + new_index[ids[merged] - n]
            Z[:, col] = ids
        return Z

    def to_sklearn(self) -> tuple[np.ndarray, np.ndarray]:
        """``(children_, distances_)`` as scikit-learn's ``AgglomerativeClustering`` has them."""
        Z = self.to_linkage()
        return Z[:, :2].astype(np.int64), Z[:, 2].copy()

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        nodes = []
        for node in self.nodes:
            entry: dict[str, Any] = {"id": node, "parent": self._parent[node]}
            if self._attrs.get(node):
                entry["attrs"] = self._attrs[node]
            nodes.append(entry)
        return {"format": "dendrogen.tree/1", "root": self._root, "next_id": self._next_id,
                "nodes": nodes}  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Tree:
        try:
            entries = data["nodes"]
            parents = {int(e["id"]): (None if e["parent"] is None else int(e["parent"]))
                       for e in entries}  # fmt: skip
        except (KeyError, TypeError) as err:
            raise ValueError(f"not a dendrogen tree description: missing {err}") from err
        tree = cls.from_parents(parents)
        for e in entries:
            if e.get("attrs"):
                tree._attrs[int(e["id"])] = dict(e["attrs"])
        tree._next_id = max(tree._next_id, int(data.get("next_id", 0)))
        return tree

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_json(cls, text: str) -> Tree:
        return cls.from_dict(json.loads(text))

    # ------------------------------------------------------------------ display
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Tree):
            return NotImplemented
        return self._root == other._root and self._children == other._children

    def __repr__(self) -> str:
        return f"Tree(n_nodes={len(self)}, n_leaves={self.n_leaves}, max_depth={self.max_depth})"

    def format(self, label: Any = None) -> str:
        """An indented text drawing; ``label(node) -> str`` adds text to each line."""
        lines = []
        for node in self.dfs():
            text = f"{'  ' * self.depth(node)}{node}"
            if label is not None:
                text += f" {label(node)}"
            lines.append(text)
        return "\n".join(lines)
