"""``lmwb ui``: the server settings travel on the command line and win over any config file;
the app is found from the installed package; a missing page stops the command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

import app
from app import navigation
from app.server import MAX_UPLOAD_MB, SERVER_OPTIONS, streamlit_flags
from core.cli import main
from core.cli.ui import ui_command

DECOY = """[server]
maxUploadSize = 7
address = "0.0.0.0"
[theme]
base = "dark"
[browser]
gatherUsageStats = true
"""


def test_ui_command_runs_the_installed_app_with_every_setting() -> None:
    cmd = ui_command("127.0.0.1", 8600)
    assert cmd[cmd.index("run") + 1] == str(Path(app.__file__).resolve().parent / "main.py")
    flags = dict(zip(cmd[cmd.index("run") + 2::2], cmd[cmd.index("run") + 3::2], strict=True))
    assert set(flags) == {f"--{name}" for name in SERVER_OPTIONS}
    assert flags["--server.port"] == "8600" and flags["--server.maxUploadSize"] == str(MAX_UPLOAD_MB)


def test_settings_win_over_a_config_file_where_the_app_starts(tmp_path: Path) -> None:
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "config.toml").write_text(DECOY)
    # `streamlit config show` parses flags and config files exactly as `streamlit run` does.
    out = subprocess.run([sys.executable, "-m", "streamlit", "config", "show", *streamlit_flags()],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60, check=True).stdout
    assert shown_options(out) | SERVER_OPTIONS == shown_options(out)  # every setting, with our value


def shown_options(text: str) -> dict[str, object]:
    """``section.key -> value`` of the uncommented lines of ``streamlit config show``."""
    options, section = {}, ""
    for line in text.splitlines():
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
        elif " = " in line and not line.startswith(("#", " ")):
            key, value = line.split(" = ", 1)
            options[f"{section}.{key}"] = tomllib.loads(f"v = {value}")["v"]
    return options


def test_a_missing_page_stops_lmwb_ui(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(navigation, "PAGES_DIR", tmp_path)
    assert main(["ui", "--port", "8600"]) == 1
    assert "page file(s) missing" in capsys.readouterr().err
