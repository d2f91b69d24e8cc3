"""pvd: Progressive Volume Distillation between radiance-field architectures."""

import os as _os

# OpenMP threads that spin while idle make every torch op wait for a core on a shared CPU (steps
# measured 10-25x slower on a 2-core machine running two jobs); let idle threads sleep instead.
# Must happen before torch is first imported; an explicit setting in the environment wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
