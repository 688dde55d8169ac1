"""Molecular dynamics with the time loop in compiled code.

For a :class:`~alff.models.mapped.MappedPotential` the whole loop runs in
numba: forces from a Verlet neighbour list (built with the binned neighbour
search of :mod:`alff.neighbors` at ``cutoff + skin``, reused until an atom
moved more than ``skin / 2`` or the cell deformed too much), velocity Verlet,
thermostat and barostat. Python only regains control to rebuild the list or
write output. Any other model runs through its ASE calculator with the same
integrator at Python speed.

Ensembles
---------
- ``nve``: velocity Verlet;
- ``langevin``: BAOAB Langevin (friction in 1/fs);
- ``bussi``: stochastic velocity rescaling (Bussi, Donadio, Parrinello,
  J. Chem. Phys. 126, 014101 (2007)), canonical, relaxation time ``tau_fs``;
- a Berendsen barostat on top of any of them (``pressure_GPa``),
  isotropic or anisotropic (each cell axis of an orthogonal cell scaled by
  its own diagonal pressure).

Units: A, fs, amu, eV, K; output pressure in GPa.
"""

from __future__ import annotations

import csv
import math
import time

import numpy as np
from ase import units
from numba import njit

from .dynamics import Integrator, thermalize
from .models.mapped import MappedPotential, OutOfRangeError
from .models.mapped_kernels import mapped_energy_forces
from .neighbors import neighbor_list

__all__ = ["MD", "VerletList"]

EV_A3_TO_GPA = 160.21766208
KB = units.kB
FS = units.fs


class VerletList:
    """Neighbour list at ``cutoff + skin`` with image shifts.

    Attributes
    ----------
    first : (N + 1,) CSR pointer; nbr : (M,) neighbours; shift : (M, 3) float
        integer cell shifts of the neighbour image; x0 : (N, 3) positions and
        cell0 : (3, 3) cell at build time.
    """

    def __init__(self, cutoff, skin):
        self.cutoff = float(cutoff)
        self.skin = float(skin)
        self.builds = 0

    def build(self, x, cell, pbc):
        i, j, _, _, S = neighbor_list(x, cell, pbc, self.cutoff + self.skin)
        self.first = np.searchsorted(i, np.arange(len(x) + 1)).astype(np.int64)
        self.nbr = np.ascontiguousarray(j, np.int64)
        self.shift = np.ascontiguousarray(S, float)
        self.x0 = x.copy()
        self.cell0 = np.array(cell, float)
        self.builds += 1


@njit(cache=True)
def _vectors(x, cell, first, nbr, shift):
    m = nbr.shape[0]
    D = np.empty((m, 3))
    d = np.empty(m)
    n = first.shape[0] - 1
    for i in range(n):
        for q in range(first[i], first[i + 1]):
            j = nbr[q]
            s = 0.0
            for a in range(3):
                v = x[j, a] - x[i, a] + shift[q, 0] * cell[0, a] + shift[q, 1] * cell[1, a] + shift[q, 2] * cell[2, a]
                D[q, a] = v
                s += v * v
            d[q] = math.sqrt(s)
    return D, d


@njit(cache=True)
def _forces(x, cell, first, nbr, shift, codes, g2, Q2, pt, r2, g3a, B3a, g3b, B3b, c3, tt, r3, use3, rmin):
    D, d = _vectors(x, cell, first, nbr, shift)
    return mapped_energy_forces(x.shape[0], codes, first, nbr, D, d, g2, Q2, pt, r2, g3a, B3a, g3b, B3b, c3, tt,
                                r3, use3, rmin)


@njit(cache=True)
def _seed(s):
    np.random.seed(s)


@njit(cache=True)
def _kinetic(v, m):
    K = np.zeros((3, 3))
    for i in range(v.shape[0]):
        for a in range(3):
            for b in range(3):
                K[a, b] += m[i] * v[i, a] * v[i, b]
    return K  # 2 x kinetic energy tensor


@njit(cache=True)
def _bussi_factor(ekin, ekin_target, ndof, dt_over_tau):
    """Velocity scaling factor of the Bussi thermostat for one step."""
    if ekin <= 0.0:
        return 1.0
    c = math.exp(-dt_over_tau)
    r1 = np.random.standard_normal()
    sum_r2 = 0.0
    if ndof > 1:
        sum_r2 = 2.0 * np.random.gamma((ndof - 1) / 2.0, 1.0)
    alpha2 = (c + ekin_target / (ndof * ekin) * (1.0 - c) * (r1 * r1 + sum_r2)
              + 2.0 * r1 * math.sqrt(c * ekin_target / (ndof * ekin) * (1.0 - c)))
    a = math.sqrt(max(alpha2, 0.0))
    return -a if (r1 + math.sqrt(c * ndof * ekin / ekin_target / (1.0 - c))) < 0.0 else a


@njit(cache=True)
def _berendsen_mu(K, W, V, P0, kappa, dt, tau_p, baro, pbcmask):
    """(3,) Berendsen scaling of the Cartesian axes for one step.

    ``K``: (3, 3) sum m v v; ``W``: (3, 3) virial dE/d(strain); ``baro`` 1
    isotropic (scalar pressure), 2 per axis (diagonal pressures; open axes
    are not scaled).
    """
    mu = np.ones(3)
    c = kappa * dt / (3.0 * tau_p)
    if baro == 1:
        P = (K[0, 0] + K[1, 1] + K[2, 2] - W[0, 0] - W[1, 1] - W[2, 2]) / (3.0 * V)
        mu[:] = 1.0 - c * (P0 - P)
    else:
        for a in range(3):
            if pbcmask[a]:
                mu[a] = 1.0 - c * (P0 - (K[a, a] - W[a, a]) / V)
    return mu


@njit(cache=True)
def _run_chunk(x, v, m, cell, pbcmask, codes, first, nbr, shift, x0, cell0, skin, rc,
               g2, Q2, pt, r2, g3a, B3a, g3b, B3b, c3, tt, r3, use3, rmin,
               F, W, nsteps, dt, ensemble, T, gamma, tau, baro, P0, kappa, tau_p, ndof):
    """Integrate up to ``nsteps`` steps; stop early when the list must be
    rebuilt. ``ensemble``: 0 nve, 1 langevin, 2 bussi; ``baro``: 0 none,
    1 isotropic, 2 anisotropic Berendsen. Returns (steps done, energy,
    need_rebuild, bad)."""
    n = x.shape[0]
    kT = 8.617333262e-05 * T
    energy = 0.0
    bad = -1
    inv0 = np.linalg.inv(cell0)
    for step in range(nsteps):
        # B
        for i in range(n):
            for a in range(3):
                v[i, a] += 0.5 * dt * F[i, a] / m[i]
        if ensemble == 1:
            # A O A
            for i in range(n):
                for a in range(3):
                    x[i, a] += 0.5 * dt * v[i, a]
            c1 = math.exp(-gamma * dt)
            for i in range(n):
                s = math.sqrt((1.0 - c1 * c1) * kT / m[i])
                for a in range(3):
                    v[i, a] = c1 * v[i, a] + s * np.random.standard_normal()
            for i in range(n):
                for a in range(3):
                    x[i, a] += 0.5 * dt * v[i, a]
        else:
            for i in range(n):
                for a in range(3):
                    x[i, a] += dt * v[i, a]
        if baro > 0:
            mu = _berendsen_mu(_kinetic(v, m), W, abs(np.linalg.det(cell)), P0, kappa, dt, tau_p, baro, pbcmask)
            for a in range(3):
                for b in range(3):
                    cell[a, b] *= mu[b]
            for i in range(n):
                for a in range(3):
                    x[i, a] *= mu[a]
        energy, e_at, Fn, Wn, bad = _forces(x, cell, first, nbr, shift, codes, g2, Q2, pt, r2, g3a, B3a, g3b,
                                            B3b, c3, tt, r3, use3, rmin)
        F[:, :] = Fn
        W[:, :] = Wn
        for i in range(n):
            for a in range(3):
                v[i, a] += 0.5 * dt * F[i, a] / m[i]
        if ensemble == 2:
            ek = 0.0
            for i in range(n):
                for a in range(3):
                    ek += 0.5 * m[i] * v[i, a] * v[i, a]
            lam = _bussi_factor(ek, 0.5 * ndof * kT, ndof, dt / tau)
            for i in range(n):
                for a in range(3):
                    v[i, a] *= lam
        if bad >= 0:
            return step + 1, energy, False, bad
        # Verlet-list validity: displacement relative to the affinely
        # deformed build positions, and the cell deformation
        A = inv0 @ cell
        dmax = 0.0
        for i in range(n):
            s = 0.0
            for a in range(3):
                y = x0[i, 0] * A[0, a] + x0[i, 1] * A[1, a] + x0[i, 2] * A[2, a]
                s += (x[i, a] - y) ** 2
            dmax = max(dmax, s)
        strain = 0.0
        for a in range(3):
            for b in range(3):
                strain = max(strain, abs(A[a, b] - (1.0 if a == b else 0.0)))
        if 2.0 * math.sqrt(dmax) + 2.0 * strain * (rc + skin) > skin:
            return step + 1, energy, True, bad
    return nsteps, energy, False, bad


class MD:
    """Molecular dynamics of an ASE ``Atoms`` with a mapped potential
    (compiled loop) or any ASE calculator.

    Parameters
    ----------
    atoms : ase.Atoms
        Positions, cell, pbc, masses and (optional) momenta; it is updated
        in place at every output.
    potential : MappedPotential or ase Calculator
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
    """

    def __init__(self, atoms, potential, timestep_fs=1.0, ensemble="nve", temperature_K=300.0,
                 friction_per_fs=0.01, tau_fs=100.0, pressure_GPa=None, barostat="isotropic",
                 compressibility_per_GPa=1.0 / 76.0, tau_p_fs=500.0, skin=1.0, seed=0):
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
        self.mapped = isinstance(potential, MappedPotential)
        m = atoms.get_masses()
        self.m = np.ascontiguousarray(m, float)
        rng = np.random.default_rng(seed)
        if not atoms.has("momenta") or not np.any(atoms.get_momenta()):
            atoms.set_momenta(thermalize(m, self.T, rng))
        self.ndof = 3 * len(atoms) - 3
        self.timings = {"force_loop_s": 0.0, "rebuild_s": 0.0, "output_s": 0.0}
        if self.mapped:
            self.codes = potential.codes(atoms)
            self.vl = VerletList(potential.cutoff, skin)
            _seed(self.seed)
        else:
            self.rng = rng
            self.integ = Integrator(self.m, timestep_fs, friction_per_fs)
            _seed(self.seed)  # the Bussi step draws from numba's generator

    # ------------------------------------------------------------- helpers
    def _mapped_args(self):
        return self.potential.kernel_args()

    def thermo(self, energy, W):
        a = self.atoms
        ek = 0.5 * float(np.sum(a.get_momenta() ** 2 / self.m[:, None]))
        T = 2.0 * ek / (self.ndof * KB)
        V = a.get_volume() if a.pbc.all() else 0.0
        P = (2.0 * ek - np.trace(W)) / (3.0 * V) * EV_A3_TO_GPA if V > 0 else float("nan")
        return {"step": self.step, "time_ps": self.step * self.dt / FS / 1000.0, "temperature_K": T,
                "potential_energy_eV": energy, "kinetic_energy_eV": ek, "total_energy_eV": energy + ek,
                "pressure_GPa": P, "volume_A3": V}

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
            kinetic / total energy, pressure_GPa, volume_A3).
        """
        rows = []
        a = self.atoms
        x = np.array(a.positions, float)
        v = np.array(a.get_momenta() / self.m[:, None], float)  # ASE velocity units
        cell = np.array(a.cell[:], float)
        pbc = np.asarray(a.pbc, bool)
        energy, F, W = self._initial_forces(x, cell, pbc)
        writer = None
        fh = None
        if thermo_csv:
            fh = open(thermo_csv, "w", newline="")
        target = self.step + int(steps)
        traj_every = int(traj_every)

        def emit():
            nonlocal writer
            t0 = time.perf_counter()
            a.set_cell(cell, scale_atoms=False)
            a.positions[:] = x
            a.set_momenta(v * self.m[:, None])
            row = self.thermo(energy, W)
            rows.append(row)
            if fh is not None:
                if writer is None:
                    writer = csv.DictWriter(fh, fieldnames=list(row))
                    writer.writeheader()
                writer.writerow(row)
                fh.flush()
            if progress:
                progress(row)
            self.timings["output_s"] += time.perf_counter() - t0

        def save_frame():
            from ase.io import write
            b = a.copy()
            b.calc = None
            b.info.update(step=self.step)
            write(str(trajectory), b, format="extxyz", append=True)

        emit()
        if trajectory and traj_every:
            save_frame()
        while self.step < target:
            nxt = target
            for every in (thermo_every, traj_every if trajectory else 0):
                if every:
                    nxt = min(nxt, (self.step // every + 1) * every)
            todo = nxt - self.step
            t0 = time.perf_counter()
            if self.mapped:
                done, energy, rebuild, bad = _run_chunk(
                    x, v, self.m, cell, pbc, self.codes, self.vl.first, self.vl.nbr, self.vl.shift, self.vl.x0,
                    self.vl.cell0, self.vl.skin, self.vl.cutoff, *self._mapped_args(), F, W, todo, self.dt,
                    {"nve": 0, "langevin": 1, "bussi": 2}[self.ensemble], self.T, self.gamma, self.tau,
                    self.baro, 0.0 if self.pressure is None else self.pressure / EV_A3_TO_GPA, self.kappa,
                    self.tau_p, self.ndof)
                self.step += done
                self.timings["force_loop_s"] += time.perf_counter() - t0
                if bad >= 0:
                    a.positions[:] = x
                    a.set_cell(cell, scale_atoms=False)
                    self.potential.predict(a)  # raises OutOfRangeError naming the atoms
                    raise OutOfRangeError("a pair left the mapped range")
                if rebuild:
                    t0 = time.perf_counter()
                    self.vl.build(x, cell, pbc)
                    self.timings["rebuild_s"] += time.perf_counter() - t0
            else:
                energy = self._python_steps(x, v, cell, pbc, F, W, todo)
                self.step += todo
                self.timings["force_loop_s"] += time.perf_counter() - t0
            if self.step % thermo_every == 0 or self.step == target:
                emit()
            if trajectory and traj_every and self.step % traj_every == 0:
                a.positions[:] = x
                save_frame()
        if fh is not None:
            fh.close()
        a.positions[:] = x
        a.set_cell(cell, scale_atoms=False)
        a.set_momenta(v * self.m[:, None])
        return rows

    def _initial_forces(self, x, cell, pbc):
        if self.mapped:
            self.vl.build(x, cell, pbc)
            e, _, F, W, bad = _forces(x, cell, self.vl.first, self.vl.nbr, self.vl.shift, self.codes,
                                      *self._mapped_args())
            if bad >= 0:
                self.potential.predict(self.atoms)
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
        """The same integrator through an ASE calculator (no Verlet list):
        :class:`~alff.dynamics.Integrator` for the kicks, drift and Langevin
        noise; the compiled Berendsen and Bussi steps."""
        m = self.m[:, None]
        e = 0.0
        ens = "langevin" if self.ensemble == "langevin" else "nve"
        for _ in range(nsteps):
            p = self.integ.half_kick(v * m, F)
            xn, p = self.integ.drift_thermostat(x, p, ens, self.T, self.rng)
            x[:] = xn
            v[:] = p / m
            if self.baro:
                mu = _berendsen_mu(_kinetic(v, self.m), W, abs(np.linalg.det(cell)),
                                   self.pressure / EV_A3_TO_GPA, self.kappa, self.dt, self.tau_p, self.baro, pbc)
                cell *= mu[None, :]
                x *= mu[None, :]
            e, Fn, Wn = self._ase_forces(x, cell)
            F[:] = Fn
            W[:] = Wn
            v += 0.5 * self.dt * F / m
            if self.ensemble == "bussi":
                ek = 0.5 * float(np.sum(m * v * v))
                v *= _bussi_factor(ek, 0.5 * self.ndof * KB * self.T, self.ndof, self.dt / self.tau)
        return e
