"""NEB barriers of a vacancy jump and an adatom hcp -> fcc hop with the model
(mapped potential; GP standard deviation of the energy differences as a
band), the reference's energies on the model's images, and the reference's
own NEB (rule neb)."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from ..analysis import neb_path
from ..analysis.neb import neb_validity
from .rows import row
from .setups import adatom_hop, vacancy_hop

__all__ = ["neb_cases", "neb_validation", "reaction_validity"]

log = logging.getLogger("alff.validate")


def neb_cases(cfg, element, a):
    """The end points of each case in ``cfg['cases']`` (vacancy, adatom)."""
    cases = {}
    for name in cfg["cases"]:
        if name == "vacancy":
            cases[name] = vacancy_hop(element, a, cfg["bulk_repeat"])
        elif name == "adatom":
            cases[name] = adatom_hop(element, a, cfg["slab_size"], vacuum=cfg["vacuum"],
                                     fixed_layers=cfg["fixed_layers"])
        else:
            raise ValueError(f"validate.neb.cases: unknown case '{name}' (known: vacancy, adatom)")
    return cases


def _difference_std(source, images):
    """Std of E_i - E_0 for each image from the learned model's posterior
    covariance of total energies (NaN when the model has none)."""
    if source is None or not hasattr(source, "energy_covariance"):
        return np.full(len(images), np.nan)
    C = source.energy_covariance(images)
    d = np.diag(C)
    return np.sqrt(np.clip(d + d[0] - 2.0 * C[:, 0], 0.0, None))


def reaction_validity(result, why):
    """None when the end points of a NEB (its reason ``why``, or None) give
    a reaction energy: both relaxed and distinct states; else the reason."""
    if why and (not result["endpoints_converged"] or result["end_separation"] < 0.1):
        return why
    return None


def neb_validation(cfg, element, a, model, source, reference):
    """Climbing-image NEB of each case.

    Parameters
    ----------
    cfg : dict
        The ``validate.neb`` section.
    model : Engine
        The mapped potential (path and energies).
    source : Model or None
        The learned model (before mapping); its ``energy_covariance``,
        when it has one, gives the band's uncertainty.
        The full model, for the uncertainty band.
    reference : Engine or None

    Returns
    -------
    data : pandas.DataFrame
        case, engine (model, oracle_on_model_images, oracle), image,
        coordinate (A), energy (eV, relative to the first image), std (eV),
        valid (the band is a converged transition path: :func:`neb_validity`).
    rows : list of dict
        Barrier per case; reaction energy E_fcc - E_hcp for the adatom.
    """
    out, rows = [], []
    for name, (ini, fin) in neb_cases(cfg, element, a).items():
        kw = dict(n_images=cfg["n_images"], fmax=cfg["fmax"], steps=cfg["max_steps"], climb=True)
        res = {"model": neb_path(ini, fin, model.calculator, **kw)}
        m = res["model"]
        std = _difference_std(source, m["images"])
        m_why = neb_validity(m, cfg["fmax"], cfg["max_steps"])
        out.append(pd.DataFrame({"case": name, "engine": "model", "image": np.arange(len(m["images"])),
                                 "coordinate": m["coordinate"], "energy": m["energies"], "std": std,
                                 "valid": m_why is None}))
        if m_why:
            log.warning("neb %s: the model's barrier is NOT VALID: %s", name, m_why)
        ref_barrier = ref_reaction = o_why = None
        if reference is not None:
            calc = reference.calculator()
            e = []
            for im in m["images"]:
                b = im.copy()
                b.calc = calc
                e.append(b.get_potential_energy())
            e = np.array(e) - e[0]
            out.append(pd.DataFrame({"case": name, "engine": "oracle_on_model_images",
                                     "image": np.arange(len(e)), "coordinate": m["coordinate"], "energy": e,
                                     "std": np.nan, "valid": m_why is None}))
            o = neb_path(ini, fin, reference.calculator, **kw)
            res["oracle"] = o
            o_why = neb_validity(o, cfg["fmax"], cfg["max_steps"])
            out.append(pd.DataFrame({"case": name, "engine": "oracle", "image": np.arange(len(o["images"])),
                                     "coordinate": o["coordinate"], "energy": o["energies"], "std": np.nan,
                                     "valid": o_why is None}))
            ref_barrier, ref_reaction = o["barrier"], o["reaction_energy"]
            if o_why:
                log.warning("neb %s: the reference barrier is NOT VALID: %s", name, o_why)
        log.info("neb %s: model barrier %.4f eV (+- %.4f at the saddle), reaction %.4f eV; reference %s",
                 name, m["barrier"], std[m["saddle"]], m["reaction_energy"],
                 "-" if ref_barrier is None else f"{ref_barrier:.4f} / {ref_reaction:.4f} eV")
        label = {"vacancy": "vacancy migration", "adatom": "adatom hcp->fcc"}[name]
        rows.append(row("neb_barrier", label, m["barrier"], ref_barrier, "eV", m_why, o_why))
        if name == "adatom":
            # the reaction energy needs only two relaxed, distinct end points
            m_end = reaction_validity(m, m_why)
            o_end = reaction_validity(res["oracle"], o_why) if "oracle" in res else None
            rows.append(row("neb_reaction_energy", "adatom E(fcc)-E(hcp)", m["reaction_energy"], ref_reaction, "eV",
                            m_end, o_end))
    return pd.concat(out, ignore_index=True), rows
