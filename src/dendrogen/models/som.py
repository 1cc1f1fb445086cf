"""Self-organising map grids shared by HTVAE and SOM-VAE (htvae.md §1, §5, §9).

A stack of maps S_1 (finest) … S_M (coarsest); map i is a parameter of shape (H_i, W_i, L) holding
K_i = H_i·W_i codes. For vectorised work across maps, all codes are viewed as one flat table of
ΣK_i rows, map i occupying rows ``offsets[i] : offsets[i] + K_i`` (row-major within the grid), and
every grid-level lookup (neighbours, grid coordinates) is precomputed in that global numbering.

Grid neighbours are up, down, left, right without wrap-around (htvae.md §1: border codes have
only their existing neighbours). Missing neighbours point at the code itself and are masked out.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from dendrogen.tree import Tree

#: neighbour order in the (K, 4) tables.
DIRECTIONS = ((-1, 0), (1, 0), (0, -1), (0, 1))  # up, down, left, right


def check_map_sizes(map_sizes: Sequence[Sequence[int]]) -> tuple[tuple[int, int], ...]:
    """Validate map sizes, finest first: each (rows, cols) with ≥ 2 codes, K strictly decreasing.

    Raises:
        ValueError: with the offending sizes.
    """
    try:
        sizes = tuple((int(r), int(c)) for r, c in map_sizes)
    except (TypeError, ValueError):
        raise ValueError(
            f"map_sizes must be a sequence of (rows, cols) pairs, finest map first, "
            f"got {map_sizes!r}"
        ) from None
    if not sizes:
        raise ValueError("map_sizes needs at least one map")
    for r, c in sizes:
        if r < 1 or c < 1 or r * c < 2:
            raise ValueError(f"every map needs at least 2 codes, got a {r}x{c} map")
    counts = [r * c for r, c in sizes]
    if any(a <= b for a, b in itertools.pairwise(counts)):
        raise ValueError(
            f"map sizes must be listed finest first with strictly fewer codes on each coarser "
            f"map (K_1 > K_2 > ...), got {['x'.join(map(str, s)) for s in sizes]} = {counts} codes"
        )
    return sizes


def grid_neighbours(rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """4-neighbour table of a rows×cols grid (row-major code numbering).

    Returns:
        index: (K, 4) int64, the neighbour of each code in the order up, down, left, right;
            the code itself where the neighbour does not exist.
        mask: (K, 4) bool, True where the neighbour exists.
    """
    r, c = np.divmod(np.arange(rows * cols), cols)
    index = np.empty((rows * cols, 4), dtype=np.int64)
    mask = np.empty((rows * cols, 4), dtype=bool)
    for j, (dr, dc) in enumerate(DIRECTIONS):
        rr, cc = r + dr, c + dc
        ok = (rr >= 0) & (rr < rows) & (cc >= 0) & (cc < cols)
        mask[:, j] = ok
        index[:, j] = np.where(ok, rr * cols + cc, r * cols + c)
    return index, mask


def grid_distance(a: Tensor, b: Tensor, cols: int) -> Tensor:
    """Topological (Manhattan) distance on a grid with ``cols`` columns between code indices.

    The shortest path in the 4-neighbour lattice (htvae.md §5). Shapes broadcast; int64 result.
    """
    ra, ca = torch.div(a, cols, rounding_mode="floor"), a % cols
    rb, cb = torch.div(b, cols, rounding_mode="floor"), b % cols
    return (ra - rb).abs() + (ca - cb).abs()


def nearest(x: Tensor, codes: Tensor) -> Tensor:
    """Index of the nearest code for each row: (B, L), (K, L) → (B,) int64.

    Exact squared distances (not the ‖x‖² − 2x·e + ‖e‖² expansion, whose rounding can break ties
    differently from run to run); ``argmin`` returns the first minimum, so ties go to the lowest
    index as htvae.md §1.1 asks. B·K·L floats: 2048·64·64 = 32 MB at most in inference.
    """
    return (x[:, None, :] - codes[None, :, :]).pow(2).sum(-1).argmin(dim=1)


def weighted_sums(
    points: Tensor, weights: Tensor, winner: Tensor, n_codes: int
) -> tuple[Tensor, Tensor]:
    """Per code, the total weight and the weighted sum of the points it wins.

    Args:
        points: (N, L); weights: (N,); winner: (N,) code index of each point.

    Returns:
        (n_codes,) weights held and (n_codes, L) weighted sums.
    """
    held = torch.zeros(n_codes, dtype=points.dtype, device=points.device)
    held.index_add_(0, winner, weights)
    total = torch.zeros(n_codes, points.shape[-1], dtype=points.dtype, device=points.device)
    total.index_add_(0, winner, points * weights[:, None])
    return held, total


class SOMStack(nn.Module):
    """The M maps as parameters ``maps.{i}`` of shape (H_i, W_i, L), finest first.

    Args:
        map_sizes: (rows, cols) per map, finest first (validated by :func:`check_map_sizes`).
        latent_dim: L.
        sigma_init: codes drawn i.i.d. from N(0, sigma_init²) (HTVAE, Algorithm 1).
        init: ``"normal"`` (HTVAE) or ``"truncated"`` (SOM-VAE: truncated at ±2 sigma_init, as
            TensorFlow's ``truncated_normal`` of the reference implementation).
    """

    def __init__(
        self,
        map_sizes: Sequence[Sequence[int]],
        latent_dim: int,
        sigma_init: float = 0.05,
        init: str = "normal",
    ) -> None:
        super().__init__()
        self.sizes = check_map_sizes(map_sizes)
        self.latent_dim = int(latent_dim)
        self.maps = nn.ParameterList()
        for r, c in self.sizes:
            p = torch.empty(r, c, latent_dim)
            if init == "truncated":
                nn.init.trunc_normal_(p, std=sigma_init, a=-2 * sigma_init, b=2 * sigma_init)
            elif init == "normal":
                nn.init.normal_(p, std=sigma_init)
            else:
                raise ValueError(f"init must be 'normal' or 'truncated', got {init!r}")
            self.maps.append(nn.Parameter(p))
        counts = [r * c for r, c in self.sizes]
        self.counts = counts
        self.offsets = [int(o) for o in np.concatenate([[0], np.cumsum(counts)[:-1]])]
        index, mask = [], []
        for (r, c), off in zip(self.sizes, self.offsets, strict=True):
            i, m = grid_neighbours(r, c)
            index.append(i + off)
            mask.append(m)
        # Derived from the sizes, so not saved with the weights (persistent=False).
        self.register_buffer("nb_index", torch.from_numpy(np.concatenate(index)), persistent=False)
        self.register_buffer("nb_mask", torch.from_numpy(np.concatenate(mask)), persistent=False)
        self.register_buffer("offset_t", torch.tensor(self.offsets), persistent=False)

    @property
    def n_maps(self) -> int:
        return len(self.sizes)

    def flat(self) -> Tensor:
        """All codes as one (ΣK, L) table, finest map first (differentiable)."""
        return torch.cat([m.reshape(-1, self.latent_dim) for m in self.maps])

    def codes(self, level: int) -> Tensor:
        """Codes of map ``level`` (1 = finest) as (K, L)."""
        return self.maps[level - 1].reshape(-1, self.latent_dim)

    def discretise(self, z0: Tensor, table: Tensor | None = None) -> Tensor:
        """Sequential discretisation (eq. 4): level 1 from z_0, level i ≥ 2 from the code chosen
        at level i − 1. (B, L) → (M, B) int64 map-local code indices.

        The loop runs over the M maps only (each level depends on the previous one); every step
        is vectorised over the batch. No gradient flows through argmin.
        """
        table = self.flat() if table is None else table
        with torch.no_grad():
            out = []
            x = z0
            for i, (off, k) in enumerate(zip(self.offsets, self.counts, strict=True)):
                idx = nearest(x, table[off : off + k])
                out.append(idx)
                if i + 1 < self.n_maps:
                    x = table[off + idx]
            return torch.stack(out)

    @torch.no_grad()
    def refit(self, points: Tensor, iterations: int, chunk: int = 4096) -> None:
        """Move the codes to the means of what they quantise, by Lloyd's iterations (k-means
        started from the current codes), finest map first.

        S_1 is refitted on ``points`` (the training set's z); each coarser map on the refitted
        codes of the map below, each weighted by the points it holds, so S_i ends as the
        k-means of S_{i−1} that the chain of eq. 4 uses. A code that holds nothing stays where
        it is. The grid is not consulted: topology is what training left.

        Args:
            points: (N, L) latent points.
            iterations: Lloyd iterations per map.
            chunk: rows per distance block (bounds memory at chunk·K·L floats).
        """
        weights = torch.ones(points.shape[0], dtype=points.dtype, device=points.device)
        for level in range(1, self.n_maps + 1):
            codes = self.codes(level).clone()
            for _ in range(iterations):
                winner = torch.cat([nearest(block, codes) for block in points.split(chunk)])
                held, total = weighted_sums(points, weights, winner, len(codes))
                mean = total / held.clamp_min(1e-12)[:, None]
                codes = torch.where(held[:, None] > 0, mean, codes)
            self.maps[level - 1].copy_(codes.view_as(self.maps[level - 1]))
            if level < self.n_maps:  # the next map is refitted on these codes, weighted
                winner = torch.cat([nearest(block, codes) for block in points.split(chunk)])
                points, weights = codes, weighted_sums(points, weights, winner, len(codes))[0]

    def global_index(self, local: Tensor) -> Tensor:
        """(M, ...) map-local indices → rows of :meth:`flat`."""
        shape = (-1,) + (1,) * (local.dim() - 1)
        return local + self.offset_t.view(shape)

    def parents(self) -> list[np.ndarray]:
        """Parent of each code of S_i in S_{i+1}, for i = 1..M−1 (htvae.md §1.1).

        Recomputed from the current codes on every call, never cached; ties go to the lowest
        index. Returns a list of M − 1 int64 arrays of shape (K_i,).
        """
        with torch.no_grad():
            return [
                nearest(self.codes(i), self.codes(i + 1)).cpu().numpy()
                for i in range(1, self.n_maps)
            ]

    def tree(self) -> Tree:
        """The learned hierarchy: a virtual root (id 0) whose children are the codes of S_M,
        each code of S_i a child of its nearest code on S_{i+1}.

        Node ids: code k of level i is ``1 + offsets[i-1] + k`` (finest map first, so the S_1
        codes are nodes ``1..K_1``); ``attrs`` holds ``{"level": i, "code": k}``.
        """
        parents = self.parents()
        links: dict[int, int | None] = {0: None}
        for level in range(self.n_maps, 0, -1):  # coarse to fine: parents exist before children
            off = self.offsets[level - 1]
            for k in range(self.counts[level - 1]):
                if level == self.n_maps:
                    links[1 + off + k] = 0
                else:
                    links[1 + off + k] = 1 + self.offsets[level] + int(parents[level - 1][k])
        tree = Tree.from_parents(links)
        tree.attrs(0)["name"] = "root"
        for level in range(1, self.n_maps + 1):
            off = self.offsets[level - 1]
            for k in range(self.counts[level - 1]):
                tree.attrs(1 + off + k).update({"level": level, "code": k})
        return tree

    def node_ids(self, level: int, codes: np.ndarray) -> np.ndarray:
        """Tree node ids of map-local ``codes`` on ``level`` (see :meth:`tree`)."""
        return 1 + self.offsets[level - 1] + np.asarray(codes, dtype=np.int64)

    def neighbour_sq_dist(self, mu: Tensor, rows: Tensor, table: Tensor) -> tuple[Tensor, Tensor]:
        """Squared distances from ``mu`` to the grid neighbours of the codes at global ``rows``.

        Args:
            mu: (..., L) the selected codes (or any points).
            rows: (...) global code rows (into :meth:`flat`).
            table: the (ΣK, L) table of :meth:`flat`, computed once per forward pass.

        Returns:
            (d2, neighbours): (..., 4) squared distances, +inf for missing neighbours, and the
            (..., 4, L) neighbour codes.
        """
        nb = table[self.nb_index[rows]]  # (..., 4, L)
        d2 = (mu.unsqueeze(-2) - nb).pow(2).sum(-1)
        d2 = d2.masked_fill(~self.nb_mask[rows], float("inf"))
        return d2, nb
