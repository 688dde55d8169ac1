# The elastic-constant experiment (`snakemake elastic`; config section elastic; the MLIP paper's
# example 1): the training set (D-optimality selection from a pool of strained and rattled cells,
# optionally starting from the learn pipeline's training set), an ensemble of MTPs fitted to it from
# different random initial radial parameters (one job each), the oracle under the same protocol, and
# the report.

EL = f"{R}/elastic"
ELASTIC = config["elastic"]
EL_SOURCE = ELASTIC["training"]["source"]
EL_MEMBERS = list(range(int(ELASTIC["ensemble"])))
EL_SCHEME = ELASTIC["training"]["scheme"] or SCHEMES[0]
if EL_SOURCE != "pool" and EL_SCHEME not in SCHEMES:
    raise ValueError(f"elastic.training.scheme: '{EL_SCHEME}' is not in learn.schemes {SCHEMES}")
# what the members' protocol and the oracle's depend on
EL_SYSTEM = {k: config["system"][k] for k in ("element", "crystal", "a")}
EL_PROTOCOL = {k: ELASTIC[k] for k in ("strain", "relax_fmax", "scales")}


def elastic_learned(name):
    """A learn-pipeline output (learn_outputs() key) of the scheme the elastic training set starts from."""
    return per_scheme(learn_outputs()[name], schemes=[EL_SCHEME])[0]


def elastic_training_inputs(wc):
    """The pool (sources pool, both) and the learn pipeline's training set (learn, both)."""
    d = {}
    if EL_SOURCE in ("pool", "both"):
        d["pool"] = f"{EL}/pool.extxyz"
    if EL_SOURCE in ("learn", "both"):
        d["learned"] = elastic_learned("train")
    return d


def elastic_report_inputs(wc):
    """Every member's properties, the oracle's, the training set and, with a learn source, its calls."""
    d = {"members": expand(f"{EL}/member_{{member}}/properties.json", member=EL_MEMBERS),
         "oracle": f"{EL}/oracle.json", "history": f"{EL}/history.csv", "training": f"{EL}/training.extxyz"}
    if EL_SOURCE != "pool":
        d["calls"] = elastic_learned("calls")
    return d


rule elastic_pool:
    output:
        f"{EL}/pool.extxyz",
    log:
        f"{EL}/logs/pool.log",
    benchmark:
        benchmark_of("elastic/pool", shared=True)
    params:
        training=ELASTIC["training"],
        system=EL_SYSTEM,
        seed=config["random_seed"],
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    script:
        "../scripts/elastic.py"


rule elastic_train:
    input:
        unpack(elastic_training_inputs),
    output:
        training=f"{EL}/training.extxyz",
        history=f"{EL}/history.csv",
    log:
        f"{EL}/logs/train.log",
    benchmark:
        benchmark_of("elastic/train", shared=True)
    params:
        elastic={"model": ELASTIC["model"], "training": ELASTIC["training"]},
        oracle=config["oracle"],
        cache=f"{R}/oracle_cache/elastic",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=8000,
        runtime=720,
    script:
        "../scripts/elastic.py"


rule elastic_member:
    input:
        training=f"{EL}/training.extxyz",
    output:
        model=f"{EL}/member_{{member}}/model.json",
        npz=f"{EL}/member_{{member}}/model.npz",
        properties=f"{EL}/member_{{member}}/properties.json",
    log:
        f"{EL}/logs/member_{{member}}.log",
    benchmark:
        benchmark_of("elastic/member_{member}", shared=True)
    wildcard_constraints:
        member=r"\d+",
    params:
        elastic={"model": ELASTIC["model"], **EL_PROTOCOL},
        system=EL_SYSTEM,
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=8000,
        runtime=240,
    script:
        "../scripts/elastic.py"


rule elastic_oracle:
    output:
        f"{EL}/oracle.json",
    log:
        f"{EL}/logs/oracle.log",
    benchmark:
        benchmark_of("elastic/oracle", shared=True)
    params:
        elastic=EL_PROTOCOL,
        system=EL_SYSTEM,
        oracle=config["oracle"],
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    script:
        "../scripts/elastic.py"


rule elastic:
    input:
        unpack(elastic_report_inputs),
    output:
        metrics=f"{EL}/metrics.json",
        table=f"{EL}/table.csv",
        figure=multiext(f"{EL}/figures/elastic", ".png", ".pdf"),
    log:
        f"{EL}/logs/report.log",
    params:
        elastic=ELASTIC,
        system=EL_SYSTEM,
        oracle=config["oracle"],
        seed=config["seed"],
    localrule: True
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    script:
        "../scripts/elastic.py"
