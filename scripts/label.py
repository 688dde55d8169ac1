"""One oracle call (rule label)."""
from alff.jobs import job
from alff.pipeline import label_step

with job(snakemake.log[0], snakemake.threads, "alff.label"):
    label_step(snakemake.config, snakemake.input[0], snakemake.output[0], snakemake.params.cache)
