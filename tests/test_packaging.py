"""The distribution ships every package folder on disk, under the variet namespace only."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).parents[1]
NOT_SHIPPED = {"tests", "benchmarks", "build", "scripts", "vscode"}
SOURCE_FOLDERS = tuple(sorted(
    folder.name for folder in ROOT.iterdir()
    if (folder / "__init__.py").is_file() and folder.name not in NOT_SHIPPED and not folder.name.startswith(".")
))


def test_the_wheel_ships_every_package_folder_under_variet(tmp_path: Path) -> None:
    # Leftovers of an earlier build would hide a folder missing from the configuration.
    shutil.rmtree(ROOT / "build" / "lib", ignore_errors=True)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
         "-w", str(tmp_path), str(ROOT)],
        check=True, capture_output=True, text=True,
    )
    (wheel,) = tmp_path.glob("variet-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    shipped = {str(Path(name).parent) for name in names if name.endswith("__init__.py")}
    on_disk = {
        str(Path("variet") / init.parent.relative_to(ROOT))
        for folder in SOURCE_FOLDERS
        for init in (ROOT / folder).rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    assert on_disk <= shipped, f"missing from the wheel: {sorted(on_disk - shipped)}"
    assert all(name.startswith(("variet/", "variet-")) for name in names)
    assert "variet/config/tiers.toml" in names
    assert "variet/router/data/tier-model.npz" in names
    assert "BuildBackendWarning" not in built.stderr, "setuptools warns about the package configuration:\n" + (
        built.stderr[-2000:])
    for page in ("index.html", "dashboard.css", "dashboard.js", "icon.svg"):  # the engine's dashboard, at /ui
        assert f"variet/engine/http/ui/{page}" in names
