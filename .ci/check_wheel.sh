#!/usr/bin/env bash
# The release as PyPI would get it: sdist + wheel (the wheel built from the sdist), `twine check`,
# then the wheel installed into a fresh virtual environment and run from outside the checkout, so a
# module or package-data file (card template, label lists, demo masks, metric card) that the
# distribution lacks fails here. Run from the repo root with the dev environment active.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python -m build --outdir "$work/dist" . >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
python -m twine check --strict "$work"/dist/*
wheel=$(ls "$work"/dist/*.whl)
sdist=$(ls "$work"/dist/*.tar.gz)

# The wheel holds exactly the declared package files: the tracked modules of the packages pyproject
# declares and the package data it names; no untracked or stray file, and nothing declared missing.
python - "$wheel" <<'PY'
import sys
from pathlib import Path
from imagenet_e.publish.wheel import check_wheel_files, declared_package_files
declared = declared_package_files(Path.cwd())
check_wheel_files(Path(sys.argv[1]), declared)
print(f"wheel holds exactly the {len(declared)} declared package files")
PY

# A fresh venv: heavy dependencies are lent from the running environment through a .pth line (its
# own .pth files, the editable install's hook among them, are not read), the project itself comes
# only from the wheel.
python -m venv --without-pip "$work/venv"
venv_site=$("$work/venv/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])" >"$venv_site/lent_dependencies.pth"
python -m pip --python "$work/venv/bin/python" install -q --no-deps --no-index --ignore-installed "$wheel"

cd "$work"
export PYTHONPATH= HF_MODULES_CACHE="$work/modules"
"$work/venv/bin/imagenet-e" --help >/dev/null
"$work/venv/bin/imagenet-e" --version
"$work/venv/bin/imagenet-e" subsets >/dev/null
"$work/venv/bin/python" - "$wheel" <<'PY'
import os, sys, tempfile
from importlib import metadata, resources
from pathlib import Path

import imagenet_e, imagenet_e_dataset, imagenet_e_metric
venv = Path(sys.prefix)
for module in (imagenet_e, imagenet_e_dataset, imagenet_e_metric):
    assert Path(module.__file__).is_relative_to(venv), f"{module.__name__} imported from {module.__file__}, not the wheel"
assert metadata.version("imagenet-e") == imagenet_e.__version__, "pyproject and imagenet_e.__version__ disagree"
assert f"imagenet_e-{imagenet_e.__version__}-" in Path(sys.argv[1]).name

from imagenet_e_dataset import card, labels
assert len(labels.class_names()) == 1000 and len(labels.val_labels()) == 50000
assert "${usage}" in card.template_path().read_text()
assert all(resources.files("imagenet_e.demo").joinpath(f"assets/{name}_mask.png").is_file()
           for name in ("chelsea", "coffee", "grace_hopper"))

import evaluate
rows = dict(predictions=[1, 2, 3, 1, 0, 3], references=[1, 2, 3, 1, 2, 3],
            subsets=["original"] * 3 + ["rp"] * 3, source_ids=["a", "b", "c"] * 2)
direct = imagenet_e_metric.compute_imagenet_e(**rows, n_bootstrap=50)
loaded = evaluate.load(str(Path(imagenet_e_metric.__file__).parent)).compute(**rows, n_bootstrap=50)
assert loaded == direct and abs(direct["accuracy_drop"]["position_random"] - 1 / 3) < 1e-12

# The metric Space is generated from the installed package data alone.
from imagenet_e.publish.metric_space import build_metric_space
space = build_metric_space(Path(tempfile.mkdtemp()) / "imagenet_e_metric")
assert evaluate.load(str(space)).compute(**rows, n_bootstrap=50) == direct
print("installed wheel: CLI, package data, metric and metric Space OK")
PY

count=$(python -c "import sys, zipfile; print(len(zipfile.ZipFile(sys.argv[1]).namelist()))" "$wheel")
echo "wheel $(basename "$wheel"): $(stat -c %s "$wheel") bytes, $count files; sdist $(basename "$sdist"): $(stat -c %s "$sdist") bytes"
echo "check_wheel: OK in $(( $(date +%s) - started )) s"
