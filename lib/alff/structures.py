"""Start structures from config: bulk, supercell, vacancy, slab + adatom, file."""

from __future__ import annotations

import numpy as np
from ase.build import add_adsorbate, bulk, fcc111, fcc100, fcc110, bcc100, bcc110, bcc111

__all__ = ["build_structure", "apply_strain", "check_element", "normalise_element", "BINARY_CRYSTALS",
           "system_species", "normalise_system_element"]

#: crystals of two species: system.element is their formula (e.g. 'InP' for zincblende)
BINARY_CRYSTALS = ("zincblende", "rocksalt")

_SLABS = {("fcc", "111"): fcc111, ("fcc", "100"): fcc100, ("fcc", "110"): fcc110,
          ("bcc", "100"): bcc100, ("bcc", "110"): bcc110, ("bcc", "111"): bcc111}


def build_structure(cfg):
    """Build the start structure from the ``system`` config section.

    Parameters
    ----------
    cfg : dict
        ``kind``: ``bulk`` (``element``, ``crystal``, ``a``, ``cubic``,
        ``repeat``), ``vacancy`` (a bulk cell with atom ``vacancy_index``
        removed), ``slab`` (``element``, ``crystal``, ``miller``, ``size``
        [nx, ny, layers], ``vacuum``, ``a``, optional ``adatom`` {element,
        site, height}) or ``file`` (``path``, ``index``).

    Returns
    -------
    ase.Atoms
    """
    kind = cfg.get("kind", "bulk")
    if kind in ("bulk", "vacancy"):
        crystal, cubic = cfg.get("crystal", "fcc"), cfg.get("cubic", True)
        el = normalise_system_element(cfg["element"], crystal) if crystal in BINARY_CRYSTALS \
            else check_element(cfg["element"])
        if cubic and crystal == "hcp":
            raise ValueError("system.cubic: an hcp crystal has no conventional cubic cell; set cubic: false")
        try:
            atoms = bulk(el, crystal, a=cfg.get("a"), cubic=cubic)
        except Exception as err:  # noqa: BLE001 - ASE's messages do not name the config keys
            raise ValueError(f"system: cannot build {crystal} {el} (a={cfg.get('a')}, cubic={cubic}): {err}. "
                             "Set system.a (and system.crystal) for this element") from err
        atoms = atoms.repeat(tuple(cfg.get("repeat", [1, 1, 1])))
        if kind == "vacancy":
            i = int(cfg.get("vacancy_index", 0))
            if not 0 <= i < len(atoms):
                raise ValueError(f"system.vacancy_index {i} is outside 0..{len(atoms) - 1}")
            del atoms[i]
        return atoms
    if kind == "slab":
        key = (cfg.get("crystal", "fcc"), str(cfg.get("miller", "111")))
        if key not in _SLABS:
            raise ValueError(f"system: no slab builder for crystal/miller {key}; known: {sorted(_SLABS)}")
        el = check_element(cfg["element"])
        try:
            atoms = _SLABS[key](el, size=tuple(cfg.get("size", [3, 3, 4])), a=cfg.get("a"),
                                vacuum=cfg.get("vacuum", 8.0), periodic=True)
        except Exception as err:  # noqa: BLE001
            raise ValueError(f"system: cannot build a {key[0]}({key[1]}) slab of {el} (a={cfg.get('a')}): {err}. "
                             "Set system.a for this element") from err
        ad = cfg.get("adatom")
        if ad:
            ad_el = check_element(ad.get("element", el), "system.adatom.element")
            add_adsorbate(atoms, ad_el, ad.get("height", 2.0), ad.get("site", "fcc"))
            # keep the vacuum symmetric after adding the adatom
            atoms.center(vacuum=cfg.get("vacuum", 8.0), axis=2)
        return atoms
    if kind == "file":
        from ase.io import read
        try:
            return read(cfg["path"], index=cfg.get("index", 0))
        except Exception as err:  # noqa: BLE001
            raise ValueError(f"system.path: cannot read a structure from '{cfg.get('path')}': {err}") from err
    raise ValueError(f"system.kind must be bulk, vacancy, slab or file, got '{kind}'")


def check_element(symbol, key="system.element"):
    """The chemical symbol ``symbol`` in its canonical case.

    An obvious case error is corrected ('cu', 'CU' -> 'Cu', logged as a
    warning naming ``key``); anything else that is not a chemical symbol is
    a ValueError naming ``key``.

    Parameters
    ----------
    symbol : str
    key : str
        The config key the symbol comes from (for the messages).

    Returns
    -------
    str
    """
    fixed = normalise_element(symbol, key)
    if fixed != symbol:
        import logging
        logging.getLogger("alff.structures").warning("%s: '%s' read as the chemical symbol '%s'", key, symbol, fixed)
    return fixed


def normalise_element(symbol, key="system.element"):
    """``symbol`` as a chemical symbol ('cu' -> 'Cu'), or a ValueError naming
    ``key`` when no change of case makes it one (the dummy 'X' is none)."""
    from ase.data import atomic_numbers
    if isinstance(symbol, str):
        for candidate in (symbol, symbol.strip().capitalize()):
            if candidate in atomic_numbers and candidate != "X":
                return candidate
    raise ValueError(f"{key}: '{symbol}' is not a chemical symbol (H, He, ..., e.g. 'Cu' for copper)")


def apply_strain(atoms, strain):
    """A copy with the cell scaled by ``1 + strain`` (isotropic, or a
    3-vector of per-axis strains); positions follow the cell."""
    out = atoms.copy()
    s = np.broadcast_to(np.asarray(strain, float), (3,))
    if np.any(s != 0):
        out.set_cell(out.cell[:] * (1.0 + s)[:, None], scale_atoms=True)
    return out


def normalise_system_element(symbol, crystal, key="system.element"):
    """``system.element`` in its canonical form: a chemical symbol, or for
    a crystal of two species (:data:`BINARY_CRYSTALS`) their formula with
    each symbol normalised ('inp' is no formula; 'InP' is), else a
    ValueError naming ``key``."""
    if crystal not in BINARY_CRYSTALS:
        return normalise_element(symbol, key)
    import re
    parts = re.findall(r"[A-Z][a-z]?", symbol) if isinstance(symbol, str) else []
    if len(parts) != 2 or "".join(parts) != symbol or parts[0] == parts[1]:
        raise ValueError(f"{key}: '{symbol}' is not the formula of two species, which system.crystal {crystal} "
                         "needs (e.g. 'InP', 'GaAs', 'NaCl')")
    return "".join(normalise_element(p, key) for p in parts)


def system_species(system):
    """The chemical symbols of a bulk, vacancy or slab system section (one,
    or two for :data:`BINARY_CRYSTALS`)."""
    import re
    el = system["element"]
    if system.get("crystal") in BINARY_CRYSTALS and isinstance(el, str):
        return re.findall(r"[A-Z][a-z]?", el)
    return [el]
