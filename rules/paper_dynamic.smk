# The dynamic-training paper's experiments side by side (`snakemake paper_dynamic`; config section
# paper_dynamic): si_dynamic and inp_dynamic are each their own run (config/systems/; `make paper-dynamic`
# runs both, then this). This rule only collects their dynamic/ outputs into results/<paper_dynamic.out>/:
# table.csv, table.md and copies of the figures. A missing experiment is an error naming its command.

from alff.steps.paper_dynamic import experiment_paths as dynamic_paths
from alff.steps.paper_dynamic import missing_outputs as dynamic_missing

PD = config["paper_dynamic"]
PD_DIR = f"results/{PD['out']}"
PD_PATHS = dynamic_paths(PD)


def paper_dynamic_inputs(wc):
    """Every experiment's outputs; an error naming the commands when some are missing."""
    from snakemake.exceptions import WorkflowError
    msg = dynamic_missing(PD)
    if msg:
        raise WorkflowError(msg)
    return {f"{exp}_{key}": path for exp, files in PD_PATHS.items() for key, path in files.items()}


rule paper_dynamic:
    input:
        unpack(paper_dynamic_inputs),
    output:
        table=f"{PD_DIR}/table.csv",
        markdown=f"{PD_DIR}/table.md",
    params:
        section=PD,
        paths=PD_PATHS,
        figures_dir=f"{PD_DIR}/figures",
    log:
        f"{PD_DIR}/logs/paper_dynamic.log",
    localrule: True
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/paper_dynamic.py"
