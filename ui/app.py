"""curate review: the Streamlit entry point (started by `curate review`; the workspace comes from $CURATE_DB)."""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # streamlit puts ui/ itself on the path; the pages import the ui package
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from curate.review import ReviewService  # noqa: E402
from ui import state as S  # noqa: E402
from ui.views import empty, review  # noqa: E402

st.set_page_config(page_title="curate review", page_icon=":material/rule:", layout="wide")

DB = os.environ.get("CURATE_DB", "curate.duckdb")
st.session_state.setdefault(S.REVIEWER, os.environ.get("CURATE_REVIEWER") or getpass.getuser())
svc = ReviewService(DB, reviewer=st.session_state[S.REVIEWER])

if not Path(DB).exists():
    empty.render(DB, [])
    st.stop()
datasets = svc.call(lambda ws: ws.datasets())
with_runs = svc.call(lambda ws: [r[0] for r in ws.con.execute(
    "SELECT DISTINCT dataset FROM runs r WHERE status = 'done' AND EXISTS "
    "(SELECT 1 FROM findings f WHERE f.run_id = r.run_id) ORDER BY 1").fetchall()])
known = {d["name"] for d in datasets}
with_runs = [d for d in with_runs if d in known]
if not with_runs:
    empty.render(DB, datasets)
    st.stop()
st.sidebar.title("curate review")
st.sidebar.caption(f"workspace `{DB}`")
review.render(svc, with_runs)
