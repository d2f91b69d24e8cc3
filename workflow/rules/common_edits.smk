"""Helpers of the edits (config `edits`; docs/workflow.md "Edits"), included by common.smk.

The edits' checks beyond the schema (each error names `edits.{edit}` and the field), ``EDITS`` (the
edits of selected scenes, resolved: dataset, scene, truth, figure view, inserted checkpoints) and
the inputs, params and stamps of the rules of edit.smk. Nothing here imports `pvd`.
"""

from types import SimpleNamespace

# the keys each operation takes (pvd/edit/program.py); the schema lists their union
OP_KEYS = {"erase": {"op", "min", "max"}, "keep": {"op", "min", "max"},
           "move": {"op", "min", "max", "translate", "rotate_z", "scale"},
           "insert": {"op", "min", "max", "translate", "rotate_z", "scale", "checkpoint"}}


def _edit_scene(name, edit):
    """(dataset, scene) of an edit: its `dataset`, else the one dataset that has the scene."""
    scene = edit["scene"]
    if "dataset" in edit:
        if scene not in config["datasets"].get(edit["dataset"], {}).get("scenes", {}):
            raise WorkflowError(f"config edits.{name}.scene: datasets.{edit['dataset']} has no scene {scene!r}")
        return edit["dataset"], scene
    holders = [d for d, ds in config["datasets"].items() if scene in ds["scenes"]]
    if len(holders) != 1:
        found = "no dataset has it" if not holders else f"datasets {holders} have it: give edits.{name}.dataset"
        raise WorkflowError(f"config edits.{name}.scene: {scene!r} is not one scene of datasets ({found})")
    return holders[0], scene


def _edit_operation(name, i, op, dataset):
    """Operation ``i`` of an edit checked (keys of its kind, box), with an `insert` checkpoint resolved
    to ``(path, arch)`` (arch None for a file path); errors name the edit, operation and field."""
    where = f"config edits.{name}.operations[{i}] ({op['op']})"
    unknown = sorted(set(op) - OP_KEYS[op["op"]])
    if unknown:
        raise WorkflowError(f"{where}: {op['op']} takes no {unknown} (its keys: {sorted(OP_KEYS[op['op']])})")
    flat = [axis for axis, lo, hi in zip("xyz", op["min"], op["max"]) if not lo < hi]
    if flat:
        raise WorkflowError(f"{where}: min {op['min']} must be < max {op['max']} along {', '.join(flat)}")
    if op["op"] != "insert":
        return dict(op), None
    if "checkpoint" not in op:
        raise WorkflowError(f"{where}: lacks checkpoint (a teacher {{scene, arch}} or a file path)")
    source = op["checkpoint"]
    if isinstance(source, str):
        return dict(op), (source, None)
    ds, scene, arch = source.get("dataset", dataset), source["scene"], source["arch"]
    if scene not in config["datasets"].get(ds, {}).get("scenes", {}):
        raise WorkflowError(f"{where}: checkpoint.scene: datasets.{ds} has no scene {scene!r}")
    if arch not in TEACHERS:
        raise WorkflowError(f"{where}: checkpoint.arch {arch!r} is not in architectures {TEACHERS}")
    return dict(op), (f"{RESULTS}/{ds}/{scene}/teacher/{arch}/checkpoint.pt", arch)


def _resolve_edits():
    """name -> the edit with its dataset, scene, truth flag, figure view and inserted sources, for the
    edits of selected scenes (the config's order); every entry is checked, selected or not."""
    resolved = {}
    for name, edit in config.get("edits", {}).items():
        dataset, scene = _edit_scene(name, edit)
        outside = [a for a in edit["teachers"] if a not in TEACHERS]
        if outside:
            raise WorkflowError(f"config edits.{name}.teachers: {outside} not in architectures {TEACHERS}")
        if "truth" in edit and config["datasets"][dataset]["source"] != "demo":
            raise WorkflowError(f"config edits.{name}.truth: only demo scenes have an exact edited ground truth; "
                                f"datasets.{dataset} has source {config['datasets'][dataset]['source']!r}")
        checked = [_edit_operation(name, i, op, dataset) for i, op in enumerate(edit["operations"])]
        view = edit.get("view", QUALITATIVE["view"] if QUALITATIVE["view"] is not None else 0)
        if (dataset, scene) in CELLS:
            resolved[name] = {**edit, "dataset": dataset, "scene": scene, "truth": edit.get("truth"), "view": view,
                              "operations": [op for op, _ in checked], "sources": [s for _, s in checked]}
    return resolved


EDITS = _resolve_edits()


def edit_path(wildcards, part):
    return f"{RESULTS}/edits/{wildcards.edit}/{part}"


def edit_cell(wildcards):
    """The edited (dataset, scene) as wildcards of the main rules' helpers."""
    edit = EDITS[wildcards.edit]
    return SimpleNamespace(dataset=edit["dataset"], scene=edit["scene"])


def truth_settings(wildcards):
    """`pvd data demo` settings of an edit's ground truth: the scene's, and the edit's flags (one
    list of values per repeated --without / --move / --insert)."""
    truth = EDITS[wildcards.edit]["truth"]
    flags = {"without": [[name] for name in truth.get("without", [])],
             "move": [[m["solid"], *m["translate"]] for m in truth.get("move", [])],
             "insert": [[f"{m['seed']}:{m['solid']}", *m["translate"]] for m in truth.get("insert", [])]}
    return {**demo_settings(edit_cell(wildcards)), **flags}


def truth_args(wildcards):
    settings = truth_settings(wildcards)
    flags = ("without", "move", "insert")
    repeated = [f"--{k} {' '.join(shlex.quote(str(v)) for v in item)}" for k in flags for item in settings[k]]
    return " ".join([_flags({k: v for k, v in settings.items() if k not in flags}), *repeated]).strip()


def truth_stamp(wildcards):
    return stamp(["demo"], truth_settings(wildcards))


def edit_scene_dir(wildcards):
    """The scene folder the edit's students learn and are scored on: the ground truth, else the scene's."""
    if EDITS[wildcards.edit]["truth"]:
        return edit_path(wildcards, "truth")
    return scene_path(edit_cell(wildcards))


def edit_scene_input(wildcards):
    return edit_path(wildcards, "truth") if EDITS[wildcards.edit]["truth"] else scene_input(edit_cell(wildcards))


def edit_base_checkpoint(wildcards):
    cell = edit_cell(wildcards)
    return f"{RESULTS}/{cell.dataset}/{cell.scene}/teacher/{wildcards.teacher}/checkpoint.pt"


def inserted_checkpoints(wildcards):
    return list(dict.fromkeys(s[0] for s in EDITS[wildcards.edit]["sources"] if s is not None))


def edit_program(wildcards):
    """The program as `pvd edit` reads it: inserted checkpoints relative to the program's folder
    (where pvd resolves them), absolute paths as given."""
    folder = edit_path(wildcards, f"{wildcards.teacher}/edited")
    edit = EDITS[wildcards.edit]
    ops = []
    for op, source in zip(edit["operations"], edit["sources"]):
        if source is not None:
            op = {**op, "checkpoint": source[0] if os.path.isabs(source[0]) else os.path.relpath(source[0], folder)}
        ops.append(op)
    return json.dumps({"operations": ops}, sort_keys=True)


def source_fields(wildcards):
    """field:<arch> code groups of the inserted teachers of an edit (a file path's is unknown)."""
    return [f"field:{s[1]}" for s in EDITS[wildcards.edit]["sources"] if s is not None and s[1] is not None]


def edit_args(wildcards):
    return _flags({"seed": config["seed"], "device": config["device"], **placement()})


def edit_stamp(wildcards):
    return stamp({"train", "edit", f"field:{wildcards.teacher}", *source_fields(wildcards)},
                 {"program": edit_program(wildcards), "seed": config["seed"], "device": config["device"]})


def edited_checkpoint(wildcards):
    return edit_path(wildcards, f"{wildcards.teacher}/edited/checkpoint.pt")


def edit_distill_settings(wildcards):
    return pair_settings(EDITS[wildcards.edit]["dataset"], "edited", wildcards.student)


def edit_distill_args(wildcards):
    return _flags({**edit_distill_settings(wildcards), **placement()})


def edit_distill_stamp(wildcards):
    groups = {"train", "distill", "edit", f"field:{wildcards.teacher}", f"field:{wildcards.student}",
              *source_fields(wildcards)}
    return stamp(groups, edit_distill_settings(wildcards))


def edit_evaluated_checkpoint(wildcards):
    """`original` (the unedited teacher), `edited`, or a student architecture of an edit."""
    if wildcards.evaluated == "original":
        return edit_base_checkpoint(wildcards)
    if wildcards.evaluated == "edited":
        return edited_checkpoint(wildcards)
    return edit_path(wildcards, f"{wildcards.teacher}/distill/{wildcards.evaluated}/checkpoint.pt")


def edit_reference(wildcards):
    """Without a ground truth, models are scored against the edited teacher's renders."""
    return [] if EDITS[wildcards.edit]["truth"] else [edited_checkpoint(wildcards)]


def edit_evaluate_settings(wildcards):
    edit = EDITS[wildcards.edit]
    return scoring_settings(edit["dataset"], edit["view"])


def edit_evaluate_args(wildcards, input):
    """`pvd evaluate` flags of an edit's evaluation, led by `--reference` (the edited teacher) where
    there is no ground truth."""
    reference = f"--reference {shlex.quote(input.reference[0])} " if input.reference else ""
    return reference + _flags({**edit_evaluate_settings(wildcards), **placement()})


def edit_evaluate_stamp(wildcards):
    return stamp(["evaluate"], edit_evaluate_settings(wildcards))


def edit_lpips_input(wildcards):
    return lpips_marker(EDITS[wildcards.edit]["dataset"])


def edit_evaluated(edit):
    """What is evaluated per teacher of an edit: the unedited teacher (against the truth, or against
    the edited teacher), the edited teacher where there is a truth, and every student."""
    return ["original"] + (["edited"] if EDITS[edit]["truth"] else []) + list(EDITS[edit]["students"])


def edit_metrics(wildcards):
    """metrics.json of every evaluation of one edit (the edit's figure)."""
    return [f"{RESULTS}/edits/{wildcards.edit}/{t}/eval/{m}/metrics.json"
            for t in EDITS[wildcards.edit]["teachers"] for m in edit_evaluated(wildcards.edit)]


def edit_view(wildcards):
    return EDITS[wildcards.edit]["view"]
