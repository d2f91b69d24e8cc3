"""pvd: Progressive Volume Distillation between radiance-field architectures."""

__version__ = "0.1.0"
