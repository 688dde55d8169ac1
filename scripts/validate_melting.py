"""Validation protocol of rule melting: the mapped potential and the reference under one protocol."""
from alff.jobs import job
from alff.validation.steps import melting_step

with job(snakemake.log[0], snakemake.threads, "alff.validate"):
    out = dict(snakemake.output.items())
    out["figure"] = str(snakemake.output.figure[0]).rsplit(".", 1)[0]
    melting_step(snakemake.params.settings, snakemake.input.mapped, out, scheme=snakemake.params.scheme)
