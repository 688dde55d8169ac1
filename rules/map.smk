# Each scheme's final model mapped to cubic B-splines, with LAMMPS files
# (pair_style uf3 and table) and the mapping error on the test frames.


rule map:
    input:
        model=f"{S}/model/final.json",
        npz=f"{S}/model/final.npz",
        tests=expand(f"{R}/testset/{{phase}}.extxyz", phase=PHASES),
    output:
        mapped=f"{S}/potential/mapped.json",
        mapped_npz=f"{S}/potential/mapped.npz",
        uf3=f"{S}/potential/alff.uf3",
        table=f"{S}/potential/alff.table",
        snippet=f"{S}/potential/in.alff.lmp",
        report=reported(f"{S}/potential/mapping.json", "mapping", "Mapping"),
    log:
        f"{S}/logs/map.log",
    benchmark:
        benchmark_of("map")
    params:
        map=config["map"],
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
    script:
        "../scripts/map.py"
