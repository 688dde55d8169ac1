"""The FLARE-style validation figure from the validation data (rule paper)."""
from alff.jobs import job
from alff.validation.steps import paper_step

inp = snakemake.input
with job(snakemake.log[0], snakemake.threads, "alff.paper"):
    paper_step(inp.rdf, inp.neb, inp.msd, inp.coefficients, inp.fits, str(snakemake.output[0]).rsplit(".", 1)[0],
               settings=snakemake.params.settings, scheme=snakemake.params.scheme)
