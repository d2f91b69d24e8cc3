"""Names shared by the field tests."""

KEYS = ("hash", "vm", "mlp", "tensors")
PRESET_NAMES = ("tiny", "paper")
NARROW_RANGE = (-0.05, 0.05)
"""A density range so narrow that the clamp is active on random initial fields."""
