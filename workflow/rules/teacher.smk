"""Teacher training: one `pvd train` per (dataset, scene, architecture) cell."""


rule train_teacher:
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
        gpu=resource("teacher", "gpu", 0),
        mem_mb=resource("teacher", "mem_mb"),
        runtime=resource("teacher", "runtime"),
    threads: resource("teacher", "threads", 1)
    conda:
        "../../environment.yml"
    shell:
        "pvd train {params.scene_dir:q} --threads {threads} --workspace \"$(dirname {output.ckpt:q})\" {params.args} "
        "> {log:q} 2>&1"
