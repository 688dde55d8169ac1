"""Validation: NEB barriers with the model (GP band) and the reference (rule neb)."""
from alff.jobs import job
from alff.validation.steps import neb_step

with job(snakemake.log[0], snakemake.threads, "alff.validate"):
    out = dict(snakemake.output.items())
    out["figure"] = str(snakemake.output.figure[0]).rsplit(".", 1)[0]
    neb_step(snakemake.config, snakemake.input.mapped, snakemake.input.model, out)
