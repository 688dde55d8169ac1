# One oracle job per selected structure (batch mode). Finished calls are
# cached under results/<run>/oracle_cache/learn, so a job that is re-run
# (killed node, --rerun-incomplete) never repeats a finished oracle call.
# Give this rule the DFT resources in the profile (set-resources), not here.

if MODE == "batch":

    rule label:
        input:
            f"{R}/iter_{{i}}/selected/{{k}}.extxyz",
        output:
            f"{R}/iter_{{i}}/labels/{{k}}.extxyz",
        log:
            f"{R}/logs/iter_{{i}}/label_{{k}}.log",
        params:
            cache=f"{R}/oracle_cache/learn",
        conda:
            ENV
        threads: 1
        resources:
            mem_mb=4000,
            runtime=720,
        script:
            "../scripts/label.py"
