"""One oracle call (rule label)."""
from alff.jobs import job
from alff.steps import label_step

with job(snakemake.log[0], snakemake.threads, "alff.label"):
    label_step(snakemake.params.oracle, snakemake.input[0], snakemake.output[0], snakemake.params.cache)
