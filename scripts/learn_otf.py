"""On-the-fly learning of one scheme with inline oracle calls (rule learn_otf)."""
from alff.jobs import job
from alff.steps import otf_step

p = snakemake.params
with job(snakemake.log[0], snakemake.threads, "alff.learn"):
    # learn.limits stop a useless run; they do not change results (no rerun)
    otf_step(p.scheme, dict(p.learn, limits=snakemake.config["learn"]["limits"]), p.oracle, p.random_seed, snakemake.input.train, snakemake.input.state,
             dict(snakemake.output.items()), p.cache, p.checkpoint)
