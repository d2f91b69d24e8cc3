"""Volume rendering: occupancy grid, ray marching, compositing and the renderer (box coordinates)."""

from pvd.render.compositing import RenderOutput
from pvd.render.marching import Samples
from pvd.render.occupancy import OccupancyGrid
from pvd.render.renderer import RenderConfig, Renderer, evaluate_field

__all__ = ["OccupancyGrid", "RenderConfig", "RenderOutput", "Renderer", "Samples", "evaluate_field"]
