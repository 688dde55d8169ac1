"""The Model and Selector protocols, proved by a toy second model and a toy
second selector defined only here: both run through the same on-the-fly and
batch pipelines as the GP and the FLARE threshold (tests/ is on the jobs'
PYTHONPATH, so the config names them by import path)."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from ase.neighborlist import neighbor_list

from alff.models import Model, ModelCalculator, build_model, load_model
from alff.models.mapped import MappedPotential
from alff.selection import CONTINUE, LABEL, Selector, build_selector
from conftest import rattled_al
from test_pipeline import calls, snakemake, tiny_config


class ToyPairModel:
    """Bayesian linear pair potential: E = 1/2 sum_ij sum_k w_k phi_k(r_ij),
    phi_k(r) = exp(-r / s_k) (1 - r / rc)^2; forces are linear in w, fitted
    by ridge regression; the posterior gives each force component's std."""

    kind = "test_protocols:ToyPairModel"
    mappable = False

    def __init__(self, cutoff=5.0, scales=(0.5, 1.0, 2.0), ridge=1e-8):
        self.cutoff = float(cutoff)
        self.scales = np.asarray(scales, float)
        self.ridge = float(ridge)
        self.w_ = None

    @classmethod
    def from_config(cls, section, previous=None):
        return cls(**section)

    # --------------------------------------------------------- descriptors
    def _pairs(self, atoms):
        i, d, D = neighbor_list("idD", atoms, self.cutoff)
        x = 1.0 - d / self.cutoff
        e = np.exp(-d[:, None] / self.scales[None, :])
        phi = e * x[:, None] ** 2
        dphi = e * (-x[:, None] ** 2 / self.scales[None, :] - 2.0 * x[:, None] / self.cutoff)
        return i, d, D, phi, dphi

    def _rows(self, atoms):
        """Energy row (K,), per-atom energy rows (N, K), force rows (N, 3, K)."""
        i, d, D, phi, dphi = self._pairs(atoms)
        n, k = len(atoms), len(self.scales)
        ea = np.zeros((n, k))
        np.add.at(ea, i, 0.5 * phi)
        fr = np.zeros((n, 3, k))
        np.add.at(fr, i, (D / d[:, None])[:, :, None] * dphi[:, None, :])
        return ea.sum(0), ea, fr

    # ---------------------------------------------------------- estimator
    def fit(self, frames, atom_indices=None):
        self.X_, self.y_ = np.zeros((0, len(self.scales))), np.zeros(0)
        self.n_train_ = 0
        return self.update(frames, atom_indices)

    def update(self, frames, atom_indices=None):
        idx = atom_indices if atom_indices is not None else [None] * len(frames)
        for f, ix in zip(frames, idx):
            ix = np.arange(len(f)) if ix is None else np.asarray(ix, int)
            _, _, fr = self._rows(f)
            self.X_ = np.vstack([self.X_, fr[ix].reshape(-1, len(self.scales))])
            self.y_ = np.concatenate([self.y_, np.asarray(f.get_forces())[ix].ravel()])
            self.n_train_ += len(ix)
        A = self.X_.T @ self.X_ + self.ridge * np.eye(len(self.scales))
        self.w_ = np.linalg.solve(A, self.X_.T @ self.y_)
        resid = self.y_ - self.X_ @ self.w_
        self.noise_ = float(max(np.sqrt(np.mean(resid ** 2)), 1e-6))
        self.cov_ = self.noise_ ** 2 * np.linalg.inv(A)
        return self

    def predict(self, atoms, properties=("forces",), return_std=False):
        e, ea, fr = self._rows(atoms)
        out = {"forces": fr @ self.w_, "energies": ea @ self.w_, "energy": float(e @ self.w_)}
        if return_std:
            out["forces_std"] = np.sqrt(np.einsum("nck,kl,ncl->nc", fr, self.cov_, fr))
            out["energies_std"] = np.sqrt(np.einsum("nk,kl,nl->n", ea, self.cov_, ea))
        return out

    def describe(self):
        return {"kind": self.kind, "n_train": self.n_train_, "noise": self.noise_,
                "settings": {"weights": self.w_.tolist()}}

    def calculator(self, return_std=False):
        return ModelCalculator(self, return_std=return_std)

    def save(self, stem):
        stem = Path(stem).with_suffix("")
        stem.parent.mkdir(parents=True, exist_ok=True)
        stem.with_suffix(".json").write_text(json.dumps({
            "format": self.kind, "cutoff": self.cutoff, "scales": self.scales.tolist(), "ridge": self.ridge,
            "noise": self.noise_, "n_train": self.n_train_}))
        np.savez(stem.with_suffix(".npz"), X=self.X_, y=self.y_, w=self.w_, cov=self.cov_)

    @classmethod
    def load(cls, stem):
        stem = Path(stem).with_suffix("")
        meta = json.loads(stem.with_suffix(".json").read_text())
        m = cls(meta["cutoff"], meta["scales"], meta["ridge"])
        with np.load(stem.with_suffix(".npz")) as z:
            m.X_, m.y_, m.w_, m.cov_ = z["X"], z["y"], z["w"], z["cov"]
        m.noise_, m.n_train_ = meta["noise"], meta["n_train"]
        return m


class EveryNSelector:
    """Label every ``every``-th MD step, all atoms; candidates in order."""

    kind = "test_protocols:EveryNSelector"

    def __init__(self, every=10):
        self.every = int(every)
        self.threshold_ = float("nan")

    @classmethod
    def from_config(cls, section):
        return cls(**section)

    def drive(self, model):
        return model

    def score(self, model, atoms, prediction):
        return prediction["forces_std"].max(axis=1)

    def verdict(self, step, score):
        return LABEL if step > 0 and step % self.every == 0 else CONTINUE

    def pick(self, candidates, n, model=None):
        return list(range(min(int(n), len(candidates))))

    def training_atoms(self, frame, score):
        return np.arange(len(frame))

    def get_state(self):
        return {}

    def set_state(self, state):
        pass


TOY = {"model": {"kind": "test_protocols:ToyPairModel", "cutoff": 5.0},
       "selector": {"kind": "test_protocols:EveryNSelector", "every": 20}}


# ------------------------------------------------------------ unit checks
@pytest.fixture(scope="module")
def toy():
    frames = [rattled_al(s, reps=(1, 1, 2)) for s in range(3)]
    return build_model(TOY["model"]).fit(frames[:2], [range(4), range(8)]), frames


def test_toy_model_forces_are_minus_the_energy_gradient(toy):
    model, frames = toy
    a = frames[2]
    f = model.predict(a, properties=("energy", "forces"))["forces"]
    h = 1e-5
    for n, x in [(0, 0), (3, 1), (5, 2)]:
        p, m = a.copy(), a.copy()
        p.positions[n, x] += h
        m.positions[n, x] -= h
        fd = -(model.predict(p, ("energy",))["energy"] - model.predict(m, ("energy",))["energy"]) / (2 * h)
        assert f[n, x] == pytest.approx(fd, abs=1e-7)
    np.testing.assert_allclose(f.sum(axis=0), 0.0, atol=1e-10)


def test_every_model_satisfies_the_protocol_and_round_trips(toy, tmp_path, al_frames):
    model, frames = toy
    from alff.models import GaussianProcess
    gp = GaussianProcess(hyps={"sigma2": 1.0, "ls2": 1.0, "sigma3": 0.1, "ls3": 1.0, "sigma_n": 0.05})
    gp.fit(al_frames[:1], [range(4)], optimize=False)
    mapped = MappedPotential.from_model(gp, grid={"twobody": 0.2, "threebody": 0.5})
    mtp = build_model({"kind": "mtp", "level": 8, "r_max": 4.5, "regression": "ridge"}).fit(al_frames[:2])
    atoms = al_frames[1]
    for m in (model, gp, mapped, mtp):
        assert isinstance(m, Model)
        assert m.noise_ > 0 and m.n_train_ > 0
        d = m.describe()
        assert d["kind"] == m.kind and d["n_train"] == m.n_train_
        m.save(tmp_path / m.kind.replace(":", "_"))
        back = load_model(tmp_path / (m.kind.replace(":", "_") + ".json"))
        assert type(back) is type(m)
        r0, r1 = m.predict(atoms, ("energy", "forces")), back.predict(atoms, ("energy", "forces"))
        np.testing.assert_array_equal(r0["forces"], r1["forces"])
        assert r0["energy"] == r1["energy"]
        a = atoms.copy()
        a.calc = m.calculator()
        np.testing.assert_allclose(a.get_forces(), r0["forces"], atol=1e-12)
        assert a.get_potential_energy() == pytest.approx(r0["energy"])


def test_toy_selector_satisfies_the_protocol():
    sel = build_selector(TOY["selector"])
    assert isinstance(sel, Selector)
    assert [sel.verdict(s, np.zeros(2)) for s in (0, 19, 20, 40)] == [CONTINUE, CONTINUE, LABEL, LABEL]


def test_model_and_selector_kinds_fail_clearly():
    with pytest.raises(ValueError, match="model.kind 'nonsense'"):
        build_model({"kind": "nonsense"})
    with pytest.raises(ValueError, match="cannot import"):
        build_model({"kind": "no_such_module:Model"})


# ----------------------------------------------------------- pipelines
def _toy_config(tmp_path, mode, schemes):
    path, cfg = tiny_config(tmp_path, mode)
    cfg["schemes"]["toy"] = TOY
    cfg["learn"]["schemes"] = schemes
    cfg["run"] = f"toy_{mode}"
    path.write_text(yaml.safe_dump(cfg))
    return path, cfg


def test_toy_scheme_beside_flare_on_the_fly(tmp_path):
    """Two schemes in one run: each under results/<run>/<scheme>/, the
    shared seed and test sets once; the toy scheme labels every 20th step."""
    cfg_path, cfg = _toy_config(tmp_path, "otf", ["flare", "toy"])
    snakemake(tmp_path, cfg_path)
    run = tmp_path / "results" / "toy_otf"
    for scheme in ("flare", "toy"):
        m = json.loads((run / scheme / "metrics.json").read_text())
        assert m["scheme"] == scheme and m["test"]["solid"]["rmse"] > 0
        assert (run / scheme / "figures" / "learning.png").stat().st_size > 1000
    toy = pd.read_csv(run / "toy" / "learn" / "calls.csv")
    assert toy["step"].tolist() == [20, 40, 60]  # 70 steps, every 20th
    assert json.loads((run / "toy" / "metrics.json").read_text())["model"]["kind"] == TOY["model"]["kind"]
    assert (run / "flare" / "potential" / "alff.uf3").exists()
    assert not (run / "toy" / "potential").exists()   # no spline mapping for the toy model
    seed = calls(tmp_path, "seed")
    assert len(seed) == cfg["seed"]["steps"] + 1        # the seed is shared, run once


def test_toy_scheme_in_batch_mode(tmp_path):
    cfg_path, cfg = _toy_config(tmp_path, "batch", ["toy"])
    snakemake(tmp_path, cfg_path)
    run = tmp_path / "results" / "toy_batch"
    m = json.loads((run / "metrics.json").read_text())
    assert m["scheme"] == "toy" and m["n_oracle_calls"] >= 2
    train = pd.read_csv(run / "learn" / "calls.csv")
    assert (train["n_added"] == 8).all()  # every atom of the 8-atom cells joins (the toy's training_atoms)
