# Final model on the independent test sets; metrics.json and the figures.


rule evaluate:
    input:
        model=f"{R}/model/final.json",
        npz=f"{R}/model/final.npz",
        test=f"{R}/testset/{{phase}}.extxyz",
    output:
        f"{R}/evaluation/{{phase}}.npz",
    log:
        f"{R}/logs/evaluate_{{phase}}.log",
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
        evaluations=expand(f"{R}/evaluation/{{phase}}.npz", phase=PHASES),
        seed=f"{R}/seed/train.extxyz",
        **learn_outputs(),
    output:
        metrics=f"{R}/metrics.json",
        figures=[f"{R}/figures/{name}.{ext}" for name in FIGURES for ext in ("png", "pdf")],
    params:
        phases=PHASES,
    log:
        f"{R}/logs/report.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    script:
        "../scripts/report.py"
