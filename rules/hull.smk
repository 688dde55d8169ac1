# The convex-hull experiment (`snakemake hull`; config section hull): a pool
# of derivative structures, the oracle relaxing it, relaxation-driven
# D-optimality learning per MTP level (one job each, oracle calls cached so a
# restart repeats none), the final model relaxing the pool, and the report.

H = f"{R}/hull"
HULL_LEVELS = [int(x) for x in config["hull"]["levels"]]


def hull_keys(*keys):
    """The hull settings a rule reads, so that changing others (the model,
    the levels) does not rerun it (the oracle's relaxation of the pool
    takes half an hour)."""
    return {k: config["hull"][k] for k in keys if k in config["hull"]}


rule hull_pool:
    output:
        f"{H}/pool.extxyz",
    log:
        f"{H}/logs/pool.log",
    benchmark:
        benchmark_of("hull/pool", shared=True)
    params:
        hull=hull_keys("species", "lattices", "max_atoms", "a"),
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    script:
        "../scripts/hull.py"


rule hull_oracle:
    input:
        pool=f"{H}/pool.extxyz",
    output:
        f"{H}/oracle_relaxed.extxyz",
    log:
        f"{H}/logs/oracle.log",
    benchmark:
        benchmark_of("hull/oracle", shared=True)
    params:
        hull=hull_keys("relax"),
        oracle=config["oracle"],
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=720,
    script:
        "../scripts/hull.py"


rule hull_learn:
    input:
        pool=f"{H}/pool.extxyz",
    output:
        model=f"{H}/level_{{level}}/model.json",
        npz=f"{H}/level_{{level}}/model.npz",
        history=f"{H}/level_{{level}}/history.csv",
        training=f"{H}/level_{{level}}/training.extxyz",
    log:
        f"{H}/logs/learn_{{level}}.log",
    benchmark:
        benchmark_of("hull/learn_{level}", shared=True)
    wildcard_constraints:
        level=r"\d+",
    params:
        hull=hull_keys("species", "model", "selector", "max_iterations", "max_selected", "relax"),
        oracle=config["oracle"],
        cache=f"{R}/oracle_cache/hull",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=8000,
        runtime=1440,
    script:
        "../scripts/hull.py"


rule hull_final:
    input:
        pool=f"{H}/pool.extxyz",
        model=f"{H}/level_{{level}}/model.json",
        npz=f"{H}/level_{{level}}/model.npz",
    output:
        f"{H}/level_{{level}}/final_relaxed.extxyz",
    log:
        f"{H}/logs/final_{{level}}.log",
    benchmark:
        benchmark_of("hull/final_{level}", shared=True)
    wildcard_constraints:
        level=r"\d+",
    params:
        hull=hull_keys("selector", "relax"),
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=240,
    script:
        "../scripts/hull.py"


rule hull:
    input:
        pool=f"{H}/pool.extxyz",
        oracle=f"{H}/oracle_relaxed.extxyz",
        finals=expand(f"{H}/level_{{level}}/final_relaxed.extxyz", level=HULL_LEVELS),
        histories=expand(f"{H}/level_{{level}}/history.csv", level=HULL_LEVELS),
        trainings=expand(f"{H}/level_{{level}}/training.extxyz", level=HULL_LEVELS),
        models=expand(f"{H}/level_{{level}}/model.json", level=HULL_LEVELS),
    output:
        metrics=f"{H}/metrics.json",
        table=f"{H}/table.csv",
        figure=multiext(f"{H}/figures/hull", ".png", ".pdf"),
    log:
        f"{H}/logs/report.log",
    params:
        hull=config["hull"],
        levels=HULL_LEVELS,
    localrule: True
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    script:
        "../scripts/hull.py"
