"""curate review: the Streamlit entry point (started by `curate review`; the workspace comes from $CURATE_DB)."""

from __future__ import annotations

import getpass
import importlib
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if HERE.name == "_ui":  # installed from a wheel, which ships this folder inside curate
    PACKAGE = "curate._ui"
else:  # a checkout's top-level ui/ package: streamlit puts ui/ itself on the path, the pages need its parent
    PACKAGE = "ui"
    if str(HERE.parent) not in sys.path:
        sys.path.insert(0, str(HERE.parent))

import streamlit as st  # noqa: E402

from curate.review import ReviewService, datasets_with_findings  # noqa: E402

S = importlib.import_module(f"{PACKAGE}.state")
empty = importlib.import_module(f"{PACKAGE}.views.empty")
review = importlib.import_module(f"{PACKAGE}.views.review")

st.set_page_config(page_title="curate review", page_icon=":material/rule:", layout="wide")

DB = os.environ.get("CURATE_DB", "curate.duckdb")
st.session_state.setdefault(S.REVIEWER, os.environ.get("CURATE_REVIEWER") or getpass.getuser())
svc = ReviewService(DB, reviewer=st.session_state[S.REVIEWER])

if not Path(DB).exists():
    empty.render(DB, [])
    st.stop()
datasets = svc.call(lambda ws: ws.datasets())
with_runs = svc.call(datasets_with_findings)
if not with_runs:
    empty.render(DB, datasets)
    st.stop()
st.sidebar.title("curate review")
st.sidebar.caption(f"workspace `{DB}`")
review.render(svc, with_runs)
