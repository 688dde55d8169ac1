"""Fit the model of one batch iteration (rule train)."""
from alff.jobs import job
from alff.steps import train_step

inp = snakemake.input
with job(snakemake.log[0], snakemake.threads, "alff.train"):
    train_step(snakemake.params.model, inp.train, snakemake.output.model, inp.get("prev_model"),
               inp.get("prev_status"), snakemake.output.timing)
