"""SemEval-2010 Task 8 text: ID<TAB>"sentence with <e1>..</e1> and <e2>..</e2>", the label, a Comment line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from curate.export.base import ExportData, ExportOptions, Exporter, char_spans, register, write_splits


def marked_sentence(row: Any) -> str:
    """The sentence with inline entity markers: the input's own when it had them, else built from the spans."""
    extra = row.meta.get("extra") or {}
    if "sentence" in extra:
        return extra["sentence"]
    spans = char_spans(row.meta)
    text = row.text if "char_spans" in row.meta else " ".join(row.meta["token"])
    cuts = sorted([(spans["subj"][0], "<e1>"), (spans["subj"][1], "</e1>"),
                   (spans["obj"][0], "<e2>"), (spans["obj"][1], "</e2>")], key=lambda c: (c[0], c[1][1] != "/"))
    out, pos = [], 0
    for at, tag in cuts:
        out += [text[pos:at], tag]
        pos = at
    return "".join(out) + text[pos:]


@register
class SemevalExporter(Exporter):
    name = "semeval"
    description = "SemEval-2010 Task 8 text, one <split>.txt per split (subject marked <e1>, object <e2>)"
    tasks = ("relation",)
    reads_back = ("semeval", ".", {})

    def write(self, data: ExportData, out: Path, options: ExportOptions) -> list[Path]:
        def one(path: Path, part) -> None:
            with open(path, "w", encoding="utf-8") as fh:
                for row in part.itertuples():
                    comment = (row.meta.get("extra") or {}).get("comment")
                    fh.write(f'{row.id}\t"{marked_sentence(row)}"\n{row.label}\n'
                             f"Comment:{' ' + comment if comment else ''}\n\n")

        return write_splits(data, out, "{split}.txt", one)
