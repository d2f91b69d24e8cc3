"""Evaluation: one `pvd evaluate` per evaluated model (a teacher `vm` or a student `hash2vm`)."""


rule evaluate_model:
    input:
        scene=scene_input,
        ckpt=model_checkpoint,
        lpips=lpips_input,
    output:
        metrics=f"{RESULTS}/{{dataset}}/{{scene}}/eval/{{model}}/metrics.json",
        record=f"{RESULTS}/{{dataset}}/{{scene}}/eval/{{model}}/record.json",
    log:
        f"{RESULTS}/{{dataset}}/{{scene}}/eval/{{model}}/evaluate.log",
    benchmark:
        f"{RESULTS}/{{dataset}}/{{scene}}/eval/{{model}}/benchmark.tsv"
    params:
        scene_dir=scene_path,
        args=evaluate_args,
        stamp=evaluate_stamp,
    resources:
        **stage_resources("evaluate", gpu=True),
    threads: resource("evaluate", "threads", 1)
    conda:
        CONDA_ENV
    shell:
        "pvd evaluate {params.scene_dir:q} --threads {threads} --ckpt {input.ckpt:q} "
        "--workspace \"$(dirname {output.metrics:q})\" {params.args} > {log:q} 2>&1"
