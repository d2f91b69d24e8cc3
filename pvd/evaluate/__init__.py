"""Evaluation of trained models: split metrics (``pvd evaluate``) and camera-path videos (``pvd render``).

:func:`evaluate_model` is the single implementation of the evaluation protocol (docs/method.md);
``pvd train`` and ``pvd distill`` call it for the test PSNR in their records.
"""

from pvd.evaluate.evaluate import EvalResult, ImageScore, evaluate_model, ground_truth_rgb

__all__ = ["EvalResult", "ImageScore", "evaluate_model", "ground_truth_rgb"]
