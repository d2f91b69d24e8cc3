"""Exports (config `exports`): one `pvd export` per model, format and scene cell; the file's record
(`pvd export` writes OUT.json) sits beside it."""


rule export_model:
    """A teacher's (`hash`) or student's (`hash2vm`) mesh or point cloud, in the scene's world frame."""
    input:
        ckpt=model_checkpoint,
    output:
        exported=f"{RESULTS}/{{dataset}}/{{scene}}/export/{{model}}/{{format}}.ply",
        record=f"{RESULTS}/{{dataset}}/{{scene}}/export/{{model}}/{{format}}.ply.json",
    log:
        f"{RESULTS}/{{dataset}}/{{scene}}/export/{{model}}/{{format}}.log",
    benchmark:
        f"{RESULTS}/{{dataset}}/{{scene}}/export/{{model}}/{{format}}.benchmark.tsv"
    params:
        args=export_args,
        stamp=export_stamp,
    resources:
        **stage_resources(EXPORT_RESOURCES, gpu=True),
    threads: resource(EXPORT_RESOURCES, "threads", 1)
    conda:
        CONDA_ENV
    shell:
        "pvd export --threads {threads} --ckpt {input.ckpt:q} --out {output.exported:q} --overwrite "
        "--no_progress {params.args} > {log:q} 2>&1"
