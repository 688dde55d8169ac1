"""One ASE calculator for every alff model."""

from __future__ import annotations

from ase.calculators.calculator import Calculator, all_changes

__all__ = ["ModelCalculator"]

_ENERGY = ("energy", "free_energy", "energies")


class ModelCalculator(Calculator):
    """ASE calculator for any :class:`~alff.models.protocol.Model`.

    Gives ``energy``, ``free_energy``, ``energies``, ``forces``, ``stress``
    (periodic cells) and, with ``return_std``, ``results['forces_std']``
    (N, 3) and ``results['energies_std']`` (N,) where the model has them; a
    drive potential that predicts an extrapolation ``grade`` (N,) (the
    maxvol selector's) leaves it in ``results['grade']``.

    Only what is asked is computed: forces always, local and total energies
    when an energy is asked, the stress when it is asked. Asking for the
    energy after the forces on the same positions adds only what is missing.
    """

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress"]

    def __init__(self, model, return_std=False, **kwargs):
        super().__init__(**kwargs)
        self.model = model
        self.return_std = bool(return_std)

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
        res = self.model.predict(self.atoms, properties=tuple(props), return_std=self.return_std)
        self.results.update(have)
        for key in ("forces", "forces_std", "energies", "energies_std", "stress", "grade"):
            if key in res:
                self.results[key] = res[key]
        if "energy" in res:
            self.results["energy"] = res["energy"]
            self.results["free_energy"] = res["energy"]
