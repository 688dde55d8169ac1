# Active learning of each scheme. `otf`: one job, inline oracle calls,
# checkpointed after every call. `batch`: each iteration i is train ->
# explore (one job per scenario) -> select -> label (one job per slot,
# rules/label.smk) -> merge, unrolled up to learn.max_iterations; an
# iteration that selects nothing stops the learning and the remaining
# iterations pass the model through unchanged.

if MODE == "otf":

    rule learn_otf:
        input:
            train=f"{R}/seed/train.extxyz",
            state=f"{R}/seed/state.extxyz",
        output:
            **learn_outputs(),
        log:
            f"{S}/logs/learn_otf.log",
        benchmark:
            benchmark_of("learn_otf")
        params:
            scheme=scheme_params,
            learn=OTF_SETTINGS,
            oracle=config["oracle"],
            random_seed=config["random_seed"],
            cache=cache_dir,
            checkpoint=checkpoint_dir,
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
            model=f"{S}/iter_{{i}}/model.json",
            npz=f"{S}/iter_{{i}}/model.npz",
            timing=f"{S}/iter_{{i}}/train_timing.json",
        log:
            f"{S}/logs/iter_{{i}}/train.log",
        benchmark:
            benchmark_of("iter_{i}/train")
        params:
            model=model_params,
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
            candidates=f"{S}/iter_{{i}}/explore/{{scenario}}.extxyz",
            state=f"{S}/iter_{{i}}/explore/{{scenario}}.state.extxyz",
            log=f"{S}/iter_{{i}}/explore/{{scenario}}.log.csv",
            timings=f"{S}/iter_{{i}}/explore/{{scenario}}.timings.json",
        log:
            f"{S}/logs/iter_{{i}}/explore_{{scenario}}.log",
        benchmark:
            benchmark_of("iter_{i}/explore_{scenario}")
        params:
            scheme=explore_params,
            learn=BATCH_EXPLORE_SETTINGS,
            random_seed=config["random_seed"],
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
            slots=[f"{S}/iter_{{i}}/selected/{k}.extxyz" for k in SLOTS],
            status=f"{S}/iter_{{i}}/status.json",
        log:
            f"{S}/logs/iter_{{i}}/select.log",
        localrule: True
        params:
            selector=selector_params,
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
            f"{S}/iter_{{i}}/train.extxyz",
        log:
            f"{S}/logs/iter_{{i}}/merge.log",
        localrule: True
        params:
            selector=selector_params,
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
            unpack(finalize_inputs),
        output:
            **learn_outputs(),
        log:
            f"{S}/logs/finalize.log",
        localrule: True
        conda:
            ENV
        threads: 1
        resources:
            mem_mb=2000,
            runtime=10,
        script:
            "../scripts/finalize.py"
