"""D-optimality active learning: maxvol and the active set (alff.models.linear.maxvol)."""

import itertools

import numpy as np
import pytest

from alff.models.linear.maxvol import DEFAULT_TOL, ActiveSet, maxvol

TOL = 1.0 + 1e-12


def _best_subset(B):
    """Rows (sorted) of maximal |det| by exhaustive search over all m-subsets."""
    m = B.shape[1]
    return list(max(itertools.combinations(range(B.shape[0]), m),
                    key=lambda s: abs(np.linalg.det(B[list(s)]))))


def _absdet(A):
    return abs(np.linalg.det(A))


# ---------------------------------------------------------------- maxvol vs exhaustive search

@pytest.mark.parametrize("n, m", [(2, 1), (9, 1), (3, 2), (4, 3), (6, 5)])
def test_maxvol_global_where_guaranteed(n, m):
    """m = 1 (the row of largest |b|) and n = m + 1 (every m-subset is one swap from
    every other, so a dominant set is the global maximum): maxvol is exact."""
    for seed in range(20):
        B = np.random.default_rng(seed).standard_normal((n, m))
        idx, _ = maxvol(B, tol=TOL)
        assert sorted(idx) == _best_subset(B), seed


@pytest.mark.parametrize("n, m", [(8, 2), (9, 3), (10, 3)])
def test_maxvol_vs_exhaustive(n, m):
    """maxvol finds a local maximum. Measured over seeds 0..99 with tol 1 + 1e-12:
    equal to the exhaustive optimum on 98% (8x2), 95% (9x3), 94% (10x3) of seeds,
    worst |det| ratio 0.79. Bound (Hadamard: the m rows of the best subset have
    coefficients |C| <= tol over the dominant set, so det C[best] <= (tol sqrt m)^m):
    |det(maxvol)| >= |det(best)| / (tol sqrt(m))^m."""
    seeds = range(60)
    equal = 0
    for seed in seeds:
        B = np.random.default_rng(seed).standard_normal((n, m))
        idx, _ = maxvol(B, tol=TOL)
        best = _best_subset(B)
        equal += sorted(idx) == best
        assert _absdet(B[idx]) >= _absdet(B[best]) / (TOL * np.sqrt(m)) ** m * (1 - 1e-12)
        assert _absdet(B[idx]) <= _absdet(B[best]) * (1 + 1e-12)
    assert equal / len(seeds) >= 0.85, equal


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("tol", [TOL, 1.05])
def test_maxvol_dominant_and_identity(seed, tol):
    rng = np.random.default_rng(seed)
    # columns of very different scale: the result does not depend on them
    B = rng.standard_normal((200, 12)) * np.logspace(-4, 4, 12)
    idx, C = maxvol(B, tol=tol)
    assert idx.shape == (12,) and len(set(idx)) == 12
    assert np.abs(C).max() <= tol + 1e-12
    np.testing.assert_array_equal(C[idx], np.eye(12))
    np.testing.assert_allclose(C, B @ np.linalg.inv(B[idx]), atol=1e-9)
    idx1, _ = maxvol(B / np.logspace(-4, 4, 12), tol=tol)
    np.testing.assert_array_equal(idx, idx1)


def test_maxvol_from_poor_start_many_swaps():
    """Started from the 30 smallest rows, maxvol makes many rank-1 updates; C stays
    B A^-1 and the set is dominant."""
    rng = np.random.default_rng(3)
    B = rng.standard_normal((2000, 30)) * rng.uniform(0.1, 3.0, (2000, 1))
    start = np.argsort(np.linalg.norm(B, axis=1))[:30]
    idx, C = maxvol(B, tol=TOL, start=start)
    assert len(set(idx) - set(start)) >= 25
    np.testing.assert_allclose(C, B @ np.linalg.inv(B[idx]), atol=1e-8)
    assert np.abs(C).max() <= TOL + 1e-12
    # the QR start reaches a set of similar volume (both dominant)
    idx0, _ = maxvol(B, tol=TOL)
    r = np.linalg.slogdet(B[idx])[1] - np.linalg.slogdet(B[idx0])[1]
    assert abs(r) < 30 * np.log(np.sqrt(30))


def test_maxvol_deterministic():
    B = np.random.default_rng(7).standard_normal((300, 20))
    a, Ca = maxvol(B)
    b, Cb = maxvol(B.copy())
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(Ca, Cb)
    # exact ties: duplicated rows, the lowest index is chosen
    D = np.vstack([np.eye(3), np.eye(3)])
    idx, _ = maxvol(D)
    assert sorted(idx) == [0, 1, 2]


# ---------------------------------------------------------------- errors

def test_maxvol_errors():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="n = 3 rows < m = 4"):
        maxvol(rng.standard_normal((3, 4)))
    B = rng.standard_normal((20, 4))
    B[:, 3] = B[:, 0] - 2 * B[:, 1]
    with pytest.raises(ValueError, match="only 3 linearly independent rows"):
        maxvol(B)
    with pytest.raises(ValueError, match="only 0 linearly independent"):
        maxvol(np.zeros((5, 2)))
    B = rng.standard_normal((20, 4))
    B[7, 2] = np.nan
    B[11, 0] = np.inf
    with pytest.raises(ValueError, match="first in row 7"):
        maxvol(B)
    with pytest.raises(ValueError, match="tol must be >= 1"):
        maxvol(rng.standard_normal((20, 4)), tol=0.9)
    with pytest.raises(ValueError, match="singular"):
        maxvol(np.vstack([np.eye(2), np.eye(2)]), start=[0, 2])
    with pytest.raises(ValueError, match="first in row 1"):
        ActiveSet.from_rows(rng.standard_normal((10, 3))).grade(np.array([[1.0, 2, 3], [np.nan, 0, 0]]))
    with pytest.raises(ValueError, match="singular|ill-conditioned"):
        ActiveSet(np.ones((3, 3)))
    with pytest.raises(ValueError, match="rank-deficient"):
        ActiveSet.from_rows(np.ones((10, 3)))


# ---------------------------------------------------------------- grades

def test_grades_inside_and_outside():
    rng = np.random.default_rng(1)
    m = 15
    B = rng.standard_normal((400, m))
    ids = [(k // 8, k % 8) for k in range(400)]  # (configuration, atom)
    act = ActiveSet.from_rows(B, ids=ids)
    assert all(i in ids for i in act.ids) and len(set(act.ids)) == m
    np.testing.assert_array_equal(act.rows, B[[ids.index(i) for i in act.ids]])
    g = act.grade(B)
    assert g.shape == (400,)
    assert g.max() <= DEFAULT_TOL + 1e-9
    np.testing.assert_allclose(act.grade(act.rows), 1.0, atol=1e-12)
    # 5 x a row: 5 x its grade; 5 x an active row: exactly 5
    np.testing.assert_allclose(act.grade(5 * act.rows[2]), 5.0, rtol=1e-12)
    assert act.grade(5 * B[0])[0] > 1.5
    np.testing.assert_allclose(act.grade(5 * B[3]), 5 * g[3], rtol=1e-12)
    far = 1.2 * rng.standard_normal((400, m))  # 20% larger scale
    gfar = act.grade(far)
    assert gfar.max() > 1.1 and (gfar > 1).sum() > 10
    # a configuration counts by its worst neighbourhood
    conf = np.vstack([B[:7], 5 * B[0]])
    assert act.grade_max(conf) == pytest.approx(act.grade(5 * B[0])[0])
    assert act.grade_max(B[:8]) <= DEFAULT_TOL + 1e-9
    # gamma = max |b A^-1|
    np.testing.assert_allclose(gfar, np.abs(far @ np.linalg.inv(act.rows)).max(axis=1), rtol=1e-10)


# ---------------------------------------------------------------- select-add

def test_select_add_inside_span_adds_nothing():
    rng = np.random.default_rng(2)
    B = rng.standard_normal((100, 10))
    act = ActiveSet.from_rows(B)
    rows, ids, det = act.rows.copy(), list(act.ids), act.log_abs_det
    inside = np.vstack([B, rng.uniform(-0.99, 0.99, (200, 10)) @ act.rows])
    assert act.grade(inside).max() <= DEFAULT_TOL + 1e-9
    assert act.select_add(inside) == []
    np.testing.assert_array_equal(act.rows, rows)
    assert act.ids == ids and act.log_abs_det == det


def test_select_add_extrapolating_enters():
    rng = np.random.default_rng(4)
    B = rng.standard_normal((100, 10))
    act = ActiveSet.from_rows(B)
    det0 = act.log_abs_det
    x = 5 * B[17]
    cands = np.vstack([B[:5], x, B[5:9]])
    assert act.grade(x)[0] > 1
    entered = act.select_add(cands, ids=[f"c{k}" for k in range(10)])
    assert entered == ["c5"]
    assert "c5" in act.ids
    assert act.log_abs_det > det0 + np.log(act.grade(x)[0] / 5) - 1e-12
    assert act.grade(np.vstack([B, cands])).max() <= DEFAULT_TOL + 1e-9
    np.testing.assert_allclose(act.rows @ act.inverse, np.eye(10), atol=1e-10)


def test_select_add_max_add_and_monotone_det():
    rng = np.random.default_rng(5)
    m = 12
    B = rng.standard_normal((150, m))
    act = ActiveSet.from_rows(B)
    free = ActiveSet(act.rows, act.ids)
    cands = 1.5 * rng.standard_normal((300, m))
    n_want = len(free.select_add(cands))
    assert n_want > 3
    det0 = act.log_abs_det
    entered = act.select_add(cands, max_add=3)
    assert len(entered) == 3 and all(0 <= k < 300 for k in entered)
    assert sum(isinstance(i, int) and i < 300 and i in entered for i in act.ids) == 3
    assert det0 <= act.log_abs_det <= free.log_abs_det + 1e-12
    # the first candidate in is the one of the largest single-swap gain
    C0 = cands @ ActiveSet.from_rows(B).inverse
    assert int(np.argmax(np.abs(C0).max(axis=1))) in entered
    assert act.select_add(cands, max_add=0) == []
    # a sequence of select-adds never lowers |det|
    dets = [act.log_abs_det]
    for step in range(6):
        act.select_add((1 + 0.1 * step) * rng.standard_normal((100, m)), max_add=2,
                       ids=[(step, k) for k in range(100)])
        dets.append(act.log_abs_det)
    assert np.all(np.diff(dets) >= -1e-12)
    assert dets[-1] > dets[0]


def test_select_add_vs_maxvol_from_scratch():
    """select_add starts from the current set, maxvol from scratch from a pivoted QR:
    both are dominant on [A; candidates] (local maxima) but need not be the same one.
    With a single candidate (m + 1 rows: every subset is one swap away) both are the
    global maximum and agree. On 3 x 3 sets with 20 candidates they agree on a
    measured 88/100 seeds (5 x 5: 59%, 8 x 8: 22%, the more local maxima there are)."""
    for seed in range(20):
        rng = np.random.default_rng(seed)
        B = rng.standard_normal((30, 4))
        act = ActiveSet.from_rows(B, tol=1.0)
        A0, ids0 = act.rows.copy(), list(act.ids)
        x = 1.3 * rng.standard_normal((1, 4))
        act.select_add(x, ids=["x"], tol=1.0)
        U = np.vstack([A0, x])
        labels = ids0 + ["x"]
        assert sorted(map(str, act.ids)) == sorted(str(labels[k]) for k in _best_subset(U))
        idx, _ = maxvol(U, tol=1.0)
        assert sorted(map(str, act.ids)) == sorted(str(labels[k]) for k in idx)
    equal = 0
    for seed in range(40):
        rng = np.random.default_rng(100 + seed)
        B = rng.standard_normal((20, 3))
        X = 1.2 * rng.standard_normal((20, 3))
        act = ActiveSet.from_rows(B, tol=1.0)
        A0, ids0 = act.rows.copy(), list(act.ids)
        act.select_add(X, ids=list(range(20, 40)), tol=1.0)
        U = np.vstack([A0, X])
        assert act.grade(U).max() <= 1 + 1e-9
        idx, _ = maxvol(U, tol=1.0)
        labels = ids0 + list(range(20, 40))
        equal += sorted(act.ids) == sorted(labels[k] for k in idx)
    assert equal >= 28, equal


def test_inverse_accurate_after_many_swaps():
    rng = np.random.default_rng(6)
    m = 25
    act = ActiveSet.from_rows(rng.standard_normal((60, m)) * np.logspace(-3, 3, m))
    scale = 1.0
    while act.n_swaps < 100:
        scale *= 1.15
        act.select_add(scale * rng.standard_normal((200, m)) * np.logspace(-3, 3, m))
    assert act.n_swaps >= 100
    d = np.linalg.norm(act.rows, axis=0)
    assert np.abs((act.rows / d) @ (act.inverse * d[:, None]) - np.eye(m)).max() < 1e-8
    assert np.abs(act.rows @ act.inverse - np.eye(m)).max() < 1e-8


def test_update_rows():
    rng = np.random.default_rng(8)
    B = rng.standard_normal((50, 6))
    act = ActiveSet.from_rows(B, ids=[f"r{k}" for k in range(50)])
    ids = list(act.ids)
    newA = act.rows + 0.1 * rng.standard_normal((6, 6))
    act.update_rows(newA)
    assert act.ids == ids
    np.testing.assert_array_equal(act.rows, newA)
    np.testing.assert_allclose(act.inverse, np.linalg.inv(newA), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(act.grade(newA), 1.0, atol=1e-12)
    with pytest.raises(ValueError, match="singular|ill-conditioned"):
        act.update_rows(np.ones((6, 6)))
    with pytest.raises(ValueError, match="non-finite"):
        act.update_rows(np.full((6, 6), np.nan))
    np.testing.assert_array_equal(act.rows, newA)  # unchanged after a failed update
