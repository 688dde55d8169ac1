"""Validation protocol of rule neb: the learned potential (mapped, or the model itself; with the learned
model's uncertainty band) and the reference under one protocol."""
from alff.jobs import job
from alff.validation.steps import neb_step

with job(snakemake.log[0], snakemake.threads, "alff.validate"):
    out = dict(snakemake.output.items())
    out["figure"] = str(snakemake.output.figure[0]).rsplit(".", 1)[0]
    neb_step(snakemake.params.settings, snakemake.input.potential, snakemake.input.model, out,
             scheme=snakemake.params.scheme)
