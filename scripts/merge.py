"""Training set of the next batch iteration (rule merge)."""
from alff.jobs import job
from alff.steps import merge_step

with job(snakemake.log[0], snakemake.threads, "alff.merge"):
    merge_step(snakemake.params.selector, snakemake.input.train, list(snakemake.input.labels),
               snakemake.output[0], snakemake.config["learn"]["limits"])
