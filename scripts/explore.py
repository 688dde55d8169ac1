"""Batch exploration of one scenario with a fixed model (rule explore)."""
from alff.jobs import job
from alff.steps import explore_step

inp, wc, p = snakemake.input, snakemake.wildcards, snakemake.params
with job(snakemake.log[0], snakemake.threads, "alff.explore"):
    # learn.limits stop a blown-up trajectory; they do not change results (no rerun)
    explore_step(p.scheme, dict(p.learn, limits=snakemake.config["learn"]["limits"]), p.random_seed, int(wc.i), wc.scenario, inp.model, inp.start,
                 inp.get("prev_status"), dict(snakemake.output.items()))
