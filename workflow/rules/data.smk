"""Scenes and LPIPS weights: dataset downloads, the generated demo scene, the LPIPS backbones."""


rule download_dataset:
    """Download, verify and extract one dataset into its configured root (`source: download`)."""
    output:
        marker=f"{RESULTS}/data/{{dataset}}.download.done",
    log:
        f"{RESULTS}/data/{{dataset}}.download.log",
    benchmark:
        f"{RESULTS}/data/{{dataset}}.download.benchmark.tsv"
    params:
        download_root=download_root,
        root=dataset_root,
    resources:
        **stage_resources("data"),
    threads: resource("data", "threads", 1)
    conda:
        CONDA_ENV
    shell:
        "( pvd data download {wildcards.dataset} --root {params.download_root:q} "
        "&& if [ ! -d {params.root:q} ]; then echo 'no folder {params.root} after the download: "
        "datasets.{wildcards.dataset}.root must name the extracted folder' >&2; exit 1; fi ) "
        "> {log:q} 2>&1 && touch {output.marker:q}"


rule make_demo_scene:
    """Generate the embedded procedural demo scene (`source: demo`), Blender format."""
    output:
        scene=directory(f"{RESULTS}/data/{{dataset}}/{{scene}}"),
    log:
        f"{RESULTS}/data/{{dataset}}/{{scene}}.log",
    benchmark:
        f"{RESULTS}/data/{{dataset}}/{{scene}}.benchmark.tsv"
    params:
        args=demo_args,
        stamp=demo_stamp,
    resources:
        **stage_resources("data"),
    threads: resource("data", "threads", 1)
    conda:
        CONDA_ENV
    shell:
        "pvd data demo {output.scene:q} {params.args} > {log:q} 2>&1"


rule fetch_lpips_weights:
    """Download the LPIPS AlexNet and VGG backbones once, before any evaluation."""
    output:
        marker=LPIPS_MARKER,
    log:
        f"{RESULTS}/data/lpips_weights.log",
    benchmark:
        f"{RESULTS}/data/lpips_weights.benchmark.tsv"
    resources:
        **stage_resources("data"),
    threads: resource("data", "threads", 1)
    conda:
        CONDA_ENV
    shell:
        "pvd data weights > {log:q} 2>&1 && touch {output.marker:q}"
