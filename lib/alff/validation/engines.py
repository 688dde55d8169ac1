"""The two sides of every validation: the learned (mapped) potential and the
reference (the oracle itself, or asap3's compiled EMT for big cells), and
sampling MD runs with either."""

from __future__ import annotations

import logging

import numpy as np

from ..md import MD
from ..oracle import Oracle

__all__ = ["Engine", "model_engine", "reference_engine", "sample_md", "guarded"]

log = logging.getLogger("alff.validate")
# progress lines: the log file, and the terminal at a steady rate (alff.jobs.job)
progress = logging.getLogger("alff.progress.validate")


class Engine:
    """A named potential: ``make()`` returns what :class:`alff.md.MD`
    takes (a MappedPotential, run in the compiled loop, or a new ASE
    calculator); ``calculator()`` always an ASE calculator.

    Parameters
    ----------
    name : {'model', 'oracle'}
    label : str
        Shown in figures and the summary (e.g. ``alff mapped``, ``EMT``).
    make : callable
    calculator : callable
    """

    def __init__(self, name, label, make, calculator):
        self.name = name
        self.label = label
        self.make = make
        self.calculator = calculator


def model_engine(model_path):
    """The learned potential saved at ``model_path`` (json): a mapped
    potential or a model with ``compiled_md`` (the MTP) runs in the compiled
    MD loop, any other model through its ASE calculator."""
    from ..models import load_model
    pot = load_model(model_path)
    compiled = pot.kind == "mapped" or getattr(pot, "compiled_md", False)
    label = "alff (mapped)" if pot.kind == "mapped" else f"alff ({pot.kind})"
    if pot.kind == "mtp":
        label = f"alff (MTP level {pot.level})"
    return Engine("model", label, (lambda: pot) if compiled else pot.calculator, pot.calculator)


def reference_engine(oracle_cfg, choice, section):
    """The reference of a validation section.

    Parameters
    ----------
    oracle_cfg : dict
        The ``oracle`` config section.
    choice : {'oracle', 'asap3', 'auto', 'none'}
        ``oracle``: the run's oracle through ASE; ``asap3``: asap3's
        compiled EMT (only for an EMT oracle; ~70x faster, its parameters
        differ slightly from ASE's EMT, see README); ``auto``: asap3 for an
        EMT oracle when it is installed, else the oracle; ``none``: no
        reference.
    section : str
        Config key path, for error messages.

    Returns
    -------
    Engine or None
    """
    if choice == "none":
        return None
    kind = oracle_cfg.get("kind", "emt")
    if choice in ("asap3", "auto") and kind == "emt" and not oracle_cfg.get("params"):
        try:
            from asap3 import EMT as AsapEMT
            return Engine("oracle", "EMT (asap3)", AsapEMT, AsapEMT)
        except ImportError:
            if choice == "asap3":
                raise ValueError(f"{section}.reference: 'asap3' needs the asap3 package (pip install asap3)")
            log.warning("%s.reference auto: asap3 is not installed, the reference runs ASE's EMT (slower)",
                        section)
    elif choice == "asap3":
        raise ValueError(f"{section}.reference: 'asap3' is asap3's EMT, which stands in only for the emt oracle "
                         f"(oracle.kind is '{kind}')")
    oracle = Oracle.from_config(oracle_cfg)
    label = "EMT" if kind == "emt" else f"oracle ({kind})"
    return Engine("oracle", label, oracle.make_calculator, oracle.make_calculator)


def sample_md(atoms, engine, temperature_K, timestep_fs, equilibrate_steps, steps, every, seed,
              pressure_GPa=None, ensemble="bussi", progress_label="", keep_momenta=False):
    """Equilibrate, then sample frames and thermodynamics.

    Parameters
    ----------
    atoms : ase.Atoms
        Start structure (not modified).
    engine : Engine
    temperature_K, timestep_fs : float
    equilibrate_steps, steps, every : int
    seed : int
    pressure_GPa : float or None
        Berendsen isotropic barostat target (None: constant volume).
    keep_momenta : bool
        Start from the atoms' momenta (continuing a run) instead of at rest.

    Returns
    -------
    frames : list of ase.Atoms
        ``steps // every + 1`` snapshots (positions, cell).
    thermo : list of dict
        Rows of :meth:`alff.md.MD.thermo` at the snapshots.
    """
    a = atoms.copy()
    if not keep_momenta:
        a.set_momenta(np.zeros((len(a), 3)))
    md = MD(a, engine.make(), timestep_fs=timestep_fs, ensemble=ensemble, temperature_K=temperature_K,
            pressure_GPa=pressure_GPa, seed=seed)
    if equilibrate_steps:
        md.run(equilibrate_steps, thermo_every=max(equilibrate_steps, 1))
    md.step = 0  # production starts here: frames every `every` steps from it
    frames, thermo = [], []
    report_every = max(1, (steps // every) // 5)

    def keep(row):  # called with the atoms updated, at every `every`-th step
        b = a.copy()
        b.calc = None
        frames.append(b)
        thermo.append(row)
        k = len(frames) - 1
        if progress_label and k and k % report_every == 0:
            progress.info("%s: %d/%d steps, T %.0f K, Epot %.4f eV/atom", progress_label, k * every, steps,
                          row["temperature_K"], row["potential_energy_eV"] / len(a))

    md.run(steps // every * every, thermo_every=every, progress=keep)
    return frames, thermo


def guarded(fn, engine, what):
    """``fn()``, or None when the model leaves its range (a mapped
    potential's spline range, an MTP's r_min: the protocol then reports NaN
    for the model and goes on; the reference's errors propagate)."""
    from ..models.linear.mtp import MTPInputError
    from ..models.mapped import OutOfRangeError
    try:
        return fn()
    except (OutOfRangeError, MTPInputError) as err:
        if engine.name != "model":
            raise
        log.warning("%s: the model left its range (%s); its value is NaN. Learn this region (hotter or "
                    "longer exploration) before trusting the model here", what, err)
        return None
