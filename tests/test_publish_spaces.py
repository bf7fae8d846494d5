"""`publish-*` never clobbers a Space (issue 24, item 2): a Space imagenet-e did not make (no marker
file, or another kind's) is refused with the list of what would change unless --overwrite;
--dry-run lists the changes and touches nothing; the Space variable is set before the files, so a
failure never leaves new files running without it. All against the local Hub on 127.0.0.1."""

from __future__ import annotations

import json
import uuid

import pytest

NS = "space-guard"
OWNER_FILES = {"app.py": b"print('my own app')\n", "my_research_code.py": b"SECRET_IDEA = 42\n",
               "README.md": b"---\nsdk: gradio\n---\n# My Space\n"}


@pytest.fixture()
def hub(hub_server):
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(f"{NS}/results", repo_type="dataset", exist_ok=True)
    return api


def _owner_space(hub) -> str:
    from huggingface_hub import CommitOperationAdd

    space = f"{NS}/mine-{uuid.uuid4().hex[:6]}"
    hub.create_repo(space, repo_type="space", space_sdk="gradio")
    hub.create_commit(space, repo_type="space", commit_message="my work",
                      operations=[CommitOperationAdd(name, data) for name, data in OWNER_FILES.items()])
    return space


def _publish(capsys, space: str, *flags: str) -> tuple[int, str, str]:
    from imagenet_e.cli import main

    capsys.readouterr()
    code = main(["publish-leaderboard", "--space-id", space, "--results", f"{NS}/results", *flags])
    out, err = capsys.readouterr()
    return code, out, err


def test_an_owners_space_is_refused_listed_by_dry_run_and_replaced_only_with_overwrite(hub, hub_server, capsys):
    from imagenet_e.publish.hub import MARKER

    space = _owner_space(hub)
    commits = len(hub_server.commits("space", space))
    code, _, err = _publish(capsys, space)
    assert code == 1 and "\n" not in err.strip()
    assert f"Space {space} already holds files imagenet-e did not write" in err and "--overwrite" in err
    assert "delete my_research_code.py" in err and "update app.py" in err and "update README.md" in err
    assert {k: v for k, v in hub_server.repo_files("space", space).items() if k in OWNER_FILES} == OWNER_FILES
    assert len(hub_server.commits("space", space)) == commits and hub_server.space_variables(space) == {}

    code, out, _ = _publish(capsys, space, "--overwrite", "--dry-run")
    assert code == 0 and "dry run, nothing changed" in out
    listed = {line.strip() for line in out.splitlines()[1:]}
    assert {"delete my_research_code.py", "update app.py", "update README.md", f"add {MARKER}",
            f"set variable RESULTS_REPO={NS}/results"} <= listed
    assert any(line.startswith("add wheels/imagenet_e-") for line in listed)
    assert len(hub_server.commits("space", space)) == commits and hub_server.space_variables(space) == {}

    code, out, err = _publish(capsys, space, "--overwrite")
    assert code == 0, err
    files = hub_server.repo_files("space", space)
    assert "my_research_code.py" not in files and files["app.py"] != OWNER_FILES["app.py"]
    assert json.loads(files[MARKER]) == {"created_by": "imagenet-e", "space": "leaderboard"}
    assert hub_server.space_variables(space) == {"RESULTS_REPO": f"{NS}/results"}

    # Now the Space carries the marker: re-publishing needs no flag and changes nothing.
    commits = len(hub_server.commits("space", space))
    code, out, err = _publish(capsys, space)
    assert code == 0 and "no change" in out, err
    assert len(hub_server.commits("space", space)) == commits
    code, out, _ = _publish(capsys, space, "--dry-run")
    assert code == 0 and out.splitlines()[1:] == ["  change nothing"]


def test_another_kind_of_imagenet_e_space_is_refused(hub, hub_server, capsys):
    from huggingface_hub import CommitOperationAdd

    from imagenet_e.publish.hub import MARKER, marker_text

    space = f"{NS}/metric-{uuid.uuid4().hex[:6]}"
    hub.create_repo(space, repo_type="space", space_sdk="gradio")
    hub.create_commit(space, repo_type="space", commit_message="metric",
                      operations=[CommitOperationAdd(MARKER, marker_text("metric").encode()),
                                  CommitOperationAdd("imagenet_e.py", b"# metric\n")])
    code, _, err = _publish(capsys, space)
    assert code == 1 and "already holds the metric Space of imagenet-e" in err and "delete imagenet_e.py" in err


def test_a_failure_setting_the_variable_leaves_no_files_and_a_rerun_completes(hub, hub_server, monkeypatch):
    from huggingface_hub import HfApi

    from imagenet_e.publish.leaderboard_space import publish_leaderboard

    space = f"{NS}/fresh-{uuid.uuid4().hex[:6]}"

    def refused(self, *args, **kwargs):
        raise ConnectionError("the Hub dropped the variables call")

    with monkeypatch.context() as patch:
        patch.setattr(HfApi, "add_space_variable", refused)
        with pytest.raises(ConnectionError):
            publish_leaderboard(space, f"{NS}/results")
    assert set(hub_server.repo_files("space", space)) <= {".gitattributes"}  # no app without its RESULTS_REPO

    done = publish_leaderboard(space, f"{NS}/results")  # the empty Space it left is not "someone else's"
    assert done.upload.commit is not None and "app.py" in hub_server.repo_files("space", space)
    assert hub_server.space_variables(space) == {"RESULTS_REPO": f"{NS}/results"}


def test_publish_metric_guards_the_owners_space_too(hub, hub_server, capsys):
    from imagenet_e.cli import main

    space = _owner_space(hub)
    space_module = f"owner-{uuid.uuid4().hex[:6]}/imagenet_e_metric"  # the metric Space's one name
    hub.move_repo(space, space_module, repo_type="space")
    commits = len(hub_server.commits("space", space_module))
    assert main(["publish-metric", "--repo-id", space_module]) == 1
    err = capsys.readouterr().err
    assert "imagenet-e did not write" in err and "update app.py" in err and "delete my_research_code.py" in err
    assert main(["publish-metric", "--repo-id", space_module, "--overwrite", "--dry-run"]) == 0
    assert "dry run, nothing changed" in capsys.readouterr().out
    assert len(hub_server.commits("space", space_module)) == commits
    assert main(["publish-metric", "--repo-id", space_module, "--overwrite"]) == 0
    assert "my_research_code.py" not in hub_server.repo_files("space", space_module)
