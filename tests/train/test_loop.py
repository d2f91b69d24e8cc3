"""The training engine: an interrupted and resumed run ends where the uninterrupted one does, with
the optimiser, schedule, GradScaler, RNGs and the task's own state carried by the checkpoint."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from pvd.data.cameras import Normalization
from pvd.errors import SpecError, UserError
from pvd.model import ModelMeta, build_model, load_model, read_checkpoint, save_checkpoint
from pvd.presets import field_config
from pvd.render import RenderConfig
from pvd.train import loop
from pvd.train.loop import TrainingDiverged, TrainState, adamw, autocast_dtype


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

    def lr_factor(self, step):
        return 1.0

    def after_step(self, step):
        self.seen.append(step)
        return {"steps": float(len(self.seen))}

    def diverged(self, step, value):
        return f"toy diverged at step {step}: {value}"

    def finished(self, done, curve):
        return False

    def state_dict(self):
        return {"seen": list(self.seen)}

    def load_state_dict(self, state):
        self.seen = list(state["seen"])


def _model(arch="hash"):
    cfg = field_config(arch, "tiny")
    if arch == "tensors":
        cfg = dataclasses.replace(cfg, resolution=6, sparse_grad_rows=1)  # row-sparse gradient, row steps
    meta = ModelMeta(
        model_type=arch,
        preset="tiny",
        field_config=cfg,
        render_config=RenderConfig(max_steps=32, grid_resolution=8),
        bound=1.0,
        normalization=Normalization(1.0, 1.0),
        train_config={"lr": 1e-2, "ckpt_every": 3},
    )
    torch.manual_seed(0)
    return build_model(meta)


def _state(model, seed=5):
    opt = adamw(model.field.param_groups(1e-2), 0.01)
    state = TrainState.create(opt, torch.optim.lr_scheduler.ExponentialLR(opt, 0.9), torch.device("cpu"), seed)
    # loss scaling on, with a fast-changing scale: its state must survive the checkpoint
    state.scaler = torch.amp.GradScaler("cpu", init_scale=8.0, growth_interval=2)
    return state


def _run(tmp_path, iters, stop_at=None, resume=False, arch="hash"):
    model = _model(arch)
    state = _state(model)
    task = ToyTask(model, state.generator)
    ckpt = tmp_path / "checkpoint.pt"
    if resume:
        loop.resume(ckpt, model, state, task)
    loop.run_steps(task, model, state, iters=iters, ckpt_path=ckpt, ckpt_every=3, stop_at=stop_at, progress=False)
    return model, state, task


@pytest.mark.parametrize("arch", ["hash", "tensors"])
def test_resumed_run_equals_uninterrupted(tmp_path, arch):
    full_model, full_state, full_task = _run(tmp_path / "full", 10, arch=arch)
    _run(tmp_path / "part", 10, stop_at=5, arch=arch)
    stored = read_checkpoint(tmp_path / "part" / "checkpoint.pt")
    assert stored.meta.step == 5 and stored.train_state["engine"]["step"] == 5
    assert stored.train_state["engine"]["scaler"]["scale"] != 8.0  # the scaler's state is saved
    model, state, task = _run(tmp_path / "part", 10, resume=True, arch=arch)
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
        loop.run_steps(
            ToyTask(model, state.generator, poison_at=2),
            model,
            state,
            iters=5,
            ckpt_path=tmp_path / "c.pt",
            ckpt_every=0,
            progress=False,
        )


def test_resume_of_a_finished_checkpoint_is_a_clear_error(tmp_path):
    model = _model()
    save_checkpoint(tmp_path / "done.pt", model)
    state = _state(model)
    with pytest.raises(UserError, match="holds no training state"):
        loop.resume(tmp_path / "done.pt", model, state, ToyTask(model, state.generator))
    assert load_model(tmp_path / "done.pt").meta == model.meta


@pytest.mark.parametrize(
    "done, end, iters, every, due",
    [(3, 10, 10, 3, True), (4, 10, 10, 3, False), (5, 5, 10, 0, True), (10, 10, 10, 5, False)],
)
def test_checkpoint_due(done, end, iters, every, due):
    assert loop.checkpoint_due(done, end, iters, every) is due


def _adamw_pair(rows, cols, lr=0.1, wd=0.05):
    """The same parameter under torch's fused AdamW and under pvd's (given row-sparse gradients)."""
    torch.manual_seed(3)
    ref = torch.nn.Parameter(torch.randn(rows, cols))
    ours = torch.nn.Parameter(ref.detach().clone())
    kw = dict(betas=(0.9, 0.99), eps=1e-15, weight_decay=wd)
    return ref, torch.optim.AdamW([ref], lr=lr, fused=True, **kw), ours, adamw([{"params": [ours], "lr": lr}], wd)


def test_adamw_row_steps_equal_torch_adamw_when_every_row_is_touched():
    ref, ref_opt, ours, opt = _adamw_pair(30, 5)
    for _ in range(6):
        g = torch.randn(30, 5)
        ref.grad, ours.grad = g.clone(), g.to_sparse(1)
        ref_opt.step()
        opt.step()
        torch.testing.assert_close(ours.detach(), ref.detach(), rtol=0, atol=1e-6)
    for key in ("exp_avg", "exp_avg_sq"):
        torch.testing.assert_close(opt.state[ours][key], ref_opt.state[ref][key], rtol=1e-5, atol=1e-9)


def test_adamw_row_steps_leave_untouched_rows_and_their_moments_alone():
    ref, ref_opt, ours, opt = _adamw_pair(8, 3)
    touched = torch.tensor([1, 4, 6])
    for _ in range(4):  # the touched rows see AdamW's steps
        g = torch.randn(3, 3)
        ref.grad = torch.zeros(8, 3).index_copy_(0, touched, g)
        ours.grad = torch.sparse_coo_tensor(touched[None], g, (8, 3), check_invariants=True).coalesce()
        ref_opt.step()
        opt.step()
    before = ours.detach().clone(), opt.state[ours]["exp_avg"].clone()
    torch.testing.assert_close(ours.detach()[touched], ref.detach()[touched], rtol=0, atol=1e-6)
    ours.grad = torch.sparse_coo_tensor(torch.tensor([[2]]), torch.ones(1, 3), (8, 3), check_invariants=True).coalesce()
    opt.step()  # only row 2 moves now
    moved = (ours.detach() != before[0]).any(1)
    assert moved.tolist() == [i == 2 for i in range(8)]
    assert torch.equal(opt.state[ours]["exp_avg"][touched], before[1][touched])


def test_adamw_sums_repeated_rows_of_an_uncoalesced_gradient():
    ref, ref_opt, ours, opt = _adamw_pair(5, 2)
    g = torch.randn(3, 2)
    ref.grad = torch.zeros(5, 2).index_add_(0, torch.tensor([3, 1, 3]), g)
    ours.grad = torch.sparse_coo_tensor(torch.tensor([[3, 1, 3]]), g, (5, 2), check_invariants=True)
    before = ours.detach().clone()
    ref_opt.step()
    opt.step()
    touched = torch.tensor([1, 3])
    torch.testing.assert_close(ours.detach()[touched], ref.detach()[touched], rtol=0, atol=1e-6)
    assert torch.equal(ours.detach()[[0, 2, 4]], before[[0, 2, 4]])  # untouched rows do not decay


def test_adamw_row_steps_catch_up_on_the_steps_a_row_missed():
    """Rows touched every third step: at each touch a row lands where dense AdamW (zero gradient
    between touches: decay and momentum coasting) has it, up to the bias corrections' drift."""
    ref, ref_opt, ours, opt = _adamw_pair(6, 4, lr=0.05, wd=0.1)
    start = ref.detach().clone()
    gen = torch.Generator().manual_seed(7)
    for step in range(1, 61):
        touched = torch.tensor([r for r in range(6) if r % 3 == step % 3])
        g = torch.randn(len(touched), 4, generator=gen)
        ref.grad = torch.zeros(6, 4).index_copy_(0, touched, g)
        ours.grad = torch.sparse_coo_tensor(touched[None], g, (6, 4), check_invariants=True).coalesce()
        ref_opt.step()
        opt.step()
    moved = (ref.detach() - start)[touched].abs().max()
    error = (ours.detach() - ref.detach())[touched].abs().max()
    assert error < 0.02 * moved, (float(error), float(moved))  # plain lazy steps: 46 % off
    assert opt.state[ours]["row_step"].tolist() == [60, 58, 59, 60, 58, 59]


def test_precision_sets_the_steps_autocast_and_loss_scaling(tmp_path):
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert autocast_dtype("auto", cpu) is None and autocast_dtype("auto", cuda) == torch.float16
    assert autocast_dtype("fp32", cuda) is None and autocast_dtype("bf16", cpu) == torch.bfloat16
    with pytest.raises(SpecError, match="^precision 'fp8' is unknown"):
        autocast_dtype("fp8", cpu)
    model = _model()
    opt = adamw(model.field.param_groups(1e-2), 0.01)
    state = TrainState.create(opt, torch.optim.lr_scheduler.ExponentialLR(opt, 0.9), cpu, 5, "bf16")
    assert state.autocast == torch.bfloat16 and not state.scaler.is_enabled()  # bfloat16: no loss scaling
    seen = []

    class Probing(ToyTask):
        def loss(self, step, log):
            h = self.model.field.sigma_net(torch.rand(4, self.model.field.sigma_net.layers[0].in_features))
            seen.append((torch.is_autocast_enabled("cpu"), h.dtype))
            return super().loss(step, log)

    loop.run_steps(
        Probing(model, state.generator),
        model,
        state,
        iters=2,
        ckpt_path=tmp_path / "c.pt",
        ckpt_every=0,
        progress=False,
    )
    assert seen == [(True, torch.bfloat16)] * 2
    assert all(p.dtype == torch.float32 for p in model.field.parameters())


def test_optimizer_step_scales_the_rates_for_one_step_only():
    w = torch.nn.Parameter(torch.ones(3))
    opt = torch.optim.SGD([w], lr=0.1)
    state = TrainState.create(opt, torch.optim.lr_scheduler.ExponentialLR(opt, 0.5), torch.device("cpu"), 0, "fp32")
    state.optimizer_step((w * torch.tensor([1.0, 2.0, 3.0])).sum(), lr_factor=0.25)
    torch.testing.assert_close(w.detach(), 1 - 0.25 * 0.1 * torch.tensor([1.0, 2.0, 3.0]))
    assert opt.param_groups[0]["lr"] == pytest.approx(0.05)  # the schedule's own step, unscaled
    state.optimizer_step(w.sum())
    torch.testing.assert_close(w.detach(), 1 - 0.025 * torch.tensor([1.0, 2.0, 3.0]) - 0.05)


class FrozenToyTask(ToyTask):
    """The toy task with a zero learning-rate factor: the engine must pass it to every step."""

    def lr_factor(self, step):
        return 0.0


def test_run_steps_applies_the_tasks_rate_factor(tmp_path):
    model = _model()
    before = {k: v.clone() for k, v in model.field.state_dict().items()}
    state = _state(model)
    task = FrozenToyTask(model, state.generator)
    loop.run_steps(task, model, state, iters=4, ckpt_path=tmp_path / "c.pt", ckpt_every=0, progress=False)
    for name, value in model.field.state_dict().items():
        torch.testing.assert_close(value, before[name], rtol=0, atol=0, msg=name)
    assert state.step == 4
