# Active learning. `otf`: one job with inline oracle calls. `batch`: each
# iteration i is train -> explore (one job per scenario) -> select -> label
# (one job per slot, rules/label.smk) -> merge, unrolled up to
# learn.max_iterations; an iteration that selects nothing stops the learning
# and the remaining iterations pass the model through unchanged.

if MODE == "otf":

    rule learn_otf:
        input:
            train=f"{R}/seed/train.extxyz",
            state=f"{R}/seed/state.extxyz",
        output:
            **learn_outputs(),
        log:
            f"{R}/logs/learn_otf.log",
        params:
            cache=f"{R}/oracle_cache/learn",
        conda:
            ENV
        threads: 2
        resources:
            mem_mb=4000,
            runtime=720,
        script:
            "../scripts/learn_otf.py"

else:

    rule train:
        input:
            unpack(train_inputs),
        output:
            model=f"{R}/iter_{{i}}/model.json",
            npz=f"{R}/iter_{{i}}/model.npz",
            timing=f"{R}/iter_{{i}}/train_timing.json",
        log:
            f"{R}/logs/iter_{{i}}/train.log",
        conda:
            ENV
        threads: 2
        resources:
            mem_mb=4000,
            runtime=120,
        script:
            "../scripts/train.py"

    rule explore:
        input:
            unpack(explore_inputs),
        output:
            candidates=f"{R}/iter_{{i}}/explore/{{scenario}}.extxyz",
            state=f"{R}/iter_{{i}}/explore/{{scenario}}.state.extxyz",
            log=f"{R}/iter_{{i}}/explore/{{scenario}}.log.csv",
            timings=f"{R}/iter_{{i}}/explore/{{scenario}}.timings.json",
        log:
            f"{R}/logs/iter_{{i}}/explore_{{scenario}}.log",
        conda:
            ENV
        threads: 2
        resources:
            mem_mb=4000,
            runtime=240,
        script:
            "../scripts/explore.py"

    rule select:
        input:
            unpack(select_inputs),
        output:
            slots=[f"{R}/iter_{{i}}/selected/{k}.extxyz" for k in SLOTS],
            status=f"{R}/iter_{{i}}/status.json",
        log:
            f"{R}/logs/iter_{{i}}/select.log",
        conda:
            ENV
        threads: 1
        resources:
            mem_mb=1000,
            runtime=10,
        script:
            "../scripts/select.py"

    rule merge:
        input:
            unpack(merge_inputs),
        output:
            f"{R}/iter_{{i}}/train.extxyz",
        log:
            f"{R}/logs/iter_{{i}}/merge.log",
        conda:
            ENV
        threads: 1
        resources:
            mem_mb=1000,
            runtime=10,
        script:
            "../scripts/merge.py"

    rule finalize:
        input:
            **finalize_inputs(),
        output:
            **learn_outputs(),
        log:
            f"{R}/logs/finalize.log",
        conda:
            ENV
        threads: 1
        resources:
            mem_mb=2000,
            runtime=10,
        script:
            "../scripts/finalize.py"
