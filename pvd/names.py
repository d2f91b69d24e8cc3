"""The name of a model: ``{teacher}``, ``{teacher}2{student}`` or ``{teacher}2{student}@{variant}``.

One spelling everywhere (workflow folders, reports, workspaces): a teacher is its architecture key
(``hash``); a student is the pair of its teacher's and its own architecture (``hash2vm``); an
ablation variant of a pair adds ``@`` and the variant's name (``hash2vm@l1``). A teacher may also
be an edit (``edited``: a ``pvd edit`` checkpoint), so its students are ``edited2vm``. Architecture
keys hold no ``2`` or ``@``, so a name parses one way only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pvd.errors import UserError
from pvd.fields import ARCHS, MODEL_TYPES

VARIANT = re.compile(r"[A-Za-z0-9_-]+")
FORMS = "'{teacher}', '{teacher}2{student}' or '{teacher}2{student}@{variant}'"


@dataclass(frozen=True)
class ModelName:
    """A parsed model name.

    Attributes:
        teacher: the teacher's model type (one of :data:`pvd.fields.MODEL_TYPES`); for a teacher
            model, its own architecture.
        student: the student's architecture (one of :data:`pvd.fields.ARCHS`), ``""`` for a teacher.
        variant: the ablation variant of a pair (letters, digits, ``_``, ``-``), ``""`` for none.
    """

    teacher: str
    student: str = ""
    variant: str = ""

    def __post_init__(self) -> None:
        if self.teacher not in MODEL_TYPES:
            raise UserError(f"model name {self._text()!r}: teacher {self.teacher!r} is not one of {MODEL_TYPES}")
        if self.student and self.student not in ARCHS:
            raise UserError(f"model name {self._text()!r}: student {self.student!r} is not one of {ARCHS}")
        if self.variant and (not self.student or not VARIANT.fullmatch(self.variant)):
            raise UserError(
                f"model name {self._text()!r}: a variant names an ablation of a pair with letters, digits, "
                "'_' and '-' only"
            )

    @staticmethod
    def parse(text: str) -> ModelName:
        """``"vm"``, ``"hash2vm"``, ``"hash2vm@l1"`` -> the name; anything else is a :class:`UserError`."""
        model, at, variant = str(text).partition("@")
        parts = model.split("2")
        if len(parts) > 2 or not all(parts) or (at and (len(parts) != 2 or not variant)):
            raise UserError(f"model name {text!r} is not {FORMS} (architectures: {', '.join(MODEL_TYPES)})")
        return ModelName(parts[0], parts[1] if len(parts) == 2 else "", variant)

    @staticmethod
    def of(model_type: str, teacher_type: str | None = None) -> ModelName:
        """The name of a model of ``model_type``: a student of ``teacher_type`` when one is given."""
        return ModelName(teacher_type, model_type) if teacher_type else ModelName(model_type)

    @property
    def is_teacher(self) -> bool:
        return not self.student

    @property
    def arch(self) -> str:
        """The model's own architecture: the student's, or the teacher's for a teacher."""
        return self.student or self.teacher

    @property
    def pair(self) -> ModelName:
        """The same name without its variant (a pair's main cell)."""
        return ModelName(self.teacher, self.student)

    def with_variant(self, variant: str) -> ModelName:
        return ModelName(self.teacher, self.student, variant)

    def _text(self) -> str:
        name = f"{self.teacher}2{self.student}" if self.student else self.teacher
        return f"{name}@{self.variant}" if self.variant else name

    def __str__(self) -> str:
        return self._text()
