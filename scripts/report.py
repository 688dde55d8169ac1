"""metrics.json and figures (rule report)."""
from pathlib import Path

from alff.jobs import job
from alff.steps import report_step
from alff.steps.seed import phase_check_path

inp, out, p = snakemake.input, snakemake.output, snakemake.params
stems = {Path(f).stem: str(Path(f).with_suffix("")) for f in out.figures}
# the test sets' phase checks beside results/<run>/testset/<phase>.extxyz
# (an input of the rule when it lists them)
if "phase_checks" in inp.keys():
    checks = list(inp.phase_checks)
else:
    checks = [str(phase_check_path(Path(inp.seed).parents[1] / "testset" / f"{ph}.extxyz")) for ph in p.phases]
with job(snakemake.log[0], snakemake.threads, "alff.report"):
    report_step(p.run, p.scheme, p.mode, p.seed, p.testset, list(p.phases), list(inp.evaluations),
                {k: inp[k] for k in ("log", "calls", "timings", "model")}, inp.seed, dict(metrics=out.metrics, **stems),
                phase_check_paths=checks)
