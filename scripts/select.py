"""Merge candidates of all scenarios and select the structures to label (rule select)."""
from alff.jobs import job
from alff.steps import select_step

inp = snakemake.input
with job(snakemake.log[0], snakemake.threads, "alff.select"):
    select_step(snakemake.params.selector, int(snakemake.wildcards.i), list(inp.candidates),
                inp.get("prev_status"), list(snakemake.output.slots), snakemake.output.status, inp.model)
