"""The focus card: the example in focus drawn in the browser, with the next ones ready, and the review keys.

A key press draws the next card at once (no round trip) and sends the action; the server records every
action in order and exactly once (each carries a nonce; the browser resends unacknowledged ones) and sends the
new window with the last nonce it applied. See focus_card.js.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import streamlit as st

from .example import card_html  # relative: the package is ui in a checkout, curate._ui when installed

HERE = Path(__file__).parent
KEY = "rv_card"
_mount = st.components.v2.component("curate_focus_card", js=(HERE / "focus_card.js").read_text(),
                                    css=(HERE / "focus_card.css").read_text(), isolate_styles=False)


def render_card(cards: list[dict], focus: str | None, ack: int, *, on_keys: Callable[[], None]) -> None:
    """Mount the card for focus with its window of neighbours; on_keys runs when the reviewer pressed keys."""
    payload = [{"id": c["id"], "position": c["position"], "status": c["status"], "seq": c["seq"],
                "label": c["label"], "suggested": c["suggested"], "html": card_html(c)} for c in cards]
    _mount(key=KEY, data={"cards": payload, "focus": focus, "ack": ack}, on_pressed_change=on_keys)


def pressed() -> list[dict]:
    """The actions the browser sent with its last key press, oldest first (some may be applied already)."""
    value = (st.session_state.get(KEY) or {}).get("pressed") or {}
    return sorted(value.get("actions") or [], key=lambda a: a.get("nonce", 0))
