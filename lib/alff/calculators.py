"""ASE calculators wrapping alff models."""

from __future__ import annotations

from ase.calculators.calculator import Calculator, all_changes

__all__ = ["ModelCalculator"]


class ModelCalculator(Calculator):
    """ASE calculator for any alff model with ``predict_all``.

    Gives ``energy``, ``free_energy``, ``energies``, ``forces``, ``stress``
    (periodic cells) and ``results['force_std']`` (N, 3), the model's
    epistemic standard deviation of each force component.
    """

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress"]

    def __init__(self, model, return_std=True, **kwargs):
        super().__init__(**kwargs)
        self.model = model
        self.return_std = return_std

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        res = self.model.predict_all(self.atoms, return_std=self.return_std,
                                     properties=("energy", "forces", "stress"))
        self.results["energy"] = res["energy"]
        self.results["free_energy"] = res["energy"]
        self.results["energies"] = res["energies"]
        self.results["forces"] = res["forces"]
        if "stress" in res:
            self.results["stress"] = res["stress"]
        if self.return_std:
            self.results["force_std"] = res["force_std"]
