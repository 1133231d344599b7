"""The Train form's run-valued knobs follow their declarations (issue 27 feedback): each is a
select box of the runs ``Param.runs`` accepts (finished, of those tasks, with a checkpoint) that
stores the run's id, and a knob the augmentation method does not read (``Param.used_with``, from
core.augment's method table) is not drawn."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core.augment.settings import METHOD_TABLE
from core.config import default_config, validate_config
from core.runs import create_run
from core.store import Store
from core.tasks.catalog import TEACHER
from tests.app.test_data_runs_compare_playground import tiny_trained_run
from tests.app.test_data_to_train import no_exception, open_app

pytestmark = pytest.mark.usefixtures("one_torch_thread")
TASK = "task.classification."


@pytest.fixture(autouse=True)
def _no_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMWB_NO_WORKERS", "1")


def knob_keys(at: AppTest) -> set[str]:
    """The task knobs drawn, by name (a knob of two runs counts once)."""
    prefix = f"train.w{at.session_state['train.form']['gen']}.{TASK}"
    return {s.key.removeprefix(prefix).split(".")[0] for s in at.selectbox if s.key and s.key.startswith(prefix)}


def picker(at: AppTest, name: str):  # noqa: ANN201 (an AppTest element)
    return at.selectbox(key=f"train.w{at.session_state['train.form']['gen']}.{TASK}{name}")


def test_run_knobs_list_the_runs_they_accept_and_follow_the_method(store: Store) -> None:
    vectors = tiny_trained_run(store, "word_embeddings")
    translator = tiny_trained_run(store, "translation")
    teacher = tiny_trained_run(store, "classification")
    create_run(store, validate_config(default_config("word_embeddings")), name="queued-vectors")  # no checkpoint
    at = open_app("train")
    # Augmentation none: no run of it is drawn; the teacher and the run to start from are.
    assert {"teacher", "init_from_run"} <= knob_keys(at)
    assert not {"synonyms_run", "back_translation_runs"} & knob_keys(at)
    # The teacher: finished classification runs only (same task, as declared); the id is stored.
    assert TEACHER.runs is not None and TEACHER.runs.same_task
    assert picker(at, "teacher").options[1:] == [o for o in picker(at, "teacher").options[1:] if teacher.id in o]
    assert len(picker(at, "teacher").options) == 2
    # Start from run: any finished run with a checkpoint (its declaration names no task).
    assert len(picker(at, "init_from_run").options) == 4
    for method in METHOD_TABLE:
        picker(at, "augment").set_value(method.name).run()
        no_exception(at)
        drawn = knob_keys(at) & {"synonyms_run", "back_translation_runs"}
        assert drawn == set(method.uses), (method.name, drawn)
        if "synonyms_run" in method.uses:  # word vectors: the word_embeddings and classification runs
            offered = picker(at, "synonyms_run").options
            assert len(offered) == 3 and any(vectors.id in o for o in offered)
            assert not any(translator.id in o or "queued" in o for o in offered)
    picker(at, "augment").set_value("back_translation").run()
    gen = at.session_state["train.form"]["gen"]
    there, back = (at.selectbox(key=f"train.w{gen}.{TASK}back_translation_runs.{i}") for i in (0, 1))
    assert there.label.endswith("To the pivot language") and back.label.endswith("Back again")
    assert len(there.options) == 2 and translator.id in there.options[1]
    there.set_value(translator.id).run()
    back.set_value(translator.id).run()
    picker(at, "augment").set_value("synonyms").run()
    picker(at, "synonyms_run").set_value(vectors.id).run()
    next(b for b in at.button if b.label == "Start").click().run()
    no_exception(at)
    queued = next(r for r in store.list_runs(status="queued") if r.task == "classification")
    assert queued.config["task"]["synonyms_run"] == vectors.id
    assert queued.config["task"]["back_translation_runs"] == ""  # hidden with synonyms: its default
