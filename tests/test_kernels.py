"""Kernel checks: fast paths vs generic, length-scale derivatives, species."""

import numpy as np
import pytest

from alff.clusters import frame_clusters
from alff.kernels import blocks as bl
from alff.kernels.vectorised import expneg
from conftest import rattled_al, rattled_alcu


def _force_blocks(frames, codes_of, atoms_step=3):
    specs = []
    for f in frames:
        fc = frame_clusters(f, codes_of(f), 5.0, 4.0)
        specs += [(fc, "force", a, bl.FORCE_ROWS) for a in range(0, len(f), atoms_step)]
    return bl.build_blocks(specs, 2, rmax=3)


def _codes(f):
    return (f.numbers == 29).astype(int)


def _mixed_blocks(frames):
    """Force blocks, an energy+stress block and per-atom full blocks."""
    specs = []
    for f in frames:
        fc = frame_clusters(f, _codes(f), 5.0, 4.0)
        specs += [(fc, "force", 1, bl.FORCE_ROWS)]
        specs += [(fc, "es", 0, [(3, 1.0)] + [(r, 1.0 / fc.volume) for r in range(4, 10)])]
        specs += [(fc, "atom", 2, [(r, 1.0) for r in range(10)])]
    return bl.build_blocks(specs, 2)


@pytest.mark.parametrize("two_species", [False, True])
def test_fast_force_paths_equal_generic(monkeypatch, two_species):
    frames = [rattled_alcu(s) if two_species else rattled_al(s, reps=(2, 2, 1)) for s in range(2)]
    B = _force_blocks(frames, _codes)
    fast = bl.kernel_matrix(B, None, 1.1, 0.9, grad=True)
    monkeypatch.setattr(bl, "_force_blocks", lambda S: np.zeros(S.n_blocks, bool))
    slow = bl.kernel_matrix(B, None, 1.1, 0.9, grad=True)
    for a, b in zip(fast, slow):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10 * np.abs(b).max())


def _force_energy_blocks(frames):
    specs = []
    for f in frames:
        fc = frame_clusters(f, _codes(f), 5.0, 4.0)
        specs += [(fc, "force", a, bl.FORCE_ROWS) for a in (0, 5)]
        specs += [(fc, "es", 0, [(3, 1.0)])]
    return bl.build_blocks(specs, 2, rmax=3)


@pytest.mark.parametrize("two_species", [False, True])
def test_energy_kernels_equal_generic(monkeypatch, two_species):
    frames = [rattled_alcu(s) if two_species else rattled_al(s, reps=(2, 2, 1)) for s in range(3)]
    B = _force_energy_blocks(frames)
    assert bl._energy_blocks(B).sum() == 3
    T = _force_energy_blocks(frames[:1])
    fast = bl.kernel_matrix(B, None, 1.1, 0.9, grad=True) + bl.kernel_matrix(T, B, 1.1, 0.9)
    monkeypatch.setattr(bl, "_force_blocks", lambda S: np.zeros(S.n_blocks, bool))
    monkeypatch.setattr(bl, "_energy_blocks", lambda S: np.zeros(S.n_blocks, bool))
    slow = bl.kernel_matrix(B, None, 1.1, 0.9, grad=True) + bl.kernel_matrix(T, B, 1.1, 0.9)
    for a, b in zip(fast, slow):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10 * np.abs(b).max())


def test_mixed_sets_dispatch_per_block_pair(monkeypatch):
    """Force/force pairs of a set with energy blocks use the fast path."""
    B = _mixed_blocks([rattled_alcu(s) for s in range(2)])
    assert bl._force_blocks(B).any() and not bl._force_blocks(B).all()
    fast = bl.kernel_matrix(B, None, 1.1, 0.9, grad=True)
    monkeypatch.setattr(bl, "_force_blocks", lambda S: np.zeros(S.n_blocks, bool))
    slow = bl.kernel_matrix(B, None, 1.1, 0.9, grad=True)
    for a, b in zip(fast, slow):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10 * np.abs(b).max())


@pytest.mark.parametrize("which", ["force", "mixed"])
def test_length_scale_derivative_matches_finite_difference(which):
    frames = [rattled_alcu(s) for s in range(2)]
    B = _force_blocks(frames, _codes) if which == "force" else _mixed_blocks(frames)
    l2, l3, h = 1.3, 0.8, 1e-5
    K2, K3, dK2, dK3 = bl.kernel_matrix(B, None, l2, l3, grad=True)
    p2, p3 = bl.kernel_matrix(B, None, l2 + h, l3 + h)
    m2, m3 = bl.kernel_matrix(B, None, l2 - h, l3 - h)
    np.testing.assert_allclose(dK2, (p2 - m2) / (2 * h), rtol=1e-6, atol=1e-7 * np.abs(dK2).max())
    np.testing.assert_allclose(dK3, (p3 - m3) / (2 * h), rtol=1e-6, atol=1e-7 * np.abs(dK3).max())


def test_kernel_symmetric_positive_semidefinite():
    B = _mixed_blocks([rattled_alcu(s) for s in range(2)])
    K2, K3 = bl.kernel_matrix(B, None, 1.0, 1.0)
    for K in (K2, K3):
        np.testing.assert_allclose(K, K.T, atol=1e-12 * np.abs(K).max())
        w = np.linalg.eigvalsh(K)
        assert w.min() > -1e-9 * w.max()


def test_cross_matrix_equals_symmetric_matrix():
    B = _mixed_blocks([rattled_alcu(0)])
    sym = bl.kernel_matrix(B, None, 1.0, 0.7)
    full = bl.kernel_matrix(B, B, 1.0, 0.7)
    for a, b in zip(sym, full):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * np.abs(b).max())


def test_self_kernel_diag_matches_full_matrix():
    B = _mixed_blocks([rattled_alcu(1)])
    K2, K3 = bl.kernel_matrix(B, None, 1.0, 0.7)
    d2, d3 = bl.self_kernel_diag(B, 1.0, 0.7)
    np.testing.assert_allclose(d2, np.diag(K2), rtol=1e-12)
    np.testing.assert_allclose(d3, np.diag(K3), rtol=1e-12)


def test_different_species_never_correlate():
    """An all-Al environment and an all-Cu one have zero covariance."""
    al = rattled_al(0, reps=(2, 2, 1))
    cu = al.copy()
    cu.numbers[:] = 29
    fa = frame_clusters(al, np.zeros(len(al), int), 5.0, 4.0)
    fb = frame_clusters(cu, np.ones(len(cu), int), 5.0, 4.0)
    A = bl.build_blocks([(fa, "force", 0, bl.FORCE_ROWS)], 2, rmax=3)
    B = bl.build_blocks([(fb, "force", 0, bl.FORCE_ROWS)], 2, rmax=3)
    K2, K3 = bl.kernel_matrix(A, B, 1.0, 1.0)
    assert np.all(K2 == 0) and np.all(K3 == 0)
    # ...while the same geometry with the same species does
    K2s, K3s = bl.kernel_matrix(A, A, 1.0, 1.0)
    assert np.abs(K2s).max() > 0 and np.abs(K3s).max() > 0


def test_expneg_accuracy():
    x = -np.linspace(0, 50, 20001)
    got = np.array([expneg(v) for v in x])
    np.testing.assert_allclose(got, np.exp(x), rtol=2e-13)

