"""The moment tensor basis (Shapeev 2016; Novikov et al. 2021): which scalar
contractions of moment tensors are basis functions, and how they are
evaluated, in the MLIP package's own representation.

A moment tensor of atom i is

    M_{mu,nu}(i) = sum_j f_mu(|r_ij|) u_ij^{(x) nu},   u_ij = r_ij / |r_ij|,

a symmetric tensor of rank nu (the unit vector, as the MLIP package
evaluates it; Shapeev's paper writes r_ij and folds |r_ij|^nu into f_mu), of
level lev(M_{mu,nu}) = 2 + 4 mu + nu. A basis function is a product of at
most four moment tensors whose indices are all contracted with each other
(never an index with another of the same tensor: that trace is a lower
moment, as |u| = 1). It is a multigraph on the tensors, vertex (mu, nu)
having degree nu, and two functions are the same when their graphs are
isomorphic. The basis of level L is every such graph with
sum lev(M) <= L. With these rules the counts for one species are those of
the MLIP package's untrained potentials (06.mtp ... 28.mtp):
5, 9, 16, 29, 52, 92, 163, 288, 500, 864 for levels 6, 8, ..., 24
(:data:`BASIS_SIZES`; tests/test_mtp_basis.py checks them).

The MLIP representation (``.mtp`` files) stores a basis as

- ``alpha_index_basic`` (B, 4): basic moments, rows ``(mu, a, b, c)``, the
  component ``sum_j f_mu u_x^a u_y^b u_z^c``;
- ``alpha_index_times`` (T, 4): rows ``(i, j, mult, k)``,
  ``moment[k] += mult * moment[i] * moment[j]``, in order;
- ``alpha_moment_mapping`` (S,): the moments that are basis functions.

:func:`build_basis` writes a graph basis in that form: each function is
expanded into monomials of basic components (an integer coefficient each)
and the monomials are built from shared prefix products.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np

from .mtp_graphs import _canonical, enumerate_contractions, moment_level

__all__ = ["MomentBasis", "build_basis", "enumerate_contractions", "BASIS_SIZES", "DEFAULT_RADIAL_FUNCS",
           "moment_level"]

#: number of basis functions of one species per level, as in the MLIP
#: package's untrained potentials
BASIS_SIZES = {2: 1, 4: 2, 6: 5, 8: 9, 10: 16, 12: 29, 14: 52, 16: 92, 18: 163, 20: 288, 22: 500, 24: 864,
               26: 1464, 28: 2445}

#: radial functions (mu = 0 .. n-1) of the MLIP package's untrained
#: potentials per level
DEFAULT_RADIAL_FUNCS = {2: 1, 4: 1, 6: 2, 8: 2, 10: 3, 12: 3, 14: 4, 16: 4, 18: 5, 20: 5, 22: 6, 24: 6, 26: 7,
                        28: 7}


def _compositions(m):
    """Every (p, q, r) with p + q + r = m: the components of a rank-m
    symmetric tensor, x powers first."""
    return [(a, b, m - a - b) for a in range(m, -1, -1) for b in range(m - a, -1, -1)]


def _mult(p):
    """Number of index tuples with composition p: |p|! / (p_x! p_y! p_z!)."""
    return math.factorial(sum(p)) // (math.factorial(p[0]) * math.factorial(p[1]) * math.factorial(p[2]))


def _add(p, q):
    return (p[0] + q[0], p[1] + q[1], p[2] + q[2])


class _Builder:
    """Writes contractions as MLIP moments, sharing what functions share.

    A connected contraction is evaluated tensor by tensor along an
    elimination order. After contracting the tensors S, the intermediate X
    has one index group per remaining tensor d (the indices that contract
    with d); it is stored summed over the orderings within each group, so a
    group is a composition (a, b, c) and X a moment per tuple of
    compositions. Contracting X with the next tensor V (a symmetric tensor)
    gives Y with groups x_d + v_d:

        Y[{x_d + v_d}] += prod_d mult(v_d) * X[{x_d}, q] * V[q + sum_d v_d]

    summed over X's V-group compositions q. The first step contracts two
    tensors (X a tensor itself, weight prod mult(x_d) mult(q)), the last
    leaves a scalar. Intermediates are shared between functions by a
    structural key, products of connected scalars by prefix.
    """

    def __init__(self, basic_index, count):
        self.basic_index = basic_index
        self.count = count
        self.times = []
        self.memo = {}  # structural key -> {group compositions: moment}
        self.prefixes = {}  # sorted tuple of scalar moments -> moment
        self.scalars = {}  # canonical connected contraction -> moment

    def new(self):
        self.count += 1
        return self.count - 1

    def basic(self, mu, p):
        return self.basic_index[(mu, *p)]

    def product(self, factors):
        """The moment of the product of scalar moments ``factors`` (sorted)."""
        if len(factors) == 1:
            return factors[0]
        if factors not in self.prefixes:
            left = self.product(factors[:-1])
            k = self.new()
            self.times.append((left, factors[-1], 1, k))
            self.prefixes[factors] = k
        return self.prefixes[factors]

    def _step_terms(self, labels, m, order, t, prev):
        """Terms (Y key, X moment or basic pair, coefficient) of step t.

        ``prev`` is X's {key: moment} (None at t == 1, when X is the
        tensor order[0] itself). Returns the list of
        ``(ykey, (i, j), coef)``."""
        v = order[t]
        rest = order[t + 1:]
        mu_v, _ = labels[v]
        terms = []
        if prev is None:
            a = order[0]
            mu_a, _ = labels[a]
            groups_a = [m[a][d] for d in rest]
            q_rank = m[a][v]
            for xs in itertools.product(*(_compositions(r) for r in groups_a)):
                for q in _compositions(q_rank):
                    w = _mult(q)
                    tot_a = q
                    for x in xs:
                        w *= _mult(x)
                        tot_a = _add(tot_a, x)
                    for vs in itertools.product(*(_compositions(m[v][d]) for d in rest)):
                        c = w
                        tot_v = q
                        for y in vs:
                            c *= _mult(y)
                            tot_v = _add(tot_v, y)
                        ykey = tuple(_add(x, y) for x, y in zip(xs, vs))
                        terms.append((ykey, (self.basic(mu_a, tot_a), self.basic(mu_v, tot_v)), c))
            return terms
        for xkey, moment in prev.items():
            # X's groups follow order[t:], the first is V's
            q, xs = xkey[0], xkey[1:]
            for vs in itertools.product(*(_compositions(m[v][d]) for d in rest)):
                c = 1
                tot_v = q
                for y in vs:
                    c *= _mult(y)
                    tot_v = _add(tot_v, y)
                ykey = tuple(_add(x, y) for x, y in zip(xs, vs))
                terms.append((ykey, (moment, self.basic(mu_v, tot_v)), c))
        return terms

    def _cost(self, labels, m, order):
        """Number of product terms of the elimination ``order``."""
        n_prev = None
        cost = 0
        for t in range(1, len(order)):
            v, rest = order[t], order[t + 1:]
            nv = 1
            for d in rest:
                nv *= len(_compositions(m[v][d]))
            if n_prev is None:
                a = order[0]
                na = len(_compositions(m[a][v]))
                for d in rest:
                    na *= len(_compositions(m[a][d]))
                cost += na * nv
            else:
                cost += n_prev * nv
            size = 1
            for d in rest:
                r = sum(m[s][d] for s in order[:t + 1])
                size *= len(_compositions(r))
            n_prev = size
        return cost

    def connected(self, labels, m):
        """The scalar moment of a connected contraction (tensor ``labels``,
        multiplicities ``m[a][b]``)."""
        n = len(labels)
        if n == 1:
            return self.basic(labels[0][0], (0, 0, 0))
        orders = []
        for order in itertools.permutations(range(n)):
            if all(any(m[order[s]][order[t]] for s in range(t)) for t in range(1, n)):
                orders.append((self._cost(labels, m, order), order))
        order = min(orders)[1]
        prev, key = None, None
        for t in range(1, n):
            v, rest = order[t], order[t + 1:]
            if t == 1:
                a = order[0]
                key = ("pair", labels[a], labels[v], m[a][v], tuple((m[a][d], m[v][d]) for d in rest))
            else:
                key = (key, labels[v], tuple(m[v][d] for d in rest))
            if key not in self.memo:
                rows = self._step_terms(labels, m, order, t, prev)
                out = {}
                for ykey, _, _ in rows:  # the new moments, in first-seen order
                    if ykey not in out:
                        out[ykey] = self.new()
                self.times.extend((i, j, c, out[ykey]) for ykey, (i, j), c in rows)
                self.memo[key] = out
            prev = self.memo[key]
        (moment,) = prev.values()
        return moment

    def function(self, c):
        """The moment of basis function ``c`` (a product of connected parts)."""
        n = len(c.labels)
        m = [[0] * n for _ in range(n)]
        for a, b, k in c.edges:
            m[a][b] = m[b][a] = k
        # connected components
        comp, seen = [], set()
        for s in range(n):
            if s in seen:
                continue
            part, stack = [], [s]
            seen.add(s)
            while stack:
                x = stack.pop()
                part.append(x)
                for y in range(n):
                    if m[x][y] and y not in seen:
                        seen.add(y)
                        stack.append(y)
            comp.append(sorted(part))
        factors = []
        for part in comp:
            labels = tuple(c.labels[v] for v in part)
            sub = [[m[x][y] for y in part] for x in part]
            pairs = list(itertools.combinations(range(len(part)), 2))
            key = (labels, _canonical(labels, pairs, [sub[a][b] for a, b in pairs]) if len(part) > 1 else ())
            if key not in self.scalars:
                self.scalars[key] = self.connected(labels, sub)
            factors.append(self.scalars[key])
        return self.product(tuple(sorted(factors)))


@dataclass
class MomentBasis:
    """A moment tensor basis in the MLIP representation.

    Attributes
    ----------
    alpha_index_basic : (B, 4) int array
        ``(mu, a, b, c)`` per basic moment.
    alpha_index_times : (T, 4) int array
        ``(i, j, mult, k)``: ``moment[k] += mult * moment[i] * moment[j]``.
    alpha_moment_mapping : (S,) int array
        Moments that are basis functions.
    alpha_moments_count : int
    n_radial : int
        radial_funcs_count (mu < n_radial in every basic moment).
    level : int or None
        lev_max of a generated basis (None when read from a file).
    levels : (S,) int array or None
        Level of each basis function (generated bases).
    """
    alpha_index_basic: np.ndarray
    alpha_index_times: np.ndarray
    alpha_moment_mapping: np.ndarray
    alpha_moments_count: int
    n_radial: int
    level: int | None = None
    levels: np.ndarray | None = None
    descriptions: list = field(default_factory=list)

    def __post_init__(self):
        self.alpha_index_basic = np.asarray(self.alpha_index_basic, np.int64).reshape(-1, 4)
        self.alpha_index_times = np.asarray(self.alpha_index_times, np.int64).reshape(-1, 4)
        self.alpha_moment_mapping = np.asarray(self.alpha_moment_mapping, np.int64).reshape(-1)
        self.alpha_moments_count = int(self.alpha_moments_count)
        self.check()

    @property
    def size(self):
        """Number of basis functions S (per central species: ``moment_coeffs``)."""
        return len(self.alpha_moment_mapping)

    def check(self):
        """Raise ValueError when the arrays do not describe a valid basis."""
        nb, amc = len(self.alpha_index_basic), self.alpha_moments_count
        if nb == 0:
            raise ValueError("the basis has no basic moments")
        if nb > amc:
            raise ValueError(f"alpha_index_basic_count {nb} > alpha_moments_count {amc}")
        b = self.alpha_index_basic
        if (b < 0).any():
            raise ValueError("alpha_index_basic has negative entries")
        if b[:, 0].max() >= self.n_radial:
            raise ValueError(f"alpha_index_basic uses mu = {b[:, 0].max()} but radial_funcs_count = {self.n_radial}")
        t = self.alpha_index_times
        done = np.zeros(amc, bool)
        done[:nb] = True
        if len(t):
            if t[:, [0, 1, 3]].min() < 0 or t[:, [0, 1, 3]].max() >= amc:
                raise ValueError(f"alpha_index_times refers to moments outside 0..{amc - 1}")
            if (t[:, 3] < nb).any():
                raise ValueError("alpha_index_times writes into a basic moment")
            # a product may only read moments whose terms are all written
            last = {}
            for row, (_, _, _, k) in enumerate(t):
                last[k] = row
            for row, (i, j, _, k) in enumerate(t):
                for s in (i, j):
                    if s >= nb and last.get(s, -1) >= row:
                        raise ValueError(f"alpha_index_times row {row} reads moment {s} before it is complete")
        m = self.alpha_moment_mapping
        if len(m) == 0:
            raise ValueError("alpha_moment_mapping is empty: the basis has no functions")
        if m.min() < 0 or m.max() >= amc:
            raise ValueError(f"alpha_moment_mapping refers to moments outside 0..{amc - 1}")


def build_basis(level, n_radial=None):
    """The moment tensor basis of ``level`` in the MLIP representation.

    Parameters
    ----------
    level : int
        lev_max: an even number >= 2.
    n_radial : int, optional
        radial_funcs_count; by default that of the MLIP package's untrained
        potential of this level (:data:`DEFAULT_RADIAL_FUNCS`).

    Returns
    -------
    MomentBasis
    """
    if not isinstance(level, (int, np.integer)) or isinstance(level, bool) or level < 2 or level % 2:
        raise ValueError(f"MTP level must be an even integer >= 2 (2 + 4 mu + nu, summed), got {level!r}")
    level = int(level)
    if n_radial is None:
        n_radial = DEFAULT_RADIAL_FUNCS.get(level, level // 4)
    n_radial = int(n_radial)
    if n_radial < 1:
        raise ValueError(f"MTP radial_funcs_count must be >= 1, got {n_radial}")
    funcs = enumerate_contractions(level, n_radial)
    if not funcs:
        raise ValueError(f"MTP level {level} with {n_radial} radial functions has no basis function")
    # basic moments: every component of every tensor that occurs, by (mu, nu, components)
    used = sorted({t for c in funcs for t in c.labels})
    basic = [(mu, *p) for mu, nu in used for p in _compositions(nu)]
    builder = _Builder({row: k for k, row in enumerate(basic)}, len(basic))
    mapping = [builder.function(c) for c in funcs]
    times = np.array(builder.times, np.int64).reshape(-1, 4)
    return MomentBasis(np.array(basic), times, np.array(mapping), builder.count, n_radial, level,
                       np.array([c.level for c in funcs]), [c.describe() for c in funcs])
