# Paths, helpers and the job environment shared by every rule.
import os
from pathlib import Path

LIB = str(Path(workflow.basedir) / "lib")
# Jobs import alff from this checkout (also inside conda envs and on cluster
# nodes, which re-read this file); BLAS single-threaded, numba uses `threads`.
os.environ["PYTHONPATH"] = LIB + (os.pathsep + os.environ["PYTHONPATH"] if os.environ.get("PYTHONPATH") else "")
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(workflow.basedir) / ".numba_cache"))

RUN = config["run"]
R = f"results/{RUN}"
MODE = config["learn"]["mode"]
SCENARIOS = [s["name"] for s in config["explore"]["scenarios"]]
PHASES = []
for _seg in config["explore"]["schedule"]:
    if _seg.get("phase", "default") not in PHASES:
        PHASES.append(_seg.get("phase", "default"))
N_ITER = config["learn"]["max_iterations"]
N_SLOTS = config["learn"]["max_selected"]
SLOTS = [f"{k:03d}" for k in range(N_SLOTS)]
ENV = "../envs/alff.yaml"
FIGURES = ["learning", "parity", "calibration"]
VALIDATIONS = [name for name in ("rdf", "neb", "diffusion", "melting")
               if config["validate"]["enabled"] and config["validate"][name]["enabled"]]


wildcard_constraints:
    i=r"\d{3}",
    k=r"\d{3}",
    phase=r"[A-Za-z0-9_-]+",
    scenario=r"[A-Za-z0-9_-]+",


def it(i):
    """Directory of iteration i."""
    return f"{R}/iter_{int(i):03d}"


def learn_outputs():
    """The outputs every learning mode ends with."""
    return {
        "model": f"{R}/model/final.json",
        "npz": f"{R}/model/final.npz",
        "log": f"{R}/learn/log.csv",
        "calls": f"{R}/learn/calls.csv",
        "train": f"{R}/learn/train.extxyz",
        "timings": f"{R}/learn/timings.json",
    }


def report_outputs():
    out = [f"{R}/metrics.json"]
    out += [f"{R}/figures/{name}.{ext}" for name in FIGURES for ext in ("png", "pdf")]
    out += [f"{R}/potential/mapped.json", f"{R}/potential/alff.uf3", f"{R}/potential/mapping.json"]
    if VALIDATIONS:
        out += [f"{R}/validation/summary.csv", f"{R}/report.md"]
    return out


def validation_settings(name):
    """What a validation rule's results depend on besides its inputs."""
    v = config["validate"]
    return {name: v[name], "oracle": config["oracle"], "element": v["element"], "a": v["a"],
            "system": {k: config["system"].get(k) for k in ("element", "a")}, "seed": config["random_seed"]}


def testset_cache(wc):
    return f"{R}/oracle_cache/testset_{wc.phase}"


# ----- batch-mode input functions (iteration i = wildcards.i)
def train_inputs(wc):
    i = int(wc.i)
    if i == 0:
        return {"train": f"{R}/seed/train.extxyz"}
    return {"train": f"{it(i)}/train.extxyz", "prev_model": f"{it(i - 1)}/model.json",
            "prev_status": f"{it(i - 1)}/status.json"}


def explore_inputs(wc):
    i = int(wc.i)
    d = {"model": f"{it(i)}/model.json", "npz": f"{it(i)}/model.npz"}
    if i == 0:
        d["start"] = f"{R}/seed/state.extxyz"
    else:
        d["start"] = f"{it(i - 1)}/explore/{wc.scenario}.state.extxyz"
        d["prev_status"] = f"{it(i - 1)}/status.json"
    return d


def select_inputs(wc):
    i = int(wc.i)
    d = {"candidates": [f"{it(i)}/explore/{s}.extxyz" for s in SCENARIOS]}
    if i > 0:
        d["prev_status"] = f"{it(i - 1)}/status.json"
    return d


def merge_inputs(wc):
    i = int(wc.i) - 1
    if i < 0:
        raise ValueError("iteration 000 has no merged training set (it is the seed)")
    train = f"{R}/seed/train.extxyz" if i == 0 else f"{it(i)}/train.extxyz"
    return {"train": train, "labels": [f"{it(i)}/labels/{k}.extxyz" for k in SLOTS]}


def finalize_inputs(wc=None):
    return {
        "model": f"{it(N_ITER)}/model.json",
        "npz": f"{it(N_ITER)}/model.npz",
        "train": f"{it(N_ITER)}/train.extxyz",
        "logs": [f"{it(i)}/explore/{s}.log.csv" for i in range(N_ITER) for s in SCENARIOS],
        "labels": [f"{it(i)}/labels/{k}.extxyz" for i in range(N_ITER) for k in SLOTS],
        "timings": [f"{it(i)}/explore/{s}.timings.json" for i in range(N_ITER) for s in SCENARIOS]
        + [f"{it(i)}/train_timing.json" for i in range(N_ITER + 1)],
    }
