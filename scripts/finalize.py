"""Collect a batch run into the learning outputs (rule finalize)."""
from alff.jobs import job
from alff.steps import finalize_step

inp = snakemake.input
with job(snakemake.log[0], snakemake.threads, "alff.finalize"):
    finalize_step(inp.model, list(inp.logs), list(inp.labels), inp.train, list(inp.timings),
                  dict(snakemake.output.items()), snakemake.config["learn"]["limits"])
