"""Independent oracle MD test set of one phase and its phase check (rule testset)."""
from alff.jobs import job
from alff.steps import testset_step

p, phase = snakemake.params, snakemake.wildcards.phase
# the phase's first schedule segment, named in a phase check's fix (not a
# param: it changes no result)
schedule = snakemake.config["explore"]["schedule"]
segment = next((k for k, s in enumerate(schedule) if s.get("phase", "default") == phase), None)
with job(snakemake.log[0], snakemake.threads, "alff.testset"):
    testset_step(p.system, p.protocol, p.testset, p.oracle, p.random_seed, phase, snakemake.output[0], p.cache,
                 segment_index=segment)
