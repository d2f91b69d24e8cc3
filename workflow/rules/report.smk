"""Aggregation into reports/{name}/: results.csv, per-dataset tables and figures, the comparison
with the reference numbers of docs/method.md, the cost and runs tables (with the config's bars), the
learning curves and time to quality, the ablation table and the qualitative grids.

This file is the one place that orders the report steps (each a `pvd report` sub-command); there
is no other chain of them. Built from metrics.json and record.json files (and the renders
that `pvd evaluate` lists in metrics.json) only."""


rule collect_results:
    """One long-form row per evaluated model: dataset, scene, teacher, student, metrics, train time."""
    input:
        metrics=ALL_METRICS,
        records=ALL_TRAIN_RECORDS,
    output:
        csv=report(f"{REPORTS}/results.csv", caption="../report/results.rst", category="Tables",
                   labels={"table": "results.csv (all models)"}),
    log:
        f"{RESULTS}/logs/report/collect_results.log",
    benchmark:
        f"{RESULTS}/logs/report/collect_results.benchmark.tsv"
    params:
        stamp=report_stamp(),
    resources:
        **stage_resources("report"),
    threads: resource("report", "threads", 1)
    conda:
        CONDA_ENV
    shell:
        "pvd report collect {input.metrics:q} --out {output.csv:q} > {log:q} 2>&1"


rule make_tables:
    """Teacher x student matrices and per-scene tables of one dataset: Markdown, LaTeX, HTML."""
    input:
        csv=f"{REPORTS}/results.csv",
    output:
        md=f"{REPORTS}/tables/{{dataset}}.md",
        tex=f"{REPORTS}/tables/{{dataset}}.tex",
        html=report(f"{REPORTS}/tables/{{dataset}}.html", caption="../report/tables.rst",
                    category="Tables", labels={"table": "{dataset} matrices"}),
    log:
        f"{RESULTS}/logs/report/make_tables_{{dataset}}.log",
    benchmark:
        f"{RESULTS}/logs/report/make_tables_{{dataset}}.benchmark.tsv"
    params:
        stamp=report_stamp(),
    resources:
        **stage_resources("report"),
    threads: resource("report", "threads", 1)
    conda:
        CONDA_ENV
    shell:
        "pvd report tables --csv {input.csv:q} --dataset {wildcards.dataset} "
        "--out \"$(dirname {output.md:q})\" > {log:q} 2>&1"


rule make_figures:
    """PSNR heatmap, teacher-vs-student bars and quality-vs-time scatter of one dataset (PNG + PDF)."""
    input:
        csv=f"{REPORTS}/results.csv",
    output:
        heatmap=report(f"{REPORTS}/figures/{{dataset}}_heatmap.png", caption="../report/heatmap.rst",
                       category="Figures", labels={"dataset": "{dataset}", "figure": "PSNR heatmap"}),
        bars=report(f"{REPORTS}/figures/{{dataset}}_bars.png", caption="../report/bars.rst",
                    category="Figures", labels={"dataset": "{dataset}", "figure": "teacher vs student"}),
        scatter=report(f"{REPORTS}/figures/{{dataset}}_scatter.png", caption="../report/scatter.rst",
                       category="Figures", labels={"dataset": "{dataset}", "figure": "quality vs time"}),
        heatmap_pdf=f"{REPORTS}/figures/{{dataset}}_heatmap.pdf",
        bars_pdf=f"{REPORTS}/figures/{{dataset}}_bars.pdf",
        scatter_pdf=f"{REPORTS}/figures/{{dataset}}_scatter.pdf",
    log:
        f"{RESULTS}/logs/report/make_figures_{{dataset}}.log",
    benchmark:
        f"{RESULTS}/logs/report/make_figures_{{dataset}}.benchmark.tsv"
    params:
        stamp=report_stamp(),
    resources:
        **stage_resources("report"),
    threads: resource("report", "threads", 1)
    conda:
        CONDA_ENV
    shell:
        "pvd report figures --csv {input.csv:q} --dataset {wildcards.dataset} "
        "--out \"$(dirname {output.heatmap:q})\" > {log:q} 2>&1"


rule compare_reference:
    """Our mean PSNR next to the reference numbers of docs/method.md (ours, theirs, difference)."""
    input:
        csv=f"{REPORTS}/results.csv",
    output:
        md=f"{REPORTS}/tables/reference.md",
        tex=f"{REPORTS}/tables/reference.tex",
        html=report(f"{REPORTS}/tables/reference.html", caption="../report/reference.rst",
                    category="Tables", labels={"table": "comparison with the reference"}),
    log:
        f"{RESULTS}/logs/report/compare_reference.log",
    benchmark:
        f"{RESULTS}/logs/report/compare_reference.benchmark.tsv"
    params:
        stamp=report_stamp(),
    resources:
        **stage_resources("report"),
    threads: resource("report", "threads", 1)
    conda:
        CONDA_ENV
    shell:
        "pvd report reference --csv {input.csv:q} --out \"$(dirname {output.md:q})\" > {log:q} 2>&1"


rule make_cost_table:
    """Device-hours and peak GPU memory per stage and architecture, and the full grid extrapolated."""
    input:
        records=ALL_TRAIN_RECORDS + ALL_EVAL_RECORDS,
    output:
        md=f"{REPORTS}/tables/cost.md",
        tex=f"{REPORTS}/tables/cost.tex",
        html=report(f"{REPORTS}/tables/cost.html", caption="../report/cost.rst", category="Tables",
                    labels={"table": "cost per stage and architecture"}),
    log:
        f"{RESULTS}/logs/report/make_cost_table.log",
    benchmark:
        f"{RESULTS}/logs/report/make_cost_table.benchmark.tsv"
    params:
        stamp=report_stamp(),
    resources:
        **stage_resources("report"),
    threads: resource("report", "threads", 1)
    conda:
        CONDA_ENV
    shell:
        "pvd report cost {input.records:q} --out \"$(dirname {output.md:q})\" > {log:q} 2>&1"


rule make_runs_table:
    """Every train and distill run's own figures (steps, wall and processor seconds, test PSNR, a student's
    gap to its teacher and PSNR against the teacher's renders) and the config's `bars` per student."""
    input:
        records=ALL_TRAIN_RECORDS,
    output:
        md=f"{REPORTS}/tables/runs.md",
        tex=f"{REPORTS}/tables/runs.tex",
        html=report(f"{REPORTS}/tables/runs.html", caption="../report/runs.rst", category="Tables",
                    labels={"table": "runs and bars"}),
    log:
        f"{RESULTS}/logs/report/make_runs_table.log",
    benchmark:
        f"{RESULTS}/logs/report/make_runs_table.benchmark.tsv"
    params:
        stamp=report_stamp(),
        bars=bars_args(),
    resources:
        **stage_resources("report"),
    threads: resource("report", "threads", 1)
    conda:
        CONDA_ENV
    shell:
        "pvd report run-table {input.records:q} {params.bars} --out \"$(dirname {output.md:q})\" > {log:q} 2>&1"


rule collect_curves:
    """Every train and distill run's learning curve, one row per probe point (students: + teacher time)."""
    input:
        records=ALL_TRAIN_RECORDS,
    output:
        csv=f"{REPORTS}/curves.csv",
    log:
        f"{RESULTS}/logs/report/collect_curves.log",
    benchmark:
        f"{RESULTS}/logs/report/collect_curves.benchmark.tsv"
    params:
        stamp=report_stamp(),
    resources:
        **stage_resources("report"),
    threads: resource("report", "threads", 1)
    conda:
        CONDA_ENV
    shell:
        "pvd report curves {input.records:q} --out {output.csv:q} > {log:q} 2>&1"


rule make_time_to_quality:
    """PSNR against wall time per dataset (students with their teacher's training time) and the speed-up table."""
    input:
        csv=f"{REPORTS}/curves.csv",
    output:
        figures=[report(f"{REPORTS}/figures/{d}_time_to_quality.png", caption="../report/time_to_quality.rst",
                        category="Figures", labels={"dataset": d, "figure": "time to quality"}) for d in DATASETS],
        pdfs=[f"{REPORTS}/figures/{d}_time_to_quality.pdf" for d in DATASETS],
        md=f"{REPORTS}/tables/time_to_quality.md",
        tex=f"{REPORTS}/tables/time_to_quality.tex",
        html=report(f"{REPORTS}/tables/time_to_quality.html", caption="../report/time_to_quality_table.rst",
                    category="Tables", labels={"table": "time to quality"}),
    log:
        f"{RESULTS}/logs/report/make_time_to_quality.log",
    benchmark:
        f"{RESULTS}/logs/report/make_time_to_quality.benchmark.tsv"
    params:
        stamp=report_stamp(),
        figures=figures_dir,
        datasets=" ".join(DATASETS),
    resources:
        **stage_resources("report"),
    threads: resource("report", "threads", 1)
    conda:
        CONDA_ENV
    shell:
        "pvd report time-to-quality --curves {input.csv:q} --figures {params.figures:q} --dataset {params.datasets} "
        "--tables \"$(dirname {output.md:q})\" > {log:q} 2>&1"


rule make_ablation_table:
    """Each ablation variant against its pair's default: Δ PSNR / SSIM / LPIPS, mean over scenes."""
    input:
        csv=f"{REPORTS}/results.csv",
    output:
        md=f"{REPORTS}/tables/ablation.md",
        tex=f"{REPORTS}/tables/ablation.tex",
        html=report(f"{REPORTS}/tables/ablation.html", caption="../report/ablation.rst",
                    category="Tables", labels={"table": "ablations"}),
    log:
        f"{RESULTS}/logs/report/make_ablation_table.log",
    benchmark:
        f"{RESULTS}/logs/report/make_ablation_table.benchmark.tsv"
    params:
        stamp=report_stamp(),
    resources:
        **stage_resources("report"),
    threads: resource("report", "threads", 1)
    conda:
        CONDA_ENV
    shell:
        "pvd report ablation --csv {input.csv:q} --out \"$(dirname {output.md:q})\" > {log:q} 2>&1"


rule make_qualitative:
    """Ground truth, teachers and students of one scene on the configured test view, with error maps."""
    input:
        metrics=scene_metrics,
    output:
        png=report(f"{REPORTS}/figures/{{dataset}}_{{scene}}_qualitative.png", caption="../report/qualitative.rst",
                   category="Figures", labels={"dataset": "{dataset}", "figure": "qualitative {scene}"}),
        pdf=f"{REPORTS}/figures/{{dataset}}_{{scene}}_qualitative.pdf",
    log:
        f"{RESULTS}/logs/report/make_qualitative_{{dataset}}_{{scene}}.log",
    benchmark:
        f"{RESULTS}/logs/report/make_qualitative_{{dataset}}_{{scene}}.benchmark.tsv"
    params:
        stamp=report_stamp(),
        view=qualitative_args(),
        caption=qualitative_caption,
    resources:
        **stage_resources("report"),
    threads: resource("report", "threads", 1)
    conda:
        CONDA_ENV
    shell:
        "pvd report qualitative {input.metrics:q} {params.view} --caption {params.caption:q} "
        "--out \"$(dirname {output.png:q})\" > {log:q} 2>&1"


rule make_edits_table:
    """Every edit x teacher x student: PSNR after the edit (against the truth or the edited teacher),
    the unedited pair's, the gap, and the edited and unedited teachers' PSNR."""
    input:
        metrics=ALL_EDIT_METRICS,
        records=ALL_EDIT_RECORDS,
        csv=f"{REPORTS}/results.csv",
    output:
        md=f"{REPORTS}/tables/edits.md",
        tex=f"{REPORTS}/tables/edits.tex",
        html=report(f"{REPORTS}/tables/edits.html", caption="../report/edits.rst", category="Tables",
                    labels={"table": "edits"}),
    log:
        f"{RESULTS}/logs/report/make_edits_table.log",
    benchmark:
        f"{RESULTS}/logs/report/make_edits_table.benchmark.tsv"
    params:
        stamp=report_stamp(),
    resources:
        **stage_resources("report"),
    threads: resource("report", "threads", 1)
    conda:
        CONDA_ENV
    shell:
        "pvd report edits {input.metrics:q} --csv {input.csv:q} --out \"$(dirname {output.md:q})\" > {log:q} 2>&1"


rule make_edit_figure:
    """One edit on one test view: the truth, the unedited and edited teachers and every student."""
    input:
        metrics=edit_metrics,
    output:
        png=report(f"{REPORTS}/figures/edit_{{edit}}.png", caption="../report/edit_figure.rst", category="Figures",
                   labels={"figure": "edit {edit}"}),
        pdf=f"{REPORTS}/figures/edit_{{edit}}.pdf",
    log:
        f"{RESULTS}/logs/report/make_edit_figure_{{edit}}.log",
    benchmark:
        f"{RESULTS}/logs/report/make_edit_figure_{{edit}}.benchmark.tsv"
    params:
        stamp=report_stamp(),
        view=edit_view,
    resources:
        **stage_resources("report"),
    threads: resource("report", "threads", 1)
    conda:
        CONDA_ENV
    shell:
        "pvd report edit-figure {input.metrics:q} --view {params.view} --out \"$(dirname {output.png:q})\" "
        "> {log:q} 2>&1"
