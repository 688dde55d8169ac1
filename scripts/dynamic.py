"""The dynamic-training report: per scheme (rule dynamic_scheme) or the
criteria side by side (rule dynamic)."""
from pathlib import Path

from alff.jobs import job
from alff.steps.dynamic import dynamic_report, phonon_step, scheme_analysis

inp, out, p = snakemake.input, snakemake.output, snakemake.params
with job(snakemake.log[0], snakemake.threads, "alff.dynamic"):
    if snakemake.rule == "dynamic_scheme":
        scheme_analysis(inp.model, dict(p.model), inp.train, list(inp.tests), inp.calls, dict(p.dynamic),
                        dict(p.explore), {k: out[k] for k in ("curve", "z", "nvt", "summary")}, seed=p.seed)
    elif snakemake.rule == "phonons":
        phonon_step(inp.model, dict(p.system), dict(p.oracle), p.cache,
                    {"summary": out.summary, "data": out.data, "phonons": str(Path(out.figure[0]).with_suffix(""))},
                    title=p.title)
    else:
        names = list(p.schemes)
        files = {s: {k: inp[k][j] for k in ("summary", "curve", "z", "nvt", "logs", "calls")}
                 for j, s in enumerate(names)}
        for f in files.values():
            f["log"] = f.pop("logs")
        stems = {Path(f).stem: str(Path(f).with_suffix("")) for f in out.figures}
        dynamic_report(dict(p.schemes), files, dict(p.dynamic),
                       dict(table=out.table, markdown=out.markdown, metrics=out.metrics, **stems), title=p.title)
