"""Moment tensor contractions as multigraphs: a basis function of level
<= lev_max is a loop-free multigraph on at most four moment tensors
(vertex (mu, nu) of degree nu), up to isomorphism (see :mod:`.mtp_basis`)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

__all__ = ["Contraction", "enumerate_contractions", "moment_level", "MAX_TENSORS"]


#: at most this many moment tensors in one basis function
MAX_TENSORS = 4


def moment_level(mu, nu):
    """lev(M_{mu,nu}) = 2 + 4 mu + nu."""
    return 2 + 4 * mu + nu


@dataclass(frozen=True)
class Contraction:
    """One basis function: tensors ``labels`` ((mu, nu) each, sorted) and
    ``edges`` {(a, b): multiplicity} between tensor positions a < b."""
    labels: tuple
    edges: tuple  # ((a, b, m), ...)

    @property
    def level(self):
        return sum(moment_level(mu, nu) for mu, nu in self.labels)

    def describe(self):
        """e.g. ``M(0,1).M(0,2).M(0,1)`` style text: tensors and contracted pairs."""
        t = " ".join(f"M{mu}{nu}" for mu, nu in self.labels)
        e = ", ".join(f"{a}-{b}" + (f"x{m}" if m > 1 else "") for a, b, m in self.edges)
        return t + (f" [{e}]" if e else "")


def _multigraphs(degrees):
    """Every loop-free multigraph with the given vertex degrees, as the
    multiplicity of each pair (a, b), a < b, in ``itertools.combinations``
    order."""
    n = len(degrees)
    pairs = list(itertools.combinations(range(n), 2))
    rem = list(degrees)
    out = []

    def rec(k, mult):
        if k == len(pairs):
            if not any(rem):
                out.append(tuple(mult))
            return
        a, b = pairs[k]
        # the pairs of vertex a end at (a, n-1): its degree must be used up there
        last_a = b == n - 1
        lo = rem[a] if last_a else 0
        for m in range(lo, min(rem[a], rem[b]) + 1):
            rem[a] -= m
            rem[b] -= m
            rec(k + 1, mult + [m])
            rem[a] += m
            rem[b] += m

    rec(0, [])
    return pairs, out


def _connected(n, pairs, mult):
    seen, stack = {0}, [0]
    adj = {v: [] for v in range(n)}
    for (a, b), m in zip(pairs, mult):
        if m:
            adj[a].append(b)
            adj[b].append(a)
    while stack:
        for w in adj[stack.pop()]:
            if w not in seen:
                seen.add(w)
                stack.append(w)
    return len(seen) == n


def _canonical(labels, pairs, mult):
    """The smallest multiplicity vector over the relabellings that keep
    ``labels`` (sorted) in place: equal for isomorphic graphs."""
    n = len(labels)
    index = {p: k for k, p in enumerate(pairs)}
    groups = [list(g) for _, g in itertools.groupby(range(n), key=lambda v: labels[v])]
    best = None
    for perm_parts in itertools.product(*(itertools.permutations(g) for g in groups)):
        perm = [v for part in perm_parts for v in part]  # new position -> old vertex
        key = []
        for a, b in pairs:
            x, y = perm[a], perm[b]
            key.append(mult[index[(min(x, y), max(x, y))]])
        key = tuple(key)
        if best is None or key < best:
            best = key
    return best


def enumerate_contractions(level, n_radial):
    """Every basis function of the moment tensor basis up to ``level``.

    Parameters
    ----------
    level : int
        lev_max (even, >= 2).
    n_radial : int
        Number of radial functions (mu = 0 .. n_radial - 1).

    Returns
    -------
    list of Contraction
        Sorted by level, then number of tensors, then labels and edges.
    """
    tensors = [(mu, nu) for mu in range(n_radial) for nu in range(level) if moment_level(mu, nu) <= level]
    found = {}
    for k in range(1, MAX_TENSORS + 1):
        for labels in itertools.combinations_with_replacement(tensors, k):
            if sum(moment_level(*t) for t in labels) > level or sum(nu for _, nu in labels) % 2:
                continue
            pairs, graphs = _multigraphs([nu for _, nu in labels])
            for mult in graphs:
                key = (labels, _canonical(labels, pairs, mult))
                if key not in found:
                    found[key] = Contraction(labels, tuple((a, b, m) for (a, b), m in zip(pairs, key[1]) if m))
    out = list(found.values())
    out.sort(key=lambda c: (c.level, len(c.labels), c.labels, c.edges))
    return out
