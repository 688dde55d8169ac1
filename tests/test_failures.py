"""Loud failures: bad input gets an error naming the key, an oracle result
that cannot be a label is a failed record, and a learning run that is
useless (labels failing, a blown-up or collapsed trajectory) stops with an
error naming the limit - never a quiet exit with a useless model."""

from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.emt import EMT

from alff.config import ConfigError, validate_config
from alff.dynamics import Schedule
from alff.learning import OnTheFly, RunLimitError, Scenario, start_state
from alff.learning.limits import Limits, closest_pair_distance
from alff.oracle import DEFAULT_TIMEOUT_S, KINDS, Oracle, OracleCache, is_ok, unknown_keywords
from alff.selection import build_selector
from alff.steps.seed import seed_step
from alff.structure_io import read_frames, write_frames
from conftest import default_config, seed_frames
from test_protocols import ToyPairModel

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "config" / "schema.yaml"


def al(seed=0):
    a = bulk("Al", "fcc", a=4.05, cubic=True)
    a.rattle(0.05, seed=seed)
    return a


# ----------------------------------------------------------------- oracle
class WrongShape(EMT):
    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.results["forces"] = self.results["forces"][:-1]


class Huge(EMT):
    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.results["forces"] = self.results["forces"] * 1e12


class Unconverged(EMT):
    """Reports its SCF as unconverged the way ASE's VASP reader does."""

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.converged = False


class Flaky(EMT):
    """Fails with an I/O error (a killed worker) on the first call of each
    instance count given by a class counter, then works."""

    failures_left = 0
    attempts = 0

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        type(self).attempts += 1
        if type(self).failures_left > 0:
            type(self).failures_left -= 1
            raise OSError("worker process died")
        super().calculate(atoms, properties, system_changes)


class Deterministic(Calculator):
    implemented_properties = ["energy", "forces"]
    attempts = 0

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        type(self).attempts += 1
        raise RuntimeError("SCF not converged after 100 iterations")


def test_every_oracle_kind_has_a_finite_default_timeout():
    for kind in KINDS:
        assert np.isfinite(DEFAULT_TIMEOUT_S[kind]) and DEFAULT_TIMEOUT_S[kind] > 0
    assert Oracle("emt").timeout_s == DEFAULT_TIMEOUT_S["emt"]
    assert Oracle("calculator", calculator="ase.calculators.emt.EMT").timeout_s == DEFAULT_TIMEOUT_S["calculator"]
    with pytest.raises(ValueError, match="timeout_s"):
        Oracle("emt", timeout_s=0)


@pytest.mark.parametrize("cls, reason", [
    ("WrongShape", "forces have shape (3, 3), expected (4, 3)"),
    ("Huge", "above oracle.max_force_eV_A"),
    ("Unconverged", "not converged"),
])
def test_results_that_cannot_be_labels_are_failed_records(tmp_path, cls, reason):
    cache = OracleCache(tmp_path, Oracle("calculator", calculator=f"{__name__}.{cls}"))
    lab = cache.label(al())
    assert not is_ok(lab) and reason in lab.info["oracle_reason"]
    assert cache.failures and reason in cache.failures[0]
    # the cache holds exactly the failed record, no temporary file
    assert sorted(p.name.endswith(".extxyz") for p in tmp_path.iterdir()) == [True]
    assert not is_ok(read_frames(next(tmp_path.iterdir()))[0])


def test_transient_failures_are_retried_and_others_are_not():
    Flaky.failures_left, Flaky.attempts = 1, 0
    lab = Oracle("calculator", calculator=f"{__name__}.Flaky", retries=2).label(al())
    assert is_ok(lab) and lab.info["oracle_attempts"] == 2 and Flaky.attempts == 2
    Flaky.failures_left, Flaky.attempts = 5, 0
    lab = Oracle("calculator", calculator=f"{__name__}.Flaky", retries=2).label(al())
    assert not is_ok(lab) and Flaky.attempts == 3 and "after 3 attempts" in lab.info["oracle_reason"]
    Deterministic.attempts = 0
    lab = Oracle("calculator", calculator=f"{__name__}.Deterministic", retries=3).label(al())
    assert not is_ok(lab) and Deterministic.attempts == 1 and "SCF not converged" in lab.info["oracle_reason"]


def test_a_hanging_oracle_times_out_and_is_retried():
    class_path = "test_oracle.Slow"  # sleeps 3 s
    o = Oracle("calculator", calculator=class_path, timeout_s=0.2, retries=1)
    lab = o.label(al())
    assert not is_ok(lab) and "timeout" in lab.info["oracle_reason"] and lab.info["oracle_attempts"] == 2


def test_unknown_oracle_keywords_are_rejected():
    with pytest.raises(ValueError, match=r"LennardJones takes no keyword\(s\) \['foo'\]"):
        Oracle("lj", {"foo": 1})
    with pytest.raises(ValueError, match=r"\['foo'\].*asap_cutoff"):
        Oracle("emt", {"foo": 1})
    with pytest.raises(ValueError, match=r"\['fail_evry'\]"):
        Oracle("calculator", {"log_path": "x", "fail_evry": 2}, calculator="oracles.CountingEMT")
    Oracle("lj", {"sigma": 2.6, "epsilon": 0.4, "rc": 6.0})
    # calculators with their own parameter tables accept what they document
    from ase.calculators.lammpslib import LAMMPSlib
    from ase.calculators.vasp import Vasp
    assert unknown_keywords(Vasp, {"encut": 400, "ismear": 0}) == []
    assert unknown_keywords(LAMMPSlib, {"lmpcmds": []}) == []


def test_failed_writes_leave_no_temporary_file(tmp_path, monkeypatch):
    import alff.structure_io as sio
    p = tmp_path / "x.extxyz"
    write_frames(p, [al()])

    def broken(*a, **k):
        Path(a[0]).write_text("half")
        raise OSError("disk full")

    monkeypatch.setattr(sio, "write", broken)
    with pytest.raises(OSError):
        write_frames(p, [al(1)])
    assert [q.name for q in tmp_path.iterdir()] == ["x.extxyz"]
    assert len(read_frames(p)) == 1


# ----------------------------------------------------------------- config
config = default_config


@pytest.mark.parametrize("over, message", [
    ({"run": ".."}, "run: '..' does not match"),
    ({"run": "a/b"}, "run: 'a/b' does not match"),
    ({"explore.scenarios": [{"name": "main", "strain": -1.0}]}, "explore.scenarios[0].strain"),
    ({"explore.timestep_fs": 200.0}, "explore.timestep_fs: 200.0 is greater than the maximum of 20"),
    ({"system.element": "Qq"}, "system.element: 'Qq' is not a chemical symbol"),
    ({"system.crystal": "hcp"}, "system.cubic: an hcp crystal has no conventional cubic cell"),
    ({"system.element": "Fe", "system.crystal": "bcc", "system.a": 2.87}, "oracle.kind: ASE's EMT has no parameters for ['Fe']"),
    ({"oracle.kind": "lj", "oracle.params": {"foo": 1}}, "oracle.params: LennardJones takes no keyword(s) ['foo']"),
    ({"oracle.timeout_s": 0}, "oracle.timeout_s: 0 is less than or equal to the minimum of 0"),
    ({"learn.limits": {"max_failed_fraction": 2}}, "learn.limits.max_failed_fraction"),
    ({"schemes.flare.model.cutoffs": {"twobody": None, "threebody": None}}, "every body order is null"),
])
def test_bad_input_is_rejected_naming_the_key(over, message):
    with pytest.raises(ConfigError) as err:
        validate_config(config(**over), SCHEMA)
    assert message in str(err.value)


def test_a_body_order_can_be_dropped():
    cfg = validate_config(config(**{"schemes.flare.model.cutoffs": {"twobody": 4.0}}), SCHEMA)
    assert cfg["schemes"]["flare"]["model"]["cutoffs"] == {"twobody": 4.0}
    cfg = validate_config(config(**{"schemes.flare.model.cutoffs": {"twobody": 5.0, "threebody": None}}), SCHEMA)
    assert cfg["schemes"]["flare"]["model"]["cutoffs"] == {"twobody": 5.0}
    cfg = validate_config(config(), SCHEMA)
    assert cfg["schemes"]["flare"]["model"]["cutoffs"] == {"twobody": 5.0, "threebody": 4.0}


def test_seed_failure_names_the_oracles_reason(tmp_path):
    system = {"kind": "bulk", "element": "Fe", "crystal": "bcc", "a": 2.87, "cubic": True, "repeat": [1, 1, 1]}
    seed = {"method": "md", "temperature_K": 300.0, "steps": 2, "keep_every": 1, "init_atoms": 0,
            "timestep_fs": 5.0, "ensemble": "langevin"}
    with pytest.raises(RuntimeError, match="every seed structure failed labelling.*No EMT-potential for Fe"):
        seed_step(system, seed, {"kind": "emt"}, 0, tmp_path / "t.extxyz", tmp_path / "s.extxyz", tmp_path / "c")
    assert not (tmp_path / "t.extxyz").exists()


# ------------------------------------------------------------------ limits
def test_limits_judge_failed_fractions():
    lim = Limits(max_failed_fraction=0.5, min_calls=4)
    lim.check_failures(3, 3)  # too few to judge mid-run
    lim.check_failures(4, 2)  # 50% is allowed
    with pytest.raises(RunLimitError, match="every learning oracle call failed"):
        lim.check_failures(2, 2, final=True)
    with pytest.raises(RunLimitError, match=r"3 of 5 learning oracle calls failed \(60%\).*max_failed_fraction=0.5"):
        lim.check_failures(5, 3)


def test_closest_pair_and_guard():
    a = bulk("Al", "fcc", a=4.05, cubic=True).repeat((2, 2, 2))
    d_nn = 4.05 / np.sqrt(2)
    assert closest_pair_distance(a, 3.0) == pytest.approx(d_nn)
    assert closest_pair_distance(a, 2.0) == np.inf
    sched = Schedule.from_config({"schedule": [{"temperature_K": 300.0, "steps": 10},
                                               {"temperature_K": 1000.0, "steps": 10}]})
    guard = Limits().structure_guard(a, sched)
    assert guard.max_temperature_K == pytest.approx(3000.0) and guard.min_distance_A == pytest.approx(d_nn / 2)
    guard.check_temperature(2900.0, 5)
    with pytest.raises(RunLimitError, match="max_temperature_factor"):
        guard.check_temperature(8e29, 5)
    b = a.copy()
    b.positions[1] = b.positions[0] + [0.43, 0, 0]
    with pytest.raises(RunLimitError, match=r"0.430 A apart.*min_pair_distance_fraction"):
        guard.check_distances(b, 7)
    b.positions[1] = np.nan
    with pytest.raises(RunLimitError, match="non-finite positions"):
        guard.check_distances(b, 7)


def otf_run(tmp_path, oracle, timestep_fs=5.0, steps=60, every=10, learn=None):
    frames = seed_frames(2, 8)
    model = ToyPairModel().fit(frames, [np.flatnonzero(f.arrays["train_mask"]) for f in frames])
    sched = Schedule.from_config({"timestep_fs": timestep_fs,
                                  "schedule": [{"temperature_K": 300.0, "steps": steps, "phase": "solid"}]})
    sel = build_selector({"kind": "test_protocols:EveryNSelector", "every": every})
    settings = dict({"max_oracle_calls": 50, "failure_cooldown_steps": 0, "log_every": 5, "progress_s": 100.0},
                    **(learn or {}))
    driver = OnTheFly(model, sel, OracleCache(tmp_path / "cache", oracle), settings, tmp_path / "ckpt", "fp")
    start = start_state(frames[-1], 0.0, 1)
    return driver, [Scenario("main", sched, start)]


def test_a_run_whose_labels_all_fail_stops_and_keeps_its_checkpoint(tmp_path):
    driver, scen = otf_run(tmp_path, Oracle("calculator", calculator=f"{__name__}.Huge"))
    with pytest.raises(RunLimitError, match="every learning oracle call failed \\(4 of 4\\)"):
        driver.run(scen)
    assert (tmp_path / "ckpt" / "latest.json").exists()
    assert len(list((tmp_path / "cache").glob("*.extxyz"))) == 4


def test_a_short_run_whose_few_labels_all_failed_stops_at_the_end(tmp_path):
    driver, scen = otf_run(tmp_path, Oracle("calculator", calculator=f"{__name__}.Huge"), steps=25)
    with pytest.raises(RunLimitError, match="2 of 2"):
        driver.run(scen)


def test_a_blown_up_trajectory_stops_before_more_oracle_calls(tmp_path):
    # 200 fs steps: atoms collide within a few steps; the guard stops the
    # run before the selector's next label (every 10 steps)
    driver, scen = otf_run(tmp_path, Oracle("emt"), timestep_fs=200.0, every=10)
    with pytest.raises(RunLimitError, match="learn.limits"):
        driver.run(scen)
    assert len(list((tmp_path / "cache").glob("*.extxyz"))) <= 1


def test_nan_positions_are_a_clear_error_before_any_compiled_code():
    from alff.neighbors import neighbor_list
    a = al()
    a.positions[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"non-finite positions of atoms \[2\]"):
        neighbor_list(a.positions, a.cell[:], a.pbc, 4.0)


def test_nan_positions_given_to_models_are_a_clear_error():
    from alff.models import build_model
    from alff.models.mapped import MappedPotential
    frames = seed_frames(2, 3)
    gp = build_model({"kind": "gp", "cutoffs": {"twobody": 4.0, "threebody": 3.5}, "maxiter": 0})
    gp.fit(frames, [np.flatnonzero(f.arrays["train_mask"]) for f in frames])
    bad = frames[0].copy()
    bad.positions[1, 0] = np.nan
    with pytest.raises(ValueError, match=r"non-finite positions of atoms \[1\]"):
        gp.predict(bad, return_std=True)
    mapped = MappedPotential.from_model(gp, grid={"twobody": 0.2, "threebody": 0.5})
    with pytest.raises(ValueError, match=r"non-finite positions of atoms \[1\]"):
        mapped.predict(bad)
