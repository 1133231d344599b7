"""Low precision on the pages: the Run page's panel that makes a run's int8 variant (as
``lmwb quantize RUN``) and shows its score beside the run's, its size and agreement, and the
``eval --speed`` figures with a Measure button (Compare's); the Playground's choice between the
run's own weights and a variant (core/variants.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import streamlit as st

from app.components.frontier_view import MEASURE_THREADS, measure
from core.errors import WorkbenchError
from core.metrics import metric_label, metric_value
from core.store import ACTIVE_STATUSES, Run, Store
from core.variants import (
    BATCHES,
    PARENT,
    SUMMARY_KEY,
    VARIANTS,
    load_variant,
    make_variant,
    quantizable,
    size_text,
    stored_variants,
)

if TYPE_CHECKING:  # the Run page lists variants without loading torch
    from core.runs import TrainedRun


def quantize_panel(store: Store, run: Run, key: str) -> None:
    """An expander with the run's variants (each scored beside the run), a button that makes (or
    remakes) the int8 one, and the stored ``eval --speed`` figures with a button that measures."""
    with st.expander("Low precision", icon=":material/compress:"):
        if reason := quantizable(run.task, run.arch):
            st.caption(reason[0].upper() + reason[1:] + ".")
            return
        if run.status in ACTIVE_STATUSES:
            st.caption("An int8 variant can be made once the run has stopped.")
            return
        if flash := st.session_state.pop(f"{key}.flash", None):
            st.success(flash, icon=":material/check:")
        st.caption(f"int8: {VARIANTS['int8']}. The same as `lmwb quantize RUN`; the Playground, "
                   "`lmwb predict RUN --variant int8` and `lmwb eval RUN --variant int8` use it.")
        have = stored_variants(store, run.id)
        label = "Remake the int8 variant" if "int8" in have else "Make an int8 variant"
        if st.button(label, key=f"{key}.make", icon=":material/compress:"):
            with st.spinner("Quantising, then scoring it and the run on the validation split…"):
                try:
                    st.session_state[f"{key}.flash"] = make_variant(store, run.id, "int8")
                except (WorkbenchError, OSError) as exc:
                    st.error(str(exc), icon=":material/error:")
                else:
                    st.rerun()  # the button says "Remake" and the table shows the new variant
        if have:
            metric = (run.summary or {}).get("metric") or "accuracy"
            st.dataframe([variant_row(name, m, metric) for name, m in have.items()], hide_index=True,
                         key=f"{key}.variants")
            for name, m in have.items():
                if note := little_saved(name, m):
                    st.caption(note)
        speed_panel(store, run, key)


def variant_row(name: str, manifest: dict[str, Any], metric: str) -> dict[str, str]:
    """A variant's row: its own score and the run's on the same validation rows (kept in its
    manifest when it was made, as ``lmwb eval RUN --variant NAME --with-parent`` computes them),
    its size against the run's, and how often the two predict the same class."""
    scores = manifest.get("scores") or {}
    label = f"val {metric_label(metric)}"

    def score(model: str) -> str:
        value = (scores.get(model) or {}).get(metric)
        return "not kept (remake it)" if value is None else metric_value(metric, value)

    return {
        "variant": name, f"{label}: {name}": score(name), f"{label}: the run ({PARENT})": score(PARENT),
        "size": size_text(manifest["bytes"]), "the run's size": size_text(manifest["parent_bytes"]),
        "same class as the run": f"{manifest['agreement']:.1%} of {manifest['agreement_rows']} validation rows",
        "made from": f"{manifest['checkpoint']} checkpoint",
    }


def little_saved(name: str, manifest: dict[str, Any]) -> str | None:
    """One sentence when the variant is more than half the run's size: what stays fp32."""
    if manifest["bytes"] <= 0.5 * manifest["parent_bytes"]:
        return None
    return (f"{name} saves little here ({size_text(manifest['bytes'])} against "
            f"{size_text(manifest['parent_bytes'])}): only the weight matrices and the embedding table become "
            "int8; the biases, the fp32 scale kept for each output channel and the graph's own structure do "
            "not, and in a model this small they are much of the file.")


def speed_panel(store: Store, run: Run, key: str) -> None:
    """The figures ``lmwb eval RUN --speed`` stored, when there are any, and a Measure button
    (Compare's: the same measurement, kept with the run)."""
    speed = (run.summary or {}).get(SUMMARY_KEY)
    text, button = st.columns([4, 1], vertical_alignment="center")
    if not speed:
        text.caption("`lmwb eval RUN --speed` (or **Measure**) times the run and its variants here and keeps "
                     "the figures with the run.")
    else:
        load = speed.get("load_1min")
        text.caption(f"Measured on {speed['processor']} ({speed['threads']} thread"
                     f"{'s' if speed['threads'] != 1 else ''}" + (f", load {load:.2f}" if load is not None else "")
                     + f"), on the {speed['data']}.")
    if button.button("Measure again" if speed else "Measure", key=f"{key}.measure", icon=":material/speed:",
                     help="Time the run and its variants here (a few seconds each) and keep the figures with "
                          f"the run, as `lmwb eval RUN --speed` does, on {MEASURE_THREADS} torch thread"):
        measure(store, [run], {run.id: run.name}, f"{key}.flash")
    if speed:
        st.dataframe([{
            "model": row["variant"], metric_label(row["metric"]): metric_value(row["metric"], row["value"])
            if row["value"] is not None else "",
            **{f"examples/s at batch {b}": round(row[f"examples_per_s_b{b}"]) for b in BATCHES},
            "size": size_text(row["bytes"]), "parameters": row["params"],
        } for row in speed["rows"]], hide_index=True, key=f"{key}.speed")


@st.cache_resource(max_entries=4, show_spinner="Loading the variant…")
def _load_variant(_store: Store, store_key: str, run_id: str, name: str, made: float) -> TrainedRun:
    # Cached by (store, run, variant, when it was made); ``_store`` itself is not hashed.
    return load_variant(_store, run_id, name)


def cached_variant(store: Store, run_id: str, name: str) -> TrainedRun:
    """The run with its ``name`` variant's weights, loaded once per time the variant was made."""
    have = stored_variants(store, run_id)
    made = (have.get(name) or {}).get("created_at", 0.0)
    return _load_variant(store, f"{store.url}|{store.home}", run_id, name, made)


def variant_select(store: Store, run: Run, trained: TrainedRun, key: str) -> tuple[TrainedRun, str | None]:
    """A choice of the run's own weights or one of its variants (shown only when it has one);
    the run as the chosen one predicts, and the chosen one's name (None: the run has no variant)."""
    have = stored_variants(store, run.id)
    if not have:
        return trained, None
    names = [PARENT, *have]
    chosen = st.segmented_control("Weights", names, default=PARENT, key=key,
                                  help=f"{PARENT}: the run's own; " + "; ".join(f"{n}: {VARIANTS[n]}" for n in have)) or PARENT
    if chosen == PARENT:
        return trained, PARENT
    try:
        return cached_variant(store, run.id, chosen), chosen
    except (WorkbenchError, OSError) as exc:
        st.error(f"Cannot load the {chosen} variant: {exc}")
        return trained, PARENT


def is_variant(trained: TrainedRun) -> bool:
    """Whether ``trained`` predicts through a variant (no gradients: no salience, no attention maps)."""
    return not any(True for _ in trained.model.parameters())
