"""Progressive distillation: one `pvd distill` per (dataset, scene, teacher, student) cell, and one
per ablation cell (dataset, scene, pair, variant) of the config's `ablations`."""


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
        gpu=resource("distill", "gpu", 0),
        mem_mb=resource("distill", "mem_mb"),
        runtime=resource("distill", "runtime"),
    threads: resource("distill", "threads", 1)
    conda:
        "../../environment.yml"
    shell:
        "pvd distill {params.scene_dir:q} --threads {threads} --ckpt_teacher {input.teacher:q} "
        "--workspace \"$(dirname {output.ckpt:q})\" {params.args} > {log:q} 2>&1"


rule distill_variant:
    """An ablation cell: the pair distilled with one variant's overrides (config `ablations`)."""
    input:
        scene=scene_input,
        native=BUILD_MARKER,
        teacher=teacher_checkpoint,
    output:
        ckpt=f"{RESULTS}/{{dataset}}/{{scene}}/distill/{{teacher}}2{{student}}@{{variant}}/checkpoint.pt",
        record=f"{RESULTS}/{{dataset}}/{{scene}}/distill/{{teacher}}2{{student}}@{{variant}}/record.json",
    log:
        f"{RESULTS}/{{dataset}}/{{scene}}/distill/{{teacher}}2{{student}}@{{variant}}/distill.log",
    benchmark:
        f"{RESULTS}/{{dataset}}/{{scene}}/distill/{{teacher}}2{{student}}@{{variant}}/benchmark.tsv"
    params:
        scene_dir=scene_path,
        args=variant_args,
        stamp=variant_stamp,
    resources:
        gpu=resource("distill", "gpu", 0),
        mem_mb=resource("distill", "mem_mb"),
        runtime=resource("distill", "runtime"),
    threads: resource("distill", "threads", 1)
    conda:
        "../../environment.yml"
    shell:
        "pvd distill {params.scene_dir:q} --threads {threads} --ckpt_teacher {input.teacher:q} "
        "--workspace \"$(dirname {output.ckpt:q})\" {params.args} > {log:q} 2>&1"
