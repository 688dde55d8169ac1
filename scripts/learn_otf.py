"""On-the-fly learning with inline oracle calls (rule learn_otf)."""
from alff.jobs import job
from alff.pipeline import otf_step

with job(snakemake.log[0], snakemake.threads, "alff.learn"):
    otf_step(snakemake.config, snakemake.input.train, snakemake.input.state, dict(snakemake.output.items()),
             snakemake.params.cache)
