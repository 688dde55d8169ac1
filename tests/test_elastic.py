"""Elastic constants and the E-V curve (the mo_elastic protocol's
analysis): physical signs, cubic symmetry, the bulk modulus equal to an
independent equation-of-state fit, and internal relaxation."""

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.eos import EquationOfState
from ase.units import GPa

from alff.analysis.elastic import cubic_constants, elastic_constants, energy_volume


def test_cubic_constants_of_emt_copper_and_the_bulk_modulus():
    atoms = bulk("Cu", "fcc", a=3.59, cubic=True)
    C = elastic_constants(atoms, EMT())
    c11, c12, c44, asym = cubic_constants(C)
    assert c11 > c12 > 0 and c44 > 0
    assert asym < 0.01 * c11
    np.testing.assert_allclose(C, C.T, atol=0.01 * c11)
    v, e = energy_volume(atoms, EMT())
    v0, e0, B = EquationOfState(v, e, eos="birchmurnaghan").fit()
    assert (c11 + 2 * c12) / 3 == pytest.approx(B / GPa, rel=0.02)


def test_internal_relaxation_softens_the_basal_shear_of_hcp():
    """EMT Cu in hcp (two atoms per cell): relaxing the atoms in the strained
    cells softens C66 and C11 (the basal plane's internal mode), leaves C44
    and C33, and the relaxed tensor is hexagonal: C66 = (C11 - C12) / 2."""
    atoms = bulk("Cu", "hcp", a=2.55)
    u = elastic_constants(atoms, EMT())
    r = elastic_constants(atoms, EMT(), relax_fmax=1e-5)
    assert r[5, 5] < u[5, 5] - 5.0 and r[0, 0] < u[0, 0] - 5.0
    assert r[3, 3] == pytest.approx(u[3, 3], rel=1e-3) and r[2, 2] == pytest.approx(u[2, 2], rel=1e-3)
    assert r[5, 5] == pytest.approx((r[0, 0] - r[0, 1]) / 2, rel=0.01)
