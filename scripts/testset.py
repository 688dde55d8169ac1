"""Independent oracle MD test set of one phase (rule testset)."""
from alff.jobs import job
from alff.pipeline import testset_step

with job(snakemake.log[0], snakemake.threads, "alff.testset"):
    testset_step(snakemake.config, snakemake.wildcards.phase, snakemake.output[0], snakemake.params.cache)
