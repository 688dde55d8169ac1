"""Validation protocol of rule rdf: the learned potential (mapped, or the model
itself) and the reference under one protocol."""
from alff.jobs import job
from alff.validation.steps import rdf_step

with job(snakemake.log[0], snakemake.threads, "alff.validate"):
    out = dict(snakemake.output.items())
    out["figure"] = str(snakemake.output.figure[0]).rsplit(".", 1)[0]
    rdf_step(snakemake.params.settings, snakemake.input.potential, out, scheme=snakemake.params.scheme)
