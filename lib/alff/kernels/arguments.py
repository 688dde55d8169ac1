"""Argument groups of the compiled kernels (numba takes named tuples as
arguments): the cluster listings of a block set, and the structure-of-arrays
columns of the vectorised kernels."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["PairBlocks", "TripletBlocks", "ForcePairColumns", "ForceTripletColumns", "EnergyPairColumns",
           "EnergyTripletColumns"]


# Argument groups of the kernels (numba takes named tuples as arguments).
# Shapes: P pair and T triplet listings, nb blocks, R weight rows.

class PairBlocks(NamedTuple):
    """The pair listings of a set of blocks (see :class:`~alff.kernels.blocks.BlockSet`)."""

    distance: np.ndarray      # (P,) pair distance r_ij
    cutoff: np.ndarray        # (P,) cutoff value
    cutoff_deriv: np.ndarray  # (P,) its derivative d/dr
    species_key: np.ndarray   # (P,) int code of the unordered species pair
    weights: np.ndarray       # (P, 2, R) slot (value, d/dr) -> row weights
    block_ptr: np.ndarray     # (nb + 1,) int CSR pointer of each block's listings
    row_offset: np.ndarray    # (nb,) int first row of each block in the output
    n_rows: np.ndarray        # (nb,) int rows of each block
    first_slot: np.ndarray    # (nb,) int first active slot of each block
    last_slot: np.ndarray     # (nb,) int last active slot of each block


class TripletBlocks(NamedTuple):
    """The triplet listings of a set of blocks."""

    sides: np.ndarray         # (T, 3) sides (r_ij, r_ik, r_jk)
    cutoff: np.ndarray        # (T,) product of the three cutoffs
    cutoff_grad: np.ndarray   # (T, 3) its derivatives along each side
    species: np.ndarray       # (T, 3) int vertex species (centre, j, k)
    species_key: np.ndarray   # (T,) int code of the species multiset
    weights: np.ndarray       # (T, 4, R) slot (value, d/dt0, d/dt1, d/dt2) -> row weights
    block_ptr: np.ndarray     # (nb + 1,) int CSR pointer of each block's listings
    row_offset: np.ndarray    # (nb,) int first row of each block in the output
    n_rows: np.ndarray        # (nb,) int rows of each block
    first_slot: np.ndarray    # (nb,) int first active slot of each block
    last_slot: np.ndarray     # (nb,) int last active slot of each block


# The second set of the vectorised kernels is a structure of arrays: one
# (rows, listings) float array ``columns`` whose rows are read as 1-d arrays
# in the inner loop. (One array, not one field per row: numba's code for
# separate arrays measured 8-17 % slower there.)

class ForcePairColumns(NamedTuple):
    """Pairs of a force-only block set, second set of the force/force kernel."""

    columns: np.ndarray      # (6, P) rows: distance, cutoff, d cutoff/dr, unit vector x, y, z
    #                          (the d/dr -> Fx, Fy, Fz weights)
    species_key: np.ndarray  # (P,) int
    block_ptr: np.ndarray    # (nb + 1,) int CSR pointer of each block's listings
    row_offset: np.ndarray   # (nb,) int first row (column of the output) of each block


class ForceTripletColumns(NamedTuple):
    """Triplets of a force-only block set, second set of the force/force kernel."""

    columns: np.ndarray      # (12, T) rows: sides t0, t1, t2; cutoff product; its derivatives along
    #                          t0, t1; unit vectors (x, y, z) of side t0, then of side t1 (the
    #                          d/dt0, d/dt1 -> Fx, Fy, Fz weights)
    species: np.ndarray      # (3, T) int vertex species (centre, j, k)
    species_key: np.ndarray  # (T,) int
    block_ptr: np.ndarray    # (nb + 1,) int
    row_offset: np.ndarray   # (nb,) int


class EnergyPairColumns(NamedTuple):
    """Pairs of an energy-only block set, second set of the (force or energy)/energy kernel."""

    columns: np.ndarray      # (2, P) rows: distance, cutoff times the energy weight
    species_key: np.ndarray  # (P,) int
    block_ptr: np.ndarray    # (nb + 1,) int
    row_offset: np.ndarray   # (nb,) int


class EnergyTripletColumns(NamedTuple):
    """Triplets of an energy-only block set, second set of the (force or energy)/energy kernel."""

    columns: np.ndarray      # (4, T) rows: sides t0, t1, t2, cutoff product times the energy weight
    species: np.ndarray      # (3, T) int vertex species
    species_key: np.ndarray  # (T,) int
    block_ptr: np.ndarray    # (nb + 1,) int
    row_offset: np.ndarray   # (nb,) int
