"""The direction monomials u_x^a u_y^b u_z^c of an MTP's basic moments, as
tables for the kernels of :mod:`.mtp_kernels`: each monomial built by one
product from its parent, and its derivatives looked up in the same table.
"""

from __future__ import annotations

import numpy as np

__all__ = ["monomials"]


def _lowered(p):
    """(axis, p - e_axis) of a monomial's first nonzero power (its parent)."""
    x = next(i for i in range(3) if p[i] > 0)
    q = list(p)
    q[x] -= 1
    return x, tuple(q)


def monomials(basic):
    """The direction monomials of the basic moments, as the kernels take them.

    Every distinct u_x^a u_y^b u_z^c of the basic moments, with every
    monomial obtained by lowering powers (so each one is built by one
    product from its parent, its first nonzero power lowered by one, and
    its derivatives are in the table), ordered by degree: row 0 is the
    constant, and a parent always comes before its children.

    Returns
    -------
    powers : (M, 3) int array
        (a, b, c) of each monomial.
    index : (B,) int array
        Monomial of each basic moment.
    parent, axis : (M,) int arrays
        monomial k = monomial parent[k] * u[axis[k]] (parent -1 for k = 0).
    length : (n_radial,) int array
        1 + the last monomial of radial function mu (its moments use a
        prefix of the degree order: all of them for the MLIP package's
        bases).
    dindex : (3, M) int array; dpow : (3, M) float array
        d monomial_k / d u_x = dpow[x, k] * monomial[dindex[x, k]], with
        dindex M (a zero slot) where the power of u_x is 0.
    """
    basic = np.asarray(basic, np.int64)
    used = {tuple(int(v) for v in p) for p in basic[:, 1:4]} | {(0, 0, 0)}
    todo = list(used)
    while todo:  # close under lowering any power (parents and derivatives)
        p = todo.pop()
        for x in range(3):
            if p[x] > 0:
                q = tuple(v - (y == x) for y, v in enumerate(p))
                if q not in used:
                    used.add(q)
                    todo.append(q)
    order = sorted(used, key=lambda p: (sum(p), -p[0], -p[1], -p[2]))
    pos = {p: k for k, p in enumerate(order)}
    n = len(order)
    parent, axis = np.full(n, -1, np.int64), np.zeros(n, np.int64)
    dindex, dpow = np.full((3, n), n, np.int64), np.zeros((3, n))
    for k, p in enumerate(order):
        if sum(p):
            axis[k], q = _lowered(p)
            parent[k] = pos[q]
        for x in range(3):
            if p[x] > 0:
                q = list(p)
                q[x] -= 1
                dindex[x, k], dpow[x, k] = pos[tuple(q)], p[x]
    index = np.array([pos[tuple(int(v) for v in p)] for p in basic[:, 1:4]], np.int64)
    length = np.zeros(int(basic[:, 0].max()) + 1 if len(basic) else 0, np.int64)
    for b in range(len(basic)):
        length[basic[b, 0]] = max(length[basic[b, 0]], index[b] + 1)
    return np.array(order, np.int64).reshape(n, 3), index, parent, axis, length, dindex, dpow
