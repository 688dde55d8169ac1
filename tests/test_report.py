"""Snakemake conventions: the report has every figure, benchmarks and local
rules, the conda env matches pyproject, progress lines reach the terminal
at a steady rate."""

import io
import logging
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

from test_pipeline import REPO, snakemake

# the tiny steps: run by Snakemake itself, never queued on a cluster, no benchmark
LOCAL_RULES = {"all", "select", "merge", "finalize", "report", "validation_summary", "validate", "paper", "hull",
               "elastic", "paper_mlip", "dynamic", "paper_dynamic"}


def report_members(zpath):
    """{basename: bytes} of the result files in a --report zip, and the html."""
    with zipfile.ZipFile(zpath) as z:
        files = {Path(n).name: z.read(n) for n in z.namelist() if "/data/raw/" in n}
        html = next(z.read(n).decode() for n in z.namelist() if n.endswith("report.html"))
    return files, html


def test_report_of_a_tiny_run_has_every_figure(tmp_path, tiny_otf_run):
    """A finished tiny on-the-fly run: `snakemake --report` holds every PNG
    it wrote (the same bytes) and the summary tables, in their categories
    with their captions; the working rules wrote benchmarks; progress lines
    of the seed's oracle MD reached the terminal with the rule's name."""
    work, cfg_path, _, run = tiny_otf_run
    out = work / "results" / "tiny_otf"
    pngs = sorted(out.rglob("*.png"))
    assert {p.stem for p in pngs} == {"learning", "parity", "calibration"}
    rep = snakemake(work, cfg_path, "--report", str(tmp_path / "report.zip"))
    files, html = report_members(tmp_path / "report.zip")
    for p in pngs:
        assert files.get(p.name) == p.read_bytes(), f"{p.name} missing from the report"
    assert files["metrics.json"] == (out / "metrics.json").read_bytes()
    assert files["mapping.json"] == (out / "potential" / "mapping.json").read_bytes()
    assert not any(name.endswith(".pdf") for name in files)
    for category in ("Learning", "Test sets", "Mapping"):
        assert f'"{category}"' in html, category
    assert "Cumulative number of oracle calls" in html  # the learning caption, rendered
    assert "one panel per phase (solid, hot)" in html  # the parity caption's params
    assert "tiny_otf" in html and "stages, in order" in html  # the workflow description
    assert "Shell command" not in rep.stdout + rep.stderr
    bench = out / "benchmarks"
    for name in ("seed", "testset_solid", "testset_hot", "learn_otf", "evaluate_solid", "evaluate_hot", "map"):
        tsv = bench / f"{name}.tsv"
        head, row = tsv.read_text().splitlines()[:2]
        assert head.split("\t")[:3] == ["s", "h:m:s", "max_rss"], head
        assert float(row.split("\t")[0]) > 0
    assert not (bench / "report.tsv").exists()
    # progress of the long loops on the terminal, prefixed with the job
    lines = [line for line in run.stderr.splitlines() if line.startswith("[")]
    assert any(line.startswith("[seed] ") and "oracle MD step" in line for line in lines), run.stderr[-3000:]
    assert any(line.startswith("[testset phase=solid] ") for line in lines), run.stderr[-3000:]


def test_the_validation_figures_are_in_the_report(tmp_path):
    """The default config (validation on) with the `paper` figure: every PNG
    in the DAG is flagged for the report. Every output is stood in by a
    placeholder file (no job runs), then --report collects the flagged ones."""
    base = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path),
            "--cores", "1"]
    targets = ["all", "paper"]
    p = subprocess.run(base + ["--summary", *targets], capture_output=True, text=True, timeout=300, check=True)
    outputs = [line.split("\t")[0] for line in p.stdout.splitlines()[1:] if "\t" in line]
    pngs = {Path(f).name for f in outputs if f.endswith(".png")}
    assert pngs >= {"learning.png", "parity.png", "calibration.png", "rdf.png", "neb.png", "diffusion.png",
                    "melting.png", "paper.png"}
    for f in outputs:
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f).write_bytes(b"placeholder " + f.encode())
    subprocess.run(base + ["--report", str(tmp_path / "report.zip"), *targets], capture_output=True, text=True,
                   timeout=300, check=True)
    files, html = report_members(tmp_path / "report.zip")
    assert pngs <= set(files), pngs - set(files)
    assert {"summary.csv", "report.md"} <= set(files)
    assert '"Validation"' in html
    for caption in ("Radial distribution function", "climbing-image NEB", "Vacancy-mediated self-diffusion",
                    "Melting point", "FLARE-style aluminium figure", "Every validation observable"):
        assert caption in html, caption


def rule_blocks():
    """{rule name: its text} of every rule in the Snakefile and rules/*.smk."""
    blocks = {}
    for path in [REPO / "Snakefile", *sorted((REPO / "rules").glob("*.smk"))]:
        text = path.read_text()
        starts = [(m.start(), m.group(1)) for m in re.finditer(r"^\s*rule (\w+):", text, re.M)]
        for (a, name), (b, _) in zip(starts, starts[1:] + [(len(text), None)]):
            blocks[name] = text[a:b]
    return blocks


def test_every_working_rule_has_a_benchmark_and_the_tiny_ones_are_local():
    blocks = rule_blocks()
    assert {"seed", "testset", "learn_otf", "train", "explore", "label", "map", "evaluate", "rdf", "neb",
            "diffusion", "melting"} | LOCAL_RULES <= set(blocks)
    for name, text in blocks.items():
        local = "localrule: True" in text
        assert local == (name in LOCAL_RULES), name
        if "script:" in text and not local:
            bench = re.search(r"benchmark:\s*\n\s*benchmark_of\(\"([^\"]+)\"", text)
            assert bench, f"rule {name} does real work but has no benchmark"
            # the benchmark path carries every wildcard of the rule's outputs
            wildcards = set(re.findall(r"\{\{(\w+)\}\}", text.split("output:")[1].split("log:")[0]))
            assert wildcards <= set(re.findall(r"\{(\w+)\}", bench.group(1))), (name, wildcards)
        else:
            assert "benchmark:" not in text, name


def _requirements(items):
    """{name: lower bound} of requirement strings (pip or conda style)."""
    out = {}
    for item in items:
        if not isinstance(item, str):
            continue
        m = re.match(r"^\s*([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?\s*(?:(>=|=|==)\s*([^,;\s]+))?", item)
        if m:
            out[m.group(1).lower().replace("_", "-")] = m.group(3)
    return out


def test_conda_env_matches_pyproject():
    """Every dependency of pyproject (and asap3, the validation's fast
    reference) is in envs/alff.yaml with the same lower bound."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((REPO / "envs" / "alff.yaml").read_text())
    pip = [d for d in env["dependencies"] if isinstance(d, dict)]
    have = _requirements(env["dependencies"])
    have.update(_requirements(pip[0]["pip"] if pip else []))
    wanted = _requirements(project["dependencies"])
    wanted["asap3"] = _requirements(project["optional-dependencies"]["dev"])["asap3"]
    for name, bound in wanted.items():
        assert name in have, f"{name} (pyproject) missing from envs/alff.yaml"
        assert have[name] == bound, f"{name}: envs/alff.yaml >={have[name]}, pyproject >={bound}"
    py = have["python"]
    assert tuple(map(int, py.split(".")[:2])) >= tuple(map(int, project["requires-python"].lstrip(">=").split(".")))


# ----------------------------------------------------------------- progress
def fake_terminal(monkeypatch):
    """A fake stderr and a clock the test sets (called in the test itself:
    pytest installs its own sys.stderr after the fixtures)."""
    from alff import jobs
    term = io.StringIO()
    monkeypatch.setattr(sys, "stderr", term)
    now = SimpleNamespace(t=100.0)
    monkeypatch.setattr(jobs, "_clock", lambda: now.t)
    return term, now


def test_progress_goes_to_the_terminal_at_most_once_per_interval(tmp_path, monkeypatch):
    from alff.jobs import job
    term, now = fake_terminal(monkeypatch)
    monkeypatch.setenv("ALFF_PROGRESS_S", "30")
    progress = logging.getLogger("alff.progress.seeding")
    with job(tmp_path / "x.log", name="alff.seed", label="seed") as log:
        for t, msg in ((0, "first"), (10, "dropped"), (29.9, "dropped too"), (30.5, "second"), (61, "third")):
            now.t = 100.0 + t
            progress.info("step %s", msg)
        logging.getLogger("alff.progress").warning("the parent logger too")  # 61 s: within 30 s of 'third'
        log.info("not progress")
        print("stray stderr", file=sys.stderr)
    shown = term.getvalue().splitlines()
    assert [line.split(" ", 2)[::2] for line in shown] == [["[seed]", "step first"], ["[seed]", "step second"],
                                                           ["[seed]", "step third"]]
    text = (tmp_path / "x.log").read_text()
    for msg in ("first", "dropped", "dropped too", "second", "third", "the parent logger too", "not progress",
                "stray stderr"):
        assert msg in text, msg
    assert sys.stderr is term and not logging.getLogger("alff.progress").handlers  # restored


def test_progress_prefix_is_the_snakemake_job_and_zero_turns_it_off(tmp_path, monkeypatch):
    from alff.jobs import job
    term, now = fake_terminal(monkeypatch)
    main = sys.modules["__main__"]
    monkeypatch.setattr(main, "snakemake", SimpleNamespace(rule="explore", wildcards={"i": "001", "scenario": "hot"}),
                        raising=False)
    monkeypatch.delenv("ALFF_PROGRESS_S", raising=False)  # default 30 s
    with job(tmp_path / "a.log", name="alff.explore"):
        logging.getLogger("alff.progress.learning").info("step 5/10")
        now.t += 29.0
        logging.getLogger("alff.progress.learning").info("step 6/10")
    assert term.getvalue().splitlines()[0].startswith("[explore i=001 scenario=hot] ")
    assert "step 5/10" in term.getvalue() and "step 6/10" not in term.getvalue()
    monkeypatch.setenv("ALFF_PROGRESS_S", "0")
    term.truncate(0)
    term.seek(0)
    with job(tmp_path / "b.log", name="alff.explore"):
        logging.getLogger("alff.progress.learning").info("silent")
    assert term.getvalue() == ""
    assert "silent" in (tmp_path / "b.log").read_text()


def test_long_loops_log_to_the_progress_logger(caplog):
    """The seed's oracle MD, the validation's sampling MD and the melting
    ramp write their progress lines to alff.progress.*."""
    from ase.build import bulk
    from ase.calculators.emt import EMT

    from alff.oracle import Oracle
    from alff.seeding import oracle_md
    from alff.validation.engines import Engine, sample_md
    from alff.validation.melting import heating_ramp

    atoms = bulk("Al", "fcc", a=4.05, cubic=True)
    emt = Engine("oracle", "EMT", EMT, EMT)
    with caplog.at_level(logging.INFO):
        oracle_md(atoms, Oracle("emt"), 300.0, 2, rng=np.random.default_rng(0))
        sample_md(atoms, emt, 300.0, 5.0, 0, 10, 1, seed=0, progress_label="rdf solid oracle")
        heating_ramp(atoms, emt, {"T_start": 300.0, "T_end": 600.0, "stages": 7, "stage_steps": 2,
                                  "timestep_fs": 5.0, "pressure_GPa": None}, 3.5)
    names = {r.name for r in caplog.records if "step" in r.getMessage() or "stage" in r.getMessage()}
    assert {"alff.progress.seeding", "alff.progress.validate"} <= names, names
    msgs = [r.getMessage() for r in caplog.records if r.name == "alff.progress.validate"]
    assert any(m.startswith("rdf solid oracle: ") for m in msgs) and any("stage 7/7" in m for m in msgs), msgs


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
