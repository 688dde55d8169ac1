# alff: active-learning force fields (README.md; the layout of rules/ is described in rules/common.smk).
# Only configuration, validation, includes and the default target live here.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "lib"))
import yaml

from alff.config import resolve_config
from alff.defaults import write_resolved_config

configfile: str(Path(workflow.basedir) / "config" / "config.yaml")
# snakemake --report results/report.zip: the pipeline's stages (report/workflow.rst),
# every figure and summary table (flagged with report() in rules/*.smk)
report: "report/workflow.rst"

# Validation, the schema's defaults and the oracle's (system.a: null -> E-V fit, cached in
# results/.alff_defaults). config/config.yaml's lattice constant is Al's: dropped when --config or
# --configfile change the element or crystal without system.a. What was filled in, from where, and
# the warnings: results/<run>/resolved_config.yaml (rewritten only when it changes).
_settings = getattr(workflow, "config_settings", None)
_resolution = resolve_config(config, Path(workflow.basedir) / "config" / "schema.yaml",
                             cache_dir="results/.alff_defaults",
                             embedded=yaml.safe_load((Path(workflow.basedir) / "config" / "config.yaml").read_text()),
                             overlay=dict(getattr(_settings, "overwrite_config", None) or {}))
for _r in _resolution.records:
    if _r["source"] not in ("config", "system.a"):
        logger.info(f"config: {_r['key']} = {_r['value']} ({_r['source']}: {_r['detail']})")
for _w in _resolution.warnings:
    logger.warning(f"config: {_w}")
write_resolved_config(config, _resolution, f"results/{config['run']}/resolved_config.yaml")

include: "rules/common.smk"
include: "rules/seed.smk"
include: "rules/learn.smk"
include: "rules/label.smk"
include: "rules/map.smk"
include: "rules/report.smk"
include: "rules/validate.smk"
include: "rules/hull.smk"
include: "rules/elastic.smk"
include: "rules/paper_mlip.smk"
include: "rules/dynamic.smk"
include: "rules/paper_dynamic.smk"


rule all:
    input:
        report_outputs(),
        dynamic_outputs(),
    default_target: True
    localrule: True
