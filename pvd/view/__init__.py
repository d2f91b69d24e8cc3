"""The web viewer of checkpoints (``pvd view``): :mod:`pvd.view.frames` renders what a browser's camera
sees (RGB, depth, opacity), :mod:`pvd.view.server` serves it through viser."""
