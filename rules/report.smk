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
    benchmark:
        benchmark_of("evaluate_{phase}")
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
        phase_checks=expand(f"{R}/testset/{{phase}}.phase.json", phase=PHASES),
        **learn_outputs(),
    output:
        metrics=reported(f"{S}/metrics.json", "metrics", "Learning"),
        # learning in Learning; parity and calibration (the final model on the test sets) in Test sets
        figures=[f for name in FIGURES for f in figure(name, "Learning" if name == "learning" else "Test sets")],
    params:
        run=RUN,
        scheme=scheme_name,
        mode=MODE,
        seed=config["seed"],
        testset=config["testset"],
        phases=PHASES,
        title=figure_title_of,
        selector=selector_params,
    log:
        f"{S}/logs/report.log",
    localrule: True
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    script:
        "../scripts/report.py"
