"""Edits (config `edits`): the edited demo scene's exact ground truth, `pvd edit` of each teacher,
the edited teacher distilled into each student (`pvd distill --teacher_type edited`) and the
evaluations (against the ground truth, or else against the edited teacher's renders)."""


rule make_edit_truth:
    """The edited demo scene rendered exactly (`pvd data demo` with the scene's seed and size and the
    edit's --without / --move / --insert): the same cameras as the scene."""
    output:
        scene=directory(f"{RESULTS}/edits/{{edit}}/truth"),
    log:
        f"{RESULTS}/edits/{{edit}}/truth.log",
    benchmark:
        f"{RESULTS}/edits/{{edit}}/truth.benchmark.tsv"
    params:
        args=truth_args,
        stamp=truth_stamp,
    resources:
        mem_mb=resource("data", "mem_mb"),
        runtime=resource("data", "runtime"),
    threads: resource("data", "threads", 1)
    conda:
        "../../environment.yml"
    shell:
        "pvd data demo {output.scene:q} {params.args} > {log:q} 2>&1"


rule edit_teacher:
    """One teacher of the edited scene through the edit's program (written beside the checkpoint)."""
    input:
        teacher=edit_base_checkpoint,
        inserted=inserted_checkpoints,
        native=BUILD_MARKER,
    output:
        ckpt=f"{RESULTS}/edits/{{edit}}/{{teacher}}/edited/checkpoint.pt",
        record=f"{RESULTS}/edits/{{edit}}/{{teacher}}/edited/record.json",
        program=f"{RESULTS}/edits/{{edit}}/{{teacher}}/edited/program.json",
    log:
        f"{RESULTS}/edits/{{edit}}/{{teacher}}/edited/edit.log",
    benchmark:
        f"{RESULTS}/edits/{{edit}}/{{teacher}}/edited/benchmark.tsv"
    params:
        program=edit_program,
        args=edit_args,
        stamp=edit_stamp,
    resources:
        gpu=resource(EDIT_RESOURCES, "gpu", 0),
        mem_mb=resource(EDIT_RESOURCES, "mem_mb"),
        runtime=resource(EDIT_RESOURCES, "runtime"),
    threads: resource(EDIT_RESOURCES, "threads", 1)
    conda:
        "../../environment.yml"
    shell:
        "printf '%s\\n' {params.program:q} > {output.program:q} && "
        "pvd edit --ckpt {input.teacher:q} --program {output.program:q} --threads {threads} "
        "--workspace \"$(dirname {output.ckpt:q})\" {params.args} > {log:q} 2>&1"


rule distill_edited:
    """An edited teacher distilled into one student architecture, on the edit's ground truth if any."""
    input:
        scene=edit_scene_input,
        native=BUILD_MARKER,
        teacher=edited_checkpoint,
    output:
        ckpt=f"{RESULTS}/edits/{{edit}}/{{teacher}}/distill/{{student}}/checkpoint.pt",
        record=f"{RESULTS}/edits/{{edit}}/{{teacher}}/distill/{{student}}/record.json",
    log:
        f"{RESULTS}/edits/{{edit}}/{{teacher}}/distill/{{student}}/distill.log",
    benchmark:
        f"{RESULTS}/edits/{{edit}}/{{teacher}}/distill/{{student}}/benchmark.tsv"
    params:
        scene_dir=edit_scene_dir,
        args=edit_distill_args,
        stamp=edit_distill_stamp,
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


rule evaluate_edit:
    """One model of an edit (`original`, `edited` or a student) scored against the edit's ground truth,
    or, without one, against the edited teacher's renders (`pvd evaluate --reference`)."""
    input:
        scene=edit_scene_input,
        ckpt=edit_evaluated_checkpoint,
        reference=edit_reference,
        lpips=edit_lpips_input,
    output:
        metrics=f"{RESULTS}/edits/{{edit}}/{{teacher}}/eval/{{evaluated}}/metrics.json",
        record=f"{RESULTS}/edits/{{edit}}/{{teacher}}/eval/{{evaluated}}/record.json",
    log:
        f"{RESULTS}/edits/{{edit}}/{{teacher}}/eval/{{evaluated}}/evaluate.log",
    benchmark:
        f"{RESULTS}/edits/{{edit}}/{{teacher}}/eval/{{evaluated}}/benchmark.tsv"
    params:
        scene_dir=edit_scene_dir,
        reference=edit_reference_args,
        args=edit_evaluate_args,
        stamp=edit_evaluate_stamp,
    resources:
        gpu=resource("evaluate", "gpu", 0),
        mem_mb=resource("evaluate", "mem_mb"),
        runtime=resource("evaluate", "runtime"),
    threads: resource("evaluate", "threads", 1)
    conda:
        "../../environment.yml"
    shell:
        "pvd evaluate {params.scene_dir:q} --threads {threads} --ckpt {input.ckpt:q} {params.reference} "
        "--workspace \"$(dirname {output.metrics:q})\" {params.args} > {log:q} 2>&1"
