"""`curate queue`, `decide`, `bulk`, `undo`, `history` and `review`: the reviewers' side, in the terminal and the
browser."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table

from curate.cli.app import (AllOpt, DetOpt, JsonOpt, LabelOpt, MaxOpt, MinOpt, ReviewerOpt, RunOpt, SplitOpt, StatusOpt,
                            SuggestedOpt, TextOpt, queue_filter, reviewer_name, app, emit_json, err, handle_errors, out,
                            workspace)
from curate.errors import CurateError


@app.command()
@handle_errors
def queue(
    ctx: typer.Context, name: str = typer.Argument(..., help="Dataset name."), run: list[str] = RunOpt,
    detector: list[str] = DetOpt, split: Optional[str] = SplitOpt, label: Optional[str] = LabelOpt,
    suggested: Optional[str] = SuggestedOpt, min_score: float = MinOpt, max_score: float = MaxOpt,
    every: bool = AllOpt, status: str = StatusOpt, text: Optional[str] = TextOpt,
    top: int = typer.Option(20, "--top", "-n", min=1, help="How many to list."),
    learn: bool = typer.Option(True, "--learn/--no-learn", help="Re-rank the next findings from the decisions so "
                               "far (every 25 decisions, once they predict errors better than the detectors)."),
    reviewer: Optional[str] = ReviewerOpt, as_json: bool = JsonOpt,
) -> None:
    """The review queue of a filter (what the review UI shows): counts, progress and the first findings."""
    from curate.review import build_queue, progress

    flt = queue_filter(name, run, detector, split, label, suggested, min_score, max_score, every, status, text, learn)
    with workspace(ctx, read_only=True) as ws:
        q = build_queue(ws, flt)
        prog = progress(ws, q, reviewer=reviewer_name(reviewer))
    rows = q.items.head(top).to_dict(orient="records")
    if as_json:
        learning = None if q.learned is None else {
            "decisions": q.learned.decisions, "reranked": q.learned.used, "note": q.learned.note,
            "next_precision": q.learned.next_precision, "corrections": q.learned.corrections}
        emit_json({"filter": flt.model_dump(), "runs": q.runs, "progress": prog, "learning": learning, "items": rows})
        return
    out.print(f"queue of '{name}' ({flt.describe()}): {prog['total']} examples, {prog['reviewed']} reviewed, "
              f"{prog['remaining']} to go; runs: {', '.join(q.runs.values()) or 'none'}")
    if q.learned is not None:
        out.print(q.learned.note)
    table = Table("flags", "score", "id", "split", "label", "suggested", "status", "detectors", box=None)
    for r in rows:
        table.add_row(str(r["n_flagged"]), f"{r['score']:.3f}", r["id"], r["split"], str(r["label"]),
                      str(r["suggested"] or ""), r["status"], r["detectors"])
    out.print(table)
    for d in prog["detectors"]:
        if d["reviewed"]:
            out.print(f"{d['detector']}: {d['confirmed']} of {d['reviewed']} reviewed flags confirmed "
                      f"(precision {d['precision']:.2f})")


@app.command()
@handle_errors
def decide(
    ctx: typer.Context, name: str = typer.Argument(..., help="Dataset name."),
    example_id: str = typer.Argument(..., help="Example id."),
    action: str = typer.Argument(..., help="keep, relabel or remove."),
    label: Optional[str] = typer.Option(None, "--label", "-l", help="New label (relabel)."),
    new_label: bool = typer.Option(False, "--new-label", help="Allow a label the dataset does not have yet."),
    note: Optional[str] = typer.Option(None, "--note"), reviewer: Optional[str] = ReviewerOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Record one decision on an example (appended to the decision log; undo with `curate undo`)."""
    from curate.review import decide as do_decide

    with workspace(ctx) as ws:
        seq = do_decide(ws, name, example_id, action, new_label=label, note=note, reviewer=reviewer_name(reviewer),
                        source="cli", allow_new_label=new_label)
    if as_json:
        emit_json({"seq": seq, "example_id": example_id, "action": action, "new_label": label})
        return
    out.print(f"{example_id}: {action}" + (f" -> {label}" if label else "") + f" (decision {seq})")


@app.command()
@handle_errors
def bulk(
    ctx: typer.Context, name: str = typer.Argument(..., help="Dataset name."),
    action: str = typer.Argument(..., help="keep, relabel or remove."),
    label: Optional[str] = typer.Option(None, "--to", help="Relabel target, or @suggested for each example's "
                                        "suggested label."),
    run: list[str] = RunOpt, detector: list[str] = DetOpt, split: Optional[str] = SplitOpt,
    cur_label: Optional[str] = LabelOpt, suggested: Optional[str] = SuggestedOpt, min_score: float = MinOpt,
    max_score: float = MaxOpt, every: bool = AllOpt,
    status: str = typer.Option("unreviewed", "--status", help="Which review states to touch (default: unreviewed)."),
    text: Optional[str] = TextOpt, yes: bool = typer.Option(False, "--yes", "-y", help="Apply without asking."),
    new_label: bool = typer.Option(False, "--new-label", help="Allow a label the dataset does not have yet."),
    note: Optional[str] = typer.Option(None, "--note"), reviewer: Optional[str] = ReviewerOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Apply one action to every finding a filter matches (previewed, then confirmed; undo with --batch)."""
    from curate.review import bulk_apply, bulk_preview

    flt = queue_filter(name, run, detector, split, cur_label, suggested, min_score, max_score, every, status, text)
    with workspace(ctx) as ws:
        preview = bulk_preview(ws, flt, action, label)
        if not yes:
            if as_json:
                emit_json({"preview": preview, "applied": 0})
                return
            out.print(f"{action}{' -> ' + label if label else ''} on {preview['count']} examples "
                      f"({preview['filter']}); skipped: {preview['skipped']}")
            for e in preview["examples"]:
                out.print(f"  {e['id']}: {e['action']}{' -> ' + e['new_label'] if e['new_label'] else ''}  "
                          f"{e['text'][:90]}")
            if not sys.stdin.isatty() or not typer.confirm("apply?", default=False):
                out.print("nothing applied (pass --yes to apply without asking)")
                return
        result = bulk_apply(ws, flt, action, label, reviewer=reviewer_name(reviewer), note=note,
                            allow_new_label=new_label, expected_count=preview["count"])
    if as_json:
        emit_json({"preview": preview, **result})
        return
    out.print(f"applied {action} to {result['applied']} examples as batch {result['batch']}; "
              f"undo with: curate undo {name} --batch {result['batch']}")


@app.command()
@handle_errors
def undo(
    ctx: typer.Context, name: str = typer.Argument(..., help="Dataset name."),
    example_id: Optional[str] = typer.Argument(None, help="Undo this example's latest decision."),
    batch: Optional[str] = typer.Option(None, "--batch", help="Undo a whole bulk action."),
    reviewer: Optional[str] = ReviewerOpt, as_json: bool = JsonOpt,
) -> None:
    """Undo by appending the state before: one example's latest decision, a bulk batch, or your last step."""
    from curate.decisions import undo as undo_one, undo_batch, undo_last

    who = reviewer_name(reviewer)
    with workspace(ctx) as ws:
        ws.dataset(name)
        if batch:
            result: Any = undo_batch(ws, batch, reviewer=who)
        elif example_id:
            result = {"example_id": example_id, "restored": undo_one(ws, name, example_id, reviewer=who)}
        else:
            result = undo_last(ws, name, reviewer=who)
            if result is None:
                raise CurateError(f"{who} has nothing left to undo on '{name}'")
    if as_json:
        emit_json(result)
        return
    out.print(", ".join(f"{k} {v}" for k, v in result.items()))


@app.command()
@handle_errors
def history(ctx: typer.Context, name: str = typer.Argument(..., help="Dataset name."),
            example_id: str = typer.Argument(..., help="Example id."), as_json: bool = JsonOpt) -> None:
    """Every decision on an example: who did what, when, from which source."""
    from curate.decisions import history as hist

    with workspace(ctx, read_only=True) as ws:
        ws.dataset(name)
        rows = hist(ws, name, example_id)
    if as_json:
        emit_json(rows)
        return
    if not rows:
        out.print(f"no decisions on {example_id}")
    for r in rows:
        out.print(f"{r['seq']}  {str(r['at'])[:19]}  {r['reviewer']}  {r['action']}"
                  f"{' -> ' + r['new_label'] if r['new_label'] else ''}  ({r['source']}){'  ' + r['note'] if r['note'] else ''}")


@app.command()
@handle_errors
def review(
    ctx: typer.Context,
    port: int = typer.Option(8501, "--port", "-p", help="Port to serve on."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (default: this machine only)."),
    reviewer: Optional[str] = ReviewerOpt,
) -> None:
    """Start the review UI in the browser (Streamlit) on this workspace."""
    from curate import api

    db = ctx.obj.db
    if not Path(db).exists():
        raise CurateError(f"no workspace at {db}; run 'curate ingest' first (or pass --db)")
    if host not in ("127.0.0.1", "localhost", "::1"):
        err.print(f"warning: binding {host} exposes the review UI (and the workspace) to the network without "
                  f"authentication")
    out.print(f"review UI for {db}: http://{'localhost' if host == '127.0.0.1' else host}:{port}  (Ctrl+C stops)")
    raise typer.Exit(api.serve_review(db, host=host, port=port, reviewer=reviewer_name(reviewer)))


