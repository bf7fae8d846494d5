"""``imagenet-e import-release`` / ``push`` / ``subsets`` through the real CLI entry point."""

from __future__ import annotations

import datasets

from imagenet_e.cli import main
from imagenet_e_dataset.registry import SUBSETS
from helpers.releases import SOURCE_IDS, make_release


def test_subsets_prints_the_registry_table(capsys):
    assert main(["subsets"]) == 0
    out = capsys.readouterr().out
    for subset in SUBSETS.values():
        assert f"| `{subset.name}` | `{subset.alias}` | {subset.attribute.name} | {subset.level} |" in out


def test_import_release_command(tmp_path, capsys):
    make_release(tmp_path / "release")
    code = main(["import-release", str(tmp_path / "release"), "--out", str(tmp_path / "hub"),
                 "--max-shard-size", "1B", "--subsets", "20_hard,ori", "--repo-id", "acme/imagenet-e"])
    assert code == 0
    out = capsys.readouterr().out
    assert f"wrote {2 * len(SOURCE_IDS)} images in 2 configs to {tmp_path / 'hub'}" in out
    assert len(list((tmp_path / "hub" / "background_20").glob("test-*-of-00003.parquet"))) == 3
    assert datasets.load_dataset(str(tmp_path / "hub"), "background_20", split="test").num_rows == len(SOURCE_IDS)
    assert 'load_dataset("acme/imagenet-e"' in (tmp_path / "hub" / "README.md").read_text(encoding="utf-8")


def test_import_release_errors_are_clean_and_skip_bad_reports(tmp_path, capsys):
    make_release(tmp_path / "release")
    bad = tmp_path / "release" / "01" / f"{SOURCE_IDS[0]}.png"
    bad.write_bytes(b"broken")
    args = ["import-release", str(tmp_path / "release"), "--out", str(tmp_path / "hub"), "--subsets", "size_0.1"]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "imagenet-e import-release: error:" in err and str(bad) in err and "unreadable image" in err
    assert not (tmp_path / "hub").exists()
    assert main([*args, "--skip-bad"]) == 0
    out = capsys.readouterr().out
    assert f"skipped 1 bad entries; listed in {tmp_path / 'hub.skipped.tsv'}" in out
    assert str(bad) in (tmp_path / "hub.skipped.tsv").read_text(encoding="utf-8")


def test_import_release_rejects_bad_shard_size(tmp_path, capsys):
    make_release(tmp_path / "release")
    assert main(["import-release", str(tmp_path / "release"), "--out", str(tmp_path / "hub"), "--max-shard-size", "huge"]) == 1
    assert "cannot parse size 'huge'" in capsys.readouterr().err


def test_push_refuses_a_folder_that_is_not_a_layout(tmp_path, capsys):
    assert main(["push", str(tmp_path), "--repo-id", "acme/imagenet-e"]) == 1
    assert "is not a dataset folder in the Hub layout" in capsys.readouterr().err


def test_push_command_uploads_and_prints_the_url(tmp_path, capsys, hub_server):
    make_release(tmp_path / "release")
    assert main(["import-release", str(tmp_path / "release"), "--out", str(tmp_path / "hub"), "--subsets", "20_hard,ori"]) == 0
    capsys.readouterr()
    assert main(["push", str(tmp_path / "hub"), "--repo-id", "acme/imagenet-e-cli"]) == 0
    url = capsys.readouterr().out.strip().splitlines()[-1]
    assert "acme/imagenet-e-cli" in url
    ds = datasets.load_dataset("acme/imagenet-e-cli", "background_20", split="test")
    assert sorted(ds["source_id"]) == sorted(SOURCE_IDS)
