"""metrics.json and figures (rule report)."""
from pathlib import Path

from alff.jobs import job
from alff.steps import report_step

inp, out, p = snakemake.input, snakemake.output, snakemake.params
stems = {Path(f).stem: str(Path(f).with_suffix("")) for f in out.figures}
with job(snakemake.log[0], snakemake.threads, "alff.report"):
    report_step(p.run, p.scheme, p.mode, p.seed, p.testset, list(p.phases), list(inp.evaluations),
                {k: inp[k] for k in ("log", "calls", "timings", "model")}, inp.seed, dict(metrics=out.metrics, **stems),
                phase_check_paths=list(inp.phase_checks), title=p.title,
                selector=dict(p.selector))
