"""The page of a workspace with nothing to review yet: what to run to get findings."""

from __future__ import annotations

import streamlit as st


def render(db: str, datasets: list[dict]) -> None:
    """Say which commands produce findings for this workspace."""
    st.title("Nothing to review yet")
    if not datasets:
        st.markdown(f"The workspace `{db}` has no datasets. Load one, embed it and run the detectors:")
        st.code("curate ingest PATH --format FORMAT --name NAME\ncurate embed NAME\ncurate detect NAME", language="bash")
        return
    st.markdown(f"The workspace `{db}` has datasets but no detector findings. Run the detectors on one:")
    st.code("\n".join(f"curate embed {d['name']}\ncurate detect {d['name']}" for d in datasets), language="bash")
    st.caption("Then reload this page. `curate detectors` lists the detectors and their parameters.")
