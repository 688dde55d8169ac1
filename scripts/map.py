"""Map the final model to splines and export it for LAMMPS (rule map)."""
from alff.jobs import job
from alff.steps import map_step

inp = snakemake.input
with job(snakemake.log[0], snakemake.threads, "alff.map"):
    map_step(snakemake.params.map, inp.model, list(inp.tests), dict(snakemake.output.items()))
