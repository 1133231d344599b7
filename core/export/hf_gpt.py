"""A GPT run as a Hugging Face ``transformers`` folder in ``GPT2LMHeadModel`` layout.

The workbench decoder is GPT-2's shape (pre-LN blocks, fused QKV, exact-GELU MLP, final
LayerNorm, LayerNorm eps 1e-5), so most of it maps weight for weight:

* ``nn.Linear`` weights are transposed into GPT-2's ``Conv1D`` (in, out) layout;
* ``model.bias: false`` becomes zero biases (GPT-2 always has them: the same function);
* ``nn.GELU`` (erf) is ``activation_function: gelu``, not GPT-2's default tanh ``gelu_new``;
* ``model.tie_weights`` is ``tie_word_embeddings``;
* learned positions are ``wpe``; sinusoidal positions are written into ``wpe`` as the fixed
  table, and the sqrt(d_model) scale the workbench puts on token vectors into ``wte`` (only
  possible with an untied output layer, which would otherwise see that scale too).

The written folder is loaded back with ``AutoModelForCausalLM`` and its logits compared with
the run's on the same ids (to 1e-4) before the export counts as done.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch

from core.errors import WorkbenchError
from core.export import need
from core.export.hf_tokenizer import save_tokenizer

TOLERANCE = 1e-4
PROBES = ("The quick brown fox jumps over the lazy dog.", "def main():\n    return 0\n", "12+5=17")


def check_exportable(trained: Any) -> None:
    """Refuse, in one line naming the config field, what GPT2LMHeadModel cannot express."""
    config = trained.config
    if config.task != "language_model" or config.arch != "transformer_decoder":
        raise WorkbenchError(f"run {trained.run.id} is a {config.task} run of {config.arch}; --format hf exports "
                             "language_model runs of transformer_decoder (GPT); classifiers go to --format onnx")
    model = config["model"]
    if model["positions"] == "sinusoidal" and model["tie_weights"]:
        raise WorkbenchError("model.positions=sinusoidal with model.tie_weights=true cannot be expressed in "
                             "GPT2LMHeadModel: the token vectors are scaled by sqrt(d_model) but the tied output "
                             "layer is not; train with model.positions=learned or model.tie_weights=false")


def gpt2_config(trained: Any) -> Any:
    transformers = need("transformers", "Hugging Face export")
    m = trained.config["model"]
    backbone = trained.model.backbone
    tok = trained.tokenizer
    return transformers.GPT2Config(
        vocab_size=backbone.tokens.embedding.weight.shape[0], n_positions=backbone.positions.max_len,
        n_embd=m["d_model"], n_layer=m["n_layers"], n_head=m["n_heads"], n_inner=m["d_ff"],
        activation_function="gelu", resid_pdrop=m["dropout"], embd_pdrop=m["dropout"], attn_pdrop=m["dropout"],
        layer_norm_epsilon=backbone.ln_f.eps, tie_word_embeddings=bool(m["tie_weights"]),
        bos_token_id=tok.bos_id, eos_token_id=tok.eos_id, pad_token_id=tok.pad_id,
    )


def gpt2_state(trained: Any) -> dict[str, torch.Tensor]:
    """The run's weights under GPT2LMHeadModel's names and layouts."""
    backbone = trained.model.backbone

    def bias(module: torch.nn.Module, size: int) -> torch.Tensor:
        b = getattr(module, "bias", None)
        return b.detach() if b is not None else torch.zeros(size)

    d = backbone.hidden_size
    wte = backbone.tokens.embedding.weight.detach() * backbone.embed_scale
    if backbone.positions.kind == "learned":
        wpe = backbone.positions.embedding.weight.detach()
    else:
        wpe = backbone.positions.table.detach()
    state = {"transformer.wte.weight": wte, "transformer.wpe.weight": wpe,
             "transformer.ln_f.weight": backbone.ln_f.weight.detach(),
             "transformer.ln_f.bias": bias(backbone.ln_f, d)}
    for i, block in enumerate(backbone.blocks):
        pre = f"transformer.h.{i}."
        pairs = {"ln_1": block.ln1, "ln_2": block.ln2}
        for name, ln in pairs.items():
            state[pre + name + ".weight"] = ln.weight.detach()
            state[pre + name + ".bias"] = bias(ln, d)
        linears = {"attn.c_attn": block.attn.qkv, "attn.c_proj": block.attn.proj,
                   "mlp.c_fc": block.mlp.fc, "mlp.c_proj": block.mlp.proj}
        for name, linear in linears.items():
            state[pre + name + ".weight"] = linear.weight.detach().t().contiguous()  # Conv1D: (in, out)
            state[pre + name + ".bias"] = bias(linear, linear.weight.shape[0])
    state["lm_head.weight"] = wte if trained.config["model"]["tie_weights"] else trained.model.lm_head.weight.detach()
    return {k: v.float().cpu().clone() for k, v in state.items()}


def export_hf(trained: Any, out: Path, run_dir: Path) -> str:
    """Write ``out`` (an empty or new folder) and check it; return a line saying what was written.
    ``run_dir``: the run's folder (its samples are probes for the tokenizer check)."""
    check_exportable(trained)
    transformers = need("transformers", "Hugging Face export")
    config = gpt2_config(trained)
    model = transformers.GPT2LMHeadModel(config)
    missing, unexpected = model.load_state_dict(gpt2_state(trained), strict=False)
    problems = [k for k in missing if not k.endswith(".attn.bias")] + list(unexpected)
    if problems:  # a layout this module does not know: a bug, said plainly
        raise WorkbenchError(f"the GPT-2 layout did not take the weights {problems[:3]}")
    model.save_pretrained(str(out))  # config.json + model.safetensors
    save_tokenizer(trained.tokenizer, out, [*PROBES, *_sample_texts(trained, run_dir)])
    (out / "lmwb_export.json").write_text(json.dumps({
        "run_id": trained.run.id, "run_name": trained.run.name, "checkpoint": trained.checkpoint,
        "config": trained.config.to_dict(),
    }, indent=1))
    diff = check_logits(trained, out)
    return (f"wrote a GPT2LMHeadModel of run {trained.run.id} to {out} (logits within {diff:.1e} of the "
            f"workbench's); load it with AutoModelForCausalLM.from_pretrained({str(out)!r})")


def _sample_texts(trained: Any, run_dir: Path) -> list[str]:
    """Texts in the run's own vocabulary: its sample prompt and its last generated sample."""
    texts = [str(trained.task.state.get("sample_prompt") or "")]
    samples = run_dir / "samples.jsonl"
    if samples.is_file():
        lines = samples.read_text(encoding="utf-8").splitlines()
        if lines:
            texts.append(str(json.loads(lines[-1]).get("text", ""))[:2000])
    return [t for t in texts if t]


@torch.no_grad()
def check_logits(trained: Any, out: Path) -> float:
    """Max |logit difference| between the written folder and the run on the same random ids."""
    from transformers import AutoModelForCausalLM

    loaded = AutoModelForCausalLM.from_pretrained(str(out)).eval()
    gen = torch.Generator().manual_seed(0)
    length = min(32, int(trained.config["task"]["context_length"]))
    ids = torch.randint(0, loaded.config.vocab_size, (2, length), generator=gen)
    theirs = loaded(input_ids=ids).logits.float()
    ours = trained.model(ids.to(next(trained.model.parameters()).device)).float().cpu()
    diff = float((theirs - ours).abs().max())
    if not math.isfinite(diff) or diff > TOLERANCE:
        raise WorkbenchError(f"the exported model's logits differ from the run's by {diff:.2e} "
                             f"(more than {TOLERANCE:g}); nothing was kept")
    return diff
