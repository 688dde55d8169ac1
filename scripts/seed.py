"""Seed training data (rule seed)."""
from alff.jobs import job
from alff.steps import seed_step

p = snakemake.params
with job(snakemake.log[0], snakemake.threads, "alff.seed"):
    seed_step(p.system, p.seed, p.oracle, p.random_seed, snakemake.output.train, snakemake.output.state, p.cache)
