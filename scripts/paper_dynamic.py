"""The dynamic-training paper's experiments side by side (rule paper_dynamic)."""
from alff.jobs import job
from alff.steps.paper_dynamic import paper_dynamic_step

out, p = snakemake.output, snakemake.params
with job(snakemake.log[0], snakemake.threads, "alff.paper_dynamic"):
    paper_dynamic_step(p.section, p.paths, {"table": out.table, "markdown": out.markdown,
                                            "figures_dir": p.figures_dir})
