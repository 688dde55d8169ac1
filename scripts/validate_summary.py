"""Join the validation rows into summary.csv and write the report page (rule validation_summary)."""
from alff.jobs import job
from alff.validation.steps import summary_step

inp = snakemake.input
with job(snakemake.log[0], snakemake.threads, "alff.validate"):
    summary_step(snakemake.config, list(inp.rows), inp.metrics, inp.mapping, list(inp.figures),
                 dict(snakemake.output.items()))
