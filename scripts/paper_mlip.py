"""The MLIP paper's experiments side by side (rule paper_mlip, rules/paper_mlip.smk)."""
from pathlib import Path

from alff.jobs import job
from alff.steps.paper_mlip import paper_mlip_step

out, p = snakemake.output, snakemake.params
with job(snakemake.log[0], snakemake.threads, "alff.paper_mlip"):
    paper_mlip_step(p.section, p.paths, {"table": out.table, "markdown": out.markdown,
                                         "figure": str(Path(out.figure[0]).with_suffix("")),
                                         "figures_dir": p.figures_dir})
