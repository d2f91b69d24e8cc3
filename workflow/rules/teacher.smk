"""Teachers: one `pvd train` per (dataset, scene, architecture) cell, or for a dataset with
`teacher_source: import` one `pvd import` of the reference's released checkpoint (same outputs)."""


rule train_teacher:
    wildcard_constraints:
        dataset=TRAINED_PATTERN,
    input:
        scene=scene_input,
        native=BUILD_MARKER,
    output:
        ckpt=f"{RESULTS}/{{dataset}}/{{scene}}/teacher/{{arch}}/checkpoint.pt",
        record=f"{RESULTS}/{{dataset}}/{{scene}}/teacher/{{arch}}/record.json",
    log:
        f"{RESULTS}/{{dataset}}/{{scene}}/teacher/{{arch}}/train.log",
    benchmark:
        f"{RESULTS}/{{dataset}}/{{scene}}/teacher/{{arch}}/benchmark.tsv"
    params:
        scene_dir=scene_path,
        args=teacher_args,
        stamp=teacher_stamp,
    resources:
        **stage_resources("teacher", gpu=True),
    threads: resource("teacher", "threads", 1)
    conda:
        CONDA_ENV
    shell:
        "pvd train {params.scene_dir:q} --threads {threads} --workspace \"$(dirname {output.ckpt:q})\" {params.args} "
        "> {log:q} 2>&1"


rule import_teacher:
    wildcard_constraints:
        dataset=IMPORTED_PATTERN,
    input:
        scene=scene_input,
        reference=reference_checkpoint,
    output:
        ckpt=f"{RESULTS}/{{dataset}}/{{scene}}/teacher/{{arch}}/checkpoint.pt",
        record=f"{RESULTS}/{{dataset}}/{{scene}}/teacher/{{arch}}/record.json",
    log:
        f"{RESULTS}/{{dataset}}/{{scene}}/teacher/{{arch}}/import.log",
    benchmark:
        f"{RESULTS}/{{dataset}}/{{scene}}/teacher/{{arch}}/benchmark.tsv"
    params:
        scene_dir=scene_path,
        args=import_args,
        stamp=import_stamp,
    resources:
        **stage_resources("teacher"),
    threads: 1
    conda:
        CONDA_ENV
    shell:
        "pvd import {input.reference:q} {params.scene_dir:q} --threads {threads} "
        "--workspace \"$(dirname {output.ckpt:q})\" {params.args} > {log:q} 2>&1"
