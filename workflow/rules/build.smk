"""The native kernels, built once ahead of time; every training and distillation job waits for it.

`params.stamp` hashes cuda_ext/ (and pvd/commands/build_ext.py) with the `native` config, so an
edited kernel rebuilds and then reruns every training cell (kernels change the numbers). With
`native.build: false` (CPU demo) the job only writes its marker: the kernels then build lazily at
first use, or the PyTorch twins run.
"""


rule build_ext:
    output:
        marker=BUILD_MARKER,
    log:
        f"{RESULTS}/build/native.log",
    benchmark:
        f"{RESULTS}/build/native.benchmark.tsv"
    params:
        enabled="yes" if config["native"]["build"] else "no",
        args=native_args(),
        stamp=stamp(["native"], config["native"]),
    resources:
        **stage_resources("build"),
    threads: resource("build", "threads", 1)
    conda:
        CONDA_ENV
    shell:
        "( if [ {params.enabled} = yes ]; then pvd build-ext {params.args}; "
        "else echo 'native.build is false: no ahead-of-time build'; fi ) > {log:q} 2>&1 "
        "&& echo {params.stamp} > {output.marker:q}"
