"""Configs, names, paths and addresses that used to be taken wrongly, through the real ``lmwb``
command line: each is refused in one line that names the key and the YAML line (or the flag),
says what is allowed, shows no traceback, and leaves the store as it was."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from core.cli import main
from core.errors import WorkbenchError
from core.jobs import queue_run
from core.store import Store

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ALLOWED_TEXT = "printable UTF-8 text (no control characters such as tabs, line feeds or escapes)"
SMALL = ["--set", "model.embed_dim=8", "--set", "model.hidden_size=8", "--set", "training.max_steps=2",
         "--set", "training.eval_every=2", "--set", "data.n_examples=64"]


def _refused(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """The one line ``lmwb argv`` printed on stderr, having exited with 2."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1, err
    return err.removeprefix("error: ").rstrip("\n")


def _no_runs(store: Store) -> None:
    assert store.list_runs() == []


def test_a_config_file_with_a_key_twice_is_refused_by_line(tmp_path: Path, capsys, store: Store) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("task: {name: classification}\nmodel:\n  name: lstm\n  hidden_size: 8\n  hidden_size: 128\n")
    assert _refused(capsys, ["train", "--config", str(path), "--queue"]) == (
        f"{path}, line 5: model.hidden_size = 128: duplicate key, first set on line 4; expected each key "
        "once in a mapping (a YAML or JSON reader keeps only the last value, silently)")
    space = tmp_path / "space.yaml"
    space.write_text("space:\n  optimizer.lr: {low: 0.001, high: 0.1}\ntrials: 3\ntrials: 30\n")
    assert _refused(capsys, ["sweep", "create", "--space", str(space)]).startswith(
        f"{space}, line 4: trials = 30: duplicate key, first set on line 3;")
    _no_runs(store)
    assert store.list_sweeps() == []


def test_a_section_that_is_not_a_mapping_is_refused_by_line(tmp_path: Path, capsys, store: Store) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("task: classification\nmodel: [[1, 2], [3, 4]]\n")  # once read as {1: 2, 3: 4}
    expected = (f"{path}, line 2: model = [[1, 2], [3, 4]]: not a mapping; expected a mapping of parameter "
                "names to values (model: {name: NAME, ...}, or model: NAME)")
    assert _refused(capsys, ["train", "--config", str(path), "--queue"]) == expected
    # With an override on top (a TypeError traceback before).
    assert _refused(capsys, ["train", "--config", str(path), "--set", "model.name=gru", "--queue"]) == expected
    path.write_text("task: 5\n")
    assert _refused(capsys, ["train", "--config", str(path), "--queue"]).startswith(
        f"{path}, line 1: task = 5: not a mapping;")
    assert _refused(capsys, ["train", "--set", "training=5", "--queue"]).startswith(
        "--set = 'training=5': sets a whole section; expected one parameter at a time")
    _no_runs(store)


def test_more_label_names_than_classes_are_refused_by_line(tmp_path: Path, capsys, store: Store) -> None:
    data = tmp_path / "reviews.tsv"
    data.write_text("text\tlabel\n" + "".join(f"{'good' if i % 2 else 'bad'} film {i}\t{i % 2}\n" for i in range(40)))
    path = tmp_path / "run.yaml"
    path.write_text(f"task: classification\ndata:\n  name: file\n  path: {data}\n  label_names: neg,pos,neutral\n")
    assert main(["train", "--config", str(path), *SMALL[:8]]) == 2
    out, err = capsys.readouterr()
    assert err == (f"error: {path}, line 5: data.label_names = 'neg,pos,neutral': 3 names for 2 classes; "
                   "expected one name per class, in label order (2 names, for labels 0, 1)\n")
    assert "removed: it never started training" in out
    _no_runs(store)
    path.write_text(f"task: classification\ndata:\n  name: file\n  path: {data}\n  label_names: neg,pos\n")
    assert main(["train", "--config", str(path), "--queue", *SMALL[:8]]) == 0  # as many names as classes


@pytest.mark.parametrize(("name", "problem"), [
    ("a\x1b[31mred", "an escape character (U+001B) at position 2"),
    ("two\nlines", "a line feed (U+000A) at position 4"),
    ("tab\there", "a tab (U+0009) at position 4"),
])
def test_a_run_name_with_a_control_character_is_refused(capsys, store: Store, name: str, problem: str) -> None:
    shown = repr(name)
    assert _refused(capsys, ["train", "--name", name, "--queue"]) == f"--name {shown}: {problem}; expected {ALLOWED_TEXT}"
    _no_runs(store)
    # The Train page queues through the store, and the Runs page renames through it: the same rule.
    from core.config import default_config, validate_config

    run = queue_run(store, validate_config(default_config("classification")), name="kept")
    with pytest.raises(WorkbenchError) as queued:
        queue_run(store, validate_config(default_config("classification")), name=name)
    with pytest.raises(WorkbenchError) as renamed:
        store.rename_run(run.id, name)
    assert str(queued.value) == str(renamed.value) == f"name {shown}: {problem}; expected {ALLOWED_TEXT}"
    assert [r.name for r in store.list_runs()] == ["kept"]


def test_arguments_with_bytes_that_are_not_utf8_are_refused_by_flag(tmp_path: Path, capsys, store: Store) -> None:
    latin1 = os.fsdecode(b"caf\xe9")  # what Python makes of Latin-1 bytes in argv on Linux
    assert _refused(capsys, ["train", "--name", latin1, "--queue"]) == (
        "--name 'caf\\xe9': byte 0xe9 at position 4 is not UTF-8; lmwb reads its arguments as UTF-8 text: "
        "retype the value in UTF-8")
    assert _refused(capsys, ["train", "--set", f"data.path={latin1}.csv", "--queue"]).startswith(
        "--set 'data.path=caf\\xe9.csv': byte 0xe9 at position 14 is not UTF-8;")
    assert _refused(capsys, ["train", "--config", f"{latin1}.yaml"]) == (
        f"--config 'caf\\xe9.yaml': byte 0xe9 at position 4 is not UTF-8; expected a path of {ALLOWED_TEXT}")
    assert _refused(capsys, ["predict", latin1, "a text"]).startswith("RUN 'caf\\xe9': byte 0xe9")
    _no_runs(store)


def test_data_paths_with_control_characters_are_refused_by_key_and_line(tmp_path: Path, capsys,
                                                                        store: Store) -> None:
    data = tmp_path / "rev\x07iews.tsv"  # the file exists: its name is the problem
    data.write_text("text\tlabel\n" + "".join(f"film {i}\t{i % 2}\n" for i in range(20)))
    assert _refused(capsys, ["train", "--set", "data.name=file", "--set", f"data.path={data}", "--queue"]) == (
        f"data.path = {str(data)!r}: a control character (U+0007) at position {len(str(tmp_path)) + 5}; "
        f"expected a file path of {ALLOWED_TEXT}")
    path = tmp_path / "run.yaml"
    path.write_text('task: classification\ndata:\n  name: file\n  path: "reviews\\x1b[2J.tsv"\n')
    assert _refused(capsys, ["train", "--config", str(path), "--queue"]).startswith(
        f"{path}, line 4: data.path = 'reviews\\x1b[2J.tsv': an escape character (U+001B) at position 8;")
    config = tmp_path / "run\tfile.yaml"
    config.write_text("task: classification\n")
    assert _refused(capsys, ["train", "--config", str(config)]) == (
        f"--config {str(config)!r}: a tab (U+0009) at position {len(str(tmp_path)) + 5}; expected a path of "
        f"{ALLOWED_TEXT}")
    assert _refused(capsys, ["data", "show", str(data)]).startswith(f"PATH {str(data)!r}: a control character")
    _no_runs(store)


@pytest.mark.parametrize(("host", "message"), [
    (" 127.0.0.1 ", "--host ' 127.0.0.1 ': spaces around the address; expected a host name or address alone, "
                    "e.g. --host 127.0.0.1"),
    ("not a host!", "--host 'not a host!': not a host name or an IP address; expected 127.0.0.1 (this machine "
                    "only, the default), 0.0.0.0 (every network interface), ::1, or a name of this machine such "
                    "as localhost"),
    ("[::1]", "--host '[::1]': not a host name or an IP address (an IPv6 address is written without brackets);"),
    ("127.0.0.1\n", "--host '127.0.0.1\\n': spaces around the address;"),
    ("192.0.2.1", "--host 192.0.2.1: this machine cannot listen there ("),  # TEST-NET-1: nobody's address
])
def test_lmwb_ui_refuses_a_host_it_cannot_listen_on_as_given(capsys, no_server, host: str, message: str) -> None:
    assert _refused(capsys, ["ui", "--host", host, "--port", "8599"]).startswith(message)


def test_lmwb_ui_refuses_a_port_in_use(capsys, no_server) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert _refused(capsys, ["ui", "--port", str(port)]) == (
            f"--port {port}: already in use on 127.0.0.1 (another lmwb ui?); pick a free one with --port")


@pytest.fixture
def no_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """Should `lmwb ui` take an address it must refuse, it fails here instead of forking a
    supervisor and becoming a Streamlit server in place of the test process."""
    def refuse(*args: object) -> None:
        raise AssertionError("lmwb ui went on to start the server")

    monkeypatch.setattr(os, "fork", refuse)
    monkeypatch.setattr(os, "execve", refuse)


@pytest.mark.parametrize(("name", "value"), [("LMWB_MAX_WORKERS", "0"), ("LMWB_WORKER_GRACE_S", "soon")])
def test_lmwb_ui_refuses_bad_supervisor_settings_before_it_starts(
    capsys, no_server, monkeypatch: pytest.MonkeyPatch, name: str, value: str,
) -> None:
    """Once it printed the error from its forked supervisor and went on serving with no worker
    (queued runs waited for ever, a zombie beside the server)."""
    monkeypatch.setenv(name, value)
    assert _refused(capsys, ["ui", "--port", "8599"]).startswith(f"{name}={value!r}: expected")


def test_lmwb_ui_warns_when_other_machines_can_reach_it() -> None:
    from core.cli.ui import exposure_warning

    assert exposure_warning("127.0.0.1", 8501) is None and exposure_warning("::1", 8501) is None
    assert exposure_warning("localhost", 8501) is None
    warning = exposure_warning("0.0.0.0", 8501)
    assert warning is not None and warning.startswith("warning: --host 0.0.0.0: other machines that can reach port 8501")
