"""Independent oracle MD test set of one phase (rule testset)."""
from alff.jobs import job
from alff.steps import testset_step

p = snakemake.params
with job(snakemake.log[0], snakemake.threads, "alff.testset"):
    testset_step(p.system, p.protocol, p.testset, p.oracle, p.random_seed, snakemake.wildcards.phase,
                 snakemake.output[0], p.cache)
