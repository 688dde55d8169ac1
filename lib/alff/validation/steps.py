"""Pipeline steps of rules/validate.smk: each runs one protocol with the
model and the reference and writes its data (CSV), figure and summary rows;
``summary_step`` joins the rows and writes the report page."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ..atomic import atomic_path, atomic_write_text
from ..jobs import read_json, write_json
from .engines import model_engine, reference_engine
from .rows import invalid_rows, read_rows, write_rows

__all__ = ["lattice", "rdf_step", "neb_step", "diffusion_step", "melting_step", "summary_step", "paper_step"]

log = logging.getLogger("alff.validate")


def lattice(settings):
    """(element, a) of the validation structures: ``validate.element`` and
    ``validate.a``, else the ``system`` section's, else ASE's reference
    lattice constant.

    Parameters
    ----------
    settings : dict
        ``element``, ``a`` (of the validate section) and ``system``
        (``element``, ``a``).
    """
    s = settings.get("system") or {}
    element = settings.get("element") or s.get("element")
    a = settings.get("a") or s.get("a")
    if not element:
        raise ValueError("validate.element: no element for the validation structures (set validate.element)")
    if not a:
        from ase.data import atomic_numbers, reference_states
        ref = reference_states[atomic_numbers[element]] or {}
        if ref.get("symmetry") != "fcc":
            raise ValueError(f"validate.a: {element} has no fcc reference lattice constant; set validate.a")
        a = ref["a"]
    return element, float(a)


def _engines(settings, section, mapped):
    model = model_engine(mapped)
    ref = reference_engine(settings["oracle"], settings[section]["reference"], f"validate.{section}")
    log.info("validate.%s: model %s, reference %s", section, model.label, ref.label if ref else "none")
    return [model] + ([ref] if ref else [])


def _write_csv(df, path):
    """Write ``df`` as CSV atomically (the old file stays until the new one is complete)."""
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, float_format="%.10g")


def _title(settings, scheme):
    """The figures' title: element, crystal, oracle and scheme."""
    from ..plotting import figure_title
    return figure_title(lattice(settings)[0], "fcc", settings.get("oracle"), scheme)


def _save(name, t0, out, rows, outputs, figure, *figure_data, title=None):
    """Write each output (DataFrame -> CSV, dict -> JSON) under its key of
    ``out``, the summary rows and the figure ``figure(*figure_data, stem,
    title=title)``."""
    for key, obj in outputs.items():
        if isinstance(obj, pd.DataFrame):
            _write_csv(obj, out[key])
        else:
            write_json(out[key], obj)
    write_rows(rows, out["rows"])
    figure(*figure_data, out["figure"], title=title)
    log.info("%s done in %.0f s", name, time.perf_counter() - t0)


def rdf_step(settings, mapped, out, scheme=None):
    """RDFs of the mapped potential and the reference.

    Parameters
    ----------
    settings : dict
        ``rdf`` (the validate.rdf section), ``oracle``, ``element``, ``a``,
        ``system`` and ``seed`` (as every validation step).
    mapped : str
        The mapped potential (json).
    out : dict
        data (csv), rows (csv), figure (stem).
    """
    from .figures import rdf_figure
    from .rdf import rdf_validation
    t0 = time.perf_counter()
    element, a = lattice(settings)
    data, rows = rdf_validation(settings["rdf"], element, a, _engines(settings, "rdf", mapped),
                                seed=settings["seed"])
    _save("rdf", t0, out, rows, {"data": data}, rdf_figure, data, title=_title(settings, scheme))


def neb_step(settings, mapped, model_path, out, scheme=None):
    """NEB barriers; ``model_path`` is the learned model before mapping (its
    energy covariance gives the band's uncertainty). ``out``: data, rows,
    figure."""
    from ..models import load_model
    from .figures import neb_figure
    from .neb import neb_validation
    t0 = time.perf_counter()
    element, a = lattice(settings)
    engines = _engines(settings, "neb", mapped)
    data, rows = neb_validation(settings["neb"], element, a, engines[0], load_model(model_path),
                                engines[1] if len(engines) > 1 else None)
    _save("neb", t0, out, rows, {"data": data}, neb_figure, data, title=_title(settings, scheme))


def diffusion_step(settings, mapped, out, scheme=None):
    """Vacancy diffusion. ``out``: msd, coefficients, fits (json), rows, figure."""
    from .diffusion import diffusion_validation
    from .figures import diffusion_figure
    t0 = time.perf_counter()
    element, a = lattice(settings)
    msd, coeffs, fits, rows = diffusion_validation(settings["diffusion"], element, a,
                                                   _engines(settings, "diffusion", mapped), seed=settings["seed"])
    _save("diffusion", t0, out, rows, {"msd": msd, "coefficients": coeffs, "fits": fits}, diffusion_figure, msd,
          coeffs, fits, title=_title(settings, scheme))


def melting_step(settings, mapped, out, scheme=None):
    """Melting point. ``out``: ramp, coexistence (csv), results (json), rows, figure."""
    from .figures import melting_figure
    from .melting import melting_validation
    t0 = time.perf_counter()
    element, a = lattice(settings)
    ramp, coex, results, rows = melting_validation(settings["melting"], element, a,
                                                   _engines(settings, "melting", mapped), seed=settings["seed"])
    _save("melting", t0, out, rows, {"ramp": ramp, "coexistence": coex, "results": results}, melting_figure,
          ramp, coex, results, title=_title(settings, scheme))


def md_table(df):
    """A DataFrame as a Markdown table (no extra dependency)."""
    def fmt(v):
        if isinstance(v, float):
            return "" if not np.isfinite(v) else f"{v:.4g}"
        return str(v)
    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(fmt(v) for v in r) + " |" for r in df.itertuples(index=False)]
    return "\n".join(lines)


def _defaults_lines(resolved_path):
    """Report lines of results/<run>/resolved_config.yaml: the values filled
    in (and from where) and the configuration's warnings."""
    import yaml
    if not resolved_path or not Path(resolved_path).exists():
        return []
    r = yaml.safe_load(Path(resolved_path).read_text()) or {}
    lines = ["## Defaults filled in", ""]
    if r.get("defaults"):
        lines += [f"- `{d['key']}` = {d['value']} ({d['source']}): {d.get('detail', '')}" for d in r["defaults"]]
    else:
        lines += ["None: every material-dependent value was given in the configuration."]
    lines += [""]
    if r.get("warnings"):
        lines += ["**Configuration warnings:**", ""] + [f"- {w}" for w in r["warnings"]] + [""]
    return lines


def summary_step(run, oracle_kind, row_paths, metrics_path, mapping_path, figures, out, resolved_path=None):
    """Join the rows into ``out['summary']`` (csv) and write the report page
    ``out['report']`` (Markdown: learning metrics, mapping, validation table,
    the defaults filled in from ``resolved_path`` (resolved_config.yaml),
    figures)."""
    rows = read_rows(row_paths)
    rows["rel_error"] = rows["abs_error"] / rows["oracle_value"].abs()
    _write_csv(rows.drop(columns="rel_error"), out["summary"])
    report = Path(out["report"])
    base = report.parent
    m = read_json(metrics_path)
    mp = read_json(mapping_path) if mapping_path else {}
    scheme = f", scheme `{m['scheme']}`" if m.get("scheme") else ""
    lines = [f"# alff run `{run}`{scheme}", "",
             (f"Mode `{m['mode']}`, oracle `{oracle_kind}`. Oracle calls: {m['n_oracle_calls']} learning "
              f"({m['n_failed_labels']} failed), {m['n_seed_oracle_calls']} seed, {m['n_test_oracle_calls']} test "
              f"set; {m['n_training_envs']} training environments."), "", "## Learning: test-set force errors", ""]
    test = pd.DataFrame([{"phase": k, "RMSE (eV/Å)": v["rmse"], "MAE (eV/Å)": v["mae"],
                          "RMSE / P95(\\|F\\|)": v["rmse_over_p95"], "z-score std": v["z_std"],
                          "within 2σ": v["frac_within_2sigma"]} for k, v in m["test"].items()])
    lines += [md_table(test), ""]
    if mp:
        lines += [(f"Mapped potential: force error against the learned model {1000 * mp['force_rmse']:.3g} meV/Å RMS "
                   f"({mp['n_frames']} test frames); range from {mp['rmin']:.3f} Å."), ""]
    bad = invalid_rows(rows)
    table = rows.assign(valid=rows["valid"].map({True: "yes", False: "**NO**"}))
    lines += ["## Validation against the oracle", "",
              ("abs_error = |model − oracle|; rel_error relative to the oracle's value. A row whose protocol "
               "failed is `valid = NO`: its failed values are left empty and `note` says why."), "",
              f"**{len(bad)} of {len(rows)} results are not valid.**" if len(bad) else
              f"All {len(rows)} results are valid.", "", md_table(table), ""]
    if len(bad):
        lines += ["### Not valid", ""]
        lines += [f"- `{r.observable}` ({r.condition}): {r.note}" for r in bad.itertuples()] + [""]
    lines += _defaults_lines(resolved_path)
    lines += ["## Figures", ""]
    for f in figures:
        rel = Path(f).resolve().relative_to(base.resolve()) if Path(f).resolve().is_relative_to(base.resolve()) \
            else Path(f).resolve()
        lines += [f"![{Path(f).stem}]({rel})", ""]
    atomic_write_text(report, "\n".join(lines))
    for r in bad.itertuples():
        log.warning("summary: %s (%s) is NOT VALID: %s", r.observable, r.condition, r.note)
    log.info("summary: %d rows (%d not valid); report %s", len(rows), len(bad), report)


def paper_step(rdf, neb, msd, coefficients, fits, stem, settings=None, scheme=None):
    """The FLARE-style validation figure from the validation data, titled by
    ``settings`` (as the validation steps') and ``scheme``."""
    from .figures import paper_figure
    paper_figure(pd.read_csv(rdf), pd.read_csv(neb), pd.read_csv(msd), pd.read_csv(coefficients), read_json(fits),
                 stem, title=_title(settings, scheme) if settings else None)
