"""Labelled training frames as flat arrays, so that a linear model's file
holds the data it was fitted on: a model loaded from a checkpoint rebuilds
its design rows, grades and refits exactly as the model that was saved."""

from __future__ import annotations

import numpy as np

__all__ = ["frames_to_arrays", "arrays_to_frames"]

PREFIX = "train_"


def frames_to_arrays(frames, atom_indices):
    """Frames and their force-labelled atoms as arrays.

    Parameters
    ----------
    frames : list of F ase.Atoms
        Labelled (energy; forces and stress where present).
    atom_indices : list of F (n_k,) int arrays

    Returns
    -------
    dict of arrays, keys ``train_*``
        ``counts`` (F,), ``numbers`` (sum N,), ``positions`` (sum N, 3),
        ``cells`` (F, 3, 3), ``pbc`` (F, 3), ``energy`` (F,), ``forces``
        (sum N, 3) and ``stress`` (F, 6) (NaN where a frame has none),
        ``index_counts`` (F,), ``indices`` (sum n_k,).
    """
    from .design import _labels
    labels = [_labels(f) for f in frames]
    n = [len(f) for f in frames]
    out = {"counts": np.array(n, int),
           "numbers": np.concatenate([f.numbers for f in frames]) if frames else np.zeros(0, int),
           "positions": np.vstack([f.positions for f in frames] or [np.zeros((0, 3))]),
           "cells": np.array([f.cell[:] for f in frames]).reshape(-1, 3, 3),
           "pbc": np.array([f.pbc for f in frames], bool).reshape(-1, 3),
           "energy": np.array([np.nan if e is None else float(e) for e, _, _ in labels]),
           "forces": np.vstack([np.full((len(f), 3), np.nan) if lab[1] is None else np.asarray(lab[1], float)
                                for f, lab in zip(frames, labels)] or [np.zeros((0, 3))]),
           "stress": np.array([np.full(6, np.nan) if s is None else s for _, _, s in labels]).reshape(-1, 6),
           "index_counts": np.array([len(i) for i in atom_indices], int),
           "indices": np.concatenate([np.asarray(i, int) for i in atom_indices] or [np.zeros(0, int)])}
    return {PREFIX + k: v for k, v in out.items()}


def arrays_to_frames(arrays):
    """Inverse of :func:`frames_to_arrays`: (frames, atom_indices), the
    labels on single-point calculators; None when ``arrays`` hold none."""
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator
    if PREFIX + "counts" not in arrays:
        return None
    a = {k[len(PREFIX):]: np.asarray(v) for k, v in arrays.items() if k.startswith(PREFIX)}
    start = np.concatenate([[0], np.cumsum(a["counts"])])
    istart = np.concatenate([[0], np.cumsum(a["index_counts"])])
    frames, indices = [], []
    for k in range(len(a["counts"])):
        s = slice(start[k], start[k + 1])
        f = Atoms(numbers=a["numbers"][s], positions=a["positions"][s], cell=a["cells"][k], pbc=a["pbc"][k])
        res = {"energy": float(a["energy"][k])}
        if np.isfinite(a["forces"][s]).all():
            res["forces"] = a["forces"][s].copy()
        if np.isfinite(a["stress"][k]).all():
            res["stress"] = a["stress"][k].copy()
        f.calc = SinglePointCalculator(f, **res)
        frames.append(f)
        indices.append(a["indices"][istart[k]:istart[k + 1]].copy())
    return frames, indices
