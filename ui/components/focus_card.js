// The example in focus, drawn in the browser from a window of cards the server sent (the focus and its
// neighbours in queue order). A shortcut draws the next card at once and sends the action to the server,
// which records it (in order, once: every unacknowledged action is sent again until the server acknowledges
// it) and sends back a new window. Card HTML is built and escaped on the server.
const KEYS = {k: "keep", a: "accept", d: "remove", s: "skip", n: "next", p: "prev", u: "undo", l: "relabel"};
const DECIDE = new Set(["keep", "accept", "remove"]);

function cardOf(s, id) {
  return s.data.cards.find((c) => c.id === id);
}

function show(s, id) {
  const card = id == null ? null : cardOf(s, id);
  s.shown = card ? id : null;
  const saving = s.pending.length ? "<div class='cu-saving'>saving…</div>" : "";
  const waiting = s.pending.length ? "<div class='cu-loading'>loading the next example…</div>" : "";
  s.box.innerHTML = saving + (card ? card.html : waiting);
}

function target(s, kind) {
  const cards = s.data.cards;
  const i = cards.findIndex((c) => c.id === s.shown);
  if (i < 0) return null;
  if (kind === "prev") return i > 0 ? cards[i - 1].id : null;
  if (kind === "next" || kind === "skip") return i + 1 < cards.length ? cards[i + 1].id : null;
  const next = cards.slice(i + 1).find((c) => c.status === "unreviewed" && !s.decided[c.id]);
  return next ? next.id : null;
}

function onKey(s, e) {
  if (e.ctrlKey || e.metaKey || e.altKey || e.repeat) return;
  const el = e.target;
  if (el && (el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName))) return;
  const kind = KEYS[e.key.toLowerCase()];
  if (!kind) return;
  const card = s.shown == null ? null : cardOf(s, s.shown);
  if (!card && kind !== "undo") return;  // nothing drawn yet to act on
  if (kind === "accept" && !(card.suggested && card.suggested !== card.label)) return;
  if (kind === "prev" && target(s, "prev") == null && card.position === 0) return;
  e.preventDefault();
  s.nonce = Math.max(s.nonce + 1, Date.now());
  const action = {nonce: s.nonce, kind: kind, id: card ? card.id : null, seq: card ? card.seq : null,
                  label: kind === "accept" ? card.suggested : null, to: null};
  const moves = kind !== "undo" && kind !== "relabel";  // those two wait for the server's answer
  if (moves) action.to = target(s, kind);
  if (DECIDE.has(kind)) s.decided[card.id] = true;
  s.pending.push(action);
  if (moves) show(s, action.to); else show(s, s.shown);
  s.send("pressed", {actions: s.pending});
  if (moves) {  // key event to the next card painted (two frames later), kept for benchmarks and diagnosis
    const at = e.timeStamp;
    requestAnimationFrame(() => requestAnimationFrame(() => {
      s.latency.push(performance.now() - at);
      if (s.latency.length > 500) s.latency.shift();
    }));
  }
}

export default function (component) {
  const {data, setTriggerValue, parentElement} = component;
  const s = window.__curateCard || (window.__curateCard = {pending: [], nonce: 0, decided: {}, shown: null,
                                                        latency: []});
  s.data = data;
  s.send = setTriggerValue;
  s.box = parentElement.querySelector(".cu-card");
  if (!s.box) {
    s.box = document.createElement("div");
    s.box.className = "cu-card";
    parentElement.appendChild(s.box);
  }
  s.pending = s.pending.filter((a) => a.nonce > data.ack);
  if (s.pending.length) s.send("pressed", {actions: s.pending});  // not acknowledged yet: send again
  if (!s.pending.length) {
    s.decided = {};
    show(s, data.focus);  // the server's word: where it moved, or back to an example that needs attention
  } else {
    show(s, s.shown);  // keys pressed since this window was drawn: stay where the reviewer is
  }
  if (s.handler) document.removeEventListener("keydown", s.handler);
  const handler = (e) => onKey(s, e);
  s.handler = handler;
  document.addEventListener("keydown", handler);
  return () => {
    document.removeEventListener("keydown", handler);
    if (s.handler === handler) s.handler = null;
  };
}
