"""Final model on one phase's test set (rule evaluate)."""
from alff.jobs import job
from alff.steps import evaluate_step

with job(snakemake.log[0], snakemake.threads, "alff.evaluate"):
    evaluate_step(snakemake.input.model, snakemake.input.test, snakemake.output[0])
