#!/usr/bin/env bash
# Open a Snakemake HTML report (snakemake --report ...) in headless Chromium, show its first PSNR
# heatmap through the report's own viewer, save a screenshot and check that the heatmap is on it.
# With a third argument, show the first result whose name ends in it instead (e.g.
# _time_to_quality.png, _qualitative.png, ablation.html) and check that it covers the screenshot.
#
#   scripts/check_report_html.sh reports/demo/report.html reports/demo/report_screenshot.png
#   scripts/check_report_html.sh reports/demo/report.html shot_ttq.png _time_to_quality.png
#
# The report is left untouched: a copy gets a small script that, once the page has loaded, opens
# the figure whose name ends in _heatmap.png (as a click on it would). The check counts screenshot
# pixels in the heatmap's colour map (viridis): the report's own interface has none of them.
# Needs Debian's `chromium` (apt-get install chromium) and python3 with numpy and imageio.
set -euo pipefail

if [ $# -ne 2 ] && [ $# -ne 3 ]; then
    echo "usage: $0 REPORT.html SCREENSHOT.png [RESULT_NAME_SUFFIX]" >&2
    exit 2
fi
report=$(realpath "$1")
shot=$(realpath -m "$2")
suffix=${3:-_heatmap.png}
browser=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
if [ -z "$browser" ]; then
    echo "$0: chromium not found (apt-get install chromium, or set CHROMIUM)" >&2
    exit 2
fi
[ -f "$report" ] || { echo "$0: $report does not exist" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$report" "$work/report.html" "$suffix" <<'PY'
import json
import sys
source, target, suffix = sys.argv[1:4]
page = open(source, encoding="utf-8").read()
content = "html" if suffix.endswith(".html") else "img"
opener = """<script>
window.addEventListener("load", function () {
  var suffix = %s;
  var key = Object.keys(results).find(function (k) { return k.endsWith(suffix); });
  var tries = 0;
  (function open() {
    if (typeof app === "undefined" || !app) { if (tries++ < 200) { setTimeout(open, 50); } return; }
    app.setView({content: "%s", contentPath: results[key].data_uri, resultPath: key});
  })();
});
</script>""" % (json.dumps(suffix), content)
if "</body>" not in page or suffix not in page:
    sys.exit(f"{source}: not a Snakemake report with a *{suffix} result")
head, body_end, tail = page.rpartition("</body>")   # the last one: scripts inside hold the string too
open(target, "w", encoding="utf-8").write(head + opener + body_end + tail)
PY

mkdir -p "$(dirname "$shot")"
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1400,900 \
    --user-data-dir="$work/profile" --virtual-time-budget=15000 --screenshot="$shot" \
    "file://$work/report.html" > "$work/chromium.log" 2>&1 || { cat "$work/chromium.log" >&2; exit 1; }
if [ "$suffix" != "_heatmap.png" ]; then   # the page as it opens, to compare the shown result against
    "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1400,900 \
        --user-data-dir="$work/profile" --virtual-time-budget=15000 --screenshot="$work/start.png" \
        "file://$report" > "$work/chromium.log" 2>&1 || { cat "$work/chromium.log" >&2; exit 1; }
fi

python3 - "$shot" "$suffix" "$work/start.png" <<'PY'
import sys
import imageio.v3 as iio
import numpy as np
from matplotlib import colormaps

shot = iio.imread(sys.argv[1])[..., :3].astype(np.int16)
if sys.argv[2] != "_heatmap.png":   # another result: the page must change where it is shown
    start = iio.imread(sys.argv[3])[..., :3].astype(np.int16)
    changed = float((np.abs(shot - start).max(axis=-1) > 24).mean())
    print(f"{sys.argv[1]}: {100 * changed:.1f} % of the screenshot changed by showing *{sys.argv[2]}")
    sys.exit(0 if changed >= 0.1 else f"*{sys.argv[2]} not shown in {sys.argv[1]} (need >= 10 % changed)")
palette = (np.array([colormaps["viridis"](i / 63)[:3] for i in range(64)]) * 255).astype(np.int16)
pixels = shot.reshape(-1, 3)[::7]
near = (np.abs(pixels[:, None, :] - palette[None]).max(axis=-1) <= 6).any(axis=1)
share = float(near.mean())
print(f"{sys.argv[1]}: {100 * share:.1f} % of the screenshot in the heatmap's colours")
sys.exit(0 if share >= 0.05 else f"heatmap not visible in {sys.argv[1]} (need >= 5 %)")
PY
