"""The dataset describes itself once (``imagenet_e.json``), and what users read is rendered from that.

The dataset here has its own four classes, a size sweep whose levels mix declared and swept ones, and
the example plug-in attribute ``blur``. It is written in a subprocess that loads the plug-in, and read
back in a subprocess where the plug-in is not importable, as on a user's machine without it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
PLUGIN = REPO / "examples" / "plugins" / "background_blur.py"
CLASSES = ["red fox", "tabby cat", "barn owl", "green frog"]
# Given out of severity order on purpose: the description must put them mildest first.
CONFIGS = ("size_0.02", "blur_4", "original", "size_0.3", "size_0.1", "blur_2")

WRITE = """
import io, sys
from pathlib import Path
from PIL import Image
from generation.attributes import load_plugin
load_plugin({plugin!r})
from imagenet_e_dataset.hub_layout import HubLayoutWriter
from imagenet_e_dataset.label_space import LabelSpace

def png(seed):
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (seed * 37 % 256, seed * 11 % 256, 90)).save(buffer, "PNG")
    return buffer.getvalue()

space = LabelSpace.from_names({classes!r}, name="pets-and-friends")
with HubLayoutWriter(Path(sys.argv[1]), label_space=space) as writer:
    for k, config in enumerate({configs!r}):
        for i in range(3):
            writer.add(config, {{"source_id": f"photo-{{i}}", "label": i % 4, "image": png(k * 10 + i), "seed": i}})
    writer.finalize({{"repo_id": "pets/pets-e", "imagenet_terms": False, "origin": "generate",
                      "protocol": "corrected", "backend": "cpu", "mask_source": "u2netp"}})
"""

RENDER = """
import json, sys
from imagenet_e_dataset import registry
from imagenet_e_dataset.card import intro_text, label_text, subset_table
from imagenet_e_dataset.description_io import read_description
from imagenet_e_dataset.eval_yaml import eval_yaml_text
from imagenet_e.eval.config_layout import column_headers, config_views, layout_record

assert "blur" not in {a.name for a in registry.attributes()}, "the plug-in must not be loaded here"
d = read_description(sys.argv[1])
print(json.dumps({"names": list(d.config_names), "eval": eval_yaml_text(d), "table": subset_table(d),
                  "intro": intro_text(d), "label": label_text(d),
                  "headers": list(column_headers(config_views({"dataset": {
                      "configs": list(d.config_names)[::-1],
                      "layout": layout_record(sys.argv[1], None, d.config_names)}})).values())}))
"""


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}


def _run(script: str, *args: str) -> str:
    done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, env=_env(), cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("described") / "pets-e"
    _run(WRITE.format(plugin=str(PLUGIN), classes=CLASSES, configs=CONFIGS), str(out))
    return out


def test_the_description_records_configs_in_severity_order_with_specs_and_claims(written):
    from imagenet_e_dataset.description_io import read_description

    doc = json.loads((written / "imagenet_e.json").read_text(encoding="utf-8"))
    assert doc["schema_version"] == 1 and doc["origin"] == "generate" and doc["backend"] == "cpu"
    d = read_description(written)
    # Attribute order (original, size, then the plug-in), severity within one: rate 0.3 is the mildest.
    assert d.config_names == ("original", "size_0.3", "size_0.1", "size_0.02", "blur_2", "blur_4")
    assert [c.severity_rank for c in d.configs] == list(range(6))
    size = d.config("size_0.02")
    assert size.attribute == "size" and size.level == "0.02" and size.spec["rate"] == 0.02 and size.num_examples == 3
    assert d.config("blur_4").spec == {"type": "BlurSpec", "sigma": 4.0}
    assert d.sweeps == {"size": ("size_0.3", "size_0.1", "size_0.02")}
    assert d.attribute("blur").keeps_object_pixels and not d.attribute("size").keeps_object_pixels
    assert d.label_space.names == tuple(CLASSES) and not d.label_space.is_imagenet_1k
    assert d.attribute_of()["blur_2"] == "blur"


def test_surfaces_render_from_the_description_without_the_plugin(written):
    out = json.loads(_run(RENDER, str(written)))
    assert out["names"] == ["original", "size_0.3", "size_0.1", "size_0.02", "blur_2", "blur_4"]
    tasks = yaml.safe_load(out["eval"])["tasks"]
    assert [t["config"] for t in tasks] == out["names"]  # exactly the configs present, in severity order
    assert "its own 4 classes" in yaml.safe_load(out["eval"])["description"]
    rows = [line for line in out["table"].splitlines() if line.startswith("| `")]
    assert [r.split("`")[1] for r in rows] == out["names"]
    assert "| `blur_2` | — | blur | 2 | 3 |" in out["table"]
    assert "**size**, **blur**" in out["intro"]
    assert "not an ImageNet-1k index" in out["label"] and "0–3" in out["label"]
    # The result tables' headings, from the layout the runner copies out of the description.
    assert out["headers"] == ["Ori", "Size 0.3", "Size 0.1", "Size 0.02", "Blur 2", "Blur 4"]
    assert len(set(out["headers"])) == len(out["headers"])


def test_the_card_says_nothing_false_about_this_dataset(written):
    text = (written / "README.md").read_text(encoding="utf-8")
    _, front, body = text.split("---\n", 2)
    meta = yaml.safe_load(front)
    assert meta["license"] == "other" and meta["license_link"] == "LICENSE.md"
    assert (written / "LICENSE.md").is_file() and "licence of each" in (written / "LICENSE.md").read_text()
    assert "*features" not in front and "&features" not in front  # no YAML anchors/aliases
    assert [c["config_name"] for c in meta["configs"]] == ["original", "size_0.3", "size_0.1", "size_0.02",
                                                           "blur_2", "blur_4"]
    assert "ImageNet-1k index" not in body.replace("not an ImageNet-1k index", "")
    assert "pip install imagenet-e" not in body and "](https://huggingface.co/spaces/<org>" not in body
    assert "](https://huggingface.co/datasets/<org>" not in body
    assert 'load_dataset("pets/pets-e", "size_0.3"' in body
    assert "Classes: 0 `red fox`, 1 `tabby cat`, 2 `barn owl`, 3 `green frog`." in body
    # The object claim is the plug-in's, per attribute: blur keeps it, size resamples it.
    claims = [line for line in body.splitlines() if "kept exactly" in line or "pixel-exact" in line]
    assert len(claims) == 1 and claims[0].startswith("- **blur**")
    for release_only in ("ILSVRC2012_val", "animal classes of ImageNet", "background_0", "ImageNet terms"):
        assert release_only not in body, release_only


def test_a_dataset_without_a_description_is_described_from_disk_with_a_warning(written, tmp_path):
    import shutil

    from imagenet_e_dataset.description_io import DerivedDescriptionWarning, read_description

    old = tmp_path / "old"
    shutil.copytree(written, old)
    (old / "imagenet_e.json").unlink()
    with pytest.warns(DerivedDescriptionWarning, match="no imagenet_e.json"):
        d = read_description(old)
    assert d.origin == "derived" and d.config_names == tuple(
        c["config_name"] for c in yaml.safe_load((old / "README.md").read_text().split("---\n")[1])["configs"])
    assert d.config("blur_2").attribute == "blur" and d.config("blur_2").level == "2"
    assert d.config("size_0.1").num_examples == 3 and d.label_space.names == tuple(CLASSES)


def test_bad_descriptions_are_refused_naming_the_file(written, tmp_path):
    import shutil

    from imagenet_e_dataset.description_io import read_description

    bad = tmp_path / "bad"
    shutil.copytree(written, bad)
    file = bad / "imagenet_e.json"
    file.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match=f"{file}.*not valid JSON"):
        read_description(bad)
    file.write_text(json.dumps({"schema_version": 99}), encoding="utf-8")
    with pytest.raises(ValueError, match="schema version 99.*upgrade imagenet-e"):
        read_description(bad)
    with pytest.raises(FileNotFoundError, match="neither imagenet_e.json nor README.md"):
        read_description(tmp_path)
    with pytest.raises(ValueError, match="revision='v1' only applies to a Hub repo id"):
        read_description(written, revision="v1")


def test_push_uploads_the_description_and_it_reads_back_from_the_hub_at_a_revision(hub_server, written):
    import uuid

    from imagenet_e_dataset.description_io import read_description
    from imagenet_e_dataset.push import push_folder

    repo_id = f"tests/described-{uuid.uuid4().hex[:8]}"
    push_folder(written, repo_id, revision="v1")
    remote = hub_server.repo_files("dataset", repo_id, revision="v1")
    assert remote["imagenet_e.json"] == (written / "imagenet_e.json").read_bytes()
    assert "LICENSE.md" in remote
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # a description is there: nothing is derived
        from_hub = read_description(repo_id, revision="v1")
    assert from_hub == read_description(written)


def test_leaderboard_shows_failure_levels_as_text_never_included():
    pytest.importorskip("gradio")
    from imagenet_e.leaderboard.app import _styled
    from imagenet_e.leaderboard.table import TableView, failure_column

    column = failure_column("size")
    view = TableView(columns=["Model", "Mean drop (pp)", column], rows=[["a", 1.234, "never"], ["b", 2.5, "0.05"]])
    assert view.datatypes == ["str", "number", "str"]
    html = _styled(view).to_html()  # raised "Unknown format code 'f' for object of type 'str'"
    assert "never" in html and "0.05" in html and "1.23" in html


def test_an_older_dataset_on_the_hub_is_described_from_its_card_and_data(hub_server, written, tmp_path):
    import shutil
    import uuid

    from imagenet_e_dataset.description_io import DerivedDescriptionWarning, read_description
    from imagenet_e_dataset.push import push_folder

    old = tmp_path / "old"
    shutil.copytree(written, old)
    (old / "imagenet_e.json").unlink()
    repo_id = f"tests/older-{uuid.uuid4().hex[:8]}"
    push_folder(old, repo_id)
    with pytest.warns(DerivedDescriptionWarning, match=f"dataset repo {repo_id}"):
        d = read_description(repo_id)
    assert d.origin == "derived" and set(d.config_names) == set(CONFIGS)
    assert d.config("size_0.3").attribute == "size" and d.label_space.names == tuple(CLASSES)
    with pytest.raises(FileNotFoundError, match="is neither an existing folder nor a Hub repo id"):
        read_description("not a repo")
