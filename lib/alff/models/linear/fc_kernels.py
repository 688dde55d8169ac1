"""Numba kernels of the force-constant expansion (``model.kind: force_constants``).

The potential energy of a supercell with displacements ``u`` (N, 3) from its
reference positions is a sum over clusters c (sorted atom tuples, repeated
atoms allowed) of every order n = 2, 3, 4::

    E(u) = E_0 + sum_c w_c  Phi_c[a1 ... an] u[c1, a1] ... u[cn, an]

with w_c = 1 / prod(multiplicity!) and Phi_c symmetric. The force on the
atom at position p of a cluster is ``pf_p * Phi_c`` contracted with the
displacements of every other position (``pf_p = -multiplicity_p * w_c``,
hiphive's ``prefactors``). Every cluster belongs to an orientation family
of an orbit; its tensor is a linear combination of that family's rotated
eigentensors, whose coefficients are the constraint map (acoustic sum rule)
of the independent parameters. So the forces are linear in the parameters
and the energy of order n is ``-(1/n) sum_i F_n(i) . u(i)`` (Euler's theorem
for a homogeneous polynomial of degree n).

Tables (:class:`~.fc_tables.FCTables`, arrays only):

- ``families`` (n_fam, 7) int64: order, number of distinct positions,
  first raw column, number of eigentensors, offset into ``eigentensors``,
  offset into ``clusters``, number of clusters;
- ``positions`` (n_fam, 4) int64 and ``prefactors`` (n_fam, 4) float64 of
  the distinct positions of the family's clusters;
- ``clusters`` (n_clusters, 4) int64 atom indices (unused slots -1);
- ``eigentensors`` flat float64: per family, n_et tensors of 3**order
  values (C order).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["raw_rows", "family_forces"]

ORDER, NPOS, COL0, NET, ET_OFF, CL_OFF, NCL = range(7)


@njit(cache=True)
def _open_products(u, cluster, order, p, q):
    """q[j] = prod over the positions m != p of u[cluster[m], digit_m(j)],
    j running over the 3**(order - 1) index tuples of those positions (C
    order): the displacement product the tensor is contracted with."""
    q[0] = 1.0
    size = 1
    for m in range(order):
        if m == p:
            continue
        um = u[cluster[m]]
        for j in range(size - 1, -1, -1):  # q <- q (outer) u[cluster[m]], in place
            v = q[j]
            q[3 * j] = v * um[0]
            q[3 * j + 1] = v * um[1]
            q[3 * j + 2] = v * um[2]
        size *= 3


@njit(cache=True)
def _contract(tensor, base, q, order, p):
    """The 3 components d (the index at position p) of sum_j tensor[base +
    flat(d, j)] q[j], flat(d, j) the C-order index with digit d at p and
    the digits of j at the other positions."""
    stride = 1
    for _ in range(order - 1 - p):
        stride *= 3
    n = stride
    for _ in range(p):
        n *= 3
    f0 = 0.0
    f1 = 0.0
    f2 = 0.0
    for j in range(n):
        hi = j // stride
        k = base + hi * 3 * stride + (j - hi * stride)
        qj = q[j]
        f0 += tensor[k] * qj
        f1 += tensor[k + stride] * qj
        f2 += tensor[k + 2 * stride] * qj
    return f0, f1, f2


@njit(cache=True)
def raw_rows(u, families, positions, prefactors, clusters, eigentensors, n_raw):
    """Force rows per eigentensor coefficient (before the constraint map).

    Parameters
    ----------
    u : (N, 3) displacements (A)
    families, positions, prefactors, clusters, eigentensors : tables
        (module docstring)
    n_raw : int
        Number of eigentensor coefficients (raw columns).

    Returns
    -------
    (3N, n_raw) float64
        Row 3 i + a: d F[i, a] / d coefficient.
    """
    n = u.shape[0]
    out = np.zeros((3 * n, n_raw))
    q = np.empty(81)
    for f in range(families.shape[0]):
        order = families[f, ORDER]
        size = 3 ** order
        col0, n_et, et_off = families[f, COL0], families[f, NET], families[f, ET_OFF]
        for c in range(families[f, CL_OFF], families[f, CL_OFF] + families[f, NCL]):
            cl = clusters[c]
            for k in range(families[f, NPOS]):
                p = positions[f, k]
                pf = prefactors[f, k]
                atom = cl[p]
                _open_products(u, cl, order, p, q)
                for e in range(n_et):
                    base = et_off + e * size
                    f0, f1, f2 = _contract(eigentensors, base, q, order, p)
                    out[3 * atom, col0 + e] += pf * f0
                    out[3 * atom + 1, col0 + e] += pf * f1
                    out[3 * atom + 2, col0 + e] += pf * f2
    return out


@njit(cache=True)
def family_forces(u, families, positions, prefactors, clusters, tensors, tensor_offsets, orders):
    """Forces and energy per order from the fitted tensor of each family.

    Parameters
    ----------
    u : (N, 3) displacements (A)
    families, positions, prefactors, clusters : tables (module docstring)
    tensors : flat float64
        Family f's tensor Phi (3**order values, C order) from
        ``tensor_offsets[f]`` (:meth:`~.fc_tables.FCTables.family_tensors`).
    tensor_offsets : (n_fam,) int64
    orders : (n_orders,) int64
        The orders present (energy per order in this order).

    Returns
    -------
    forces : (N, 3) (eV/A)
    energies : (n_orders,) energy of each order (eV), ``-(1/n) F_n . u``
    """
    n = u.shape[0]
    forces = np.zeros((n, 3))
    energies = np.zeros(orders.shape[0])
    q = np.empty(81)
    for f in range(families.shape[0]):
        order = families[f, ORDER]
        off = tensor_offsets[f]
        slot = 0
        for s in range(orders.shape[0]):
            if orders[s] == order:
                slot = s
        work = 0.0
        for c in range(families[f, CL_OFF], families[f, CL_OFF] + families[f, NCL]):
            cl = clusters[c]
            for k in range(families[f, NPOS]):
                p = positions[f, k]
                pf = prefactors[f, k]
                atom = cl[p]
                _open_products(u, cl, order, p, q)
                f0, f1, f2 = _contract(tensors, off, q, order, p)
                forces[atom, 0] += pf * f0
                forces[atom, 1] += pf * f1
                forces[atom, 2] += pf * f2
                work += pf * (f0 * u[atom, 0] + f1 * u[atom, 1] + f2 * u[atom, 2])
        energies[slot] -= work / order
    return forces, energies
