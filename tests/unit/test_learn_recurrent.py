"""The Recurrent cells chapter: the gates, cell and hidden states recomputed by hand from a trained
layer's weights equal nn.LSTM / nn.GRU / nn.RNN's own output (stacked, bidirectional, classifier
and language model); the hook point it reads sees exactly what the recurrence consumes; the page
and the command show the same walkthrough."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence

import core.learn.recurrent
from core.assemble import load_dataset
from core.cli.main import main as lmwb
from core.config import apply_overrides, default_config
from core.errors import ConfigError
from core.inspect.activations import caching
from core.learn.chapters import chapter
from core.learn.walkthrough import MARK
from core.runs import load_trained
from core.store import Store
from tests.learn_pages import open_page
from tests.trained_runs import topics_classifier, train_run
from tests.unit.test_attention_capture import one_thread  # noqa: F401  (autouse: one torch thread)

TEXT = "the team won the match and the crowd cheered"
SUM = "12+34="


def _recurrent(cell: str, **shape: object) -> dict[str, object]:
    return {"name": cell, "embed_dim": 8, "hidden_size": 6, "dropout": 0.3, **shape}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    home = tmp_path_factory.mktemp("lmwb-learn-rnn")
    store = Store(home=home)
    gru_lm = apply_overrides(default_config("language_model"), {
        "data.name": "arithmetic", "data.n_examples": 200, "task.sample_length": 0, "task.context_length": 16,
        **{f"model.{k}": v for k, v in _recurrent("gru", n_layers=2).items()},
        "training.max_steps": 5, "training.eval_every": 5})
    ids = {
        "lstm": train_run(store, "lstm-bi", topics_classifier(
            _recurrent("lstm", n_layers=2, bidirectional=True, pooling="last"), 100, 5)),
        "gru": train_run(store, "gru-lm", gru_lm),
        "rnn": train_run(store, "rnn", topics_classifier(_recurrent("rnn", pooling="mean"), 100, 5)),
    }
    return home, ids


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize(("layer", "step"), [(0, 0), (1, 3)])
def test_states_recomputed_from_the_weights_equal_the_torch_module(home: tuple[Path, dict[str, str]], kind: str,
                                                                   layer: int, step: int) -> None:
    folder, ids = home
    trained = load_trained(Store(home=folder), ids[kind])
    if layer >= trained.model.backbone.rnn.num_layers:
        with pytest.raises(ConfigError, match=r"^layer = 1: .*0 to 0"):
            chapter("recurrent").function()(trained, TEXT, layer=layer, step=step)
        return
    text = SUM if kind == "gru" else TEXT
    walk = chapter("recurrent").function()(trained, text, layer=layer, step=step)
    assert len(walk.checks) >= 2 and all(c.ok for c in walk.checks), [c.sentence() for c in walk.checks]
    gates = {"lstm": ["Input", "Forget", "Candidate", "Output", "Cell", "Hidden"],
             "gru": ["Reset", "Update", "Candidate", "Hidden"], "rnn": ["Hidden"]}[kind]
    heat = [s for s in walk.steps if s.heatmap][1:]  # after the input x_t
    assert [s.title.split()[0] for s in heat] == gates
    # Independently of the chapter's own engine run: the backbone's forward (packed, as a
    # classifier reads a batch) gives the top layer's forward hidden states.
    backbone = trained.model.backbone
    if layer == backbone.rnn.num_layers - 1:
        tokens = trained.tokenizer.encode(text)
        with torch.no_grad():
            hidden = backbone(torch.tensor([tokens]), pad_mask=torch.zeros(1, len(tokens), dtype=torch.bool)).hidden
        assert np.max(np.abs(heat[-1].values - hidden[0, :, :6].double().numpy())) < 1e-5
    detail = next(s for s in walk.steps if s.title.startswith(f"Time step t = {step}"))
    assert detail.cols[0] == "h_(t-1)" and (step > 0 or not detail.matrix()[:, 0].any())
    assert f"t = {step} " in detail.title and "aligned" in walk.steps[-1].tex
    if kind == "lstm":
        assert any("forward direction" in n for n in walk.notes) and any("c_n" in c.what for c in walk.checks)
        assert sum("backward last" in c.what for c in walk.checks) == 2  # h_n and c_n of the other direction


def test_a_wrong_gate_function_fails_the_checks(home: tuple[Path, dict[str, str]],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    folder, ids = home
    trained = load_trained(Store(home=folder), ids["gru"])
    monkeypatch.setattr(core.learn.recurrent, "_sigmoid", np.tanh)
    walk = chapter("recurrent").function()(trained, SUM)
    assert not any(c.ok for c in walk.checks if "h_t" in c.what)


def test_hook_embed_sees_what_the_recurrence_consumes(home: tuple[Path, dict[str, str]]) -> None:
    folder, ids = home
    model = load_trained(Store(home=folder), ids["lstm"]).model
    backbone = model.backbone
    consumed: list[object] = []
    handle = backbone.rnn.register_forward_pre_hook(lambda module, args: consumed.append(args[0]))
    ids_ = torch.tensor([[5, 6, 7, 8], [9, 10, 0, 0]])
    pad_mask = torch.tensor([[False] * 4, [False, False, True, True]])
    try:
        model.eval()
        with torch.no_grad():
            plain = model(ids_, pad_mask)
            model.train()  # dropout on: the point must sit after it
            with caching(model, ["backbone.hook_embed"]) as seen:
                model(ids_, pad_mask)
                model(ids_[:1])  # unpacked (a language model's path)
            model.eval()
            with caching(model, ["backbone.hook_embed"]):
                hooked = model(ids_, pad_mask)
    finally:
        handle.remove()
        model.eval()
    packed, unpacked = consumed[1], consumed[2]
    first, second = seen["backbone.hook_embed"]
    lengths = torch.tensor([4, 2])
    torch.testing.assert_close(pack_padded_sequence(first, lengths, batch_first=True).data, packed.data,
                               rtol=0, atol=0)
    torch.testing.assert_close(second, unpacked, rtol=0, atol=0)
    assert not torch.equal(first[0], backbone.tokens(ids_)[0])  # dropout was on: the point is after it
    torch.testing.assert_close(hooked, plain, rtol=0, atol=0)  # listening changes nothing


def test_bad_knobs_are_refused_by_name(home: tuple[Path, dict[str, str]]) -> None:
    folder, ids = home
    trained = load_trained(Store(home=folder), ids["rnn"])
    with pytest.raises(ConfigError, match=r"^step = 40: .*0 to 8"):
        chapter("recurrent").function()(trained, TEXT, step=40)
    with pytest.raises(ConfigError, match=r"^recurrent\.step = -1"):
        chapter("recurrent").knob_values({"step": -1})
    with pytest.raises(ConfigError, match=r"^recurrent\.layer = 'two'"):
        chapter("recurrent").knob_values({"layer": "two"})


def test_the_command_prints_the_gates_and_checks(home: tuple[Path, dict[str, str]],
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    folder, ids = home
    monkeypatch.setenv("LMWB_HOME", str(folder))
    assert lmwb(["learn", "recurrent", ids["lstm"], TEXT, "--step", "2", "--layer", "1"]) == 0
    out = capsys.readouterr().out
    assert "Forget gate f_t" in out and "Time step t = 2 ('won')" in out
    assert out.count("check:") >= 3 and "DIFFERENT" not in out


def test_the_learn_page_draws_the_chapter_from_its_link(home: tuple[Path, dict[str, str]],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    folder, ids = home
    at = open_page("learn", folder, monkeypatch, {"chapter": "recurrent", "run": ids["gru"], "text": SUM, "step": "3", "layer": "1"})
    assert at.number_input(key="learn.g1.recurrent.step").value == 3
    assert len(at.success) >= 2 and not at.error
    assert any("Update gate" in m.value for m in at.markdown)
    at.number_input(key="learn.g1.recurrent.step").set_value(4).run()
    assert not at.exception and at.query_params["step"] == "4" and not at.error


@pytest.mark.parametrize(("direction", "unit", "step"), [("forward", 4, 2), ("backward", 3, 2), ("backward", 5, 8)])
def test_the_chosen_unit_and_direction_are_worked_through(home: tuple[Path, dict[str, str]], direction: str,
                                                          unit: int, step: int) -> None:
    folder, ids = home
    trained = load_trained(Store(home=folder), ids["lstm"])
    rnn = trained.model.backbone.rnn
    walk = chapter("recurrent").function()(trained, TEXT, layer=1, step=step, unit=unit, direction=direction)
    assert all(c.ok for c in walk.checks), [c.sentence() for c in walk.checks]
    heat = [s for s in walk.steps if s.heatmap]
    assert all(s.mark == step for s in heat)  # the worked time step's row is pointed out in every heatmap
    # Independently: the backbone's own output, whose last 6 features are the backward direction.
    tokens = trained.tokenizer.encode(TEXT)
    with torch.no_grad():
        out = trained.model.backbone(torch.tensor([tokens]), pad_mask=torch.zeros(1, len(tokens), dtype=torch.bool))
    half = slice(0, 6) if direction == "forward" else slice(6, 12)
    assert np.max(np.abs(heat[-1].values - out.hidden[0, :, half].double().numpy())) < 1e-5
    # The worked equations are unit `unit`'s, from the direction's own weights: the input part of
    # each gate is that unit's row of PyTorch's stacked weight_ih (…_reverse reading backward).
    suffix = "_reverse" if direction == "backward" else ""
    w_ih, b_ih = (getattr(rnn, f"{n}_l1{suffix}").detach().double().numpy() for n in ("weight_ih", "bias_ih"))
    x_t = heat[0].values[step]
    worked = walk.steps[-1]
    assert f"unit {unit}:" in worked.title and worked.rows[1].endswith("t+1) + b_h" if suffix else "t-1) + b_h")
    rows = [g * 6 + unit for g in range(4)]
    assert np.allclose(worked.values[0], w_ih[rows] @ x_t + b_ih[rows], atol=1e-9)
    table = next(s for s in walk.steps if s.title.endswith("every unit"))
    assert table.rows[unit] == f"unit {unit}" and table.mark == unit and table.matrix().shape == (6, 8)
    assert walk.text().split(f"== {table.title}")[1].split("\n")[3 + unit].startswith(f"unit {unit}{MARK}")
    if direction == "backward":
        assert any("backward direction" in n for n in walk.notes)
        h_next = heat[-1].values[step + 1] if step + 1 < len(tokens) else np.zeros(6)
        assert np.allclose(table.matrix()[:, 0], h_next)  # the state before t, reading right to left


def test_a_unidirectional_run_says_so_and_a_unit_it_lacks_is_refused(home: tuple[Path, dict[str, str]]) -> None:
    folder, ids = home
    trained = load_trained(Store(home=folder), ids["gru"])
    walk = chapter("recurrent").function()(trained, SUM, direction="backward", unit=5)
    assert any("not bidirectional" in n and "Direction does not apply" in n for n in walk.notes)
    assert "unit 5:" in walk.steps[-1].title and all(c.ok for c in walk.checks)
    with pytest.raises(ConfigError, match=r"^unit = 6: .*0 to 5"):
        chapter("recurrent").function()(trained, SUM, unit=6)
    with pytest.raises(ConfigError, match=r"^recurrent\.direction = 'up'"):
        chapter("recurrent").knob_values({"direction": "up"})


def test_the_page_opens_on_the_unit_and_direction_and_marks_the_step(home: tuple[Path, dict[str, str]],
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    folder, ids = home
    at = open_page("learn", folder, monkeypatch, {"chapter": "recurrent", "run": ids["lstm"], "text": TEXT,
                                                 "step": "1", "layer": "0", "unit": "2", "direction": "backward"})
    assert at.number_input(key="learn.g1.recurrent.unit").value == 2
    assert at.selectbox(key="learn.g1.recurrent.direction").value == "backward"
    assert not at.error and len(at.success) >= 4
    assert any("backward direction" in c.value for c in at.caption)
    assert any("unit 2: the equations" in m.value for m in at.markdown)
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    # Every heatmap's row of the worked time step (token 1, "team (1)": "the" repeats, so all are numbered) carries the mark, framed.
    assert charts and all(c["data"][0]["y"][1] == f"team (1){MARK}" and c["layout"]["shapes"] for c in charts)
    [table] = [d.value for d in at.dataframe if f"unit 2{MARK}" in d.value.index]
    assert list(table.columns)[:2] == ["h_(t+1)", "c_(t+1)"] and len(table) == 6


def test_a_classifier_run_opens_on_a_sentence_of_its_own(home: tuple[Path, dict[str, str]],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    folder, ids = home
    trained = load_trained(Store(home=folder), ids["rnn"])
    known = trained.task.encode  # the classifier's own reading of a text

    def unknown(text: str) -> int:
        return sum(i == trained.tokenizer.unk_id for i in known([text])[0])

    assert unknown(chapter("recurrent").default_text) > 0  # the chapters' fixed sentence misses
    at = open_page("learn", folder, monkeypatch, {"chapter": "recurrent", "run": ids["rnn"]})
    text = at.text_input(key="learn.g1.recurrent.text").value
    first = load_dataset(trained.config).validation.texts[0]
    assert text and first.startswith(text) and unknown(text) == 0 and at.query_params["text"] == text
    assert not at.error and len(at.success) >= 2
