"""The MD driver: the compiled loop for mapped potentials and moment tensor
potentials, the shared Python step (:meth:`alff.dynamics.Integrator.step`)
for any other ASE calculator; thermo rows, trajectory output and the
extrapolation grade of an MTP."""

from __future__ import annotations

import csv
import time

import numpy as np

from ..dynamics import Integrator, thermalize
from ..models.linear.maxvol import ActiveSet
from ..models.linear.mtp import MomentTensorPotential, MTPInputError
from ..models.linear.mtp_model import MTPModel
from ..models.mapped import OutOfRangeError
from .compiled import (EV_A3_TO_GPA, FS, KB, MDSettings, MDSystem, VerletList, _berendsen_mu, _bussi_factor,
                       _forces_graded, _kinetic, _run_chunk, _seed, _verlet_arrays)
from .mtp_forces import mtp_tables

__all__ = ["MD"]


class MD:
    """Molecular dynamics of an ASE ``Atoms`` with a mapped potential or a
    moment tensor potential (compiled loop) or any ASE calculator.

    Parameters
    ----------
    atoms : ase.Atoms
        Positions, cell, pbc, masses and (optional) momenta; it is updated
        in place at every output.
    potential : MappedPotential, MomentTensorPotential, MTPModel or ase Calculator
        A fitted :class:`~alff.models.linear.mtp_model.MTPModel` runs its
        :attr:`potential`. Atoms closer than a compiled potential covers
        (a mapped potential's ``rmin``, an MTP's ``r_min``) stop the run
        with :class:`~alff.models.mapped.OutOfRangeError` or
        :class:`~alff.models.linear.mtp.MTPInputError` naming the atoms.
    timestep_fs : float
    ensemble : {'nve', 'langevin', 'bussi'}
    temperature_K : float
        Target (and initial, when the atoms have no momenta) temperature.
    friction_per_fs : float
        Langevin friction.
    tau_fs : float
        Bussi relaxation time.
    pressure_GPa : float or None
        Berendsen barostat target (None: constant volume).
    barostat : {'isotropic', 'anisotropic'}
    compressibility_per_GPa : float
        Berendsen compressibility estimate (default: aluminium, 1/76 GPa).
    tau_p_fs : float
        Barostat time constant.
    skin : float
        Verlet skin (A).
    seed : int
    grade : bool or ActiveSet
        Compute every step the extrapolation grade of the configuration,
        max over atoms i and parameters j of |(b_i A^-1)_j| with the site
        row b_i = [one-hot species, B_a(i)] (and, in the MLIP mode, d E_i /
        d radial coefficients) and the active set A:
        ``True`` takes the MTPModel's :meth:`grade_matrix` (its active set,
        in the row space of its training rows where they are
        rank-deficient), an
        :class:`~alff.models.linear.maxvol.ActiveSet` is used as given
        (with an MTPModel or a MomentTensorPotential). Thermo rows then
        have a ``grade_max`` column (the largest grade since the previous
        row) and :attr:`grades` holds the grade of every step.
    grade_break : float, optional
        With ``grade``: stop the run at the first step whose grade is
        >= ``grade_break``, with the atoms at that step, a thermo row (and
        a trajectory frame, when writing one) for it, and record it in
        :attr:`stopped_by_grade` (the step) and :attr:`stop_grade` (its
        grade); :meth:`run` returns normally. A start configuration at or
        above it stops the run before the first step.

    Attributes
    ----------
    step : int
        Steps done since construction.
    grades : (step + 1,) float array
        With ``grade``: the grade at step 0, 1, ..., :attr:`step`.
    stopped_by_grade : int or None
        The step at which the last :meth:`run` stopped on ``grade_break``.
    stop_grade : float or None
        Its grade.
    mapped, compiled : bool
        A mapped potential; the compiled loop (a mapped potential or an MTP).
    """

    def __init__(self, atoms, potential, timestep_fs=1.0, ensemble="nve", temperature_K=300.0,
                 friction_per_fs=0.01, tau_fs=100.0, pressure_GPa=None, barostat="isotropic",
                 compressibility_per_GPa=1.0 / 76.0, tau_p_fs=500.0, skin=1.0, seed=0, grade=False,
                 grade_break=None):
        if ensemble not in ("nve", "langevin", "bussi"):
            raise ValueError(f"ensemble must be nve, langevin or bussi, got '{ensemble}'")
        if barostat not in ("isotropic", "anisotropic"):
            raise ValueError(f"barostat must be isotropic or anisotropic, got '{barostat}'")
        self.atoms = atoms
        self.potential = potential
        self.dt = float(timestep_fs) * FS
        self.ensemble = ensemble
        self.T = float(temperature_K)
        self.gamma = float(friction_per_fs) / FS
        self.tau = float(tau_fs) * FS
        self.pressure = pressure_GPa
        self.baro = 0 if pressure_GPa is None else (1 if barostat == "isotropic" else 2)
        self.kappa = float(compressibility_per_GPa) * EV_A3_TO_GPA  # per (eV/A^3)
        self.tau_p = float(tau_p_fs) * FS
        self.seed = int(seed)
        self.step = 0
        self.mapped = hasattr(potential, "kernel_args")  # a compiled kernel: the compiled loop
        self.mtp, self.active = self._mtp_setup(potential, grade, grade_break)
        self._model_grade = grade is True
        self.compiled = self.mapped or self.mtp is not None
        self.grade_break = None if grade_break is None else float(grade_break)
        self.stopped_by_grade = self.stop_grade = None
        self._grades, self._row_grade = [], 0.0
        m = atoms.get_masses()
        self.m = np.ascontiguousarray(m, float)
        rng = np.random.default_rng(seed)
        if not atoms.has("momenta") or not np.any(atoms.get_momenta()):
            atoms.set_momenta(thermalize(m, self.T, rng))
        self.ndof = 3 * len(atoms) - 3
        self.timings = {"force_loop_s": 0.0, "rebuild_s": 0.0, "output_s": 0.0}
        if self.compiled:
            self.codes = potential.codes(atoms) if self.mapped else self.mtp.types(atoms)
            self.vl = VerletList(potential.cutoff if self.mapped else self.mtp.r_max, skin)
            _seed(self.seed)
        else:
            self.rng = rng
            self.integ = Integrator(self.m, timestep_fs, friction_per_fs)
            _seed(self.seed)  # the Bussi step draws from numba's generator

    # ------------------------------------------------------------- helpers
    @staticmethod
    def _mtp_setup(potential, grade, grade_break):
        """(MomentTensorPotential or None, ActiveSet or grade matrix or None)
        of the arguments; errors for a grade without an active set."""
        mtp = potential if isinstance(potential, MomentTensorPotential) else None
        if isinstance(potential, MTPModel):
            if potential.coef_ is None:
                raise RuntimeError("MD: the MTPModel is not fitted: call fit first")
            mtp = potential.potential
        active = grade if isinstance(grade, ActiveSet) else None
        if grade is True:
            if not isinstance(potential, MTPModel):
                raise ValueError(f"MD(grade=True) needs an MTPModel (its active set), got a "
                                 f"{type(potential).__name__}; pass grade=<ActiveSet> for a bare potential")
            active = potential.grade_matrix()
        elif grade is not False and active is None:
            raise TypeError(f"MD: grade must be True, False or an ActiveSet, got {type(grade).__name__}")
        if active is not None and mtp is None:
            raise ValueError(f"MD: the extrapolation grade needs a moment tensor potential, got a "
                             f"{type(potential).__name__}")
        if grade_break is not None and active is None:
            raise ValueError("MD: grade_break needs grade=True (or an ActiveSet)")
        return mtp, active

    @property
    def grading(self):
        """The loop computes the extrapolation grade."""
        return self.active is not None

    @property
    def grades(self):
        """(step + 1,) grade of every step so far (empty without ``grade``)."""
        return np.concatenate(self._grades) if self._grades else np.zeros(0)

    def _tables(self):
        """The compiled potential's argument tuple, at the start of every
        run: an MTPModel refitted between runs runs its new coefficients
        (and, with ``grade=True``, its new active set)."""
        if self.mapped:
            return self.potential.kernel_args()
        if isinstance(self.potential, MTPModel):
            self.mtp = self.potential.potential
            if self._model_grade:
                self.active = self.potential.grade_matrix()
            self.codes = self.mtp.types(self.atoms)
        return mtp_tables(self.mtp, self.active)

    def _out_of_range(self, x, cell):
        """Raise the potential's own error naming the atoms closer than it covers."""
        a = self.atoms
        a.positions[:] = x
        a.set_cell(cell, scale_atoms=False)
        if self.mapped:
            self.potential.predict(a)  # raises OutOfRangeError naming the atoms
            raise OutOfRangeError("a pair left the mapped range")
        self.mtp.neighbors(a)  # raises MTPInputError naming the atoms
        raise MTPInputError(f"a pair is closer than the MTP's r_min = {self.mtp.r_min:g} A")

    def thermo(self, energy, W):
        a = self.atoms
        ek = 0.5 * float(np.sum(a.get_momenta() ** 2 / self.m[:, None]))
        T = 2.0 * ek / (self.ndof * KB)
        V = a.get_volume() if a.pbc.all() else 0.0
        P = (2.0 * ek - np.trace(W)) / (3.0 * V) * EV_A3_TO_GPA if V > 0 else float("nan")
        row = {"step": self.step, "time_ps": self.step * self.dt / FS / 1000.0, "temperature_K": T,
               "potential_energy_eV": energy, "kinetic_energy_eV": ek, "total_energy_eV": energy + ek,
               "pressure_GPa": P, "volume_A3": V}
        if self.grading:
            row["grade_max"] = self._row_grade
            self._row_grade = 0.0
        return row

    # ----------------------------------------------------------------- run
    def run(self, steps, thermo_every=100, trajectory=None, traj_every=0, thermo_csv=None, progress=None):
        """Integrate ``steps`` steps.

        Parameters
        ----------
        steps : int
        thermo_every : int
            Steps between thermo rows.
        trajectory : str or Path, optional
            Extended-XYZ file, appended every ``traj_every`` steps.
        thermo_csv : str or Path, optional
            Thermo rows as CSV.
        progress : callable, optional
            Called with each thermo row.

        Returns
        -------
        list of dict
            Thermo rows (step, time_ps, temperature_K, potential /
            kinetic / total energy, pressure_GPa, volume_A3; with a grade
            grade_max). A run stopped by ``grade_break`` ends with the row
            of the step that stopped it (:attr:`stopped_by_grade`).
        """
        a = self.atoms
        x = np.array(a.positions, float)
        v = np.array(a.get_momenta() / self.m[:, None], float)  # ASE velocity units
        cell = np.array(a.cell[:], float)
        pbc = np.asarray(a.pbc, bool)
        self.stopped_by_grade = self.stop_grade = None
        if self.compiled:
            self._args = self._tables()
        energy, F, W = self._initial_forces(x, cell, pbc)
        target = self.step + int(steps)
        traj_every = int(traj_every) if trajectory else 0
        out = _Output(self, thermo_csv, trajectory, progress)
        try:
            out.thermo(x, v, cell, energy, W)
            if traj_every:
                out.frame(x)
            while self.step < target and self.stopped_by_grade is None:
                nxt = target
                for every in (thermo_every, traj_every):
                    if every:
                        nxt = min(nxt, (self.step // every + 1) * every)
                energy = self._chunk(x, v, cell, pbc, F, W, nxt - self.step)
                stop = self.stopped_by_grade is not None
                if self.step % thermo_every == 0 or self.step == target or stop:
                    out.thermo(x, v, cell, energy, W)
                if traj_every and (self.step % traj_every == 0 or stop):
                    out.frame(x)
        finally:
            out.close()
        a.positions[:] = x
        a.set_cell(cell, scale_atoms=False)
        a.set_momenta(v * self.m[:, None])
        return out.rows

    def _chunk(self, x, v, cell, pbc, F, W, todo):
        """``todo`` steps (fewer when the compiled loop must rebuild its
        Verlet list); the arrays are updated in place. Returns the energy."""
        t0 = time.perf_counter()
        if not self.compiled:
            energy = self._python_steps(x, v, cell, pbc, F, W, todo)
            self.step += todo
            self.timings["force_loop_s"] += time.perf_counter() - t0
            return energy
        grades = np.zeros(todo)
        # grade_break None: the largest float, never reached (the loop is fastmath: no infinities)
        brk = np.finfo(float).max if self.grade_break is None else min(self.grade_break, np.finfo(float).max)
        done, energy, rebuild, bad, stopped = _run_chunk(
            MDSystem(positions=x, velocities=v, masses=self.m, cell=cell, pbc=pbc, codes=self.codes, forces=F,
                     virial=W),
            _verlet_arrays(self.vl), self._args,
            MDSettings(timestep=self.dt, ensemble={"nve": 0, "langevin": 1, "bussi": 2}[self.ensemble],
                       temperature=self.T, friction=self.gamma, tau=self.tau, barostat=self.baro,
                       pressure=0.0 if self.pressure is None else self.pressure / EV_A3_TO_GPA,
                       compressibility=self.kappa, tau_p=self.tau_p, ndof=self.ndof, grade_break=brk),
            todo, grades)
        self.step += done
        self.timings["force_loop_s"] += time.perf_counter() - t0
        if self.grading and done:
            self._grades.append(grades[:done])
            self._row_grade = max(self._row_grade, float(grades[:done].max()))
        if bad >= 0:
            self._out_of_range(x, cell)
        if stopped:
            self.stopped_by_grade, self.stop_grade = self.step, float(grades[done - 1])
        if rebuild:
            t0 = time.perf_counter()
            self.vl.build(x, cell, pbc)
            self.timings["rebuild_s"] += time.perf_counter() - t0
        return energy

    def _initial_forces(self, x, cell, pbc):
        if self.compiled:
            self.vl.build(x, cell, pbc)
            e, _, F, W, bad, grade = _forces_graded(x, cell, _verlet_arrays(self.vl), self.codes, self._args)
            if bad >= 0:
                self._out_of_range(x, cell)
            if self.grading:
                if sum(len(g) for g in self._grades) == self.step:  # not yet recorded (the first run)
                    self._grades.append(np.array([grade]))
                self._row_grade = grade
                if self.grade_break is not None and grade >= self.grade_break:
                    self.stopped_by_grade, self.stop_grade = self.step, float(grade)
            return e, np.ascontiguousarray(F), np.ascontiguousarray(W)
        return self._ase_forces(x, cell)

    def _ase_forces(self, x, cell):
        a = self.atoms
        a.set_cell(cell, scale_atoms=False)
        a.positions[:] = x
        if a.calc is not self.potential:
            a.calc = self.potential
        e = a.get_potential_energy()
        F = np.array(a.get_forces())
        W = np.zeros((3, 3))
        if self.baro or a.pbc.all():
            try:
                s = a.get_stress(voigt=False)
                W = s * a.get_volume()
            except Exception:  # noqa: BLE001 - calculators without stress
                if self.baro:
                    raise
        return e, F, W

    def _python_steps(self, x, v, cell, pbc, F, W, nsteps):
        """MD of a potential without a compiled kernel, through its ASE
        calculator: alff's one Python step
        (:meth:`~alff.dynamics.Integrator.step`: kicks, drift, Langevin
        noise), with the compiled Berendsen and Bussi steps."""
        m = self.m[:, None]
        ens = "langevin" if self.ensemble == "langevin" else "nve"
        energy = {"e": 0.0}

        def on_drift(xn, p):
            if not self.baro:
                return xn
            mu = _berendsen_mu(_kinetic(p / m, self.m), W, abs(np.linalg.det(cell)),
                               self.pressure / EV_A3_TO_GPA, self.kappa, self.dt, self.tau_p, self.baro, pbc)
            cell[:] = cell * mu[None, :]
            return xn * mu[None, :]

        def evaluate(xn, p):
            energy["e"], Fn, Wn = self._ase_forces(xn, cell)
            W[:] = Wn
            return {"forces": Fn}

        for _ in range(nsteps):
            xn, p, res = self.integ.step(x, v * m, F, evaluate, ens, self.T, self.rng, on_drift)
            x[:] = xn
            F[:] = res["forces"]
            v[:] = p / m
            if self.ensemble == "bussi":
                ek = 0.5 * float(np.sum(m * v * v))
                v *= _bussi_factor(ek, 0.5 * self.ndof * KB * self.T, self.ndof, self.dt / self.tau)
        return energy["e"]


class _Output:
    """Thermo rows (kept, CSV, progress callback) and trajectory frames of
    one :meth:`MD.run`."""

    def __init__(self, md, thermo_csv=None, trajectory=None, progress=None):
        self.md = md
        self.rows = []
        self.fh = open(thermo_csv, "w", newline="") if thermo_csv else None
        self.writer = None
        self.trajectory = trajectory
        self.progress = progress

    def thermo(self, x, v, cell, energy, W):
        md, a = self.md, self.md.atoms
        t0 = time.perf_counter()
        a.set_cell(cell, scale_atoms=False)
        a.positions[:] = x
        a.set_momenta(v * md.m[:, None])
        row = md.thermo(energy, W)
        self.rows.append(row)
        if self.fh is not None:
            if self.writer is None:
                self.writer = csv.DictWriter(self.fh, fieldnames=list(row))
                self.writer.writeheader()
            self.writer.writerow(row)
            self.fh.flush()
        if self.progress:
            self.progress(row)
        md.timings["output_s"] += time.perf_counter() - t0

    def frame(self, x):
        from ase.io import write
        self.md.atoms.positions[:] = x
        b = self.md.atoms.copy()
        b.calc = None
        b.info.update(step=self.md.step)
        write(str(self.trajectory), b, format="extxyz", append=True)

    def close(self):
        if self.fh is not None:
            self.fh.close()
