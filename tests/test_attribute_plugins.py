"""Attributes are typed plug-ins: specs, the registry built from them, the occlusion extra, and a
plug-in from a file outside the package going through generate -> load_dataset -> evaluate -> leaderboard."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from generation.attributes import (
    BackgroundSpec,
    DirectionSpec,
    OcclusionSpec,
    RandomBackgroundSpec,
    Requirement,
    SizeSpec,
    requirements,
    load_entry_points,
    load_plugin,
    register_attribute,
)
from generation.attributes.base import AttributePlugin, EditSpec
from generation.attributes.occlusion import occlusion_band
from generation.edits import EditOptions, plan_edit, prepare_source, run_edits
from imagenet_e_dataset.registry import (
    ALL_SUBSETS,
    SUBSETS,
    edited_attributes,
    get_attribute,
    resolve,
    resolve_many,
    subset_for_spec,
)
from helpers.cli import run_cli
from helpers.layouts import write_layout

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "plugins" / "background_blur.py"


def test_every_benchmark_subset_carries_a_typed_spec_that_names_it():
    specs = {name: s.spec for name, s in SUBSETS.items()}
    assert specs["background_20_adv"] == BackgroundSpec(20.0, adversarial=True)
    assert specs["background_-20"] == BackgroundSpec(-20.0)
    assert specs["background_random"] == RandomBackgroundSpec()
    assert specs["size_full"] == SizeSpec(full=True) and specs["size_0.08"] == SizeSpec(rate=0.08)
    assert specs["direction_random"] == DirectionSpec(max_angle=45)
    for name, sub in SUBSETS.items():
        assert sub.spec.config_name() == name
        assert sub.level == sub.spec.level()  # the data's level column is derived, never parsed
    assert [s.name for s in resolve_many("all")] == list(SUBSETS)


@pytest.mark.parametrize(("make", "message"), [
    (lambda: SizeSpec(rate=1.5), "SizeSpec.rate must be a number in (0, 1)"),
    (lambda: SizeSpec(rate=0.1, full=True), "either rate= or full=True"),
    (lambda: BackgroundSpec(float("nan")), "BackgroundSpec.lam must be a finite number"),
    (lambda: DirectionSpec(max_angle=200), "DirectionSpec.max_angle must be an integer in 0..180"),
    (lambda: OcclusionSpec(0.0), "OcclusionSpec.share must be a number in (0, 1)"),
])
def test_bad_spec_values_are_refused_at_the_boundary(make, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make()


def test_extras_resolve_by_name_but_stay_out_of_all():
    assert resolve("occlusion_0.5").spec == OcclusionSpec(0.5)
    assert "occlusion_0.5" not in SUBSETS and "occlusion_0.5" in ALL_SUBSETS
    assert "occlusion_0.5" not in {s.name for s in resolve_many("all")}
    assert {"occlusion_0.25", "occlusion_0.5", "occlusion_0.75"} <= {s.name for s in resolve_many("all+extras")}
    assert get_attribute("occlusion") in edited_attributes()
    # A spec that no subset declares still names a config (sweep levels use this).
    assert subset_for_spec(SizeSpec(0.2)).name == "size_0.2"
    with pytest.raises(ValueError, match="unknown attribute 'nope'"):
        get_attribute("nope")


def test_requirements_decide_what_a_subset_needs():
    # The official protocol (EditOptions() defaults) harmonises every edit as the authors do; corrected does not.
    plain, harmonised = EditOptions(harmonize=False), EditOptions()
    assert requirements(resolve("background_20_adv"), plain) == {Requirement.EDITOR, Requirement.CLASSIFIER,
                                                                 Requirement.LABEL}
    assert requirements(resolve("background_random"), plain) == {Requirement.OTHER_BACKGROUND}
    assert requirements(resolve("background_random"), harmonised) == {Requirement.OTHER_BACKGROUND, Requirement.EDITOR}
    assert requirements(resolve("size_0.1"), plain) == set()
    assert requirements(resolve("size_0.1"), harmonised) == {Requirement.EDITOR}
    assert requirements(resolve("size_full"), harmonised) == set()  # the full-frame crop keeps its own background


def test_registration_refuses_taken_names_and_malformed_plugins():
    @__import__("dataclasses").dataclass(frozen=True)
    class BadSpec(EditSpec):
        attribute = "size"

        def level(self) -> str:
            return "x"

    class Clash(AttributePlugin):
        name = "size"
        description = "another size"
        spec_types = (BadSpec,)

    with pytest.raises(ValueError, match="attribute 'size' is registered twice"):
        register_attribute(Clash)

    class Nameless(AttributePlugin):
        name = "Not An Identifier"
        description = "x"
        spec_types = (BadSpec,)

    with pytest.raises(ValueError, match="lower-case identifier"):
        register_attribute(Nameless)


def _square_photo() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    mask = np.zeros((64, 64), bool)
    mask[16:48, 20:44] = True
    return photo, mask


def test_occlusion_hides_the_asked_share_with_the_clean_background_and_is_seeded():
    photo, mask = _square_photo()
    opts = EditOptions(resolution=64, harmonize=False)  # the hard composite (no editor)
    source = prepare_source(photo, mask, "opencv", opts)
    results = {}
    for seed in (1, 2, 3, 4, 5, 6):
        r = run_edits([plan_edit(source, None, "occlusion_0.5", seed=seed, options=opts)], None)[0]
        again = run_edits([plan_edit(source, None, "occlusion_0.5", seed=seed, options=opts)], None)[0]
        assert np.array_equal(r.image, again.image)
        hidden = source.object_mask & ~r.object_mask
        # The hidden part is the clean background, the visible part is the untouched object.
        assert np.array_equal(r.image[hidden], source.background[hidden])
        assert np.array_equal(r.image[r.object_mask], source.image[r.object_mask])
        share = hidden.sum() / source.object_mask.sum()
        assert 0.5 <= share <= 0.5 + 1 / 24 + 1e-9 and r.params["share"] == pytest.approx(share)
        results[r.params["occlusion_side"]] = r
    assert len(results) >= 2  # the seed picks the side


def test_occlusion_band_covers_at_least_the_share_from_each_side():
    _, mask = _square_photo()
    for side in ("left", "right", "top", "bottom"):
        band = occlusion_band(mask, 0.25, side)
        assert band.sum() >= 0.25 * mask.sum() and (band & ~mask).sum() == 0


def test_plugin_from_an_entry_point_is_loaded(tmp_path, monkeypatch):
    package = tmp_path / "site"
    (package / "ep_attr_demo.py").parent.mkdir(parents=True)
    (package / "ep_attr_demo.py").write_text(textwrap.dedent("""
        from dataclasses import dataclass
        from typing import ClassVar
        from generation.attributes import AttributePlugin, EditSpec, register_attribute

        @dataclass(frozen=True)
        class FlipSpec(EditSpec):
            attribute: ClassVar[str] = "flipdemo"
            def level(self): return "h"

        @register_attribute
        class Flip(AttributePlugin):
            name = "flipdemo"
            description = "mirrored"
            spec_types = (FlipSpec,)
            def subsets(self): return (self.subset(FlipSpec(), "mirrored"),)
            def plan(self, ctx, spec):
                return ctx.finished(ctx.source.image[:, ::-1].copy(), ctx.source.object_mask[:, ::-1].copy(), ctx.params)
    """))
    dist = package / "ep_attr_demo-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-attr-demo\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[imagenet_e.attributes]\nflipdemo = ep_attr_demo\n")
    code = textwrap.dedent(f"""
        import sys; sys.path.insert(0, {str(package)!r})
        from imagenet_e_dataset.registry import resolve, ALL_SUBSETS
        print(resolve("flipdemo_h").attribute.name, "flipdemo_h" in ALL_SUBSETS)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["flipdemo", "True"]
    # Imported through the toolkit first, the plug-in (which imports the toolkit itself) still loads and plans.
    code = textwrap.dedent(f"""
        import sys; sys.path.insert(0, {str(package)!r})
        from generation.attributes import planner_for
        from imagenet_e_dataset.registry import get_attribute
        print(type(planner_for(get_attribute("flipdemo"))).__name__)
    """)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.split() == ["_OneClassPlugin"] and "failed to load" not in run.stderr
    assert load_entry_points() == []  # once per process


def test_plugin_argument_names_a_missing_file_or_module():
    with pytest.raises(ValueError, match="--plugin nowhere/attr.py: no such file"):
        load_plugin("nowhere/attr.py")
    with pytest.raises(ValueError, match="--plugin no_such_module_xyz: no module"):
        load_plugin("no_such_module_xyz")


@pytest.mark.slow
def test_a_plugin_file_goes_through_generate_load_evaluate_and_the_leaderboard(tmp_path):
    layout = write_layout(tmp_path / "imagenet", range(1, 5), bad=False)
    out = tmp_path / "blur-e"
    run_cli("generate", "--plugin", str(EXAMPLE), "--images", str(layout["images"]), "--masks", str(layout["masks"]),
         "--out", str(out), "--subsets", "blur_4,occlusion_0.5,size_0.1", "--edit-option", "resolution=64",
         "--single-object", "--no-progress", cwd=tmp_path)
    # The Hub layout and card carry the plug-in's config; datasets reads it with no plug-in loaded.
    import datasets

    ds = datasets.load_dataset(str(out), "blur_4", split="test")
    assert len(ds) == 4 and set(ds["attribute"]) == {"blur"} and set(ds["level"]) == {"4"}
    card = (out / "README.md").read_text("utf-8")
    assert "config_name: blur_4" in card and "| `blur_4` |" in card

    results = tmp_path / "board" / "results.json"
    results.parent.mkdir()
    run_cli("evaluate", "--plugin", str(EXAMPLE), "--model", "efficientnet-lite0", "--dataset", str(out),
         "--output", str(results), "--n-bootstrap", "50", "--num-workers", "0", "--no-progress", cwd=tmp_path)
    doc = json.loads(results.read_text("utf-8"))
    assert set(doc["metrics"]["attribute_drop"]) == {"blur", "occlusion", "size"}
    assert "blur_4" in doc["metrics"]["accuracy_drop"]
    # The results carry the dataset's own layout (from its imagenet_e.json), so the paper table renders
    # where the plug-in is not installed, its configs in the dataset's order.
    layout = {entry["name"]: entry for entry in doc["dataset"]["layout"]}
    assert layout["blur_4"]["attribute"] == "blur" and layout["blur_4"]["level"] == "4"
    table = subprocess.run([sys.executable, "-c", "import json, sys; from imagenet_e.eval.formats import format_results; "
                            f"print(format_results(json.load(open({str(results)!r})), 'markdown'))"],
                           capture_output=True, text=True, check=True).stdout
    assert table.splitlines()[0] == "| Model | Ori | Size 0.1 | Occlusion 0.5 | Blur 4 | Avg drop |"

    code = textwrap.dedent(f"""
        from generation.attributes import load_plugin
        load_plugin({str(EXAMPLE)!r})
        from imagenet_e.leaderboard.table import build_table, load_board_dir
        # The board recomputes every number from the predictions against the dataset's own labels.
        board = load_board_dir({str(results.parent)!r}, datasets={{{out.name!r}: {str(out)!r}}})
        assert not board.skipped, board.skipped
        view = build_table(board)
        print("|".join(view.columns))
    """)
    columns = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "blur drop (pp)" in columns and "occlusion drop (pp)" in columns and "blur_4 accuracy (%)" in columns


def test_a_declaration_without_a_planner_reads_but_does_not_edit():
    # The ground-floor half alone: enough to resolve and score the configs, and generate says what is missing.
    code = textwrap.dedent("""
        from dataclasses import dataclass
        from typing import ClassVar
        from imagenet_e_dataset.attributes import AttributePlugin, EditSpec
        from imagenet_e_dataset.registry import register_attribute, resolve
        import sys

        @dataclass(frozen=True)
        class HazeSpec(EditSpec):
            attribute: ClassVar[str] = "haze"
            def level(self): return "thick"

        @register_attribute
        class Haze(AttributePlugin):
            name = "haze"
            description = "fog over the background"
            spec_types = (HazeSpec,)
            def subsets(self): return (self.subset(HazeSpec(), "fog"),)

        assert "generation" not in sys.modules  # declaring and resolving needs no toolkit
        print(resolve("haze_thick").attribute.name)
        from generation.attributes import planner_for
        try:
            planner_for(resolve("haze_thick").attribute)
        except ValueError as exc:
            print(exc)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[0] == "haze"
    assert out[1].startswith("attribute 'haze' has no planner") and "register_planner('haze')" in out[1]
