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
        **stage_resources("data"),
    threads: resource("data", "threads", 1)
    conda:
        CONDA_ENV
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
        **stage_resources(EDIT_RESOURCES, gpu=True),
    threads: resource(EDIT_RESOURCES, "threads", 1)
    conda:
        CONDA_ENV
    shell:
        "printf '%s\\n' {params.program:q} > {output.program:q} && "
        "pvd edit --ckpt {input.teacher:q} --program {output.program:q} --threads {threads} "
        "--workspace \"$(dirname {output.ckpt:q})\" {params.args} > {log:q} 2>&1"


# An edited teacher distilled into one student architecture, on the edit's ground truth if any.
use rule distill_student as distill_edited with:
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


# One model of an edit (`original`, `edited` or a student) scored against the edit's ground truth, or,
# without one, against the edited teacher's renders (`--reference` leads its arguments).
use rule evaluate_model as evaluate_edit with:
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
        args=edit_evaluate_args,
        stamp=edit_evaluate_stamp,
