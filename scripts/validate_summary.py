"""Join the validation rows into summary.csv and write the report page (rule validation_summary)."""
from alff.jobs import job
from alff.validation.steps import summary_step

inp, p = snakemake.input, snakemake.params
with job(snakemake.log[0], snakemake.threads, "alff.validate"):
    # the mapping report of a mapped scheme; none for a model validated as it is (the MTP)
    mapping = [inp.mapping] if isinstance(inp.mapping, str) else list(inp.mapping)
    summary_step(p.run, p.oracle_kind, list(inp.rows), inp.metrics, mapping[0] if mapping else None,
                 list(inp.figures), dict(snakemake.output.items()), resolved_path=inp.resolved)
