"""Copy the front-end packages from node_modules into static/vendor, where the app serves them.

Run by the Makefile after `npm ci`. The icon sprite holds only the Fluent UI icons the
templates use, found by scanning them for {% icon "name" %}.
"""

import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODULES = ROOT / "node_modules"
VENDOR = ROOT / "static" / "vendor"
ICONS = MODULES / "@fluentui" / "svg-icons" / "icons"
# {% icon "name" %} in templates, icon="name" in Python (navigation, page definitions) and includes.
ICON_USE = re.compile(r"""(?:\{%\s*icon\s+|\bicon\s*=\s*)["']([a-z0-9_]+)["']""")
SKIP = {".venv", "node_modules", "static", "staticfiles", "var"}


def used_icons() -> set[str]:
    names: set[str] = set()
    for pattern in ("**/*.html", "**/*.py"):
        for path in ROOT.glob(pattern):
            if not SKIP.intersection(path.relative_to(ROOT).parts):
                names.update(ICON_USE.findall(path.read_text()))
    return names


def build_sprite(names: set[str]) -> str:
    symbols = []
    for name in sorted(names):
        path = ICONS / f"{name}_20_regular.svg"
        if not path.exists():
            continue
        svg = path.read_text()
        inner = svg[svg.index(">") + 1 : svg.rindex("</svg>")]
        symbols.append(f'<symbol id="{name}" viewBox="0 0 20 20">{inner}</symbol>')
    return '<svg xmlns="http://www.w3.org/2000/svg">' + "".join(symbols) + "</svg>\n"


def main() -> int:
    if not MODULES.exists():
        print("node_modules is missing: run `npm ci` first", file=sys.stderr)
        return 1
    VENDOR.mkdir(parents=True, exist_ok=True)
    shutil.copy(MODULES / "htmx.org" / "dist" / "htmx.min.js", VENDOR / "htmx.min.js")
    shutil.copy(MODULES / "chart.js" / "dist" / "chart.umd.min.js", VENDOR / "chart.umd.min.js")
    # The file names its source map: production's collectstatic (manifest storage) fails without it.
    shutil.copy(MODULES / "chart.js" / "dist" / "chart.umd.min.js.map", VENDOR / "chart.umd.min.js.map")
    names = used_icons()
    (VENDOR / "icons.svg").write_text(build_sprite(names))
    print(f"static/vendor: htmx, chart.js, {len(names)} icons")
    return 0


if __name__ == "__main__":
    sys.exit(main())
