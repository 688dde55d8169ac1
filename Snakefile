# alff: active-learning force fields (README.md; the layout of rules/ is described in rules/common.smk).
# Only configuration, validation, includes and the default target live here.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "lib"))
from alff.config import validate_config

configfile: str(Path(workflow.basedir) / "config" / "config.yaml")
# snakemake --report results/report.zip: the pipeline's stages (report/workflow.rst),
# every figure and summary table (flagged with report() in rules/*.smk)
report: "report/workflow.rst"

validate_config(config, Path(workflow.basedir) / "config" / "schema.yaml")

include: "rules/common.smk"
include: "rules/seed.smk"
include: "rules/learn.smk"
include: "rules/label.smk"
include: "rules/map.smk"
include: "rules/report.smk"
include: "rules/validate.smk"


rule all:
    input:
        report_outputs(),
    default_target: True
    localrule: True
