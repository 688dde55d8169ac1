"""Shared fixtures: small labelled structures, seeded."""

import copy
from pathlib import Path

import numpy as np
import yaml
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator

A_AL = 4.046


def rattled_al(seed, reps=(2, 2, 2), amp=0.05 * A_AL, label=True):
    """fcc Al supercell with uniform displacements, labelled by EMT."""
    rng = np.random.default_rng(seed)
    atoms = bulk("Al", "fcc", a=A_AL, cubic=True).repeat(reps)
    atoms.positions += rng.uniform(-amp, amp, atoms.positions.shape)
    if label:
        label_emt(atoms)
    return atoms


def label_emt(atoms):
    atoms.calc = EMT()
    res = dict(energy=atoms.get_potential_energy(), forces=atoms.get_forces())
    if atoms.pbc.all():
        res["stress"] = atoms.get_stress()
    atoms.calc = SinglePointCalculator(atoms, **res)
    return atoms


def rattled_cells(n, seed, amp=0.12):
    """``n`` 16-atom fcc Al cells with Gaussian displacements of std ``amp``
    (A), labelled by EMT."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        a = bulk("Al", "fcc", a=4.05, cubic=True).repeat((2, 2, 1))
        a.positions += rng.normal(0, amp, a.positions.shape)
        out.append(label_emt(a))
    return out


def rattled_alcu(seed, amp=0.15):
    """Two-species fcc cell (Al/Cu), labelled by EMT."""
    rng = np.random.default_rng(seed)
    atoms = bulk("Al", "fcc", a=3.9, cubic=True).repeat((2, 2, 1))
    atoms.numbers[rng.permutation(len(atoms))[: len(atoms) // 2]] = 29
    atoms.positions += rng.uniform(-amp, amp, atoms.positions.shape)
    return label_emt(atoms)


def seed_frames(n=2, init_atoms=3):
    """``n`` rattled 8-atom Al cells labelled by EMT, ``init_atoms`` random
    atoms of each marked for training (a tiny seed)."""
    from alff.learning import initial_training
    from alff.oracle import Oracle
    orc = Oracle("emt")
    frames = []
    for k in range(n):
        a = bulk("Al", "fcc", a=4.05, cubic=True).repeat((1, 1, 2))
        a.rattle(0.03, seed=k)
        frames.append(orc.label(a))
    return initial_training(frames, init_atoms, np.random.default_rng(0))


@pytest.fixture(scope="session")
def al_frames():
    return [rattled_al(s) for s in range(4)]


@pytest.fixture(scope="session")
def small_cluster():
    """A 4-atom open cluster (no periodicity)."""
    pos = np.array([[0.0, 0.0, 0.0], [2.5, 0.2, 0.1], [0.3, 2.4, -0.2], [1.2, 1.1, 2.2]])
    return Atoms("Al4", positions=pos)


def default_config(**over):
    """config/config.yaml (the embedded default) with dotted-key overrides,
    ``default_config(**{"system.element": "Fe"})``."""
    cfg = copy.deepcopy(_EMBEDDED)
    for key, value in over.items():
        d = cfg
        *head, last = key.split(".")
        for h in head:
            d = d.setdefault(h, {})
        d[last] = value
    return cfg


_EMBEDDED = yaml.safe_load((Path(__file__).resolve().parents[1] / "config" / "config.yaml").read_text())


@pytest.fixture(scope="session")
def tiny_otf_run(tmp_path_factory):
    """One finished tiny on-the-fly pipeline run (tests/test_pipeline.py's
    ``tiny_config(.., "otf")``), shared by the tests that only read it or
    dry-run against it (copy it with :func:`copy_run` before changing it):
    a full run costs about a minute. Returns (directory, config path, config
    dict, the CompletedProcess of the run)."""
    from test_pipeline import snakemake, tiny_config
    work = tmp_path_factory.mktemp("tiny_otf_run")
    cfg_path, cfg = tiny_config(work, "otf")
    proc = snakemake(work, cfg_path)
    return work, cfg_path, cfg, proc


def copy_run(src, dst):
    """A copy of a finished run directory that Snakemake sees as finished
    (modification times kept, its .snakemake metadata copied along)."""
    import shutil
    shutil.copytree(src, dst, symlinks=True, dirs_exist_ok=True)
    return dst
