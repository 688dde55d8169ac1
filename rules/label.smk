# One oracle job per selected structure (batch mode). Finished calls are
# cached under <scheme dir>/oracle_cache/learn, so a job that is re-run
# (killed node, --rerun-incomplete) never repeats a finished oracle call.
# Give this rule the DFT resources in the profile (set-resources), not here.

if MODE == "batch":

    rule label:
        input:
            f"{S}/iter_{{i}}/selected/{{k}}.extxyz",
        output:
            f"{S}/iter_{{i}}/labels/{{k}}.extxyz",
        log:
            f"{S}/logs/iter_{{i}}/label_{{k}}.log",
        benchmark:
            benchmark_of("iter_{i}/label_{k}")
        params:
            oracle=config["oracle"],
            cache=cache_dir,
        conda:
            ENV
        threads: 1
        resources:
            mem_mb=4000,
            runtime=720,
        script:
            "../scripts/label.py"
