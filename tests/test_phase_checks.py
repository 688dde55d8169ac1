"""Phase checks (issue 13): the q6 classifier of frame sets carrying a phase
label, the test-set error and the exploration warning."""

import numpy as np
import pytest
from ase import units
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.md.langevin import Langevin

from alff.analysis.phase import MISMATCH, NOT_CHECKED, OK, PhaseReference, classify_atoms, classify_frames, \
    expected_phase


def rattled(atoms, sigma, seed=0):
    """A copy with Gaussian displacements of ``sigma`` (A) per component."""
    b = atoms.copy()
    b.positions += np.random.default_rng(seed).normal(0.0, sigma, b.positions.shape)
    return b


FCC = bulk("Al", "fcc", a=4.05, cubic=True).repeat(2)                       # d1 2.864 A
HCP = bulk("Mg", "hcp", a=3.21, c=3.21 * 1.624).repeat((3, 3, 2))           # d1 3.19 A
BCC = bulk("Fe", "bcc", a=2.87, cubic=True).repeat(3)                       # d1 2.485 A
DIAMOND = bulk("Si", "diamond", a=5.43, cubic=True).repeat(2)               # d1 2.351 A


@pytest.fixture(scope="module")
def liquid_al():
    """Ten frames of EMT Al melted at 2500 K (32 atoms at the fcc density)."""
    atoms = FCC.copy()
    atoms.calc = EMT()
    rng = np.random.default_rng(0)
    atoms.set_momenta(rng.normal(0.0, 1.0, (len(atoms), 3)) * np.sqrt(atoms.get_masses()[:, None] * units.kB
                                                                      * 2500.0))
    md = Langevin(atoms, 5 * units.fs, temperature_K=2500.0, friction=0.02 / units.fs, rng=rng, fixcm=False)
    md.run(200)
    frames = []
    for _ in range(10):
        md.run(10)
        frames.append(atoms.copy())
    return frames


@pytest.mark.parametrize("atoms, crystal, coordination, ratio", [
    (FCC, "fcc", 12, 1.207), (HCP, "hcp", 12, 1.21), (BCC, "bcc", 14, 1.394)])
def test_supported_crystals_are_identified_with_a_cutoff_between_shells(atoms, crystal, coordination, ratio):
    ref = PhaseReference.from_structure(atoms)
    d1 = atoms.get_all_distances(mic=True)[0][1:].min()
    assert ref.supported and ref.crystal == crystal and ref.coordination == coordination
    assert ref.cutoff / d1 == pytest.approx(ratio, abs=0.005)
    # the same from a thermally displaced start structure
    assert PhaseReference.from_structure(rattled(atoms, 0.03 * d1)).coordination == coordination


@pytest.mark.parametrize("atoms", [FCC, HCP, BCC], ids=["fcc", "hcp", "bcc"])
def test_perfect_and_rattled_crystals_are_solid(atoms):
    ref = PhaseReference.from_structure(atoms)
    d1 = atoms.get_all_distances(mic=True)[0][1:].min()
    # 0.05 d1 per component: rms displacement 0.087 d1, near Lindemann's melting criterion
    frames = [atoms] + [rattled(atoms, s * d1, seed=k) for k, s in enumerate((0.02, 0.03, 0.05))]
    fractions = [classify_atoms(f, ref)[0] for f in frames]
    assert min(fractions) == 1.0, fractions
    check = classify_frames(frames, ref, "solid")
    assert check["status"] == OK and check["verdict"] == "solid" and check["mean_solid_fraction"] == 1.0


def test_liquid_is_liquid_for_every_supported_reference(liquid_al):
    for atoms in (FCC, HCP, BCC):
        ref = PhaseReference.from_structure(atoms)
        scaled = PhaseReference(ref.crystal, ref.coordination, ref.cutoff, ref.density, ref.q6)
        # the reference's cutoff scaled to the liquid's density
        check = classify_frames(liquid_al, scaled, "liquid")
        assert check["status"] == OK and check["verdict"] == "liquid", check
        assert check["mean_solid_fraction"] < 0.05
    # a solid label on the liquid is a mismatch; the liquid itself is no reference
    assert classify_frames(liquid_al, PhaseReference.from_structure(FCC), "solid")["status"] == MISMATCH
    assert not PhaseReference.from_structure(liquid_al[0]).supported


def test_unsupported_crystals_and_labels_are_not_checked(liquid_al):
    ref = PhaseReference.from_structure(DIAMOND)
    assert not ref.supported and ref.coordination == 4 and "4-fold" in ref.reason
    check = classify_frames([DIAMOND, rattled(DIAMOND, 0.1)], ref, "solid")
    assert check["status"] == NOT_CHECKED and check["verdict"] is None and "4-fold" in check["reason"]
    sc = PhaseReference.from_structure(bulk("Po", "sc", a=3.35).repeat(4))
    assert not sc.supported and sc.coordination == 6
    slab = FCC.copy()
    slab.pbc = (True, True, False)
    assert "not periodic" in PhaseReference.from_structure(slab).reason
    # labels that claim no phase
    fcc = PhaseReference.from_structure(FCC)
    for label in ("hot_solid", "surface_300K", "default"):
        assert expected_phase(label) is None
        assert classify_frames(liquid_al, fcc, label)["status"] == NOT_CHECKED
    assert [expected_phase(x) for x in ("Solid", "crystal_300K", "liquid", "melt")] == \
        ["solid", "solid", "liquid", "liquid"]


def test_a_cell_narrower_than_twice_the_cutoff_is_not_checked():
    small = bulk("Al", "fcc", a=4.05, cubic=True).repeat((1, 1, 2))   # 8 atoms, width 4.05 A
    check = classify_frames([small], PhaseReference.from_structure(small), "liquid")
    assert check["status"] == NOT_CHECKED and "too small" in check["reason"]


# ----- test sets: a crystalline "liquid" is an error with the fix, after the frames are cached
def _testset(tmp_path, element, a, T, phase, frames=3, every=5, equilibrate=10):
    from alff.steps.seed import testset_step
    system = {"kind": "bulk", "element": element, "crystal": "fcc", "a": a, "cubic": True, "repeat": [2, 2, 2]}
    protocol = {"temperature_K": T, "timestep_fs": 5.0, "friction_per_fs": 0.02, "phase_index": 1}
    out = tmp_path / "testset" / f"{phase}.extxyz"
    testset_step(system, protocol, {"frames": frames, "every": every, "equilibrate_steps": equilibrate},
                 {"kind": "emt"}, 0, phase, str(out), str(tmp_path / "cache"), segment_index=1)
    return out


def test_crystalline_liquid_test_set_is_an_error_naming_the_fix(tmp_path):
    import json

    from alff.steps.seed import PhaseMismatchError, phase_check_path
    # 32-atom Cu at 2000 K at constant volume stays fcc (issue 13)
    with pytest.raises(PhaseMismatchError) as err:
        _testset(tmp_path, "Cu", 3.59, 2000.0, "liquid")
    msg = str(err.value)
    for part in ("test set 'liquid' is not liquid", "mean q6 solid fraction 1.00", "verdict solid",
                 "explore.schedule[1].temperature_K (now 2000 K)", "system.repeat", "NPT", "explore.schedule[1].phase",
                 str(tmp_path / "cache")):
        assert part in msg, (part, msg)
    out = tmp_path / "testset" / "liquid.extxyz"
    check = json.loads(phase_check_path(out).read_text())
    assert check["status"] == "mismatch" and check["solid_fraction"] == [1.0, 1.0, 1.0]
    # written before the error; the oracle calls are cached: a rerun calls no oracle
    assert out.exists() and any((tmp_path / "cache").iterdir())
    # Snakemake deletes the failed job's outputs: the error names the copy
    # beside the oracle cache, which it keeps
    kept = tmp_path / "cache" / "phase_check.json"
    assert f"the classification is in {kept}" in msg and json.loads(kept.read_text()) == check


def test_matching_test_sets_pass_with_their_classification(tmp_path):
    import json

    from alff.steps.seed import phase_check_path
    from alff.structure_io import read_frames
    out = _testset(tmp_path, "Al", 4.05, 300.0, "solid")
    check = json.loads(phase_check_path(out).read_text())
    assert check["status"] == "ok" and check["verdict"] == "solid" and check["crystal"] == "fcc"
    assert [f.info["solid_fraction"] for f in read_frames(out)] == check["solid_fraction"]
    # Al melts at 2500 K within 100 steps (the default run's liquid melts at 2000 K)
    out = _testset(tmp_path, "Al", 4.05, 2500.0, "liquid", every=10, equilibrate=100)
    check = json.loads(phase_check_path(out).read_text())
    assert check["status"] == "ok" and check["verdict"] == "liquid", check


# ----- explored segments: a contradicted label is a warning and a record
class _EMTDrive:
    """Model and selector stand-in: EMT forces, never uncertain."""

    noise_, n_train_, threshold_ = 0.01, 0, 1.0

    def __init__(self):
        self.calc = EMT()

    def drive(self, model):
        return self

    def predict(self, atoms, properties=("forces",), return_std=True):
        a = atoms.copy()
        a.calc = self.calc
        return {"forces": a.get_forces(), "energy": a.get_potential_energy()}

    def score(self, model, atoms, res):
        return np.zeros(len(atoms))

    def verdict(self, step, score):
        from alff.selection import CONTINUE
        return CONTINUE


def _explore_cu(monitor, steps=(20, 40)):
    from alff.dynamics import Schedule
    from alff.learning.explorer import Explorer
    from alff.learning.records import start_state
    sched = Schedule.from_config({"timestep_fs": 5.0, "friction_per_fs": 0.02, "schedule": [
        {"temperature_K": 300.0, "steps": steps[0], "phase": "solid"},
        {"temperature_K": 2000.0, "steps": steps[1], "phase": "liquid", "rescale": True}]})
    st = start_state(bulk("Cu", "fcc", a=3.59, cubic=True).repeat(2), 0.0, 0)
    stub = _EMTDrive()
    ex = Explorer(stub, stub, sched, st, label="[main] ", log_every=10, phase_monitor=monitor)
    return ex, ex.run(handler=None)


def test_explorer_warns_when_a_segment_contradicts_its_label(caplog):
    from alff.analysis.phase import segment_checks
    from alff.learning.explorer import PhaseMonitor
    ref = PhaseReference.from_structure(bulk("Cu", "fcc", a=3.59, cubic=True).repeat(2))
    monitor = PhaseMonitor(ref, "main")
    assert monitor.check_steps(20, 40) == [59, 57, 55] and monitor.check_steps(0, 1000) == [999, 949, 899]
    with caplog.at_level("INFO", logger="alff.learning"):
        ex, why = _explore_cu(monitor)
    assert why == "schedule"
    assert [r["step"] for r in monitor.rows] == [17, 18, 19, 55, 57, 59]
    solid, liquid = ex.phase_checks
    assert solid["status"] == OK and solid["segment"] == 0
    assert liquid["status"] == MISMATCH and liquid["verdict"] == "solid" and liquid["segment"] == 1
    assert liquid["solid_fraction"] == [1.0, 1.0, 1.0] and liquid["temperature_K"] == 2000.0
    warning = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warning) == 1 and "PHASE CHECK" in warning[0] and "'liquid' is not liquid" in warning[0]
    assert "explore.schedule[1].temperature_K (now 2000 K)" in warning[0]
    # the rows alone give the same record (a batch run's finalize); a repeated step counts once
    assert segment_checks(monitor.rows + monitor.rows[-1:]) == ex.phase_checks


def test_batch_exploration_records_phase_frames_and_carries_the_reference():
    import json

    from alff.dynamics import MDState
    from alff.learning import explore
    from alff.learning.explorer import PhaseMonitor
    from alff.steps.batch import PHASE_REFERENCE_KEY, _phase_reference
    st = MDState(bulk("Cu", "fcc", a=3.59, cubic=True).repeat(2), 0, 0.0, np.random.default_rng(0))
    ref = _phase_reference(st, 0)
    assert ref.crystal == "fcc"
    # the next iteration reads it from the state, not from its (maybe molten) structure
    st.atoms.info[PHASE_REFERENCE_KEY] = json.dumps(ref.to_dict())
    assert _phase_reference(st, 1) == ref and PHASE_REFERENCE_KEY not in st.atoms.info
    assert not _phase_reference(st, 1).supported
    from alff.dynamics import Schedule
    monitor = PhaseMonitor(ref, "main")
    stub = _EMTDrive()
    sched = Schedule.from_config({"schedule": [{"temperature_K": 300.0, "steps": 10, "phase": "crystal"}]})
    _, why, _ = explore(stub, stub, sched, st, {"log_every": 5}, phase_monitor=monitor)
    assert why == "schedule" and [r["solid_fraction"] for r in monitor.rows] == [1.0, 1.0, 1.0]


def test_report_summary_shows_verdicts_and_warnings():
    from alff.analysis.phase import check_fractions
    from alff.steps.report import phase_check_summary
    test = {"solid": check_fractions([1.0, 1.0], ["", ""], "solid"),
            "liquid": check_fractions([1.0, 0.9], ["", ""], "liquid"),
            "hot": check_fractions([np.nan], [""], "hot")}
    seg = dict(check_fractions([1.0], [""], "liquid"), trajectory="main", segment=1, temperature_K=2000.0, steps=[999])
    s = phase_check_summary(test, [seg])
    assert s["test"]["solid"]["status"] == OK and s["test"]["liquid"]["verdict"] == "solid"
    assert s["test"]["hot"]["status"] == NOT_CHECKED and "claims no phase" in s["test"]["hot"]["reason"]
    assert s["warnings"] == ["test set 'liquid' is solid, not liquid (mean q6 solid fraction 0.95)",
                             "explored segment explore.schedule[1] ('liquid', main) is solid, not liquid "
                             "(mean q6 solid fraction 1.00)"]


def test_a_test_set_after_a_hotter_liquid_is_melted_first():
    """al_full's 1100 K liquid: the crystal heated to 1100 K stays fcc in a
    32-atom cell (a superheated crystal), the melt cooled to it is liquid."""
    from alff.oracle import Oracle
    from alff.seeding import phase_test_set
    start = bulk("Al", "fcc", a=4.05, cubic=True).repeat(2)
    ref = PhaseReference.from_structure(start)
    out = {}
    for melt in (None, 2000.0):
        orc = Oracle.from_config({"kind": "emt"})
        frames = phase_test_set(start, orc, 1100.0, 3, 10, 150, rng=np.random.default_rng(0), melt_K=melt)
        out[melt] = classify_frames(frames, ref, "liquid_1100K")
        assert len(frames) == 3
    assert out[None]["verdict"] == "solid" and out[2000.0]["verdict"] == "liquid"
