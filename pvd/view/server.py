"""The web viewer: checkpoints rendered live in a browser, through viser.

:class:`Viewer` serves a page on ``http://HOST:PORT``; each browser that opens it gets its own render
thread. While its camera moves, frames are rendered with ``preview_size`` pixels on the longer side;
once it has been still for ``SETTLE_SECONDS`` the same view is rendered again at ``max_size``. The page's
panel switches the checkpoint shown and the render mode (:data:`pvd.view.frames.RENDER_MODES`), and says
what the frame is (checkpoint, size, seconds). The scene's training and test cameras are drawn as frusta
(training blue, test orange) in the scene's world frame, with the world's up as the viewer's up; the
viewer starts behind the first training camera, looking at the scene's centre.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass

import numpy as np
import torch

from pvd.data.cameras import Cameras
from pvd.data.poses import axes_center, world_up
from pvd.errors import SpecError
from pvd.model import Model
from pvd.view.frames import RENDER_MODES, frame_size, opencv_camera, opencv_rotation, render_frame

SETTLE_SECONDS = 0.3
START_BACK = 1.15
"""The page opens this many times farther from the scene centre than the first training camera."""
FRUSTUM_COLOURS = {"train": (40, 90, 220), "test": (240, 140, 20)}


@dataclass
class Shown:
    """One checkpoint the viewer can show: its label in the panel and its model."""

    label: str
    model: Model


def check_port(host: str, port: int) -> None:
    """A :class:`SpecError` naming ``port`` when ``host:port`` cannot be bound (another program has it)."""
    if not 0 < port < 65536:
        raise SpecError("port", f"must be in 1..65535, got {port}")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError as exc:
            raise SpecError(
                "port", f"{port}: {host}:{port} is busy or not available ({exc.strerror}); choose another `port`"
            ) from None


def _fov(cams: Cameras) -> float:
    """Vertical field of view (radians) of the first camera."""
    return 2 * float(torch.atan(cams.height / 2 / cams.fy[0]))


class Viewer:
    """A running viewer (see the module doc); :meth:`close` stops it."""

    def __init__(
        self,
        shown: list[Shown],
        cameras: dict[str, Cameras],
        device: torch.device,
        host: str = "127.0.0.1",
        port: int = 8080,
        preview_size: int = 64,
        max_size: int = 256,
    ):
        import viser

        check_port(host, port)
        self.shown = {s.label: s for s in shown}
        self.device = device
        self.preview_size, self.max_size = preview_size, max_size
        self.closing = threading.Event()
        self.threads: list[threading.Thread] = []
        self.server = viser.ViserServer(host=host, port=port, verbose=False)
        if self.server.get_port() != port:  # another program took the port since the check
            self.server.stop()
            raise SpecError("port", f"{port}: {host}:{port} is busy; choose another `port`")
        self.url = f"http://{host}:{port}"
        gui = self.server.gui
        self.ckpt = gui.add_dropdown("checkpoint", tuple(self.shown), initial_value=shown[0].label)
        self.mode = gui.add_dropdown("render", tuple(RENDER_MODES), initial_value="rgb")
        self.status = gui.add_markdown("")
        self.waiting: list[threading.Event] = []  # one per browser: set when its frame must change
        self.ckpt.on_update(lambda _: self._changed())
        self.mode.on_update(lambda _: self._changed())
        self._show_cameras(cameras)
        self.server.on_client_connect(self._connect)

    def _show_cameras(self, cameras: dict[str, Cameras]) -> None:
        from viser.transforms import SO3

        every = [c for c in cameras.values() if len(c)]
        if not every:
            return
        c2w = torch.cat([c.c2w for c in every]).float()
        up = world_up(c2w)
        self.server.scene.set_up_direction(tuple(float(v) for v in up))
        centre = axes_center(c2w) if len(c2w) > 1 else torch.zeros(3)
        radius = float((c2w[:, :3, 3] - centre).norm(dim=-1).mean())
        first = every[0]
        start = self.server.initial_camera
        behind = centre + START_BACK * (first.c2w[0, :3, 3] - centre)  # its own frustum in sight
        start.position = tuple(float(v) for v in behind)
        start.look_at = tuple(float(v) for v in centre)
        start.up = tuple(float(v) for v in up)
        start.fov = _fov(first)
        for split, cams in cameras.items():
            aspect = cams.width / cams.height
            for i in range(len(cams)):
                self.server.scene.add_camera_frustum(
                    f"/cameras/{split}/{i:04d}",
                    fov=_fov(cams[i]),
                    aspect=aspect,
                    scale=0.06 * radius,
                    thickness=0.004 * radius,
                    color=FRUSTUM_COLOURS.get(split, (90, 90, 90)),
                    wxyz=SO3.from_matrix(opencv_rotation(cams.c2w[i])).wxyz,
                    position=cams.c2w[i, :3, 3].numpy(),
                )

    def _changed(self) -> None:
        for event in self.waiting:
            event.set()

    def _connect(self, client) -> None:
        changed = threading.Event()
        changed.set()
        self.waiting.append(changed)
        client.camera.on_update(lambda _: changed.set())
        thread = threading.Thread(target=self._serve, args=(client, changed), daemon=True)
        self.threads.append(thread)
        thread.start()

    def _render(self, client, size: int) -> None:
        cam = client.camera
        shown = self.shown[self.ckpt.value]
        from viser.transforms import SO3

        width, height = frame_size(float(cam.aspect), size)
        camera = opencv_camera(SO3(np.asarray(cam.wxyz)).as_matrix(), np.asarray(cam.position), cam.fov, width, height)
        t0 = time.perf_counter()
        image = render_frame(shown.model, camera, self.mode.value, self.device)
        seconds = time.perf_counter() - t0
        client.scene.set_background_image(image, format="jpeg", jpeg_quality=90)
        self.status.content = f"**{shown.label}** · {self.mode.value} · {width}x{height} in {seconds:.2f} s"

    def _serve(self, client, changed: threading.Event) -> None:
        """A client's render loop: a preview at every change, the full size once the camera settles."""
        refined = True
        while not self.closing.is_set():
            if changed.wait(timeout=SETTLE_SECONDS):
                changed.clear()
                refined, size = False, self.preview_size
            elif not refined:
                refined, size = True, self.max_size
            else:
                continue
            try:
                self._render(client, size)
            except Exception as exc:  # e.g. the browser went away while its frame was rendered
                if not self.closing.is_set():
                    print(f"pvd view: stopped rendering for a browser: {type(exc).__name__}: {exc}", flush=True)
                return

    def close(self) -> None:
        """Stop the render threads and the server."""
        self.closing.set()
        for thread in self.threads:
            thread.join(timeout=5)
        self.server.stop()
