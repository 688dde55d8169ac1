"""The elastic-constant experiment's rules (rules/elastic.smk): one entry per rule."""
from pathlib import Path

from alff.jobs import job
from alff.steps import elastic as steps

inp, out, p, rule = snakemake.input, snakemake.output, snakemake.params, snakemake.rule
with job(snakemake.log[0], snakemake.threads, f"alff.{rule}"):
    if rule == "elastic_pool":
        steps.pool_step(p.training, p.system, p.seed, out[0])
    elif rule == "elastic_train":
        steps.training_step(p.elastic, p.oracle, p.cache, inp.get("pool"), inp.get("learned"),
                            {"training": out.training, "history": out.history})
    elif rule == "elastic_member":
        steps.member_step(p.elastic, p.system, int(snakemake.wildcards.member), inp.training,
                          {"model": out.model, "properties": out.properties})
    elif rule == "elastic_oracle":
        steps.oracle_step(p.oracle, p.elastic, p.system, out[0])
    else:
        steps.elastic_report_step(p.elastic, p.system, p.oracle, list(inp.members), inp.oracle, inp.history,
                                  inp.training, {"metrics": out.metrics, "table": out.table,
                                                 "figure": str(Path(out.figure[0]).with_suffix(""))},
                                  inp.get("calls"), p.seed)
