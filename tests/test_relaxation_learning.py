"""Relaxation-driven learning (the MLIP scheme's section 6): the structure
pool (derivative structures, counted against an independent brute force),
formation energies and the convex hull, watched relaxations whose range
failures are counted events. Learning on a small Ag-Pd pool from no data,
whose hull equals EMT's: tests/test_hull_pipeline.py."""

import itertools
import json

import numpy as np
import pytest
from ase.build import bulk, make_supercell
from ase.utils.structure_comparator import SymmetryEquivalenceCheck

from alff.analysis.convex_hull import formation_energies, hull_distances, lower_hull
from alff.enumeration import derivative_structures
from alff.learning.relaxation import relax_watched
from alff.models.linear.mtp_model import MTPModel
from alff.selection import MaxvolSelector
from conftest import label_emt


def _brute_force_count(n):
    """Distinct binary decorations of fcc supercells of n sites (every
    Hermite normal form, every mixed decoration, equivalent ones merged by
    ASE's symmetry comparator, those with a smaller primitive cell left
    out)."""
    import spglib
    prim = bulk("Ag", "fcc", a=4.0)
    unique, comp = [], SymmetryEquivalenceCheck(angle_tol=0.5, ltol=0.01, stol=0.01, vol_tol=0.01)
    for a in range(1, n + 1):
        for c in range(1, n // a + 1):
            if n % (a * c):
                continue
            f = n // (a * c)
            for b, d, e in itertools.product(range(c), range(f), range(f)):
                H = np.array([[a, 0, 0], [b, c, 0], [d, e, f]])
                cell = make_supercell(prim, H.T)  # the columns of B H are the supercell vectors
                for deco in itertools.product("AB", repeat=n):
                    if len(set(deco)) < 2:
                        continue
                    s = cell.copy()
                    s.symbols = ["Ag" if x == "A" else "Pd" for x in deco]
                    cs = (s.cell[:], s.get_scaled_positions(), s.numbers)
                    if len(spglib.find_primitive(cs, symprec=1e-5)[2]) < n:
                        continue
                    if not any(comp.compare(s, u) for u in unique):
                        unique.append(s)
    return len(unique)


def test_pool_counts_equal_an_independent_brute_force():
    pool = derivative_structures(["Ag", "Pd"], ["fcc"], 3, a=4.0)
    per_size = {n: sum(len(s) == n for s in pool) for n in (1, 2, 3)}
    assert per_size == {1: 2, 2: _brute_force_count(2), 3: _brute_force_count(3)} == {1: 2, 2: 2, 3: 6}
    assert all(abs(s.get_volume() / len(s) - 16.0) < 1e-9 for s in pool)
    both = derivative_structures(["Ag", "Pd"], ["fcc", "bcc", "hcp"], 4, a=4.0)
    assert {s.info["parent"] for s in both} == {"fcc", "bcc", "hcp"}
    np.testing.assert_allclose([s.get_volume() / len(s) for s in both], 16.0)  # every parent at the fcc volume
    assert [s.info["pool_index"] for s in both] == list(range(len(both)))
    with pytest.raises(ValueError, match="unknown parent lattice"):
        derivative_structures(["Ag", "Pd"], ["bct"], 2)


def test_formation_energies_and_hull():
    x = np.array([0.0, 0.25, 0.5, 0.5, 0.75, 1.0, 1.0, 0.4])
    e = np.array([-1.0, -1.4, -1.2, -1.65, -1.6, -2.0, -1.9, np.nan])
    ef, refs = formation_energies(x, e)
    assert refs == (-1.0, -2.0)
    np.testing.assert_allclose(ef[:7], [0.0, -0.15, 0.3, -0.15, 0.15, 0.0, 0.1], atol=1e-12)
    assert np.isnan(ef[7])
    hull = lower_hull(x, ef)
    assert hull == [0, 1, 3, 5]  # the higher structure at x = 0.5 and the point above an edge are not vertices
    d = hull_distances(x, ef, hull)
    np.testing.assert_allclose(d[hull], 0.0, atol=1e-12)
    assert d[4] == pytest.approx(0.15 + 0.075)
    assert lower_hull([0.0, 0.5, 1.0], [0.0, -0.1, -0.2]) == [0, 2]  # on the edge: not a vertex
    with pytest.raises(ValueError, match="pure structure at x = 1"):
        formation_energies(x[:5], e[:5])


@pytest.fixture(scope="module")
def pool():
    return derivative_structures(["Ag", "Pd"], ["fcc"], 3, a=4.0)


def test_a_relaxation_that_leaves_the_range_is_counted(pool):
    model = MTPModel(species=["Ag", "Pd"], level=8, r_min=2.0, r_max=5.0)
    lab = [a.copy() for a in pool[:6]]
    for a in lab:
        a.rattle(0.05, seed=1)
        label_emt(a)
    model.fit(lab)
    squeezed = bulk("Ag", "fcc", a=2.6)  # nearest neighbours 1.84 A < r_min
    r = relax_watched(squeezed, model, MaxvolSelector())
    assert r.status == "out_of_range" and "closer than the MTP's r_min" in r.reason and np.isnan(r.energy_per_atom)
    r2 = relax_watched(pool[4], model, MaxvolSelector(gamma_select=1.0 + 1e-6, gamma_break=1.0 + 2e-6))
    assert r2.status in ("break", "converged")


class _Killed(BaseException):
    """A node dying mid-run (nothing catches it)."""


class _CountingEMT:
    """EMT labels; records each finished call and dies at call ``die_at``."""

    def __init__(self, die_at=None):
        self.done, self.die_at = [], die_at

    def label(self, atoms):
        if self.die_at is not None and len(self.done) + 1 == self.die_at:
            raise _Killed
        self.done.append(atoms.positions.tobytes() + atoms.cell[:].tobytes())
        return label_emt(atoms.copy())


def test_killed_pool_learning_resumes_from_its_checkpoint(pool, tmp_path):
    from alff.learning.relaxation import learn_on_pool

    def run(oracle, ckpt=None):
        model = MTPModel(species=["Ag", "Pd"], level=8, r_min=2.0, r_max=5.0, mode="mlip",
                         radial_fit={"max_iter": 10, "every_update": True, "warm_start": True})
        return learn_on_pool(pool, model, MaxvolSelector(), oracle, max_iterations=6, max_selected=4,
                             relax={"max_steps": 60}, checkpoint=ckpt, fingerprint="f")

    ref_oracle = _CountingEMT()
    ref = run(ref_oracle)
    first = ref.history[0]["n_labelled"]
    assert len(ref.history) >= 3 and ref.n_oracle_calls > first + 2, "too short a run to test a resume"
    die_at = first + ref.history[1]["n_labelled"] + 1  # during the second iteration's labels
    orc = _CountingEMT(die_at)
    with pytest.raises(_Killed):
        run(orc, tmp_path / "ck")
    orc.die_at = None
    res = run(orc, tmp_path / "ck")
    # the labels of the killed iteration are asked again (in the pipeline they come from the oracle's cache),
    # the first iteration's are not
    assert len(orc.done) == ref.n_oracle_calls + (die_at - 1 - first - ref.history[1]["n_labelled"])
    assert json.dumps(res.history) == json.dumps(ref.history)  # (NaN grade of iteration 0 included)
    assert res.n_oracle_calls == ref.n_oracle_calls
    assert res.converged == ref.converged and len(res.training) == len(ref.training)
    np.testing.assert_array_equal(res.model.coef_, ref.model.coef_)
    np.testing.assert_array_equal(res.model.potential.radial_coeffs, ref.model.potential.radial_coeffs)
