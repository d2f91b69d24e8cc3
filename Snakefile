# The PVD benchmark: datasets -> teachers -> distilled students -> evaluations -> tables, figures.
#
#   snakemake --cores all                                # full paper benchmark (config/config.yaml)
#   snakemake --cores all --configfile config/demo.yaml  # demo grid on the embedded scene, CPU
#   snakemake --report reports/<name>/report.html [--configfile ...]   # self-contained HTML report
#
# Results path scheme ({name} = config `name`, {dataset} in synthetic|llff|tank|capture, {arch} in
# hash|vm|mlp|tensors|gs, {model} = {arch} for a teacher or {teacher}2{student} for a student):
#
#   results/{name}/{dataset}/{scene}/teacher/{arch}/checkpoint.pt            pvd train
#   results/{name}/{dataset}/{scene}/teacher/{arch}/record.json
#   results/{name}/{dataset}/{scene}/distill/{teacher}2{student}/checkpoint.pt   pvd distill
#   results/{name}/{dataset}/{scene}/distill/{teacher}2{student}/record.json
#   results/{name}/{dataset}/{scene}/distill/{teacher}2{student}@{variant}/...   an ablation variant
#   results/{name}/{dataset}/{scene}/eval/{model}/metrics.json               pvd evaluate
#   results/{name}/{dataset}/{scene}/eval/{model}/record.json            ({model} may be {pair}@{variant})
#   results/{name}/{dataset}/{scene}/eval/{model}/renders/               the qualitative view's renders
#   results/{name}/{dataset}/{scene}/export/{model}/{format}.ply(.json)      pvd export (config exports:
#                                                  format mesh or points, the record beside the file)
#   (each job's log and benchmark.tsv sit beside its outputs)
#   results/{name}/edits/{edit}/truth/                               pvd data demo --without/--move/--insert
#   results/{name}/edits/{edit}/{teacher}/edited/{checkpoint.pt,record.json,program.json}   pvd edit
#   results/{name}/edits/{edit}/{teacher}/distill/{student}/...       pvd distill --teacher_type edited
#   results/{name}/edits/{edit}/{teacher}/eval/{evaluated}/...        pvd evaluate ({evaluated}: original,
#                                                  edited or a student; --reference where there is no truth)
#   results/{name}/data/{dataset}.download.done      pvd data download (scenes under the dataset root)
#   results/{name}/data/{dataset}/{scene}/           pvd data demo (source: demo)
#   results/{name}/data/lpips_weights.done           pvd data weights
#   results/{name}/build/native.done                 pvd build-ext (every training job waits for it)
#   reports/{name}/results.csv                       one row per evaluated model
#   reports/{name}/tables/{dataset}.{md,tex,html}    teacher x student matrices, per-scene tables
#   reports/{name}/tables/reference.{md,tex,html}    ours vs the reference results (docs/method.md)
#   reports/{name}/tables/cost.{md,tex,html}         device-hours and peak memory per stage and architecture
#   reports/{name}/tables/runs.{md,tex,html}         every train/distill run's own figures, the config's bars
#   reports/{name}/figures/{dataset}_{heatmap,bars,scatter}.{png,pdf}
#   reports/{name}/curves.csv                        learning curves of every train and distill run
#   reports/{name}/figures/{dataset}_time_to_quality.{png,pdf}, tables/time_to_quality.{md,tex,html}
#   reports/{name}/tables/ablation.{md,tex,html}     ablation variants vs their pair's default
#   reports/{name}/figures/{dataset}_{scene}_qualitative.{png,pdf}   renders and error maps of one view
#   reports/{name}/tables/edits.{md,tex,html}        edit x teacher x student: after the edit vs unedited
#   reports/{name}/figures/edit_{edit}.{png,pdf}     one test view of an edit: truth, teachers, students
#
# Only invalidated cells rerun: see workflow/rules/common.smk (params.stamp), workflow/code_groups.yaml
# (which results each code file can change) and profiles/default/config.yaml (rerun triggers), which
# Snakemake applies by itself: it looks for profiles/default beside the Snakefile. Run from the
# repository root; the rules, schema and report captions live in workflow/. The software of every
# rule (--software-deployment-method conda) is environment.yml. docs/workflow.md has the user guide.

from snakemake.utils import min_version

min_version("9.0")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"


wildcard_constraints:
    dataset="synthetic|llff|tank|capture",
    scene="[^/]+",
    arch=ARCH_PATTERN,
    teacher=ARCH_PATTERN,
    student=ARCH_PATTERN,
    variant=VARIANT_PATTERN,
    edit=wildcard_pattern(list(EDITS)),
    evaluated=f"original|edited|{ARCH_PATTERN}",
    model=f"({ARCH_PATTERN})(2({ARCH_PATTERN})(@{VARIANT_PATTERN})?)?",
    format="mesh|points",


onstart:
    start_job_server()


onsuccess:
    stop_job_server()


onerror:
    stop_job_server()


include: "workflow/rules/data.smk"
include: "workflow/rules/build.smk"
include: "workflow/rules/teacher.smk"
include: "workflow/rules/distill.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/edit.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/export.smk"


rule all:
    """The whole grid of the config, its report files and its exports."""
    input:
        REPORT_FILES,
        ALL_EXPORTS,
    default_target: True
