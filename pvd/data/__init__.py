"""Datasets: cameras and rays, one parser per format, the demo scene and downloads.

Public entry points: :func:`load_split`, :func:`index_split`, :func:`scene_normalization`,
:data:`DATA_TYPES`; conventions are stated in :mod:`pvd.data.cameras`.
"""

from pvd.data.cameras import Cameras, Normalization, Rays, image_rays, pixel_rays, sample_pixels
from pvd.data.index import SplitIndex
from pvd.data.loader import DATA_TYPES, FORMATS, SPLITS, index_split, load_split, scene_normalization
from pvd.data.scene import DataError, SceneSplit

__all__ = [
    "Cameras",
    "Normalization",
    "Rays",
    "image_rays",
    "pixel_rays",
    "sample_pixels",
    "SplitIndex",
    "DATA_TYPES",
    "FORMATS",
    "SPLITS",
    "index_split",
    "load_split",
    "scene_normalization",
    "DataError",
    "SceneSplit",
]
