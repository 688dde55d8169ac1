"""Neighbour lists against ase.neighborlist on random cells."""

import numpy as np
import pytest
from ase import Atoms
from ase.neighborlist import neighbor_list as ase_nl

from alff.neighbors import neighbor_list


def _as_set(i, j, S, d):
    return {(int(a), int(b), *map(int, s)): float(x) for a, b, s, x in zip(i, j, S, d)}


def _random_cell(rng, scale):
    cell = np.eye(3) * scale + rng.uniform(-0.35, 0.35, (3, 3)) * scale
    if np.linalg.det(cell) < 0:
        cell[0] *= -1
    return cell


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("pbc", [(True, True, True), (True, False, True), (False, False, False)])
def test_matches_ase_random_triclinic(seed, pbc):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 12))
    scale = float(rng.uniform(2.5, 7.0))  # often smaller than twice the cutoff
    cell = _random_cell(rng, scale)
    frac = rng.uniform(-0.3, 1.3, (n, 3))  # also atoms outside the cell
    atoms = Atoms(f"Al{n}", scaled_positions=frac % 1, cell=cell, pbc=pbc)
    atoms.positions = frac @ cell
    cutoff = float(rng.uniform(2.0, 6.0))
    i, j, D, d, S = neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, cutoff)
    ri, rj, rD, rd, rS = ase_nl("ijDdS", atoms, cutoff)
    ours, ref = _as_set(i, j, S, d), _as_set(ri, rj, rS, rd)
    assert ours.keys() == ref.keys()
    for k in ref:
        assert ours[k] == pytest.approx(ref[k], abs=1e-10)
    # D is consistent with the shifts and the (unwrapped) input positions
    np.testing.assert_allclose(D, atoms.positions[j] + S @ atoms.cell.array - atoms.positions[i], atol=1e-10)
    assert np.all(np.diff(i) >= 0)


def test_single_atom_small_cell_sees_its_images():
    atoms = Atoms("Al", positions=[[0, 0, 0]], cell=np.eye(3) * 2.0, pbc=True)
    i, j, D, d, S = neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, 3.0)
    assert len(d) == 6 + 12  # 6 images at 2.0 A, 12 at 2.83 A
    assert np.all(j == 0) and np.all(d < 3.0)


def test_open_cluster_with_zero_cell():
    atoms = Atoms("Al3", positions=[[0, 0, 0], [2.0, 0, 0], [0, 2.0, 0]])
    i, j, D, d, S = neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, 2.5)
    assert sorted(zip(i.tolist(), j.tolist())) == [(0, 1), (0, 2), (1, 0), (2, 0)]
    assert np.all(S == 0)


def test_rejects_bad_cutoff():
    with pytest.raises(ValueError, match="cutoff"):
        neighbor_list(np.zeros((1, 3)), np.eye(3), [True] * 3, 0.0)
