"""Text with inline entity markers, SemEval-2010 Task 8 style: ID<TAB>"... <e1>x</e1> ... <e2>y</e2> ...",
then a label line, an optional `Comment:` line and a blank line."""

from __future__ import annotations

import re
from pathlib import Path

from curate.ingest.base import IngestOptions, Ingestor, Sink, Where, read_text, register
from curate.relation import marked_text, spans_from_chars

_HEAD = re.compile(r'^\s*(\S+)\t"?(.*?)"?\s*$')
# Also TACRED names (per:title): a colon only between two non-empty parts, so a `Comment:` line is no label.
_LABEL = re.compile(r"^[A-Za-z][\w\-/.]*(:[\w\-/.]+)*(\((e1,e2|e2,e1)\))?$")
_COMMENT = re.compile(r"^comment\s*(:|$)", re.IGNORECASE)
_MARK = re.compile(r"</?e[12]>")


def strip_markers(sentence: str, where: Where) -> tuple[str, tuple[int, int], tuple[int, int]]:
    """Remove <e1>/<e2> markers and return the plain text with both entities' char spans."""
    tags = [(m.group(0), m.start(), m.end()) for m in _MARK.finditer(sentence)]
    names = [t[0] for t in tags]
    if sorted(names) != sorted(["<e1>", "</e1>", "<e2>", "</e2>"]):
        raise where.error(f"expected exactly one <e1>..</e1> and one <e2>..</e2>, found {names or 'none'}", "sentence")
    out, spans, open_at, pos = [], {}, {}, 0
    length = 0
    for tag, start, end in tags:
        out.append(sentence[pos:start])
        length += start - pos
        pos = end
        name = tag.strip("</>")
        if tag.startswith("</"):
            if name not in open_at:
                raise where.error(f"{tag} comes before its opening tag", "sentence")
            spans[name] = (open_at[name], length)
        else:
            open_at[name] = length
    out.append(sentence[pos:])
    text = "".join(out)
    (s1, e1), (s2, e2) = spans["e1"], spans["e2"]
    if s1 < e2 and s2 < e1:
        raise where.error("the <e1> and <e2> spans overlap", "sentence")
    for name, (s, e) in spans.items():
        if not text[s:e].strip():
            raise where.error(f"<{name}> marks an empty entity", "sentence")
    return text, spans["e1"], spans["e2"]


@register
class SemevalIngestor(Ingestor):
    name = "semeval"
    split_suffixes = (".txt", ".TXT")
    description = "inline entity markers, SemEval-2010 Task 8 layout (ID<TAB>\"..<e1>..</e1>..<e2>..</e2>..\", label, Comment)"
    task = "relation"
    default_negative_label = "Other"
    Options = IngestOptions

    def read(self, path: Path, options: IngestOptions, sink: Sink) -> None:
        lines = read_text(path).splitlines()
        i = 0
        while i < len(lines):
            if not lines[i].strip():
                i += 1
                continue
            where = Where(str(path), line=i + 1)
            head = _HEAD.match(lines[i])
            if not head:
                raise where.error('expected ID<TAB>"sentence"', "sentence")
            ex_id, sentence = head.group(1), head.group(2)
            at_label = Where(str(path), line=i + 2)
            if i + 1 >= len(lines) or not lines[i + 1].strip():
                raise at_label.error(f"missing label line after the sentence of id '{ex_id}'", "label")
            label = lines[i + 1].strip()
            if _COMMENT.match(label):
                raise at_label.error(f"missing label line after the sentence of id '{ex_id}' (found {label!r})", "label")
            if not _LABEL.match(label):
                raise at_label.error(f"not a relation label for id '{ex_id}': {label!r}", "label")
            comment = None
            j = i + 2
            if j < len(lines) and lines[j].startswith("Comment:"):
                comment = lines[j][len("Comment:"):].strip()
                j += 1
            text, subj, obj = strip_markers(sentence, where)
            meta = spans_from_chars(text, subj, obj, where)
            meta["subj_type"] = meta["obj_type"] = None
            meta["char_spans"] = {"subj": list(subj), "obj": list(obj)}
            meta["extra"] = {"sentence": sentence, **({"comment": comment} if comment else {})}
            sink.add_example(ex_id, text, label, meta, where, hash_text=marked_text(meta)[0])
            i = j
