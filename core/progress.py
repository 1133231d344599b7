"""Training progress in a terminal: a tqdm bar, or a plain line every ~5% in a log.

A trainer callback that `lmwb train` / `resume` and the ranks of a multi-process run (which
print rank 0's progress) are given; a low module, so that no layer imports the CLI for it."""

from __future__ import annotations

import sys
from typing import Any

from tqdm import tqdm

from core.display import format_duration
from core.metrics.catalog import HELDOUT, HELDOUT_LABEL, METRICS, metric_value
from core.metrics.scores import bleu_case_note
from core.throughput import KEY as THROUGHPUT
from core.throughput import LABEL as THROUGHPUT_LABEL
from core.throughput import format_rate

RATE = THROUGHPUT_LABEL.lower()  # "train tokens/s": the run's figure so far, as the Run view shows it


class ProgressPrinter:
    """A trainer callback. On a terminal, a tqdm bar (step, rate, ETA) with the loss, learning
    rate and throughput beside it, and evaluations printed above it; piped to a file, one line
    every ~5% of the steps (a log full of carriage returns is unreadable)."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty()
        self.max_steps = 1
        self.next_mark = 0.0
        self.bar: tqdm | None = None

    def on_start(self, info: dict[str, Any]) -> None:
        self.max_steps = info["max_steps"]
        self.next_mark = info["step"] / self.max_steps
        data = ", ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}" for k, v in info["data"].items())
        total = info.get("total_params", info["params"])
        frozen = f" of {total:,}" if total != info["params"] else ""
        # The precision that really runs (bf16 asked for on a CPU shows here that it did).
        self._print(f"device {info['device']} ({info.get('precision', 'fp32')}) | "
                    f"{info['params']:,} trainable parameters{frozen} | {data}")
        if info["step"]:
            self._print(f"resumed at step {info['step']:,} of {self.max_steps:,}")
        for note in info.get("notes", []):
            self._print(f"note: {note}")
        if self.tty:
            self.bar = tqdm(total=self.max_steps, initial=info["step"], file=self.stream, unit="step",
                            dynamic_ncols=True, leave=True)

    def on_log(self, step: int, m: dict[str, float]) -> None:
        if self.bar is not None:
            self.bar.update(step - self.bar.n)
            self.bar.set_postfix_str(f"loss {m['loss']:.4f} | lr {m['lr']:.2e} | {format_rate(m[THROUGHPUT])} {RATE}",
                                     refresh=True)
        elif step / self.max_steps >= self.next_mark:
            self._print(
                f"step {step:>{len(str(self.max_steps))}}/{self.max_steps} | loss {m['loss']:.4f} | "
                f"lr {m['lr']:.2e} | {format_rate(m[THROUGHPUT])} {RATE} | ETA {format_duration(m['eta_s'])}"
            )
            self.next_mark += 0.05

    def on_eval(self, step: int, metrics: dict[str, float], details: dict[str, Any]) -> None:
        shown = " | ".join(f"{k} {metric_value(k, v)}" for k, v in metrics.items() if k in METRICS and METRICS[k].headline)
        self._print(f"eval step {step}: {shown}")
        if note := bleu_case_note(metrics, details):
            self._print(note)
        if "sample" in details:
            # Each line cut on its own: a long source must not cut off the output below it.
            # Nine lines: three whole translations (source, reference, hypothesis) or nine of text.
            lines = [line if len(line) <= 160 else line[:159] + "…" for line in details["sample"].splitlines()[:9]]
            self._print("sample: " + "\n        ".join(lines))

    def on_stop(self, step: int, by: str) -> None:
        """Nothing: the end's line says the run stopped, and why."""

    def on_end(self, result: Any) -> None:
        if self.bar is not None:
            self.bar.update(result.step - self.bar.n)  # the step it ended at, logged or not
            self.bar.close()
            self.bar = None
        s = result.summary
        best = s.get("best", {})
        metric = str(s.get("metric") or "")
        best_text = (f"best val {metric} {metric_value(metric, best['value'])} at step {best['step']}"
                     if best.get("value") is not None else "")
        held = (best.get(HELDOUT) or {}).get(s.get("metric"))
        if best_text and isinstance(held, int | float):  # the held-out set's figure for the kept checkpoint
            best_text += f" ({HELDOUT_LABEL} {metric} {metric_value(metric, held)})"
        self._print(
            f"{result.status} at step {result.step} in {format_duration(s.get('duration_s'))} "
            f"({format_rate(s.get(THROUGHPUT), missing='?')} {RATE}, evaluations excluded)"
            f"{' | ' + best_text if best_text else ''}"
            + (f" | {result.reason}" if result.reason else "")
        )

    def _print(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text, file=self.stream)  # above the bar, which is redrawn below
        else:
            print(text, file=self.stream, flush=True)
