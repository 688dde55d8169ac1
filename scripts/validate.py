"""Validation protocol of rule rdf, neb, diffusion or melting: the model and
the reference under one protocol (alff.validation.steps)."""
from alff.jobs import job
from alff.validation import steps

rule = snakemake.rule
with job(snakemake.log[0], snakemake.threads, "alff.validate"):
    out = dict(snakemake.output.items())
    out["figure"] = str(snakemake.output.figure[0]).rsplit(".", 1)[0]
    extra = (snakemake.input.model,) if rule == "neb" else ()  # the GP, for the uncertainty band
    getattr(steps, f"{rule}_step")(snakemake.config, snakemake.input.mapped, *extra, out)
