"""Validation: melting with the model and the reference (rule melting)."""
from alff.jobs import job
from alff.validation.steps import melting_step

with job(snakemake.log[0], snakemake.threads, "alff.validate"):
    out = dict(snakemake.output.items())
    out["figure"] = str(snakemake.output.figure[0]).rsplit(".", 1)[0]
    melting_step(snakemake.config, snakemake.input.mapped, out)
