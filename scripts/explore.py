"""Batch exploration of one scenario with a fixed model (rule explore)."""
from alff.jobs import job
from alff.pipeline import explore_step

inp, wc = snakemake.input, snakemake.wildcards
with job(snakemake.log[0], snakemake.threads, "alff.explore"):
    explore_step(snakemake.config, int(wc.i), wc.scenario, inp.model, inp.start, inp.get("prev_status"),
                 dict(snakemake.output.items()))
