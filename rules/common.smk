# Paths, helpers and the job environment shared by every rule.
#
# Shared by every scheme of a run: the seed and the test sets (results/<run>/
# seed, testset). Per scheme: everything learned from them. With one scheme
# in learn.schemes its outputs sit in results/<run>/ itself; with several,
# in results/<run>/<scheme>/ through the {scheme} wildcard, gathered with
# expand. Each rule passes exactly the config sections it uses as params,
# so an edited section reruns what depends on it and nothing else.
#
# Snakemake's report (`snakemake --report results/report.zip`): every figure
# (PNG) and summary table is flagged with report() through the helpers
# below, by stage (the categories Learning, Test sets, Mapping, Validation,
# each with one subcategory per scheme); the captions are
# report/*.rst, the workflow description report/workflow.rst.
#
# Benchmarks: every rule that does real work writes a benchmark TSV,
# results/<run>/benchmarks/ for the shared rules (seed, testset) and
# <scheme dir>/benchmarks/ for the others (iter_NNN/ in batch mode), with
# Snakemake's columns s (wall time, seconds), max_rss (peak resident
# memory, MB), cpu_time, io_in/io_out. To size a rule for a cluster, run
# the real system once (or a shorter schedule and scale), then set the
# rule's mem_mb to ~1.5x the largest max_rss and its runtime (minutes) to
# ~2x s/60 in the profile (set-resources), e.g.
#   tail -qn1 results/<run>/benchmarks/iter_*/label_*.tsv | sort -k3 -g | tail -1
# The tiny steps (select, merge, finalize, report, validation_summary, paper,
# validate, all) are `localrule: True`: no benchmark, never queued on Slurm.
import os
from pathlib import Path

from alff.analysis.phase import expected_phase
from alff.config import scheme_sections
from alff.models import is_mappable, is_validated

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
SCHEMES = list(config["learn"]["schemes"])
MULTI = len(SCHEMES) > 1
# per-scheme output directory (a pattern with {scheme} when several run)
S = f"{R}/{{scheme}}" if MULTI else R
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
# schemes whose model maps to splines: they get the map rule (LAMMPS files)
# and the validation, which runs on the mapped potential; a model that runs in
# the compiled MD loop itself (the MTP) is validated as it is
MAPPED_SCHEMES = [s for s in SCHEMES if is_mappable(config["schemes"][s]["model"]["kind"])]
VALIDATED_SCHEMES = [s for s in SCHEMES if is_validated(config["schemes"][s]["model"]["kind"])]
for _s in SCHEMES:
    _kind = config["schemes"][_s]["model"]["kind"]
    if _s not in MAPPED_SCHEMES and _s in VALIDATED_SCHEMES:
        logger.info(f"scheme {_s}: model kind '{_kind}' has no spline mapping (no potential/ files); its "
                    "validation runs on the model itself in the compiled MD loop")
    elif _s not in MAPPED_SCHEMES:
        logger.warning(f"scheme {_s}: model kind '{_kind}' has no spline mapping and no compiled MD: no "
                       "potential/ files and no validation for it (its metrics and figures are made)")


wildcard_constraints:
    i=r"\d{3}",
    k=r"\d{3}",
    phase=r"[A-Za-z0-9_-]+",
    scenario=r"[A-Za-z0-9_-]+",
    scheme="|".join(SCHEMES),


def per_scheme(*patterns, schemes=None):
    """Paths of every scheme (expanded over {scheme} when several run), or
    of the ``schemes`` given."""
    schemes = SCHEMES if schemes is None else schemes
    out = []
    for p in patterns:
        out += expand(p, scheme=schemes) if MULTI else ([p] if schemes else [])
    return out


def scheme_of(wc):
    """The scheme of a job."""
    return wc.scheme if MULTI else SCHEMES[0]


def scheme_dir(wc):
    """Output directory of a job's scheme."""
    return f"{R}/{wc.scheme}" if MULTI else R


# ----- params: exactly the sections a rule uses
def scheme_params(wc):
    """The job's scheme: name, model, selector, explore (with its overrides)."""
    return scheme_sections(config, scheme_of(wc))


def model_params(wc):
    return scheme_params(wc)["model"]


def selector_params(wc):
    return scheme_params(wc)["selector"]


def explore_params(wc):
    """selector and explore of the job's scheme (a batch exploration)."""
    s = scheme_params(wc)
    return {"selector": s["selector"], "explore": s["explore"]}


def scheme_name(wc):
    return scheme_of(wc)


def cache_dir(wc):
    return f"{scheme_dir(wc)}/oracle_cache/learn"


def checkpoint_dir(wc):
    return f"{scheme_dir(wc)}/learn/checkpoint"


def figure_title_of(wc):
    """The learning figures' title: element, crystal, oracle and scheme."""
    from alff.plotting import figure_title
    sy = config["system"]
    what = {"bulk": sy["crystal"], "vacancy": f"{sy['crystal']} with a vacancy",
            "slab": f"{sy['crystal']}({sy['miller']}) slab" + (" + adatom" if sy.get("adatom") else "")}
    if sy["kind"] == "file":
        return figure_title(Path(sy["path"] or "").name, None, config["oracle"], scheme_of(wc))
    return figure_title(sy["element"], what[sy["kind"]], config["oracle"], scheme_of(wc))


# the start structure: the system section without melting_point_K, which
# only sets temperatures (already resolved into the sections that use them),
# so giving or estimating it reruns no seed or test set by itself
STRUCTURE = {k: v for k, v in config["system"].items() if k != "melting_point_K"}


def learn_subset(*keys):
    return {k: config["learn"][k] for k in keys}


# the learn settings of each kind of job (not learn.schemes: adding a scheme
# reruns nothing of the others)
OTF_SETTINGS = learn_subset("max_oracle_calls", "failure_cooldown_steps", "log_every", "progress_s")
BATCH_EXPLORE_SETTINGS = learn_subset("max_candidates", "min_separation", "max_steps", "log_every", "progress_s")


def testset_protocol(wc):
    """The oracle MD of a phase's test set: the first segment of that phase,
    from the start structure; melted first (``melt_K``) when a hotter
    segment labelled liquid comes before it and it does not claim to be
    solid, as the exploration reached it (a liquid cooled to 1100 K is not
    the crystal heated to 1100 K)."""
    e = config["explore"]
    k = PHASES.index(wc.phase)
    i = next(j for j, s in enumerate(e["schedule"]) if s.get("phase", "default") == wc.phase)
    seg = e["schedule"][i]
    out = {"temperature_K": seg["temperature_K"], "timestep_fs": e["timestep_fs"],
           "friction_per_fs": e["friction_per_fs"], "phase_index": k}
    melts = [s["temperature_K"] for s in e["schedule"][:i]
             if expected_phase(s.get("phase", "default")) == "liquid" and s["temperature_K"] > seg["temperature_K"]]
    if melts and expected_phase(wc.phase) != "solid":
        out["melt_K"] = max(melts)  # only when set: other runs' params are unchanged
    return out


def validation_settings(name):
    """What a validation rule's results depend on besides its inputs."""
    v = config["validate"]
    return {name: v[name], "oracle": config["oracle"], "element": v["element"], "a": v["a"],
            "system": {k: config["system"].get(k) for k in ("element", "a")}, "seed": config["random_seed"]}


def validated_potential(wc):
    """The potential the validation rules run: the mapped splines of a
    mappable scheme, else the final model (json)."""
    d = scheme_dir(wc)
    return f"{d}/potential/mapped.json" if scheme_of(wc) in MAPPED_SCHEMES else f"{d}/model/final.json"


def validated_potential_data(wc):
    """The arrays beside :func:`validated_potential` (the final model's npz;
    none for the mapped potential)."""
    return [] if scheme_of(wc) in MAPPED_SCHEMES else [f"{scheme_dir(wc)}/model/final.npz"]


def mapping_report(wc):
    """The mapping report of a mapped scheme (none for the others)."""
    return [f"{scheme_dir(wc)}/potential/mapping.json"] if scheme_of(wc) in MAPPED_SCHEMES else []


def learn_outputs():
    """The outputs every learning mode ends with."""
    return {
        "model": f"{S}/model/final.json",
        "npz": f"{S}/model/final.npz",
        "log": f"{S}/learn/log.csv",
        "calls": f"{S}/learn/calls.csv",
        "train": f"{S}/learn/train.extxyz",
        "timings": f"{S}/learn/timings.json",
    }


def report_outputs():
    out = [f"{S}/metrics.json"] + [f"{S}/figures/{name}.{ext}" for name in FIGURES for ext in ("png", "pdf")]
    mapped = [f"{S}/potential/mapped.json", f"{S}/potential/alff.uf3", f"{S}/potential/mapping.json"]
    validated = [f"{S}/validation/summary.csv", f"{S}/report.md"] if VALIDATIONS else []
    return (per_scheme(*out) + per_scheme(*mapped, schemes=MAPPED_SCHEMES)
            + per_scheme(*validated, schemes=VALIDATED_SCHEMES))


# ----- report() flags and benchmark paths
REPORT = Path(workflow.basedir) / "report"
# the scheme as subcategory (a wildcard, expanded per job, when several run)
SUBCATEGORY = "{scheme}" if MULTI else SCHEMES[0]


def reported(path, caption, category, subcategory=SUBCATEGORY):
    """``path`` flagged for Snakemake's report with the caption
    report/<caption>.rst."""
    return report(path, caption=str(REPORT / f"{caption}.rst"), category=category, subcategory=subcategory)


def figure(name, category, caption=None):
    """A figure's PNG (flagged for the report, caption report/<name>.rst)
    and its PDF twin (not in the report)."""
    return [reported(f"{S}/figures/{name}.png", caption or name, category),
            f"{S}/figures/{name}.pdf"]


def benchmark_of(name, shared=False):
    """The benchmark TSV of a job: results/<run>/benchmarks/<name>.tsv for
    rules shared by the schemes, <scheme dir>/benchmarks/<name>.tsv else
    (``name`` carries the rule's wildcards)."""
    return f"{R if shared else S}/benchmarks/{name}.tsv"


def testset_cache(wc):
    return f"{R}/oracle_cache/testset_{wc.phase}"


# ----- batch-mode input functions (iteration i = wildcards.i)
def it(wc, i):
    """Directory of iteration i of the job's scheme."""
    return f"{scheme_dir(wc)}/iter_{int(i):03d}"


def train_inputs(wc):
    i = int(wc.i)
    if i == 0:
        return {"train": f"{R}/seed/train.extxyz"}
    return {"train": f"{it(wc, i)}/train.extxyz", "prev_model": f"{it(wc, i - 1)}/model.json",
            "prev_status": f"{it(wc, i - 1)}/status.json"}


def explore_inputs(wc):
    i = int(wc.i)
    d = {"model": f"{it(wc, i)}/model.json", "npz": f"{it(wc, i)}/model.npz"}
    if i == 0:
        d["start"] = f"{R}/seed/state.extxyz"
    else:
        d["start"] = f"{it(wc, i - 1)}/explore/{wc.scenario}.state.extxyz"
        d["prev_status"] = f"{it(wc, i - 1)}/status.json"
    return d


def scenarios_of(wc):
    return [s["name"] for s in scheme_params(wc)["explore"]["scenarios"]]


def select_inputs(wc):
    i = int(wc.i)
    # the iteration's model: selectors that pick against it (maxvol's select-add) load it
    d = {"candidates": [f"{it(wc, i)}/explore/{s}.extxyz" for s in scenarios_of(wc)],
         "model": f"{it(wc, i)}/model.json", "npz": f"{it(wc, i)}/model.npz"}
    if i > 0:
        d["prev_status"] = f"{it(wc, i - 1)}/status.json"
    return d


def merge_inputs(wc):
    i = int(wc.i) - 1
    if i < 0:
        raise ValueError("iteration 000 has no merged training set (it is the seed)")
    train = f"{R}/seed/train.extxyz" if i == 0 else f"{it(wc, i)}/train.extxyz"
    return {"train": train, "labels": [f"{it(wc, i)}/labels/{k}.extxyz" for k in SLOTS]}


def finalize_inputs(wc):
    sc = scenarios_of(wc)
    return {
        "model": f"{it(wc, N_ITER)}/model.json",
        "npz": f"{it(wc, N_ITER)}/model.npz",
        "train": f"{it(wc, N_ITER)}/train.extxyz",
        "logs": [f"{it(wc, i)}/explore/{s}.log.csv" for i in range(N_ITER) for s in sc],
        "labels": [f"{it(wc, i)}/labels/{k}.extxyz" for i in range(N_ITER) for k in SLOTS],
        "timings": [f"{it(wc, i)}/explore/{s}.timings.json" for i in range(N_ITER) for s in sc]
        + [f"{it(wc, i)}/train_timing.json" for i in range(N_ITER + 1)],
    }
