"""ASE calculators wrapping alff models."""

from __future__ import annotations

from ase.calculators.calculator import Calculator, all_changes

__all__ = ["ModelCalculator"]

_ENERGY = ("energy", "free_energy", "energies")


class ModelCalculator(Calculator):
    """ASE calculator for any alff model with ``predict_all``.

    Gives ``energy``, ``free_energy``, ``energies``, ``forces``, ``stress``
    (periodic cells) and ``results['force_std']`` (N, 3), the model's
    epistemic standard deviation of each force component.

    Only what is asked is computed: forces (with their std) always, local and
    total energies when an energy is asked, the stress when it is asked.
    Forces-only calls are the fast path for molecular dynamics; asking for
    the energy afterwards on the same positions adds only the energy rows.
    """

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress"]

    def __init__(self, model, return_std=True, **kwargs):
        super().__init__(**kwargs)
        self.model = model
        self.return_std = return_std

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        have = dict(self.results) if not system_changes else {}
        super().calculate(atoms, properties, system_changes)
        want = set(properties) | {"forces"}
        props = []
        if want & set(_ENERGY) and "energy" not in have:
            props.append("energy")
        if "stress" in want and "stress" not in have:
            props.append("stress")
        if "forces" not in have:
            props.append("forces")
        res = self.model.predict_all(self.atoms, return_std=self.return_std, properties=tuple(props))
        self.results.update(have)
        for key in ("forces", "force_std", "energies", "stress"):
            if key in res:
                self.results[key] = res[key]
        if "energy" in res:
            self.results["energy"] = res["energy"]
            self.results["free_energy"] = res["energy"]
        if "energies_std" in res:
            self.results["energies_std"] = res["energies_std"]
