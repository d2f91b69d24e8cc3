"""Shared helpers of the workflow: the config, the grid of cells, paths and code hashes.

Only this file (and common_edits.smk, the helpers of the config's `edits`, which it includes) holds
Python helpers; the stage files (data, build, teacher, distill, edit, evaluate, report) hold the
rules. Nothing here imports `pvd`: the rules run the `pvd` command line.

Invalidation (why `params` carry a `stamp`): Snakemake reruns a job when its params differ from
the ones recorded with its outputs (rerun trigger `params`, set in profiles/default).
Each training, distillation, evaluation and report job therefore carries in `params.stamp` a
hash of the *contents* of exactly the code files its outputs depend on plus the settings it runs
with. Editing pvd/fields/vm.py changes only the stamps of cells whose teacher or student is vm;
editing pvd/metrics only the evaluations' stamps, and so on (workflow/code_groups.yaml). Contents, not
modification times, are hashed, so a fresh clone of the same commit yields the same stamps.
"""

import hashlib
import json
import os
import shlex
from fnmatch import fnmatch
from functools import lru_cache
from pathlib import Path

import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate


if "name" not in config:  # no --configfile: the full paper benchmark

    configfile: "config/config.yaml"


validate(config, "../schemas/config.schema.yaml")

# The checkout whose pvd/ the rules run and whose files the stamps hash: putting it first on
# PYTHONPATH makes `pvd` import this copy even where another pvd is installed.
REPO = Path(workflow.basedir).resolve()
_pythonpath = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
if _pythonpath[:1] != [str(REPO)]:
    os.environ.update(PYTHONPATH=os.pathsep.join([str(REPO)] + _pythonpath))

# ---------------------------------------------------------------- the job server


_JOB_SERVER = []  # the server's process, once started


def start_job_server():
    """Start `python -m pvd.jobs.server` for this Snakemake run (config `job_server`) and point the jobs'
    `pvd` at it (PVD_JOB_SERVER). Jobs that start before it listens, or that it refuses, run as
    usual; it stops with this run (stop_job_server, or by itself when this process is gone)."""
    if not config.get("job_server", True):
        return
    import subprocess
    import sys
    import tempfile

    path = Path(tempfile.gettempdir()) / f"pvd-jobs-{os.getuid()}-{os.getpid()}.sock"
    log = Path(".snakemake") / "log" / f"pvd-jobserver-{os.getpid()}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as err:
        server = subprocess.Popen(
            [sys.executable, "-m", "pvd.jobs.server", "--socket", str(path)],
            stdin=subprocess.DEVNULL,
            stdout=err,
            stderr=err,
            start_new_session=True,  # a terminal's Ctrl-C reaches the jobs through their clients
        )
    os.environ["PVD_JOB_SERVER"] = str(path)
    _JOB_SERVER.append(server)


def stop_job_server():
    """Let the job server finish and stop (it takes no new jobs once told)."""
    for server in _JOB_SERVER:
        if server.poll() is not None:
            continue
        server.terminate()
        try:
            server.wait(timeout=30)
        except Exception:
            server.kill()


# the architecture keys, as the config schema lists them (tests/workflow/test_names.py checks them
# against pvd.fields.ARCHS, which the workflow cannot import)
ARCHS = tuple(yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())["$defs"]["arch"]["enum"])
ARCH_PATTERN = "|".join(ARCHS)
# top-level folder of each dataset archive (`pvd data download` extracts it into the root's parent)
ARCHIVE_FOLDERS = {"synthetic": "nerf_synthetic", "llff": "nerf_llff_data", "tank": "TanksAndTemple"}
RESULTS = f"{config['results']}/{config['name']}"
REPORTS = f"{config['reports']}/{config['name']}"
BUILD_MARKER = f"{RESULTS}/build/native.done"
LPIPS_MARKER = f"{RESULTS}/data/lpips_weights.done"


# ---------------------------------------------------------------- the grid of cells


def _check_selection():
    """Reject selections and pairs that name nothing in the config (the schema checks the rest)."""
    select = config.get("select", {})
    for key in select.get("datasets", []):
        if key not in config["datasets"]:
            raise WorkflowError(f"config select.datasets: {key!r} is not a key of config datasets "
                                f"({sorted(config['datasets'])})")
    known = {s for d in config["datasets"].values() for s in d["scenes"]}
    for scene in select.get("scenes", []):
        if scene not in known:
            raise WorkflowError(f"config select.scenes: no dataset has a scene {scene!r} "
                                f"(known: {sorted(known)})")
    if config["pairs"] != "all":
        for pair in config["pairs"]:
            for arch in pair.split("2"):
                if arch not in config["architectures"]:
                    raise WorkflowError(f"config pairs: {pair!r} uses {arch!r}, which is not in "
                                        f"architectures {config['architectures']}")
    for key, ds in config["datasets"].items():
        if ds["source"] in ("download", "local") and "root" not in ds:
            raise WorkflowError(f"config datasets.{key}.root is required with source {ds['source']!r}")
        missing = [k for k in ("bound", "scale", "dt_gamma") if k not in ds["defaults"]]
        if key != "capture" and missing:
            raise WorkflowError(f"config datasets.{key}.defaults lacks {missing}: every {key} scene needs a box "
                                "(only capture scenes get theirs from their cameras)")
        if ds.get("teacher_source", "train") == "import" and "teachers_root" not in ds:
            raise WorkflowError(f"config datasets.{key}.teachers_root is required with teacher_source import")
        if key == "capture" and ds["source"] != "local":
            raise WorkflowError(f"config datasets.capture.source must be 'local' (captures are read in place "
                                f"from root/<scene>), got {ds['source']!r}")
        if ds["source"] == "download" and Path(ds["root"]).name != ARCHIVE_FOLDERS[key]:
            raise WorkflowError(f"config datasets.{key}.root: the {key} archive extracts a folder "
                                f"{ARCHIVE_FOLDERS[key]!r}, so with source download the root must end "
                                f"in it (e.g. data/{ARCHIVE_FOLDERS[key]}), got {ds['root']!r}")


def _grid():
    """[(dataset, scene)] of the selected cells, in config order."""
    select = config.get("select", {})
    datasets = select.get("datasets") or list(config["datasets"])
    scenes = set(select.get("scenes") or [])
    cells = [(d, s) for d in config["datasets"] if d in datasets
             for s in config["datasets"][d]["scenes"] if not scenes or s in scenes]
    if not cells:
        raise WorkflowError("config select: the selection leaves no scene to run")
    return cells


_check_selection()
CELLS = _grid()
DATASETS = [d for d in config["datasets"] if any(c[0] == d for c in CELLS)]
TEACHERS = list(config["architectures"])
PAIRS = ([f"{t}2{s}" for t in TEACHERS for s in TEACHERS] if config["pairs"] == "all"
         else list(config["pairs"]))
MODELS = TEACHERS + PAIRS

# learning-curve probes of every train and distill run, the report's qualitative view (optional keys)
CURVES = {"points": 20, "views": 4, "size": 32, **config.get("curves", {})}
QUALITATIVE = {"view": 0, "crop": None, **config.get("qualitative", {})}

# exports (config `exports`): each format of each listed model in every cell
EXPORTS = {"models": TEACHERS, "resolution": None, "threshold": None, **config.get("exports", {"formats": []})}
EXPORT_FORMATS = list(EXPORTS["formats"])
for _model in EXPORTS["models"]:
    if _model not in MODELS:
        raise WorkflowError(f"config exports: model {_model!r} is not in the grid; its models are "
                            f"{', '.join(MODELS)}")

# ablation variants: `{pair}@{variant}` cells, each distilled with the variant's overrides
ABLATIONS = config.get("ablations", {"pairs": [], "variants": {}})
VARIANT_PATTERN = "[A-Za-z0-9_-]+"
for _pair in ABLATIONS["pairs"]:
    for _arch in _pair.split("2"):
        if _arch not in TEACHERS:
            raise WorkflowError(f"config ablations.pairs: {_pair!r} needs the teacher {_arch!r}, which is not in "
                                f"architectures {TEACHERS}")
VARIANT_MODELS = [f"{p}@{v}" for p in ABLATIONS["pairs"] for v in ABLATIONS["variants"]]


# ---------------------------------------------------------------- settings of one cell


def _merge(base, override):
    """``base`` updated by ``override``, one level of nested dicts deep (e.g. teacher.iters)."""
    out = dict(base)
    for key, value in override.items():
        out[key] = {**out.get(key, {}), **value} if isinstance(value, dict) else value
    return out


def stage_settings(stage, dataset):
    """Global ``teacher`` / ``distill`` / ``evaluate`` settings with the dataset's overrides."""
    return _merge(config[stage], config["datasets"][dataset].get(stage, {}))


def scene_settings(dataset, scene):
    """bound / scale / dt_gamma of a scene: the dataset's defaults updated by the scene's own."""
    ds = config["datasets"][dataset]
    own = {k: v for k, v in ds["scenes"][scene].items() if k != "demo"}
    return {**ds["defaults"], **own}


def scene_dir(dataset, scene):
    """The scene folder the pvd commands read."""
    ds = config["datasets"][dataset]
    if ds["source"] == "demo":
        return f"{RESULTS}/data/{dataset}/{scene}"
    return f"{ds['root']}/{scene}"


def _flags(settings):
    """``{"iters": 5, "init": "teacher"}`` -> ``--iters 5 --init teacher`` (None values left out)."""
    parts = []
    for key, value in settings.items():
        if value is None or value is False:
            continue
        if value is True:
            parts.append(f"--{key}")
        elif isinstance(value, (list, tuple)):  # several values: --density_range LO HI
            parts.append(f"--{key} {' '.join(shlex.quote(str(v)) for v in value)}")
        else:
            parts.append(f"--{key} {shlex.quote(str(value))}")
    return " ".join(parts)


# ---------------------------------------------------------------- code hashes

HASHED_SUFFIXES = {".py", ".json", ".yaml", ".cu", ".cuh", ".cpp", ".cc", ".c", ".h", ".hpp"}

# group -> fnmatch patterns; every file of pvd/ and cuda_ext/ matches exactly one (see the file)
CODE_GROUPS = yaml.safe_load((REPO / "workflow" / "code_groups.yaml").read_text())


def code_group(rel):
    """The group of a file given by its path relative to the checkout (None: affects nothing)."""
    groups = [g for g, patterns in CODE_GROUPS.items() if any(fnmatch(rel, p) for p in patterns)]
    if len(groups) != 1:
        where = "no group" if not groups else f"several groups ({', '.join(groups)})"
        raise WorkflowError(f"{rel} matches {where} in workflow/code_groups.yaml: place it in exactly "
                            "one, so that the workflow knows which results it can change")
    return None if groups[0] == "none" else groups[0]


@lru_cache(maxsize=None)
def code_files():
    """group -> sorted relative paths of the hashed files of the checkout."""
    groups = {}
    for top in ("pvd", "cuda_ext"):
        for path in sorted((REPO / top).rglob("*")):
            if path.suffix not in HASHED_SUFFIXES or "__pycache__" in path.parts or not path.is_file():
                continue
            rel = path.relative_to(REPO).as_posix()
            group = code_group(rel)
            if group is not None:
                groups.setdefault(group, []).append(rel)
    return groups


@lru_cache(maxsize=None)
def code_digest(group):
    """SHA-256 over the paths and contents of a group's files."""
    digest = hashlib.sha256()
    for rel in code_files().get(group, []):
        digest.update(rel.encode() + b"\0" + (REPO / rel).read_bytes() + b"\0")
    return digest.hexdigest()


def stamp(groups, settings):
    """Content hash of the code ``groups`` and the ``settings`` a job's outputs depend on."""
    digest = hashlib.sha256()
    for group in sorted(groups):
        digest.update(f"{group}={code_digest(group)};".encode())
    digest.update(json.dumps(settings, sort_keys=True).encode())
    return digest.hexdigest()[:24]


# ---------------------------------------------------------------- per-rule inputs and params


def scene_input(wildcards):
    """What a job reading a scene waits for: the download marker or the generated demo scene.

    A `local` scene folder is read in place and is not an input: its modification time, which
    changes when a dataset is copied or extracted again, must not rerun the grid. It must exist.
    """
    ds = config["datasets"][wildcards.dataset]
    if ds["source"] == "download":
        return f"{RESULTS}/data/{wildcards.dataset}.download.done"
    path = scene_dir(wildcards.dataset, wildcards.scene)
    if ds["source"] == "demo":
        return path
    if not os.path.isdir(path):
        raise WorkflowError(f"config datasets.{wildcards.dataset}.root: scene folder {path} does not "
                            "exist (source: local reads scenes in place)")
    return []


def scene_path(wildcards):
    return scene_dir(wildcards.dataset, wildcards.scene)


def dataset_root(wildcards):
    return config["datasets"][wildcards.dataset]["root"]


def download_root(wildcards):
    """Folder receiving the extracted archive: the parent of the dataset's root."""
    return str(Path(dataset_root(wildcards)).parent)


def demo_settings(wildcards):
    ds = config["datasets"][wildcards.dataset]
    return {**ds.get("demo", {}), **ds["scenes"][wildcards.scene].get("demo", {})}


def demo_args(wildcards):
    return _flags(demo_settings(wildcards))


def demo_stamp(wildcards):
    return stamp(["demo"], demo_settings(wildcards))


def placement():
    """Where a job runs that does not change its result (so not in its stamp): the GPU slots per GPU
    that `--device auto` shares out (pvd/devices.py)."""
    return {"gpu_slots": config.get("gpu_slots", 1)} if config["device"] == "auto" else {}


def teacher_settings(wildcards):
    """Everything `pvd train` is told for one (dataset, scene, arch) cell: the config's `teacher`
    options (each the `pvd train` option of the same name; `iters` per architecture) and the cell's own."""
    cfg = stage_settings("teacher", wildcards.dataset)
    options = {k: v for k, v in cfg.items() if k != "iters"}
    return {**options, "data_type": wildcards.dataset, "model_type": wildcards.arch,
            "iters": cfg.get("iters", {}).get(wildcards.arch),
            **scene_settings(wildcards.dataset, wildcards.scene),
            "downscale": config["datasets"][wildcards.dataset]["downscale"],
            "seed": config["seed"], "device": config["device"], **curve_settings()}


def curve_settings():
    """The learning-curve flags of `pvd train` and `pvd distill`."""
    return {"curve_points": CURVES["points"], "probe_views": CURVES["views"], "probe_size": CURVES["size"]}


def teacher_args(wildcards):
    return _flags({**teacher_settings(wildcards), **placement()})


def teacher_stamp(wildcards):
    return stamp(["train", f"field:{wildcards.arch}"], teacher_settings(wildcards))


def wildcard_pattern(names):
    """A wildcard constraint matching exactly ``names`` (and nothing when there are none)."""
    return "|".join(names) if names else "(?!)"


IMPORTED = [d for d, ds in config["datasets"].items() if ds.get("teacher_source", "train") == "import"]
TRAINED_PATTERN = wildcard_pattern([d for d in config["datasets"] if d not in IMPORTED])
IMPORTED_PATTERN = wildcard_pattern(IMPORTED)


def reference_checkpoint(wildcards):
    """The reference checkpoint of an imported teacher: the release's latest epoch of the architecture."""
    folder = Path(config["datasets"][wildcards.dataset]["teachers_root"]) / wildcards.scene / "checkpoints"
    found = sorted(folder.glob(f"{wildcards.arch}_ep*.pth"))
    if not found:
        raise WorkflowError(f"config datasets.{wildcards.dataset}.teachers_root: no {wildcards.arch}_ep*.pth in "
                            f"{folder} (the release's layout: <root>/<scene>/checkpoints/<arch>_ep<epoch>.pth)")
    return str(found[-1])


def import_args(wildcards):
    """`pvd import` flags: the scene's box (bound from the file unless the config gives one)."""
    return _flags({"data_type": wildcards.dataset, "model_type": wildcards.arch,
                   **scene_settings(wildcards.dataset, wildcards.scene)})


def import_stamp(wildcards):
    return stamp(["train", f"field:{wildcards.arch}"], {"import": import_args(wildcards)})


def teacher_checkpoint(wildcards):
    return f"{RESULTS}/{wildcards.dataset}/{wildcards.scene}/teacher/{wildcards.teacher}/checkpoint.pt"


def pair_settings(dataset, teacher_type, student):
    """Everything `pvd distill` is told to distil a ``teacher_type`` teacher of ``dataset`` into ``student``:
    the config's `distill` options (each the `pvd distill` option of the same name) and the cell's own."""
    cfg = stage_settings("distill", dataset)
    return {**cfg, "data_type": dataset, "teacher_type": teacher_type, "model_type": student,
            "downscale": config["datasets"][dataset]["downscale"],
            "seed": config["seed"], "device": config["device"], **curve_settings()}


def distill_settings(wildcards):
    """Everything `pvd distill` is told for one (dataset, scene, teacher, student) cell."""
    return pair_settings(wildcards.dataset, wildcards.teacher, wildcards.student)


def distill_args(wildcards):
    return _flags({**distill_settings(wildcards), **placement()})


def distill_stamp(wildcards):
    groups = {"train", "distill", f"field:{wildcards.teacher}", f"field:{wildcards.student}"}
    return stamp(groups, distill_settings(wildcards))


def variant_settings(wildcards):
    """An ablation cell's settings: the pair's, updated by the variant's overrides."""
    return {**distill_settings(wildcards), **ABLATIONS["variants"][wildcards.variant]}


def variant_args(wildcards):
    return _flags(variant_settings(wildcards))


def variant_stamp(wildcards):
    groups = {"train", "distill", f"field:{wildcards.teacher}", f"field:{wildcards.student}"}
    return stamp(groups, variant_settings(wildcards))


def model_checkpoint(wildcards):
    """The checkpoint of an evaluated model: a teacher (``vm``), a student (``hash2vm``) or an
    ablation variant of one (``hash2vm@l1``)."""
    stage = "distill" if "2" in wildcards.model else "teacher"
    return f"{RESULTS}/{wildcards.dataset}/{wildcards.scene}/{stage}/{wildcards.model}/checkpoint.pt"


def scoring_settings(dataset, render_views):
    """Everything `pvd evaluate` is told to score a model of ``dataset`` (renders of ``render_views``)."""
    cfg = stage_settings("evaluate", dataset)
    return {"data_type": dataset, "split": cfg["split"], "ssim": cfg["ssim"],
            "no_lpips": not cfg["lpips"], "save_renders": cfg["save_renders"],
            "render_views": render_views,
            "downscale": config["datasets"][dataset]["downscale"],
            "device": config["device"]}


def evaluate_settings(wildcards):
    """Everything `pvd evaluate` is told for one evaluated model of a scene."""
    return scoring_settings(wildcards.dataset, None if "@" in wildcards.model else QUALITATIVE["view"])


def evaluate_args(wildcards):
    return _flags({**evaluate_settings(wildcards), **placement()})


def evaluate_stamp(wildcards):
    return stamp(["evaluate"], evaluate_settings(wildcards))


def lpips_marker(dataset):
    """The LPIPS-weights marker when the dataset's evaluation fetches them first, else nothing."""
    cfg = stage_settings("evaluate", dataset)
    return [LPIPS_MARKER] if cfg["lpips"] and cfg["fetch_lpips_weights"] else []


def lpips_input(wildcards):
    return lpips_marker(wildcards.dataset)


def native_args():
    native = config["native"]
    return _flags({"cuda": native["cuda"], "arch": native.get("arch") or None})


def bars_args():
    """`pvd report runs` flags of the config's `bars` (none given: the runs table has no bars column)."""
    bars = config.get("bars", {})
    return _flags({"gap_bar": bars.get("gap_db"), "seconds_bar": bars.get("seconds")})


def report_stamp():
    return stamp(["report"], {"name": config["name"]})


def resource(stage, key, default=None):
    return config["resources"][stage].get(key, default)


def stage_resources(stage, gpu=False):
    """The resources of a job of ``stage`` (config `resources.<stage>`): memory and runtime, and with
    ``gpu`` the GPU slots it holds (default 0). The one definition: each job's `resources` spreads it."""
    return {**({"gpu": resource(stage, "gpu", 0)} if gpu else {}),
            "mem_mb": resource(stage, "mem_mb"), "runtime": resource(stage, "runtime")}


# the software environment of every job (--software-deployment-method conda), environment.yml at the
# root, given relative to workflow/rules/ (where the jobs are defined)
CONDA_ENV = "../../environment.yml"


EDIT_RESOURCES = "edit" if "edit" in config["resources"] else "evaluate"   # `pvd edit` jobs
EXPORT_RESOURCES = "export" if "export" in config["resources"] else "evaluate"   # `pvd export` jobs


# ---------------------------------------------------------------- edits (config `edits`)

# their checks, EDITS and the edit rules' inputs and params (before the targets, which list their files)
include: "common_edits.smk"


# ---------------------------------------------------------------- targets


def cell_path(dataset, scene, part):
    return f"{RESULTS}/{dataset}/{scene}/{part}"


def scene_metrics(wildcards):
    """metrics.json of the main models of one scene (the qualitative grid's inputs)."""
    return [cell_path(wildcards.dataset, wildcards.scene, f"eval/{m}/metrics.json") for m in MODELS]


def figures_dir(wildcards, output):
    """The folder of the time-to-quality figures (that of the first PDF output)."""
    return os.path.dirname(output.pdfs[0])


def export_settings(wildcards):
    """Everything `pvd export` is told for one model's export in one format (the mesh options for meshes)."""
    mesh = {"resolution": EXPORTS["resolution"], "threshold": EXPORTS["threshold"]} if wildcards.format == "mesh" else {}
    return {"format": wildcards.format, **mesh, "device": config["device"]}


def export_args(wildcards):
    return _flags({**export_settings(wildcards), **placement()})


def export_stamp(wildcards):
    return stamp(["export"], export_settings(wildcards))


def qualitative_args():
    crop = QUALITATIVE["crop"]
    return f"--view {QUALITATIVE['view']}" + (f" --crop {' '.join(str(v) for v in crop)}" if crop else "")


def qualitative_caption(wildcards):
    """What the grid shows was run with: presets, steps, device."""
    teacher, distill = stage_settings("teacher", wildcards.dataset), stage_settings("distill", wildcards.dataset)
    steps = distill.get("iters") or "preset"
    return (f"teachers: preset {teacher['preset']}; students: preset {distill['preset']}, {steps} steps; "
            f"device {config['device']}")


ALL_METRICS = [cell_path(d, s, f"eval/{m}/metrics.json") for d, s in CELLS for m in MODELS + VARIANT_MODELS]
ALL_TRAIN_RECORDS = ([cell_path(d, s, f"teacher/{a}/record.json") for d, s in CELLS for a in TEACHERS]
                     + [cell_path(d, s, f"distill/{p}/record.json") for d, s in CELLS for p in PAIRS + VARIANT_MODELS])
ALL_EVAL_RECORDS = [cell_path(d, s, f"eval/{m}/record.json") for d, s in CELLS for m in MODELS + VARIANT_MODELS]
ALL_EDIT_METRICS = [f"{RESULTS}/edits/{e}/{t}/eval/{m}/metrics.json"
                    for e in EDITS for t in EDITS[e]["teachers"] for m in edit_evaluated(e)]
ALL_EDIT_RECORDS = [f"{RESULTS}/edits/{e}/{t}/edited/record.json" for e in EDITS for t in EDITS[e]["teachers"]]
EDIT_FILES = (([f"{REPORTS}/tables/edits.{ext}" for ext in ("md", "tex", "html")]
               + [f"{REPORTS}/figures/edit_{e}.{ext}" for e in EDITS for ext in ("png", "pdf")]) if EDITS else [])
QUALITATIVE_FIGURES = ([f"{REPORTS}/figures/{d}_{s}_qualitative.{ext}" for d, s in CELLS for ext in ("png", "pdf")]
                       if QUALITATIVE["view"] is not None else [])
ALL_EXPORTS = [cell_path(d, s, f"export/{m}/{f}.ply") for d, s in CELLS for m in EXPORTS["models"]
               for f in EXPORT_FORMATS]
REPORT_FILES = (
    [f"{REPORTS}/results.csv", f"{REPORTS}/curves.csv"]
    + [f"{REPORTS}/tables/{d}.{ext}" for d in DATASETS for ext in ("md", "tex", "html")]
    + [f"{REPORTS}/figures/{d}_{fig}.{ext}" for d in DATASETS
       for fig in ("heatmap", "bars", "scatter", "time_to_quality") for ext in ("png", "pdf")]
    + [f"{REPORTS}/tables/{t}.{ext}" for t in ("reference", "time_to_quality", "cost", "runs")
       for ext in ("md", "tex", "html")]
    + ([f"{REPORTS}/tables/ablation.{ext}" for ext in ("md", "tex", "html")] if VARIANT_MODELS else [])
    + QUALITATIVE_FIGURES
    + EDIT_FILES
)
