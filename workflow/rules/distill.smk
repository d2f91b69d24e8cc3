"""Progressive distillation: one `pvd distill` per (dataset, scene, teacher, student) cell, and one
per ablation cell (dataset, scene, pair, variant) of the config's `ablations`.

`distill_student` is the one definition of a `pvd distill` job (its command, resources, threads and
software); the ablation cells here and the edited teachers' students (edit.smk) reuse it with their
own paths and settings (`use rule ... with:`)."""


rule distill_student:
    input:
        scene=scene_input,
        native=BUILD_MARKER,
        teacher=teacher_checkpoint,
    output:
        ckpt=f"{RESULTS}/{{dataset}}/{{scene}}/distill/{{teacher}}2{{student}}/checkpoint.pt",
        record=f"{RESULTS}/{{dataset}}/{{scene}}/distill/{{teacher}}2{{student}}/record.json",
    log:
        f"{RESULTS}/{{dataset}}/{{scene}}/distill/{{teacher}}2{{student}}/distill.log",
    benchmark:
        f"{RESULTS}/{{dataset}}/{{scene}}/distill/{{teacher}}2{{student}}/benchmark.tsv"
    params:
        scene_dir=scene_path,
        args=distill_args,
        stamp=distill_stamp,
    resources:
        **stage_resources("distill", gpu=True),
    threads: resource("distill", "threads", 1)
    conda:
        CONDA_ENV
    shell:
        "pvd distill {params.scene_dir:q} --threads {threads} --ckpt_teacher {input.teacher:q} "
        "--workspace \"$(dirname {output.ckpt:q})\" {params.args} > {log:q} 2>&1"


# An ablation cell: the pair distilled with one variant's overrides (config `ablations`).
use rule distill_student as distill_variant with:
    output:
        ckpt=f"{RESULTS}/{{dataset}}/{{scene}}/distill/{{teacher}}2{{student}}@{{variant}}/checkpoint.pt",
        record=f"{RESULTS}/{{dataset}}/{{scene}}/distill/{{teacher}}2{{student}}@{{variant}}/record.json",
    log:
        f"{RESULTS}/{{dataset}}/{{scene}}/distill/{{teacher}}2{{student}}@{{variant}}/distill.log",
    benchmark:
        f"{RESULTS}/{{dataset}}/{{scene}}/distill/{{teacher}}2{{student}}@{{variant}}/benchmark.tsv"
    params:
        args=variant_args,
        stamp=variant_stamp,
