"""Aggregation into reports/{name}/: results.csv, per-dataset tables and figures, the comparison
with the reference numbers of METHOD.md §7. Built from metrics.json and record.json files only."""


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
        mem_mb=resource("report", "mem_mb"),
        runtime=resource("report", "runtime"),
    threads: resource("report", "threads", 1)
    conda:
        "../../environment.yml"
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
        mem_mb=resource("report", "mem_mb"),
        runtime=resource("report", "runtime"),
    threads: resource("report", "threads", 1)
    conda:
        "../../environment.yml"
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
        mem_mb=resource("report", "mem_mb"),
        runtime=resource("report", "runtime"),
    threads: resource("report", "threads", 1)
    conda:
        "../../environment.yml"
    shell:
        "pvd report figures --csv {input.csv:q} --dataset {wildcards.dataset} "
        "--out \"$(dirname {output.heatmap:q})\" > {log:q} 2>&1"


rule compare_reference:
    """Our mean PSNR next to the reference numbers of METHOD.md §7 (ours, theirs, difference)."""
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
        mem_mb=resource("report", "mem_mb"),
        runtime=resource("report", "runtime"),
    threads: resource("report", "threads", 1)
    conda:
        "../../environment.yml"
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
        mem_mb=resource("report", "mem_mb"),
        runtime=resource("report", "runtime"),
    threads: resource("report", "threads", 1)
    conda:
        "../../environment.yml"
    shell:
        "pvd report cost {input.records:q} --out \"$(dirname {output.md:q})\" > {log:q} 2>&1"
