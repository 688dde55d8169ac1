# The final GP mapped to cubic B-splines, with LAMMPS files (pair_style uf3
# and table) and the mapping error on the test frames.


rule map:
    input:
        model=f"{R}/model/final.json",
        npz=f"{R}/model/final.npz",
        tests=expand(f"{R}/testset/{{phase}}.extxyz", phase=PHASES),
    output:
        mapped=f"{R}/potential/mapped.json",
        mapped_npz=f"{R}/potential/mapped.npz",
        uf3=f"{R}/potential/alff.uf3",
        table=f"{R}/potential/alff.table",
        snippet=f"{R}/potential/in.alff.lmp",
        report=f"{R}/potential/mapping.json",
    log:
        f"{R}/logs/map.log",
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
    script:
        "../scripts/map.py"
