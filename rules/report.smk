# Each scheme's final model on the independent test sets; metrics.json and
# the figures.


rule evaluate:
    input:
        model=f"{S}/model/final.json",
        npz=f"{S}/model/final.npz",
        test=f"{R}/testset/{{phase}}.extxyz",
    output:
        f"{S}/evaluation/{{phase}}.npz",
    log:
        f"{S}/logs/evaluate_{{phase}}.log",
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=2000,
        runtime=60,
    script:
        "../scripts/evaluate.py"


rule report:
    input:
        evaluations=expand(f"{S}/evaluation/{{phase}}.npz", phase=PHASES, allow_missing=True),
        seed=f"{R}/seed/train.extxyz",
        **learn_outputs(),
    output:
        metrics=f"{S}/metrics.json",
        figures=[f"{S}/figures/{name}.{ext}" for name in FIGURES for ext in ("png", "pdf")],
    params:
        run=RUN,
        scheme=scheme_name,
        mode=MODE,
        seed=config["seed"],
        testset=config["testset"],
        phases=PHASES,
    log:
        f"{S}/logs/report.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    script:
        "../scripts/report.py"
