"""Analysis of trajectories: radial distribution functions, diffusion,
Arrhenius fits, melting from a heating ramp and from coexistence, NEB paths,
bond-orientational order, phase checks of frame sets."""

from .arrhenius import arrhenius_fit
from .diffusion import diffusion_coefficient, mean_squared_displacement, unwrap_positions
from .melting import coexistence_temperature, ramp_transition
from .neb import neb_path
from .order import solid_fraction, steinhardt_q
from .phase import PhaseReference, classify_frames, expected_phase
from .rdf import radial_distribution

__all__ = ["radial_distribution", "unwrap_positions", "mean_squared_displacement", "diffusion_coefficient",
           "arrhenius_fit", "ramp_transition",
           "coexistence_temperature", "neb_path", "steinhardt_q", "solid_fraction",
           "PhaseReference", "classify_frames", "expected_phase"]
