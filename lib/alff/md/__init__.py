"""Molecular dynamics with the time loop in compiled code.

For a :class:`~alff.models.mapped.MappedPotential` and a moment tensor
potential (:class:`~alff.models.linear.mtp.MomentTensorPotential` or a
fitted :class:`~alff.models.linear.mtp_model.MTPModel`) the whole loop runs
in numba: forces from a Verlet neighbour list (built with the binned
neighbour search of :mod:`alff.neighbors` at ``cutoff + skin``, reused until
an atom moved more than ``skin / 2`` or the cell deformed too much),
velocity Verlet, thermostat and barostat. Python only regains control to
rebuild the list or write output. Any other model runs through its ASE
calculator with the same integrator at Python speed.

With an MTP the loop can also compute the extrapolation grade of every step
against an active set (``grade=True``) and stop at the first step whose
grade reaches ``grade_break`` (:class:`MD`).

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

from .compiled import EV_A3_TO_GPA, VerletList
from .engine import MD

__all__ = ["MD", "VerletList", "EV_A3_TO_GPA"]
