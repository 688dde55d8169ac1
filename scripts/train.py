"""Fit the model of one batch iteration (rule train)."""
from alff.jobs import job
from alff.pipeline import train_step

inp = snakemake.input
with job(snakemake.log[0], snakemake.threads, "alff.train"):
    train_step(snakemake.config, inp.train, snakemake.output.model, inp.get("prev_model"), inp.get("prev_status"),
               snakemake.output.timing)
