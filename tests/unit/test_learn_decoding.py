"""The decoding chapter: the top-k and top-p kept sets and renormalised probabilities equal what
the engine's sampling filter keeps on the model's own logits; the greedy continuation equals
``generate``; the beam tree's best hypothesis equals the translation task's beam search, and the
tree adds up; bad knobs are refused by name; the page opens from a link and the command prints it."""

from __future__ import annotations

import ast
from pathlib import Path
from urllib.parse import parse_qsl

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from app.navigation import page_path
from core.cli.main import main as lmwb
from core.config import apply_overrides, default_config
from core.decoding.sampling import filtered_logits
from core.errors import ConfigError
from core.learn.chapters import chapter
from core.runs import load_trained, translate_texts
from core.store import Store
from tests.learn_pages import open_page
from tests.trained_runs import train_run
from tests.unit.test_attention_capture import one_thread  # noqa: F401  (autouse: one torch thread)

MAIN = Path(__file__).resolve().parents[2] / "app" / "main.py"
PROMPT = "12+34="
SOURCE = "a b c d e"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    home = tmp_path_factory.mktemp("lmwb-learn-decoding")
    store = Store(home=home)
    lm = {"data.name": "arithmetic", "data.n_examples": 200, "task.sample_length": 0, "task.context_length": 16,
          "training.max_steps": 5, "training.eval_every": 5}
    gpt = apply_overrides(default_config("language_model"), {
        **lm, "model.d_model": 16, "model.n_heads": 2, "model.n_layers": 1, "model.d_ff": 32})
    gru = apply_overrides(default_config("language_model"), lm)
    gru["model"] = {"name": "gru", "embed_dim": 8, "hidden_size": 8}
    runs = {"gpt": gpt, "gru": gru}
    for name, model in (("transformer", {"name": "transformer_seq2seq", "d_model": 16, "n_heads": 2, "d_ff": 32,
                                         "encoder_layers": 1, "decoder_layers": 1}),
                        ("rnn", {"name": "seq2seq_rnn", "cell": "gru", "attention": "bahdanau", "embed_dim": 8,
                                 "hidden_size": 8})):
        raw = default_config("translation")
        raw["data"]["n_examples"] = 100
        raw["task"]["eval_max_sentences"] = 4
        raw["model"] = model
        raw["training"].update(max_steps=10, eval_every=10, batch_size=16)
        runs[name] = raw
    return home, {name: train_run(store, name, raw) for name, raw in runs.items()}


def _step(walk, title: str):  # type: ignore[no-untyped-def]
    return next(s for s in walk.steps if s.title.startswith(title))


@pytest.mark.parametrize(("run", "knobs"), [("gpt", {"temperature": 0.5, "top_k": 3, "top_p": 0.2}),
                                            ("gru", {"temperature": 2.0, "top_k": None, "top_p": 0.5}),
                                            ("transformer", {"temperature": 1.0, "top_k": 4, "top_p": 0.9})])
def test_kept_sets_are_the_samplers(home: tuple[Path, dict[str, str]], run: str, knobs: dict) -> None:
    folder, ids = home
    trained = load_trained(Store(home=folder), ids[run])
    walk = chapter("decoding").function()(trained, PROMPT if run in ("gpt", "gru") else SOURCE,
                                          **chapter("decoding").knob_values(knobs))
    assert len(walk.checks) >= 8 and all(c.ok for c in walk.checks), [c.sentence() for c in walk.checks]
    if run == "transformer":
        return  # a translation run's first-step logits: the beam test reads them
    # The model's own logits after the prompt, and the engine's filter on them, outside the chapter.
    prompt = torch.tensor([trained.tokenizer.encode(PROMPT)])
    with torch.no_grad():
        trained.model.eval()
        z = trained.model(prompt)[0, -1:].float()
    t, k, p = knobs["temperature"], knobs["top_k"], knobs["top_p"]
    for title, column, cut in (("Top-k", 2, (k, None)), ("Top-p", 3, (None, p)), ("Top-p", 4, (k, p))):
        engine = torch.sort(filtered_logits(z, t, *cut).softmax(-1)[0], descending=True).values.double().numpy()
        shown = _step(walk, title).matrix()[:, column]
        kept = int((engine > 0).sum())
        assert int((shown > 0).sum()) == kept and np.allclose(shown[:kept], engine[:kept], atol=1e-6)
    first = _step(walk, "Next-token scores").matrix()
    assert np.allclose(first[0], torch.sort(z[0], descending=True).values[:10].numpy(), atol=1e-5)
    nucleus = _step(walk, "The nucleus")
    assert nucleus.curve and nucleus.matrix()[nucleus.mark, 1] >= p - 1e-9
    assert nucleus.mark == 0 or nucleus.matrix()[nucleus.mark - 1, 1] < p


@pytest.mark.parametrize(("run", "beam", "steps"), [("transformer", 3, 5), ("rnn", 2, 6), ("rnn", 4, 3)])
def test_the_beam_trees_best_is_the_engines(home: tuple[Path, dict[str, str]], run: str, beam: int,
                                            steps: int) -> None:
    folder, ids = home
    trained = load_trained(Store(home=folder), ids[run])
    walk = chapter("decoding").function()(trained, SOURCE, **chapter("decoding").knob_values(
        {"beam": beam, "steps": steps}))
    assert all(c.ok for c in walk.checks), [c.sentence() for c in walk.checks]
    assert any(c.what.startswith("the tree's best hypothesis") for c in walk.checks)
    tree = _step(walk, f"Beam search, beam {beam}")
    by_name = dict(zip(tree.rows, tree.text, strict=True))
    for name, (parent, _, logp, total, _status) in by_name.items():
        # Each hypothesis's score is its parent's plus the log-probability of the token it adds.
        before = 0.0 if parent == "<bos>" else float(by_name[parent][3])
        assert abs(before + float(logp) - float(total)) < 2e-4, name
        assert parent == "<bos>" or "kept" in by_name[parent][4]
    depths = {name.split(".")[0] for name in tree.rows}
    for d in depths:
        statuses = [row[4] for name, row in by_name.items() if name.split(".")[0] == d]
        assert len(statuses) <= 2 * beam and sum("kept" in s for s in statuses) <= beam
    # The engine's translation of the same source with the same beam and length, through the runs API.
    engine = translate_texts(trained, [SOURCE], beam=beam, max_len=steps)[0]
    best = ast.literal_eval(tree.note.split("Best: ")[1].split(", score")[0])
    assert best.replace(" ", "") == engine.replace(" ", "")  # the task detokenises words; the tree shows tokens


def test_bad_knobs_are_refused_by_name() -> None:
    learn = chapter("decoding")
    for knobs, pattern in (({"top_p": 0.0}, r"^decoding\.top_p = 0"), ({"beam": 0}, r"^decoding\.beam = 0"),
                           ({"temperature": -1}, r"^decoding\.temperature = -1"), ({"steps": 31}, r"^decoding\.steps = 31"),
                           ({"top_k": 0}, r"^decoding\.top_k = 0")):
        with pytest.raises(ConfigError, match=pattern):
            learn.knob_values(knobs)


def test_the_command_prints_the_kept_sets_and_checks(home: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    folder, ids = home
    monkeypatch.setenv("LMWB_HOME", str(folder))
    assert lmwb(["learn", "decoding", ids["gpt"], PROMPT, "--top-k", "3", "--temperature", "0.7", "--steps", "4"]) == 0
    out = capsys.readouterr().out
    assert "Top-k, k = 3: the 3 most likely kept" in out and "Greedy decoding, 4 steps" in out
    assert out.count("check:") == 8 and "DIFFERENT" not in out


def test_the_learn_page_draws_the_chapter_from_its_link(home: tuple[Path, dict[str, str]],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    folder, ids = home
    at = open_page("learn", folder, monkeypatch, {"chapter": "decoding", "run": ids["transformer"], "text": SOURCE, "beam": "2",
                            "top_p": "0.5"})
    assert at.number_input(key="learn.g1.decoding.beam").value == 2
    assert len(at.success) == 9 and not at.error
    assert any("Beam search, beam 2" in m.value for m in at.markdown)
    # The beam table is drawn as a tree too: a node per row, a line to the node it grew from.
    [tree] = [c for c in at.get("plotly_chart") if '"depth (tokens)"' in c.proto.spec]
    walk = chapter("decoding").function()(load_trained(Store(home=folder), ids["transformer"]), SOURCE, beam=2,
                                           **{k: v for k, v in chapter("decoding").knob_values({}).items() if k != "beam"})
    rows = next(s for s in walk.steps if s.tree).text
    assert tree.proto.spec.count('"mode":"lines"') == len(rows)


def test_the_playground_links_to_the_chapter_on_its_run_and_input(home: tuple[Path, dict[str, str]],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    folder, ids = home
    monkeypatch.setenv("LMWB_HOME", str(folder))
    monkeypatch.setenv("LMWB_NO_WORKERS", "1")
    at = AppTest.from_file(str(MAIN), default_timeout=60).run()
    at.session_state["run_id"] = ids["transformer"]
    at.switch_page(str(page_path("playground"))).run()
    at.text_area(key="playground_source").input(SOURCE).run()
    at.number_input(key="playground.beam_size").set_value(2).run()
    assert not at.exception, [e.value for e in at.exception]
    [link] = [p for p in at.get("page_link") if p.proto.label == "How is this computed?"]
    query = dict(parse_qsl(link.proto.query_string))
    assert query == {"chapter": "decoding", "run": ids["transformer"], "text": SOURCE, "beam": "2"}
    at.query_params.update(query)  # followed: the chapter on the same run, source and beam
    at.switch_page(str(page_path("learn"))).run()
    assert not at.exception and len(at.success) == 9 and not at.error
    assert any("Beam search, beam 2" in m.value for m in at.markdown)


def test_a_long_prompt_is_shown_cut_and_the_score_is_worded_as_its_formula(home: tuple[Path, dict[str, str]]) -> None:
    folder, ids = home
    trained = load_trained(Store(home=folder), ids["gru"])
    prompt = "12+34=46 5+6=11 7+"  # 18 characters, 18 tokens of the arithmetic tokenizer
    n = len(trained.tokenizer.encode(prompt))
    walk = chapter("decoding").function()(trained, prompt, **chapter("decoding").knob_values({}))
    [note] = [x for x in walk.notes if x.startswith("The prompt is")]
    assert note.startswith(f"The prompt is {n} tokens: … ") and f"{n - 12} before them not shown" in note
    short = chapter("decoding").function()(trained, PROMPT, **chapter("decoding").knob_values({}))
    assert not any("…" in x for x in short.notes if x.startswith("The prompt is"))
    # The formula divides by |y|^α: the words say so, not "summed log-probabilities" alone.
    assert r"\frac{1}{|y|^{\alpha}}" in walk.formula
    [score] = [s.meaning for s in walk.symbols if s.tex == r"\mathrm{score}(y)"]
    assert "divided by |y|^α" in score
