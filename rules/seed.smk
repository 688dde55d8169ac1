# The first training data (short oracle MD, rattled copies or a file) and the
# independent oracle test sets, one per phase of the exploration schedule;
# shared by every scheme of the run.


rule seed:
    output:
        train=f"{R}/seed/train.extxyz",
        state=f"{R}/seed/state.extxyz",
    log:
        f"{R}/logs/seed.log",
    benchmark:
        benchmark_of("seed", shared=True)
    params:
        system=STRUCTURE,
        seed=config["seed"],
        oracle=config["oracle"],
        random_seed=config["random_seed"],
        cache=f"{R}/oracle_cache/seed",
    conda:
        ENV
    threads: 1
    # the learning waits for the seed, not for the test sets: run it first
    priority: 10
    resources:
        mem_mb=2000,
        runtime=120,
    script:
        "../scripts/seed.py"


rule testset:
    output:
        f"{R}/testset/{{phase}}.extxyz",
        # its phase check (alff.analysis.phase): solid fraction per frame, verdict
        check=f"{R}/testset/{{phase}}.phase.json",
    log:
        f"{R}/logs/testset_{{phase}}.log",
    benchmark:
        benchmark_of("testset_{phase}", shared=True)
    params:
        system=STRUCTURE,
        protocol=testset_protocol,
        testset=config["testset"],
        oracle=config["oracle"],
        random_seed=config["random_seed"],
        cache=testset_cache,
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=240,
    script:
        "../scripts/testset.py"
