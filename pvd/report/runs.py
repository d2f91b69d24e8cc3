"""Reports from any runs: workspace folders given by hand, each identified from its own record.

``pvd report runs WS... --out DIR`` takes workspaces of ``pvd train`` / ``pvd import`` /
``pvd distill`` (record.json beside checkpoint.pt) and ``pvd evaluate`` (record.json beside
metrics.json) in any layout -- not only the workflow's ``<dataset>/<scene>/<stage>/<model>/`` -- and
reads who is who from the records (:class:`pvd.record_types.Record`):

* the model: a teacher's ``model_type``; a student's ``teacher_type`` and ``model_type``
  (:class:`pvd.names.ModelName`); an ablation variant where the workspace folder is named
  ``{teacher}2{student}@{variant}`` after the same pair (a record does not hold the variant);
* the dataset: the record's ``data_type``; the scene: the name of its ``scene_dir``;
* the run that made an evaluated model: the record.json beside the evaluation's ``checkpoint``
  (a path relative to where the evaluation ran), else the one training run given of the same model
  (or pair), dataset and scene; a student's teacher run likewise from its ``teacher_checkpoint``.

:class:`Runs` turns them into the rows the workflow's report is built from (``results.csv`` rows,
curve rows, run costs); what a part lacks is said in one line (:attr:`Runs.notes`, and the
``why_*`` messages), never left silent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pvd.errors import UserError
from pvd.fields import ARCHS
from pvd.names import ModelName
from pvd.record_types import Record
from pvd.report.collect import DATASETS, ResultRow, result_row, row_order
from pvd.report.cost import KIND_STAGES
from pvd.report.curves import CurveRow, curve_rows

TRAINING = ("train", "import", "distill")


@dataclass(frozen=True)
class Run:
    """One workspace: its folder, record and what the record says it is (``name`` None for runs
    that made no model of the grid: edits, renders, edited teachers' students)."""

    folder: Path
    record: Record
    name: ModelName | None
    dataset: str | None
    scene: str | None

    @property
    def label(self) -> str:
        return f"{self.folder} ({self.record.kind} of {self.name or 'no grid model'})"


def _variant(folder: Path, name: ModelName) -> str:
    """The ablation variant a workspace's folder name gives a student, ``""`` if none."""
    if name.is_teacher or "@" not in folder.name:
        return ""
    try:
        named = ModelName.parse(folder.name)
    except UserError:
        return ""
    return named.variant if named.pair == name else ""


def identify(folder: Path, record: Record) -> Run:
    """What the run of ``record`` (read from ``folder``) made or evaluated (see module doc)."""
    part, name = record.part, None
    try:
        if record.kind in ("train", "import"):
            name = ModelName(part.model_type)
        elif record.kind == "distill":
            name = ModelName(part.teacher_type, part.model_type)
        elif record.kind == "evaluate":
            name = ModelName.of(part.model_type, part.teacher_type if part.model_kind == "student" else None)
    except UserError as exc:
        raise UserError(f"{record.where}: {exc}") from None
    if name is not None and name.teacher not in ARCHS:
        name = None  # an edited teacher or its students: pvd report edits
    if name is not None:
        name = name.with_variant(_variant(folder, name))
    dataset = getattr(part, "data_type", None)
    return Run(folder, record, name, dataset if dataset in DATASETS else None, record.scene)


@dataclass(frozen=True)
class Runs:
    """The runs of a set of workspaces (``given``: how many folders were named); ``notes``: one line
    per folder or run left out, added to as the parts are built."""

    runs: list[Run]
    given: int
    notes: list[str] = field(default_factory=list)

    @staticmethod
    def read(folders: list[str | Path]) -> Runs:
        """The runs of ``folders``; a folder without record.json, or of another kind of run (edit,
        render), is left out with a note; a record that cannot be read is an error naming it."""
        runs, notes = [], []
        for folder in map(Path, folders):
            path = folder / "record.json"
            if not path.is_file():
                notes.append(f"left out {folder}: no record.json (not a pvd run workspace)")
                continue
            record = Record.from_json(path)
            if record.kind not in (*TRAINING, "evaluate"):
                notes.append(
                    f"left out {folder}: a {record.kind} run (the report reads train, distill and evaluate runs)"
                )
                continue
            runs.append(identify(folder, record))
        if not runs:
            raise UserError(
                f"none of the {len(folders)} folder(s) given holds the record.json of a pvd train, import, "
                "distill or evaluate run"
            )
        return Runs(runs, len(folders), notes)

    def _of(self, kinds: tuple[str, ...]) -> list[Run]:
        return [r for r in self.runs if r.record.kind in kinds]

    def _made(self, checkpoint: str | None, name: ModelName | None, dataset: str | None, scene: str | None):
        """The training run that wrote ``checkpoint`` (see module doc), or None."""
        beside = Path(checkpoint).parent / "record.json" if checkpoint else None
        if beside is not None and beside.is_file():
            return identify(beside.parent, Record.from_json(beside))
        same = [
            r
            for r in self._of(TRAINING)
            if r.name is not None
            and name is not None
            and r.name.pair == name.pair
            and (r.dataset, r.scene) == (dataset, scene)
        ]
        return same[0] if len(same) == 1 else None

    def _teacher_of(self, run: Run) -> Run | None:
        """A training run's teacher run (itself for a teacher)."""
        if run.name is None or run.name.is_teacher:
            return run
        checkpoint = getattr(run.record.part, "teacher_checkpoint", None)
        return self._made(checkpoint, ModelName(run.name.teacher), run.dataset, run.scene)

    def results(self) -> list[ResultRow]:
        """A results.csv row per evaluation of a grid model (ordered as :func:`pvd.report.collect.collect`)."""
        rows, seen = [], {}
        for run in self._of(("evaluate",)):
            if run.name is None or run.dataset is None or run.scene is None:
                self.notes.append(f"left out {run.folder}: an evaluation of no model of the grid")
                continue
            made = self._made(run.record.part.checkpoint, run.name, run.dataset, run.scene)
            name = run.name
            if made is not None and made.name is not None and made.name.pair == name.pair:
                name = made.name
            teacher = self._teacher_of(made) if made is not None else None
            row = result_row(
                run.dataset,
                run.scene,
                name,
                run.folder / "metrics.json",
                made.record if made is not None else None,
                teacher.record if teacher is not None else None,
            )
            key = (row.dataset, row.scene, row.model)
            if key in seen:
                raise UserError(f"{run.folder} and {seen[key]} are evaluations of the same model of the same scene")
            seen[key] = run.folder
            rows.append(row)
        return sorted(rows, key=row_order)

    def why_no_results(self) -> str:
        return (
            f"no evaluation of a teacher or student among the {self.given} run(s) given: run pvd evaluate "
            "on their checkpoints and add those workspaces"
        )

    def curves(self) -> list[CurveRow]:
        """The curve rows of every training run with a learning curve; a student's needs its teacher's
        record (else it is left out with a note)."""
        rows = []
        for run in self._of(TRAINING):
            if not run.record.curve or run.name is None or run.dataset is None or run.scene is None:
                continue
            teacher = None
            if not run.name.is_teacher:
                teacher = self._teacher_of(run)
                if teacher is None:
                    self.notes.append(
                        f"left out the curve of {run.label}: its teacher's record is neither among the runs "
                        "given nor beside its teacher_checkpoint"
                    )
                    continue
            rows += curve_rows(run.record, run.dataset, run.scene, run.name, teacher and teacher.record)
        return sorted(rows, key=lambda r: (DATASETS.index(r.dataset), r.scene, r.model, r.step))

    def why_no_curves(self) -> str:
        return (
            f"no learning curve among the {len(self._of(TRAINING))} training run(s) given: pvd train and "
            "pvd distill record one unless their curve_points is 0"
        )

    def costed(self) -> list[Record]:
        """The records of the runs the cost table counts (train, import, distill, evaluate)."""
        return [r.record for r in self.runs if r.record.kind in KIND_STAGES]
