"""The board's columns come from the dataset's description, not the installed plug-ins.

A dataset with its own classes, a size sweep and the example plug-in attribute ``blur`` is evaluated
with the plug-in loaded; the board then runs in a subprocess where the plug-in is not importable and
must rank the file with the plug-in's configs as columns, attribute groups and sweep failure levels
in the dataset's severity order. A file whose layout contradicts the dataset's description is refused.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap

import pytest

from helpers.leaderboard import rewrite_metadata
from test_dataset_description import PLUGIN, REPO, _env, written  # noqa: F401 - ``written``: the dataset fixture

BOARD = textwrap.dedent("""
    import json, sys
    from imagenet_e_dataset import registry
    from imagenet_e.leaderboard.table import FAILURE_SUFFIX, build_table, load_board_dir

    assert "blur" not in {a.name for a in registry.attributes()}, "the plug-in must not be loaded here"
    board = load_board_dir(sys.argv[1], datasets={"pets-e": sys.argv[2]})
    view = build_table(board)
    print(json.dumps({"skipped": [[s.source, s.reason] for s in board.skipped], "columns": view.columns,
                      "datatypes": view.datatypes, "rows": view.rows}))
""")

RESCORE = textwrap.dedent("""
    import sys
    from pathlib import Path
    from imagenet_e.eval.predictions import file_sha256, read_predictions
    from imagenet_e.eval.scoring import results_from_predictions, write_results

    predictions = Path(sys.argv[1])
    write_results(results_from_predictions(read_predictions(predictions), file_name=predictions.name,
                                           sha256=file_sha256(predictions)), sys.argv[2])
""")


@pytest.fixture(scope="module")
def evaluated(written, tmp_path_factory):  # noqa: F811 - the imported fixture
    board = tmp_path_factory.mktemp("plugin-board")
    label_map = board.parent / "label-map.json"
    label_map.write_text(json.dumps({"barn owl": 24, "green frog": 30}))  # names that are no ImageNet-1k class
    done = subprocess.run([sys.executable, "-m", "imagenet_e.cli", "evaluate", "--plugin", str(PLUGIN),
                           "--model", "efficientnet-lite0", "--label-map", str(label_map), "--dataset", str(written),
                           "--output", str(board / "results.json"), "--n-bootstrap", "50", "--num-workers", "0",
                           "--no-progress"], capture_output=True, text=True, env=_env(), cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    return board


def _board(folder, dataset) -> dict:
    done = subprocess.run([sys.executable, "-c", BOARD, str(folder), str(dataset)], capture_output=True, text=True,
                          env=_env(), cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def test_a_plugin_dataset_ranks_with_its_own_columns_without_the_plugin(evaluated, written):  # noqa: F811
    out = _board(evaluated, written)
    assert out["skipped"] == [] and len(out["rows"]) == 1
    columns = out["columns"]
    # Attribute groups in the dataset's order (size, then the plug-in's blur), never the registry's four.
    assert [c for c in columns if c.endswith(" drop (pp)") and not c.startswith("Mean")] == [
        "size drop (pp)", "blur drop (pp)"]
    assert not any(c.startswith(("background", "direction", "position")) for c in columns)
    # Per-config columns: size mildest first (0.3, 0.1, 0.02), then blur.
    assert [c.split(" ")[0] for c in columns if c.endswith(" accuracy (%)") and not c.startswith("Original")] == [
        "size_0.3", "size_0.1", "size_0.02", "blur_2", "blur_4"]
    # The size sweep's failure level is a level of the sweep or "never", shown as text.
    failure = columns.index("size median failure level")
    assert out["datatypes"][failure] == "str" and out["rows"][0][failure] in {"0.3", "0.1", "0.02", "never"}
    assert all(c.split(" ")[0] not in ("blur_2", "blur_4") or v is not None
               for c, v in zip(columns, out["rows"][0]))  # the plug-in's numbers are there


def test_a_layout_that_contradicts_the_dataset_is_refused(evaluated, written, tmp_path):  # noqa: F811
    forged_board = tmp_path / "board"
    shutil.copytree(evaluated, forged_board)
    # Beside results.json under the name the board looks for first (the recorded name may differ).
    (forged_board / "predictions.parquet").rename(forged_board / "results.predictions.parquet")

    def regroup(meta, doc):  # blur_2 claimed to be a size level: its drop would count as size's
        for section in (meta["dataset"], doc["dataset"]):
            for entry in section["layout"]:
                if entry["name"] == "blur_2":
                    entry.update(attribute="size", attribute_rank=1)

    results = rewrite_metadata(forged_board / "results.json", regroup)
    # The forger recomputes every number from the forged predictions, so only the layout is wrong.
    predictions = forged_board / "results.predictions.parquet"
    done = subprocess.run([sys.executable, "-c", RESCORE, str(predictions), str(results)], capture_output=True,
                          text=True, env=_env(), cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads(results.read_text())["metrics"]
    assert metrics["attribute_drop"]["blur"] == metrics["accuracy_drop"]["blur_4"]  # blur_2 now counts as size
    out = _board(forged_board, written)
    assert out["rows"] == []
    assert [reason for _, reason in out["skipped"]] == [
        "its dataset.layout (each config's attribute, level, severity) differs from the dataset's own description "
        "(imagenet_e.json)"]
