"""Validation of a learned potential against its oracle: RDF, NEB barriers,
vacancy diffusion and melting (rules in rules/validate.smk)."""
