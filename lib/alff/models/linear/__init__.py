"""Models linear in their parameters over a many-body basis.

- :mod:`.mtp_basis`: the moment tensor basis (which contractions, in the
  MLIP package's representation);
- :mod:`.mtp_kernels`: numba energies, forces, virial and design rows;
- :mod:`.mtp`: :class:`MomentTensorPotential` (reads and writes ``.mtp``);
- :mod:`.mlip_files`: the MLIP package's ``.mtp`` and ``.cfg`` formats;
- :mod:`.bayesian_fits`: ridge, Bayesian ridge, ARD, posterior committees;
- :mod:`.maxvol`: D-optimality (maxvol, active sets, extrapolation grades).
"""

from .ard import ARDRegression
from .bayesian_fits import BayesianRidge
from .least_squares import ridge_fit
from .maxvol import ActiveSet, maxvol
from .mlip_files import MLIPFileError, read_cfg, write_cfg
from .mtp import MomentTensorPotential, MTPInputError, read_mtp
from .mtp_basis import BASIS_SIZES, MomentBasis, build_basis

__all__ = ["MomentTensorPotential", "MTPInputError", "read_mtp", "read_cfg", "write_cfg", "MLIPFileError",
           "MomentBasis", "build_basis", "BASIS_SIZES", "BayesianRidge", "ARDRegression", "ridge_fit", "ActiveSet",
           "maxvol"]
