# The MLIP paper's three experiments side by side (`snakemake paper_mlip`; config section paper_mlip):
# the convex hull, the Al melting point and the Mo elastic constants are each their own run (their
# configs in config/systems/: agpd_hull, al_mlip, mo_elastic; `make paper-mlip` runs all three, then
# this). This rule only collects their outputs into results/<paper_mlip.out>/: table.csv, table.md
# (alff, its oracle, the paper; targets met and validity per row), figures/paper_mlip.png (+pdf) and
# copies of the experiments' own figures. A missing experiment is an error naming its command.

from snakemake.exceptions import WorkflowError

from alff.steps.paper_mlip import experiment_paths, missing_outputs

PM = config["paper_mlip"]
PM_DIR = f"results/{PM['out']}"
PM_PATHS = experiment_paths(PM)


def paper_mlip_inputs(wc):
    """Every experiment's outputs; an error naming the commands when some are missing."""
    msg = missing_outputs(PM)
    if msg:
        raise WorkflowError(msg)
    return {f"{exp}_{key}": path for exp, files in PM_PATHS.items() for key, path in files.items()}


rule paper_mlip:
    input:
        unpack(paper_mlip_inputs),
    output:
        table=f"{PM_DIR}/table.csv",
        markdown=f"{PM_DIR}/table.md",
        figure=multiext(f"{PM_DIR}/figures/paper_mlip", ".png", ".pdf"),
    params:
        section=PM,
        paths=PM_PATHS,
        figures_dir=f"{PM_DIR}/figures",
    log:
        f"{PM_DIR}/logs/paper_mlip.log",
    localrule: True
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/paper_mlip.py"
