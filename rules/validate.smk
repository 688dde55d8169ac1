# Validation of the mapped potential against the oracle: RDF, NEB barriers,
# vacancy diffusion and melting, each with the model and the reference under
# the same protocol (config section `validate`). Each rule writes its data
# (CSV), a figure (PNG+PDF) and summary rows; `validate` joins them into
# validation/summary.csv and the report page; `paper` draws the FLARE-style
# aluminium figure.

V = f"{R}/validation"
MAPPED = f"{R}/potential/mapped.json"


rule rdf:
    input:
        mapped=MAPPED,
    output:
        data=f"{V}/rdf.csv",
        rows=f"{V}/rows/rdf.csv",
        figure=multiext(f"{R}/figures/rdf", ".png", ".pdf"),
    params:
        # a changed protocol, oracle or lattice reruns the rule
        settings=validation_settings("rdf"),
    log:
        f"{R}/logs/validate_rdf.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=120,
    script:
        "../scripts/validate.py"


rule neb:
    input:
        mapped=MAPPED,
        model=f"{R}/model/final.json",
        npz=f"{R}/model/final.npz",
    output:
        data=f"{V}/neb.csv",
        rows=f"{V}/rows/neb.csv",
        figure=multiext(f"{R}/figures/neb", ".png", ".pdf"),
    params:
        # a changed protocol, oracle or lattice reruns the rule
        settings=validation_settings("neb"),
    log:
        f"{R}/logs/validate_neb.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
    script:
        "../scripts/validate.py"


rule diffusion:
    input:
        mapped=MAPPED,
    output:
        msd=f"{V}/diffusion_msd.csv",
        coefficients=f"{V}/diffusion.csv",
        fits=f"{V}/arrhenius.json",
        rows=f"{V}/rows/diffusion.csv",
        figure=multiext(f"{R}/figures/diffusion", ".png", ".pdf"),
    params:
        # a changed protocol, oracle or lattice reruns the rule
        settings=validation_settings("diffusion"),
    log:
        f"{R}/logs/validate_diffusion.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=480,
    script:
        "../scripts/validate.py"


rule melting:
    input:
        mapped=MAPPED,
    output:
        ramp=f"{V}/melting_ramp.csv",
        coexistence=f"{V}/melting_coexistence.csv",
        results=f"{V}/melting.json",
        rows=f"{V}/rows/melting.csv",
        figure=multiext(f"{R}/figures/melting", ".png", ".pdf"),
    params:
        # a changed protocol, oracle or lattice reruns the rule
        settings=validation_settings("melting"),
    log:
        f"{R}/logs/validate_melting.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=480,
    script:
        "../scripts/validate.py"


rule validation_summary:
    input:
        rows=[f"{V}/rows/{name}.csv" for name in VALIDATIONS],
        metrics=f"{R}/metrics.json",
        mapping=f"{R}/potential/mapping.json",
        figures=[f"{R}/figures/{name}.png" for name in FIGURES + VALIDATIONS],
    output:
        summary=f"{V}/summary.csv",
        report=f"{R}/report.md",
    log:
        f"{R}/logs/validation_summary.log",
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
        f"{V}/summary.csv",
        f"{R}/report.md",


rule paper:
    input:
        rdf=f"{V}/rdf.csv",
        neb=f"{V}/neb.csv",
        msd=f"{V}/diffusion_msd.csv",
        coefficients=f"{V}/diffusion.csv",
        fits=f"{V}/arrhenius.json",
    output:
        multiext(f"{R}/figures/paper", ".png", ".pdf"),
    log:
        f"{R}/logs/paper.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/paper.py"
