"""Seed training data (rule seed)."""
from alff.jobs import job
from alff.pipeline import seed_step

with job(snakemake.log[0], snakemake.threads, "alff.seed"):
    seed_step(snakemake.config, snakemake.output.train, snakemake.output.state, snakemake.params.cache)
