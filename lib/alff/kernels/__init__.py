"""Numba kernels of the 2+3-body Gaussian-process force field."""

from .blocks import BlockSet, build_blocks, kernel_matrix, self_kernel_diag
from .manybody import k2_block_pairs, k3_block_pairs

__all__ = [
    "BlockSet",
    "build_blocks",
    "kernel_matrix",
    "self_kernel_diag",
    "k2_block_pairs",
    "k3_block_pairs",
]
