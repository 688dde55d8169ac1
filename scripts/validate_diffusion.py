"""Validation: diffusion with the model and the reference (rule diffusion)."""
from alff.jobs import job
from alff.validation.steps import diffusion_step

with job(snakemake.log[0], snakemake.threads, "alff.validate"):
    out = dict(snakemake.output.items())
    out["figure"] = str(snakemake.output.figure[0]).rsplit(".", 1)[0]
    diffusion_step(snakemake.config, snakemake.input.mapped, out)
