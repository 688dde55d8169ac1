# Validation of the learned potential (mapped splines, or a model that runs in
# the compiled MD loop itself, the MTP) against the oracle: RDF, NEB barriers,
# vacancy diffusion and melting, each with the model and the reference under
# the same protocol (config section `validate`). Each rule writes its data
# (CSV), a figure (PNG+PDF) and summary rows; `validate` joins them into
# validation/summary.csv and the report page; `paper` draws the FLARE-style
# figure (Fig. 3-4 of the FLARE paper, for any element).

V = f"{S}/validation"


rule rdf:
    input:
        potential=validated_potential,
        potential_data=validated_potential_data,
    output:
        data=f"{V}/rdf.csv",
        rows=f"{V}/rows/rdf.csv",
        figure=figure("rdf", "Validation"),
    params:
        # a changed protocol, oracle or lattice reruns the rule
        settings=validation_settings("rdf"),
        scheme=scheme_name,
    log:
        f"{S}/logs/validate_rdf.log",
    benchmark:
        benchmark_of("validate_rdf")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=120,
    script:
        "../scripts/validate_rdf.py"


rule neb:
    input:
        potential=validated_potential,
        potential_data=validated_potential_data,
        model=f"{S}/model/final.json",
        npz=f"{S}/model/final.npz",
    output:
        data=f"{V}/neb.csv",
        rows=f"{V}/rows/neb.csv",
        figure=figure("neb", "Validation"),
    params:
        # a changed protocol, oracle or lattice reruns the rule
        settings=validation_settings("neb"),
        scheme=scheme_name,
    log:
        f"{S}/logs/validate_neb.log",
    benchmark:
        benchmark_of("validate_neb")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
    script:
        "../scripts/validate_neb.py"


rule diffusion:
    input:
        potential=validated_potential,
        potential_data=validated_potential_data,
    output:
        msd=f"{V}/diffusion_msd.csv",
        coefficients=f"{V}/diffusion.csv",
        fits=f"{V}/arrhenius.json",
        rows=f"{V}/rows/diffusion.csv",
        figure=figure("diffusion", "Validation"),
    params:
        # a changed protocol, oracle or lattice reruns the rule
        settings=validation_settings("diffusion"),
        scheme=scheme_name,
    log:
        f"{S}/logs/validate_diffusion.log",
    benchmark:
        benchmark_of("validate_diffusion")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=480,
    script:
        "../scripts/validate_diffusion.py"


rule melting:
    input:
        potential=validated_potential,
        potential_data=validated_potential_data,
    output:
        ramp=f"{V}/melting_ramp.csv",
        coexistence=f"{V}/melting_coexistence.csv",
        results=f"{V}/melting.json",
        rows=f"{V}/rows/melting.csv",
        figure=figure("melting", "Validation"),
    params:
        # a changed protocol, oracle or lattice reruns the rule
        settings=validation_settings("melting"),
        scheme=scheme_name,
    log:
        f"{S}/logs/validate_melting.log",
    benchmark:
        benchmark_of("validate_melting")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=480,
    script:
        "../scripts/validate_melting.py"


# defined only when a scheme is validated here (a force-constant scheme's summary.csv comes from the
# phonons rule, rules/dynamic.smk)
if VALIDATED_SCHEMES:

    rule validation_summary:
        input:
            rows=[f"{V}/rows/{name}.csv" for name in VALIDATIONS],
            metrics=f"{S}/metrics.json",
            mapping=mapping_report,
            figures=[f"{S}/figures/{name}.png" for name in FIGURES + VALIDATIONS],
            # written when the workflow is parsed: the defaults filled in
            resolved=f"{R}/resolved_config.yaml",
        wildcard_constraints:
            scheme="|".join(VALIDATED_SCHEMES),  # a force-constant scheme's summary.csv is its phonons'
        output:
            summary=reported(f"{V}/summary.csv", "validation_summary", "Validation"),
            report=reported(f"{S}/report.md", "report_page", "Validation"),
        params:
            run=RUN,
            oracle_kind=config["oracle"]["kind"],
        log:
            f"{S}/logs/validation_summary.log",
        localrule: True
        conda:
            ENV
        threads: 1
        resources:
            mem_mb=1000,
            runtime=10,
        script:
            "../scripts/validate_summary.py"


rule validate:
    input:
        per_scheme(f"{V}/summary.csv", f"{S}/report.md", schemes=VALIDATED_SCHEMES),
    localrule: True


rule paper:
    input:
        rdf=f"{V}/rdf.csv",
        neb=f"{V}/neb.csv",
        msd=f"{V}/diffusion_msd.csv",
        coefficients=f"{V}/diffusion.csv",
        fits=f"{V}/arrhenius.json",
    output:
        figure("paper", "Validation"),
    params:
        # the title: element, oracle, scheme
        settings=validation_settings("rdf"),
        scheme=scheme_name,
    log:
        f"{S}/logs/paper.log",
    localrule: True
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/paper.py"
