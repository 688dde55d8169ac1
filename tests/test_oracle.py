"""The oracle: labels, failed records, timeouts and the on-disk cache."""

import time

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.emt import EMT
from ase.calculators.lj import LennardJones

from alff.oracle import Oracle, OracleCache, is_ok
from alff.structure_io import read_frames, write_frames


def al(seed=0):
    a = bulk("Al", "fcc", a=4.05, cubic=True)
    a.rattle(0.05, seed=seed)
    return a


class Raising(Calculator):
    implemented_properties = ["energy", "forces"]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        raise RuntimeError("SCF not converged after 100 iterations")


class NaNForces(EMT):
    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.results["forces"] = self.results["forces"] * np.nan


class Slow(EMT):
    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        time.sleep(3.0)
        super().calculate(atoms, properties, system_changes)


def test_emt_label_matches_ase_and_records_settings():
    a = al()
    lab = Oracle("emt").label(a)
    ref = a.copy()
    ref.calc = EMT()
    assert is_ok(lab) and lab.info["oracle_walltime_s"] >= 0
    assert lab.get_potential_energy() == pytest.approx(ref.get_potential_energy(), abs=1e-12)
    np.testing.assert_allclose(lab.get_forces(), ref.get_forces(), atol=1e-12)
    np.testing.assert_allclose(lab.get_stress(), ref.get_stress(), atol=1e-12)
    assert '"kind": "emt"' in lab.info["oracle"]


def test_calculator_by_import_path_with_kwargs():
    a = al(1)
    o = Oracle("calculator", {"sigma": 2.6, "epsilon": 0.4, "rc": 6.0}, calculator="ase.calculators.lj.LennardJones")
    ref = a.copy()
    ref.calc = LennardJones(sigma=2.6, epsilon=0.4, rc=6.0)
    np.testing.assert_allclose(o.label(a).get_forces(), ref.get_forces(), atol=1e-12)
    lj = Oracle("lj", {"sigma": 2.6, "epsilon": 0.4, "rc": 6.0})
    np.testing.assert_allclose(lj.label(a).get_forces(), ref.get_forces(), atol=1e-12)


def test_bad_import_path_is_rejected_at_once():
    with pytest.raises(ValueError, match="ase.calculators.nothere.Nope"):
        Oracle("calculator", calculator="ase.calculators.nothere.Nope")
    with pytest.raises(ValueError, match="oracle.kind"):
        Oracle("vasp")


@pytest.mark.parametrize("cls, timeout, reason", [
    ("Raising", None, "SCF not converged"),
    ("NaNForces", None, "non-finite"),
    ("Slow", 0.3, "timeout"),
])
def test_failures_become_failed_records(tmp_path, cls, timeout, reason):
    o = Oracle("calculator", calculator=f"{__name__}.{cls}", timeout_s=timeout)
    t0 = time.perf_counter()
    lab = o.label(al())
    assert not is_ok(lab) and lab.info["oracle_status"] == "failed"
    assert reason in lab.info["oracle_reason"]
    assert lab.calc is None
    if timeout:
        assert time.perf_counter() - t0 < 2.0
    # failed records survive extended XYZ with their reason
    write_frames(tmp_path / "f.extxyz", [lab])
    back = read_frames(tmp_path / "f.extxyz")[0]
    assert back.info["oracle_status"] == "failed" and reason in back.info["oracle_reason"]
    # the oracle is usable again after a failure
    assert not is_ok(o.label(al(2)))


def test_cache_never_repeats_a_finished_call(tmp_path):
    a = al(3)
    c1 = OracleCache(tmp_path, Oracle("emt"))
    lab = c1.label(a)
    assert c1.calls == 1 and not lab.info["oracle_cached"]
    c2 = OracleCache(tmp_path, Oracle("emt"))  # a new process after a crash
    again = c2.label(a.copy())
    assert c2.calls == 0 and c2.hits == 1 and again.info["oracle_cached"]
    np.testing.assert_array_equal(again.get_forces(), lab.get_forces())
    assert again.get_potential_energy() == lab.get_potential_energy()
    # other settings or another structure are new calls
    c3 = OracleCache(tmp_path, Oracle("lj"))
    c3.label(a)
    c2.label(al(4))
    assert c3.calls == 1 and c2.calls == 1
    assert len(list(tmp_path.glob("*.extxyz"))) == 3


def test_gpaw_oracle_plane_wave_dft():
    pytest.importorskip("gpaw", reason="GPAW is an optional extra: pip install '.[dft]' (README, 'DFT with GPAW')")
    a = bulk("Si", "diamond", a=5.43)
    a.rattle(0.05, seed=0)
    o = Oracle("gpaw", {"ecut": 200, "kpts": [2, 2, 2], "xc": "LDA", "smearing": 0.1})
    lab = o.label(a)
    assert is_ok(lab), lab.info.get("oracle_reason")
    f = lab.get_forces()
    assert np.abs(f).max() > 0.1  # rattled: real forces
    np.testing.assert_allclose(f.sum(axis=0), 0.0, atol=1e-3)
    # the force is minus the energy derivative (central difference on atom 0, x)
    h = 1e-3
    e = []
    for s in (h, -h):
        b = a.copy()
        b.positions[0, 0] += s
        e.append(o.label(b).get_potential_energy())
    assert -(e[0] - e[1]) / (2 * h) == pytest.approx(f[0, 0], abs=2e-2)
