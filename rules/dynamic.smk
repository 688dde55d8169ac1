# The dynamic-training report (config section dynamic; the paper's Figs. 2-4 and Table 2): per
# force-constant scheme the learning curve, z_B and the model's NVT (dynamic_scheme), then the criteria
# side by side in results/<run>/dynamic/ (dynamic; part of the default target); the phonons of each
# scheme's model against the oracle's (phonons: validation/summary.csv, figures/phonons).

FC_SCHEMES = [s for s in SCHEMES if config["schemes"][s]["model"]["kind"] == "force_constants"]
DYN_FILES = {"summary": "summary.json", "curve": "curve.csv", "z": "z.npz", "nvt": "nvt.csv"}
from alff.steps.dynamic import DYN_FIGURES


def dynamic_outputs():
    """The report's files when a force-constant scheme runs and it is enabled."""
    if not (FC_SCHEMES and config["dynamic"]["enabled"]):
        return []
    return ([f"{R}/dynamic/table.csv", f"{R}/dynamic/table.md"] + [f"{R}/dynamic/figures/{n}.png" for n in DYN_FIGURES]
            + per_scheme(f"{S}/validation/summary.csv", f"{S}/figures/phonons.png", schemes=FC_SCHEMES))


def dynamic_title():
    from alff.plotting import figure_title
    sy = config["system"]
    return figure_title(sy.get("element"), sy.get("crystal"), config["oracle"])


def scheme_explore(wc):
    return scheme_params(wc)["explore"]


rule dynamic_scheme:
    input:
        model=f"{S}/model/final.json",
        npz=f"{S}/model/final.npz",
        train=f"{S}/learn/train.extxyz",
        calls=f"{S}/learn/calls.csv",
        tests=expand(f"{R}/testset/{{phase}}.extxyz", phase=PHASES),
    output:
        **{k: f"{S}/dynamic/{v}" for k, v in DYN_FILES.items()},
    log:
        f"{S}/logs/dynamic_scheme.log",
    benchmark:
        benchmark_of("dynamic_scheme")
    params:
        model=model_params,
        explore=scheme_explore,
        # the settings it reads (the figure's k and the paper's row rerun only the comparison)
        dynamic={k: config["dynamic"][k] for k in ("curve_points", "subset_ratio", "nvt")},
        seed=config["random_seed"],
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
    script:
        "../scripts/dynamic.py"


if FC_SCHEMES:

    rule dynamic:
        input:
            **{k: per_scheme(f"{S}/dynamic/{v}", schemes=FC_SCHEMES) for k, v in DYN_FILES.items()},
            logs=per_scheme(f"{S}/learn/log.csv", schemes=FC_SCHEMES),
            calls=per_scheme(f"{S}/learn/calls.csv", schemes=FC_SCHEMES),
        output:
            table=f"{R}/dynamic/table.csv",
            markdown=f"{R}/dynamic/table.md",
            metrics=f"{R}/dynamic/metrics.json",
            figures=[f"{R}/dynamic/figures/{n}.{e}" for n in DYN_FIGURES for e in ("png", "pdf")],
        log:
            f"{R}/logs/dynamic.log",
        params:
            schemes={s: config["schemes"][s]["selector"] for s in FC_SCHEMES},
            dynamic=config["dynamic"],
            title=dynamic_title(),
        localrule: True
        conda:
            ENV
        threads: 1
        resources:
            mem_mb=2000,
            runtime=30,
        script:
            "../scripts/dynamic.py"

    rule phonons:
        input:
            model=f"{S}/model/final.json",
            npz=f"{S}/model/final.npz",
        wildcard_constraints:
            scheme="|".join(FC_SCHEMES),
        output:
            summary=f"{S}/validation/summary.csv",
            data=f"{S}/validation/phonons.npz",
            figure=multiext(f"{S}/figures/phonons", ".png", ".pdf"),
        log:
            f"{S}/logs/phonons.log",
        benchmark:
            benchmark_of("phonons")
        params:
            system=config["system"],
            oracle=config["oracle"],
            cache=f"{R}/oracle_cache/phonons",
            title=dynamic_title(),
        conda:
            ENV
        threads: 1
        resources:
            mem_mb=4000,
            runtime=60,
        script:
            "../scripts/dynamic.py"
