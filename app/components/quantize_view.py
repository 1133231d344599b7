"""Low precision on the pages: the Run page's panel that makes a run's int8 variant (as
``lmwb quantize RUN``) and shows its size, agreement and the stored ``eval --speed`` figures; the
Playground's choice between the run's own weights and a variant (core/variants.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from core.errors import WorkbenchError
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
    """An expander with the run's variants and a button that makes (or remakes) the int8 one."""
    with st.expander("Low precision", icon=":material/compress:"):
        if reason := quantizable(run.task, run.arch):
            st.caption(reason[0].upper() + reason[1:] + ".")
            return
        if run.status in ACTIVE_STATUSES:
            st.caption("An int8 variant can be made once the run has stopped.")
            return
        st.caption(f"int8: {VARIANTS['int8']}. The same as `lmwb quantize RUN`; the Playground, "
                   "`lmwb predict RUN --variant int8` and `lmwb eval RUN --variant int8` use it.")
        have = stored_variants(store, run.id)
        label = "Make the int8 variant again" if "int8" in have else "Make an int8 variant"
        if st.button(label, key=f"{key}.make", icon=":material/compress:"):
            with st.spinner("Quantising and checking against the run…"):
                try:
                    st.success(make_variant(store, run.id, "int8"), icon=":material/check:")
                    have = stored_variants(store, run.id)
                except (WorkbenchError, OSError) as exc:
                    st.error(str(exc), icon=":material/error:")
        if have:
            st.dataframe([{
                "variant": name, "size": size_text(m["bytes"]), "the run's size": size_text(m["parent_bytes"]),
                "same class as the run": f"{m['agreement']:.1%} of {m['agreement_rows']} validation rows",
                "made from": f"{m['checkpoint']} checkpoint",
            } for name, m in have.items()], hide_index=True, key=f"{key}.variants")
        speed_table(run)


def speed_table(run: Run) -> None:
    """The figures ``lmwb eval RUN --speed`` stored, when there are any."""
    speed = (run.summary or {}).get(SUMMARY_KEY)
    if not speed:
        st.caption("`lmwb eval RUN --speed` times the run and its variants here and keeps the figures with the run.")
        return
    load = speed.get("load_1min")
    st.caption(f"Measured by `lmwb eval --speed` on {speed['processor']} ({speed['threads']} threads"
               + (f", load {load:.2f}" if load is not None else "") + f"), on the {speed['data']}.")
    st.dataframe([{
        "model": row["variant"], row["metric"]: row["value"],
        **{f"examples/s at batch {b}": round(row[f"examples_per_s_b{b}"]) for b in BATCHES},
        "size": size_text(row["bytes"]), "parameters": row["params"],
    } for row in speed["rows"]], hide_index=True)


@st.cache_resource(max_entries=4, show_spinner="Loading the variant…")
def _load_variant(_store: Store, store_key: str, run_id: str, name: str, made: float) -> TrainedRun:
    # Cached by (store, run, variant, when it was made); ``_store`` itself is not hashed.
    return load_variant(_store, run_id, name)


def variant_select(store: Store, run: Run, trained: TrainedRun, key: str) -> TrainedRun:
    """A choice of the run's own weights or one of its variants (shown only when it has one);
    the run as the chosen one predicts."""
    have = stored_variants(store, run.id)
    if not have:
        return trained
    names = [PARENT, *have]
    chosen = st.segmented_control("Weights", names, default=PARENT, key=key,
                                  help=f"{PARENT}: the run's own; " + "; ".join(f"{n}: {VARIANTS[n]}" for n in have)) or PARENT
    if chosen == PARENT:
        return trained
    try:
        return _load_variant(store, f"{store.url}|{store.home}", run.id, chosen, have[chosen]["created_at"])
    except (WorkbenchError, OSError) as exc:
        st.error(f"Cannot load the {chosen} variant: {exc}")
        return trained


def is_variant(trained: TrainedRun) -> bool:
    """Whether ``trained`` predicts through a variant (no gradients: no salience, no attention maps)."""
    return not any(True for _ in trained.model.parameters())
