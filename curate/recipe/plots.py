"""Report plots with matplotlib: score distribution per detector, flagged share per label, what each export changed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from curate.recipe.results import RecipeResult
from curate.store import Workspace

MAX_LABELS = 15


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: no display in CI
    import matplotlib.pyplot as plt

    return plt


def make_plots(ws: Workspace, result: RecipeResult, folder: Path) -> list[str]:
    """Write the PNGs; returns their paths relative to the output folder."""
    folder.mkdir(parents=True, exist_ok=True)
    written = [scores_plot(ws, result.runs, folder / "scores.png"),
               flagged_by_label_plot(ws, result.runs, folder / "flagged_by_label.png")]
    if result.exports:
        written.append(export_changes_plot(result.exports, folder / "export_changes.png"))
    return [f"{folder.name}/{p.name}" for p in written if p is not None]


def _grid(n: int, plt, width: float = 4.2, height: float = 3.0):
    cols = min(3, n)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    return fig, list(axes.flat[:n])


def scores_plot(ws: Workspace, runs: list[dict[str, Any]], path: Path) -> Path:
    """Histogram of each run's scores, flagged findings stacked on the rest."""
    plt = _pyplot()
    fig, axes = _grid(len(runs), plt)
    bins = np.linspace(0, 1, 26)
    for ax, run in zip(axes, runs):
        rows = ws.con.execute("SELECT score, flagged FROM findings WHERE run_id = ?", [run["run_id"]]).fetchall()
        score = np.array([r[0] for r in rows], dtype=float)
        flagged = np.array([bool(r[1]) for r in rows])
        ax.hist([score[~flagged], score[flagged]], bins=bins, stacked=True, color=["#9aa5b1", "#d64545"],
                label=["not flagged", "flagged"])
        ax.set_yscale("log")
        ax.set_title(f"{run['detector']} on {run['dataset']}\n{int(flagged.sum())} flagged of {len(score)}", fontsize=9)
        ax.set_xlabel("score (higher = more suspect)", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].set_ylabel("examples (log)", fontsize=8)
    axes[0].legend(fontsize=7)
    fig.suptitle("Score distribution per detector run", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def flagged_by_label_plot(ws: Workspace, runs: list[dict[str, Any]], path: Path) -> Path:
    """Per run, the share of each current label's scored examples that were flagged (the most flagged labels)."""
    plt = _pyplot()
    fig, axes = _grid(len(runs), plt, width=4.8, height=3.6)
    for ax, run in zip(axes, runs):
        rows = ws.con.execute(
            "SELECT coalesce(c.label, '<none>'), count(*), sum(f.flagged::INT) FROM findings f "
            "JOIN current_examples c ON c.dataset = ? AND c.id = f.example_id WHERE f.run_id = ? GROUP BY 1",
            [run["dataset"], run["run_id"]]).fetchall()
        rows = sorted(rows, key=lambda r: (-(r[2] / r[1]), r[0]))[:MAX_LABELS][::-1]
        labels = [r[0][:28] for r in rows]
        share = [r[2] / r[1] for r in rows]
        ax.barh(labels, share, color="#d64545")
        for y, (s, r) in enumerate(zip(share, rows)):
            ax.text(s, y, f" {r[2]}/{r[1]}", va="center", fontsize=6)
        ax.set_xlim(0, max(0.05, max(share, default=0) * 1.3))
        ax.set_title(f"{run['detector']} on {run['dataset']}", fontsize=9)
        ax.set_xlabel("flagged share of scored examples", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle("Flagged share per label", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def export_changes_plot(exports: list[dict[str, Any]], path: Path) -> Path:
    """Per export, the most frequent changes: removals per original label, relabels per (from -> to)."""
    plt = _pyplot()
    fig, axes = _grid(len(exports), plt, width=5.2, height=3.6)
    for ax, exp in zip(axes, exports):
        changes: dict[tuple[str, str], int] = {}
        for counts in exp["by_split"].values():
            for label, n in counts["removed_by_label"].items():
                changes[("removed", f"removed {label}")] = changes.get(("removed", f"removed {label}"), 0) + n
            for change, n in counts["relabelled_by_label"].items():
                key = ("relabelled", change.replace(" -> ", " → "))
                changes[key] = changes.get(key, 0) + n
        top = sorted(changes.items(), key=lambda kv: (-kv[1], kv[0][1]))[:MAX_LABELS][::-1]
        ax.set_title(f"{exp['name']} ({exp['variant']}, {exp['format']})\n{exp['removed']} removed, "
                     f"{exp['relabelled']} relabelled of {exp['examples']}", fontsize=9)
        if not top:
            ax.text(0.5, 0.5, "no change", ha="center", va="center", transform=ax.transAxes, fontsize=10)
            ax.set_xticks([])
            ax.set_yticks([])
            continue
        colours = ["#d64545" if kind == "removed" else "#3f7cac" for (kind, _), _ in top]
        ax.barh([_short(name) for (_, name), _ in top], [n for _, n in top], color=colours)
        for y, (_, n) in enumerate(top):
            ax.text(n, y, f" {n}", va="center", fontsize=6)
        ax.set_xlim(0, max(n for _, n in top) * 1.15)
        ax.set_xlabel("examples (red: removed, blue: relabelled)", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle("What each export changed", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _short(text: str, limit: int = 42) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
