"""The convex-hull experiment's rules (rules/hull.smk): one entry per rule."""
from pathlib import Path

from alff.jobs import job
from alff.steps import hull as steps

inp, out, p, rule = snakemake.input, snakemake.output, snakemake.params, snakemake.rule
with job(snakemake.log[0], snakemake.threads, f"alff.{rule}"):
    if rule == "hull_pool":
        steps.pool_step(p.hull, out[0])
    elif rule == "hull_oracle":
        steps.oracle_relax_step(p.oracle, p.hull, inp.pool, out[0])
    elif rule == "hull_learn":
        steps.learn_step(p.hull, snakemake.wildcards.level, p.oracle, inp.pool, p.cache,
                         {"model": out.model, "history": out.history, "training": out.training})
    elif rule == "hull_final":
        steps.final_step(p.hull, inp.model, inp.pool, out[0])
    else:
        steps.hull_report_step(p.hull, inp.pool, inp.oracle, list(p.levels), list(inp.finals), list(inp.histories),
                               list(inp.trainings), list(inp.models),
                               {"metrics": out.metrics, "table": out.table,
                                "figure": str(Path(out.figure[0]).with_suffix(""))})
