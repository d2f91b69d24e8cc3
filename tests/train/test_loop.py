"""The training engine: an interrupted and resumed run ends where the uninterrupted one does, with
the optimiser, schedule, GradScaler, RNGs and the task's own state carried by the checkpoint."""

from __future__ import annotations

import pytest
import torch

from pvd.data.cameras import Normalization
from pvd.errors import UserError
from pvd.model import ModelMeta, build_model, load_model, read_checkpoint, save_checkpoint
from pvd.presets import field_config
from pvd.render import RenderConfig
from pvd.train import loop
from pvd.train.loop import TrainingDiverged, TrainState, adamw


class ToyTask:
    """Fit the field's density at random points to a target drawn from the run's generator."""

    label = "toy"

    def __init__(self, model, generator, poison_at=None):
        self.model, self.gen, self.poison_at = model, generator, poison_at
        self.seen: list[float] = []

    def loss(self, step, log):
        x = torch.rand(64, 3, generator=self.gen) * 2 - 1
        target = torch.rand(64, generator=self.gen) + torch.rand(1).item()  # global RNG too
        loss = (self.model.field.density(x) - target).square().mean()
        return loss * float("nan") if step == self.poison_at else loss

    def after_step(self, step):
        self.seen.append(step)
        return {"steps": float(len(self.seen))}

    def diverged(self, step, value):
        return f"toy diverged at step {step}: {value}"

    def state_dict(self):
        return {"seen": list(self.seen)}

    def load_state_dict(self, state):
        self.seen = list(state["seen"])


def _model():
    meta = ModelMeta(model_type="hash", preset="tiny", field_config=field_config("hash", "tiny"),
                     render_config=RenderConfig(max_steps=32, grid_resolution=8), bound=1.0,
                     normalization=Normalization(1.0, 1.0), train_config={"lr": 1e-2, "ckpt_every": 3})
    torch.manual_seed(0)
    return build_model(meta)


def _state(model, seed=5):
    opt = adamw(model.field.param_groups(1e-2), 0.01)
    state = TrainState.create(opt, torch.optim.lr_scheduler.ExponentialLR(opt, 0.9), torch.device("cpu"), seed)
    # loss scaling on, with a fast-changing scale: its state must survive the checkpoint
    state.scaler = torch.amp.GradScaler("cpu", init_scale=8.0, growth_interval=2)
    return state


def _run(tmp_path, iters, stop_at=None, resume=False):
    model = _model()
    state = _state(model)
    task = ToyTask(model, state.generator)
    ckpt = tmp_path / "checkpoint.pt"
    if resume:
        loop.resume(ckpt, model, state, task)
    loop.run_steps(task, model, state, iters=iters, ckpt_path=ckpt, ckpt_every=3, stop_at=stop_at, progress=False)
    return model, state, task


def test_resumed_run_equals_uninterrupted(tmp_path):
    full_model, full_state, full_task = _run(tmp_path / "full", 10)
    _run(tmp_path / "part", 10, stop_at=5)
    stored = read_checkpoint(tmp_path / "part" / "checkpoint.pt")
    assert stored.meta.step == 5 and stored.train_state["engine"]["step"] == 5
    assert stored.train_state["engine"]["scaler"]["scale"] != 8.0          # the scaler's state is saved
    model, state, task = _run(tmp_path / "part", 10, resume=True)
    for (name, a), (_, b) in zip(full_model.field.state_dict().items(), model.field.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)
    assert state.scaler.get_scale() == full_state.scaler.get_scale()
    assert state.scheduler.get_last_lr() == full_state.scheduler.get_last_lr()
    assert task.seen == full_task.seen == list(range(10))
    assert state.step == 10 and model.meta.step == 10
    assert state.seconds > 0 and state.cpu_seconds > 0


def test_non_finite_loss_stops_with_the_tasks_message(tmp_path):
    model = _model()
    state = _state(model)
    with pytest.raises(TrainingDiverged, match="toy diverged at step 2"):
        loop.run_steps(ToyTask(model, state.generator, poison_at=2), model, state, iters=5,
                       ckpt_path=tmp_path / "c.pt", ckpt_every=0, progress=False)


def test_resume_of_a_finished_checkpoint_is_a_clear_error(tmp_path):
    model = _model()
    save_checkpoint(tmp_path / "done.pt", model)
    state = _state(model)
    with pytest.raises(UserError, match="holds no training state"):
        loop.resume(tmp_path / "done.pt", model, state, ToyTask(model, state.generator))
    assert load_model(tmp_path / "done.pt").meta == model.meta


@pytest.mark.parametrize("done, end, iters, every, due", [
    (3, 10, 10, 3, True), (4, 10, 10, 3, False), (5, 5, 10, 0, True), (10, 10, 10, 5, False)])
def test_checkpoint_due(done, end, iters, every, due):
    assert loop.checkpoint_due(done, end, iters, every) is due
