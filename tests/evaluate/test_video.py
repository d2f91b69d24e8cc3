import imageio.v2 as iio2
import imageio.v3 as iio3
import numpy as np
import pytest

from pvd.errors import SpecError, UserError
from pvd.evaluate.video import choose_format, ffmpeg_available, write_video


def _frames(n=6, h=21, w=30):
    return [np.full((h, w, 3), 40 * i, np.uint8) for i in range(n)]


@pytest.mark.skipif(not ffmpeg_available(), reason="imageio-ffmpeg's binary is absent")
def test_mp4_roundtrip_with_odd_size_padded(tmp_path):
    out = tmp_path / "v" / "video.mp4"
    assert write_video(out, iter(_frames()), fps=12) == 6
    reader = iio2.get_reader(out, format="FFMPEG")
    assert reader.count_frames() == 6 and reader.get_meta_data()["fps"] == pytest.approx(12)
    frame = reader.get_data(3)
    assert frame.shape == (22, 30, 3)  # 21 rows padded to even
    assert abs(float(frame.mean()) - 120) < 3
    assert [p.name for p in out.parent.iterdir()] == ["video.mp4"]  # no temporary left behind
    assert choose_format(None) == "mp4"


def test_gif_roundtrip(tmp_path):
    out = tmp_path / "video.gif"
    assert write_video(out, _frames(), fps=10) == 6
    frames = iio3.imread(out, index=None)
    assert frames.shape[:3] == (6, 21, 30)
    assert abs(float(frames[5][..., :3].mean()) - 200) < 3
    assert choose_format("gif") == "gif"


def test_errors_leave_no_file(tmp_path):
    with pytest.raises(UserError, match="no frames"):
        write_video(tmp_path / "empty.gif", [], fps=10)
    with pytest.raises(UserError, match=".mp4 or .gif"):
        write_video(tmp_path / "video.avi", _frames(), fps=10)
    with pytest.raises(SpecError, match="^fps must be > 0, got 0"):
        write_video(tmp_path / "video.gif", _frames(), fps=0)
    with pytest.raises(SpecError, match="^format 'webm': expected one of"):
        choose_format("webm")
    assert list(tmp_path.iterdir()) == []
