"""Analysis of trajectories: radial distribution functions, diffusion,
Arrhenius fits, melting from a heating ramp, NEB paths."""

from .arrhenius import arrhenius_fit
from .diffusion import diffusion_coefficient, mean_squared_displacement, unwrap_positions
from .melting import ramp_transition
from .neb import neb_path
from .rdf import radial_distribution

__all__ = ["radial_distribution", "unwrap_positions", "mean_squared_displacement", "diffusion_coefficient",
           "arrhenius_fit", "ramp_transition", "neb_path"]
