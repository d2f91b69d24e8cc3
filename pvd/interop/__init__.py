"""The reference implementation's checkpoint files in and out (docs/method.md).

    ref = read_reference("hash_ep0300.pth", "hash")      # loads, checks the architecture and box
    model = import_reference(ref, meta)                   # meta: paper config, scene, NGP frame
    state, extras = export_reference(model)               # back to the reference's layout

:mod:`pvd.interop.reference` (file format and entry checks), :mod:`pvd.interop.convert` (parameter,
grid and frame conversion), :mod:`pvd.interop.morton` (the Morton-ordered occupancy grid).
"""

from pvd.interop.convert import export_reference, import_reference, unused_entries
from pvd.interop.reference import (
    ReferenceFile,
    ReferenceFormatError,
    ReferenceMismatch,
    read_reference,
    write_reference,
)

__all__ = [
    "ReferenceFile",
    "ReferenceFormatError",
    "ReferenceMismatch",
    "export_reference",
    "import_reference",
    "read_reference",
    "unused_entries",
    "write_reference",
]
