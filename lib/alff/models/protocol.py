"""The Model protocol: what every alff model implements.

A model is an estimator in the scikit-learn style (settings in ``__init__``,
``fit`` returns ``self``, fitted state ends in ``_``) and gives an ASE
calculator. The active-learning engine, the pipeline steps and the
validation use nothing else, so a new model is one new file in
``alff/models/`` plus one line in :mod:`alff.models.registry`.

To add a model, copy the shape of :class:`~alff.models.mapped.MappedPotential`
(the smallest complete implementation) or of the toy model in
``tests/test_protocols.py``.
"""

from __future__ import annotations

from typing import ClassVar, Protocol, runtime_checkable

__all__ = ["Model", "PREDICT_KEYS"]

#: keys of :meth:`Model.predict` results (each with an ``_std`` twin when the
#: model gives one and ``return_std`` is set): ``energy`` float (eV),
#: ``energies`` (N,) local energies (eV), ``forces`` (N, 3) (eV/A),
#: ``stress`` (6,) Voigt (eV/A^3, periodic cells only).
PREDICT_KEYS = ("energy", "energies", "forces", "stress")


@runtime_checkable
class Model(Protocol):
    """Every alff model.

    Attributes
    ----------
    kind : str
        The ``kind`` of the model's config section (``gp``, ``mapped``, ...).
    noise_ : float
        The fitted label noise of the forces (eV/A); selectors compare
        uncertainties with it.
    n_train_ : int
        Number of training environments (force-labelled atoms) the model
        was fitted on.
    """

    kind: ClassVar[str]

    @property
    def noise_(self) -> float: ...

    @property
    def n_train_(self) -> int: ...

    @classmethod
    def from_config(cls, section: dict, previous: "Model | None" = None) -> "Model":
        """A new, unfitted model from its config section; ``previous`` is
        the model of the previous learning iteration (to warm-start from)."""

    def fit(self, frames, atom_indices=None) -> "Model":
        """Train on labelled frames (``atom_indices[k]``: the force-labelled
        atoms of frame k, all by default); returns self."""

    def update(self, frames, atom_indices=None) -> "Model":
        """Add labelled frames to a fitted model (refitting what it needs,
        on its own schedule); returns self."""

    def predict(self, atoms, properties=("forces",), return_std=False) -> dict:
        """Predictions of :data:`PREDICT_KEYS` for the asked ``properties``
        (more may be returned); with ``return_std`` also ``forces_std``
        (N, 3) and ``energies_std`` (N,) where the model has them."""

    def describe(self) -> dict:
        """JSON-able summary for reports: ``kind``, ``n_train``, ``noise``
        and the model's own ``settings`` (hyperparameters, basis size ...)."""

    def save(self, stem):
        """Write ``stem.json`` (with a ``format`` field) and ``stem.npz``."""

    @classmethod
    def load(cls, stem) -> "Model":
        """Read what :meth:`save` wrote."""

    def calculator(self):
        """An ASE calculator backed by the model."""
