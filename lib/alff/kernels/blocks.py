"""Blocks of observations and the kernel matrices between them.

A *block* is a group of observation rows that share cluster listings:

- ``force``: the three force components of one atom (its own listings);
- ``energy``/``stress``: the total energy and/or the six stress components
  of one frame (all listings of the frame);
- ``atom``: all ten per-atom observables (forces, local energy, virial) of
  one atom, used for prediction.

Kernel matrices are computed block pair by block pair in parallel (chunks
of block pairs on threads, :mod:`alff.kernels.parallel`); no Python loop
runs per environment.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ..clusters import N_ROWS
from .arguments import (EnergyPairColumns, EnergyTripletColumns, ForcePairColumns, ForceTripletColumns,
                        PairBlocks, TripletBlocks)
from .manybody import k2_block_pairs, k3_block_pairs
from .vectorised import k2_ff_soa_pairs, k2_xe_soa_pairs, k3_ff_soa_pairs, k3_xe_soa_pairs

__all__ = ["BlockSet", "build_blocks", "kernel_matrix", "self_kernel_diag", "concat_blocks"]

FORCE_ROWS = [(0, 1.0), (1, 1.0), (2, 1.0)]


@dataclass
class BlockSet:
    """Flat cluster arrays of a list of observation blocks.

    Attributes
    ----------
    p_t, p_F, p_dF : (P,) arrays; p_key : (P,) int; p_W : (P, 2, R) array
        Pair listings of all blocks, concatenated block by block.
    t_t : (T, 3); t_F : (T,); t_dF : (T, 3); t_spec : (T, 3) int;
    t_key : (T,) int; t_W : (T, 4, R)
        Triplet listings.
    p_ptr, t_ptr : (nb + 1,) int arrays
        CSR pointers of the blocks into the pair and triplet arrays.
    nrow, row_off, lo, hi : (nb,) int arrays
        Rows per block, row offset, first and last active slot.
    kinds : list of str
        Block kind per block (``force``, ``es``, ``atom``).
    """

    p_t: np.ndarray
    p_F: np.ndarray
    p_dF: np.ndarray
    p_key: np.ndarray
    p_W: np.ndarray
    p_ptr: np.ndarray
    t_t: np.ndarray
    t_F: np.ndarray
    t_dF: np.ndarray
    t_spec: np.ndarray
    t_key: np.ndarray
    t_W: np.ndarray
    t_ptr: np.ndarray
    nrow: np.ndarray
    row_off: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    kinds: list = field(default_factory=list)

    @property
    def n_blocks(self) -> int:
        return len(self.nrow)

    @property
    def n_rows(self) -> int:
        return int(self.nrow.sum())

    def block_ids(self) -> np.ndarray:
        """(n_rows,) index of the block owning each row."""
        return np.repeat(np.arange(self.n_blocks), self.nrow)


def _pair_key(spec, nsp):
    a, b = spec[:, 0], spec[:, 1]
    return np.minimum(a, b) * nsp + np.maximum(a, b)


def _triplet_key(spec, nsp):
    s = np.sort(spec, axis=1)
    return (s[:, 0] * nsp + s[:, 1]) * nsp + s[:, 2]


def build_blocks(specs, nsp, rmax=N_ROWS):
    """Assemble a :class:`BlockSet`.

    Parameters
    ----------
    specs : list of tuple
        ``(fc, kind, atom, rows)`` with ``fc`` a :class:`FrameClusters`,
        ``kind`` one of ``force``, ``es``, ``atom``, ``atom`` the centre atom
        (ignored for ``es``) and ``rows`` a list of ``(source_row, scale)``
        selecting the block's observation rows among the ten per-atom rows.
    nsp : int
        Number of species (for the species keys).
    rmax : int
        Row dimension of the weight arrays (at least the largest block).
    """
    pt, pF, pdF, pkey, pW, tt, tF, tdF, tsp, tkey, tW = ([] for _ in range(11))
    p_counts, t_counts, nrow, lo, hi, kinds = [], [], [], [], [], []
    for fc, kind, atom, rows in specs:
        if kind == "es":
            ps = slice(0, fc.p_ptr[-1])
            ts = slice(0, fc.t_ptr[-1])
        else:
            ps = slice(fc.p_ptr[atom], fc.p_ptr[atom + 1])
            ts = slice(fc.t_ptr[atom], fc.t_ptr[atom + 1])
        src = np.array([r for r, _ in rows], dtype=np.int64)
        scale = np.array([s for _, s in rows], dtype=float)
        R = len(rows)
        wp = np.zeros((ps.stop - ps.start, 2, rmax))
        wp[:, :, :R] = fc.p_W[ps][:, :, src] * scale
        wt = np.zeros((ts.stop - ts.start, 4, rmax))
        wt[:, :, :R] = fc.t_W[ts][:, :, src] * scale
        pt.append(fc.p_t[ps]); pF.append(fc.p_F[ps]); pdF.append(fc.p_dF[ps])
        pkey.append(_pair_key(fc.p_spec[ps], nsp)); pW.append(wp)
        tt.append(fc.t_t[ts]); tF.append(fc.t_F[ts]); tdF.append(fc.t_dF[ts])
        tsp.append(fc.t_spec[ts]); tkey.append(_triplet_key(fc.t_spec[ts], nsp)); tW.append(wt)
        p_counts.append(ps.stop - ps.start)
        t_counts.append(ts.stop - ts.start)
        nrow.append(R)
        has_val = any(r == 3 for r in src)
        has_der = any(r != 3 for r in src)
        if kind == "force" or all(r < 3 for r in src):
            lo.append(1); hi.append(2)
        else:
            lo.append(0 if has_val else 1)
            hi.append(3 if has_der else 0)
        kinds.append(kind)
    nrow = np.array(nrow, np.int64)
    return BlockSet(
        p_t=_cat(pt, (0,)), p_F=_cat(pF, (0,)), p_dF=_cat(pdF, (0,)),
        p_key=_cat(pkey, (0,), np.int64), p_W=_cat(pW, (0, 2, rmax)),
        p_ptr=np.concatenate([[0], np.cumsum(p_counts)]).astype(np.int64),
        t_t=_cat(tt, (0, 3)), t_F=_cat(tF, (0,)), t_dF=_cat(tdF, (0, 3)),
        t_spec=_cat(tsp, (0, 3), np.int64), t_key=_cat(tkey, (0,), np.int64),
        t_W=_cat(tW, (0, 4, rmax)),
        t_ptr=np.concatenate([[0], np.cumsum(t_counts)]).astype(np.int64),
        nrow=nrow,
        row_off=np.concatenate([[0], np.cumsum(nrow)[:-1]]).astype(np.int64),
        lo=np.array(lo, np.int64), hi=np.array(hi, np.int64), kinds=kinds,
    )


def _cat(parts, empty_shape, dtype=float):
    if not parts:
        return np.zeros(empty_shape, dtype)
    return np.ascontiguousarray(np.concatenate(parts).astype(dtype, copy=False))


def concat_blocks(a: BlockSet, b: BlockSet) -> BlockSet:
    """Concatenate two block sets (rows of ``b`` after those of ``a``)."""
    rmax = max(a.p_W.shape[2], b.p_W.shape[2])

    def pad(w):
        if w.shape[2] == rmax:
            return w
        out = np.zeros(w.shape[:2] + (rmax,))
        out[:, :, : w.shape[2]] = w
        return out

    nrow = np.concatenate([a.nrow, b.nrow])
    return BlockSet(
        p_t=np.concatenate([a.p_t, b.p_t]), p_F=np.concatenate([a.p_F, b.p_F]),
        p_dF=np.concatenate([a.p_dF, b.p_dF]), p_key=np.concatenate([a.p_key, b.p_key]),
        p_W=np.ascontiguousarray(np.concatenate([pad(a.p_W), pad(b.p_W)])),
        p_ptr=np.concatenate([a.p_ptr, b.p_ptr[1:] + a.p_ptr[-1]]),
        t_t=np.concatenate([a.t_t, b.t_t]), t_F=np.concatenate([a.t_F, b.t_F]),
        t_dF=np.concatenate([a.t_dF, b.t_dF]), t_spec=np.concatenate([a.t_spec, b.t_spec]),
        t_key=np.concatenate([a.t_key, b.t_key]),
        t_W=np.ascontiguousarray(np.concatenate([pad(a.t_W), pad(b.t_W)])),
        t_ptr=np.concatenate([a.t_ptr, b.t_ptr[1:] + a.t_ptr[-1]]),
        nrow=nrow,
        row_off=np.concatenate([[0], np.cumsum(nrow)[:-1]]).astype(np.int64),
        lo=np.concatenate([a.lo, b.lo]), hi=np.concatenate([a.hi, b.hi]),
        kinds=a.kinds + b.kinds,
    )


def _pair_blocks(S: BlockSet) -> PairBlocks:
    """The pair listings of ``S`` as the kernels take them."""
    return PairBlocks(distance=S.p_t, cutoff=S.p_F, cutoff_deriv=S.p_dF, species_key=S.p_key, weights=S.p_W,
                      block_ptr=S.p_ptr, row_offset=S.row_off, n_rows=S.nrow, first_slot=S.lo, last_slot=S.hi)


def _triplet_blocks(S: BlockSet) -> TripletBlocks:
    """The triplet listings of ``S`` as the kernels take them."""
    return TripletBlocks(sides=S.t_t, cutoff=S.t_F, cutoff_grad=S.t_dF, species=S.t_spec, species_key=S.t_key,
                         weights=S.t_W, block_ptr=S.t_ptr, row_offset=S.row_off, n_rows=S.nrow, first_slot=S.lo,
                         last_slot=S.hi)


def kernel_matrix(A: BlockSet, B: BlockSet | None, ls2: float, ls3: float,
                  use2: bool = True, use3: bool = True, grad: bool = False):
    """Unscaled 2-body and 3-body kernel matrices between two block sets.

    Parameters
    ----------
    A, B : BlockSet
        ``B=None`` computes the symmetric matrix of ``A`` with itself (only
        the upper block triangle is evaluated).
    ls2, ls3 : float
        Length scales.
    use2, use3 : bool
        Which body orders to evaluate.
    grad : bool
        Also return the length-scale derivatives.

    Returns
    -------
    K2, K3 : (A.n_rows, B.n_rows) arrays
    dK2, dK3 : same shape, only when ``grad``.
    """
    sym = B is None
    if sym:
        B = A
        ia, ib = np.triu_indices(A.n_blocks)
    else:
        ia, ib = np.meshgrid(np.arange(A.n_blocks), np.arange(B.n_blocks), indexing="ij")
        ia, ib = ia.ravel(), ib.ravel()
    ia, ib = np.ascontiguousarray(ia, np.int64), np.ascontiguousarray(ib, np.int64)
    res = _dispatch(A, B, ia, ib, (A.n_rows, B.n_rows), ls2, ls3, use2, use3, grad, transpose=sym)
    if sym:
        bid = A.block_ids()
        same = bid[:, None] == bid[None, :]
        res = [(np.where(same, K, K + K.T), np.where(same, dK, dK + dK.T) if grad else dK) for K, dK in res]
    if grad:
        return res[0][0], res[1][0], res[0][1], res[1][1]
    return res[0][0], res[1][0]


def _dispatch(A, B, ia, ib, shape, ls2, ls3, use2, use3, grad, transpose):
    """Accumulate the block pairs ``(ia, ib)`` into new ``shape`` arrays.

    Force/force pairs and (force or energy)/energy pairs take the vectorised
    kernels, the rest the generic ones. With ``transpose`` (symmetric
    matrices, mirrored afterwards) energy/force pairs are evaluated as
    force/energy and written to the transposed tile.

    Returns
    -------
    list of (K, dK) for the 2-body and 3-body terms.
    """
    fA, fB = _force_blocks(A), _force_blocks(B)
    eA, eB = _energy_blocks(A), _energy_blocks(B)
    ff = fA[ia] & fB[ib]
    xe = (fA[ia] | eA[ia]) & eB[ib] & ~ff
    ex = eA[ia] & fB[ib] & ~ff & ~xe
    if not transpose:
        ex[:] = False
    gen = ~(ff | xe | ex)
    sel = (lambda m, x: np.ascontiguousarray(x[m]))
    res = []
    for use, body3 in ((use2, False), (use3, True)):
        K = np.zeros(shape)
        dK = np.zeros(shape) if grad else np.zeros((1, 1))
        ls = float(ls3 if body3 else ls2)
        if use and ff.any():
            if body3:
                k3_ff_soa_pairs(sel(ff, ia), sel(ff, ib), _triplet_blocks(A), _soa3(B), ls, K, dK, grad)
            else:
                k2_ff_soa_pairs(sel(ff, ia), sel(ff, ib), _pair_blocks(A), _soa2(B), ls, K, dK, grad)
        for m, (P, Q), (x, y) in ((xe, (A, B), (ia, ib)), (ex, (B, A), (ib, ia))):
            if use and m.any():
                fP = _force_blocks(P)
                if body3:
                    k3_xe_soa_pairs(sel(m, x), sel(m, y), _triplet_blocks(P), fP, _soa3e(Q), ls, K, dK, grad)
                else:
                    k2_xe_soa_pairs(sel(m, x), sel(m, y), _pair_blocks(P), fP, _soa2e(Q), ls, K, dK, grad)
        if use and gen.any():
            fn, listings = (k3_block_pairs, _triplet_blocks) if body3 else (k2_block_pairs, _pair_blocks)
            fn(sel(gen, ia), sel(gen, ib), listings(A), listings(B), ls, K, dK, grad)
        res.append((K, dK))
    return res


def _soa2(S: BlockSet) -> ForcePairColumns:
    """Structure-of-arrays view of the pairs of a force-only set."""
    B = np.empty((6, len(S.p_F)))
    B[0] = S.p_t
    B[1] = S.p_F
    B[2] = S.p_dF
    B[3:6] = S.p_W[:, 1, :3].T
    return ForcePairColumns(columns=B, species_key=S.p_key, block_ptr=S.p_ptr, row_offset=S.row_off)


def _soa3(S: BlockSet) -> ForceTripletColumns:
    """Structure-of-arrays view of the triplets of a force-only set."""
    B = np.empty((12, len(S.t_F)))
    B[0:3] = S.t_t.T
    B[3] = S.t_F
    B[4:6] = S.t_dF[:, :2].T
    B[6:9] = S.t_W[:, 1, :3].T
    B[9:12] = S.t_W[:, 2, :3].T
    return ForceTripletColumns(columns=B, species=np.ascontiguousarray(S.t_spec.T), species_key=S.t_key,
                               block_ptr=S.t_ptr, row_offset=S.row_off)


def _energy_blocks(S: BlockSet) -> np.ndarray:
    """(nb,) bool: blocks holding one energy row (value slot only)."""
    return (S.nrow == 1) & (S.lo == 0) & (S.hi == 0)


def _soa2e(S: BlockSet) -> EnergyPairColumns:
    """Pairs as (distance, cutoff x energy weight) for the energy kernels."""
    B = np.empty((2, len(S.p_F)))
    B[0] = S.p_t
    B[1] = S.p_F * S.p_W[:, 0, 0]
    return EnergyPairColumns(columns=B, species_key=S.p_key, block_ptr=S.p_ptr, row_offset=S.row_off)


def _soa3e(S: BlockSet) -> EnergyTripletColumns:
    """Triplets as (t0, t1, t2, cutoff x energy weight) for the energy kernels."""
    B = np.empty((4, len(S.t_F)))
    B[0:3] = S.t_t.T
    B[3] = S.t_F * S.t_W[:, 0, 0]
    return EnergyTripletColumns(columns=B, species=np.ascontiguousarray(S.t_spec.T), species_key=S.t_key,
                                block_ptr=S.t_ptr, row_offset=S.row_off)


def _force_blocks(S: BlockSet) -> np.ndarray:
    """(nb,) bool: blocks holding exactly the three force rows (slots 1, 2)."""
    return (S.nrow == 3) & (S.lo == 1) & (S.hi == 2)


def self_kernel_diag(A: BlockSet, ls2: float, ls3: float, use2=True, use3=True):
    """Diagonal of the unscaled kernel of every block with itself.

    Returns
    -------
    d2, d3 : (A.n_rows,) arrays
    """
    if not A.n_blocks:
        return np.zeros(0), np.zeros(0)
    ia = np.arange(A.n_blocks, dtype=np.int64)
    # each block against itself, written into its own tile: columns 0..R-1
    tiles_of = replace(A, row_off=np.zeros(A.n_blocks, np.int64))
    res = _dispatch(A, tiles_of, ia, ia, (A.n_rows, int(A.nrow.max())), ls2, ls3, use2, use3,
                    False, transpose=False)
    rows = np.arange(A.n_rows)
    cols = rows - np.repeat(A.row_off, A.nrow)
    return res[0][0][rows, cols], res[1][0][rows, cols]
