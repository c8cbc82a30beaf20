"""Hugging Face `datasets` saved with save_to_disk (a Dataset or a DatasetDict; splits kept)."""

from __future__ import annotations

from pathlib import Path

from curate.errors import InputError
from curate.ingest.base import Sink, Where, register
from curate.ingest.generic import _Generic
from curate.ingest.mapping import FieldOptions, add_record


@register
class HfIngestor(_Generic):
    name = "hf"
    description = "Hugging Face dataset folder from save_to_disk (Dataset or DatasetDict); ClassLabel ids become names"

    def read(self, path: Path, options: FieldOptions, sink: Sink) -> None:
        import datasets

        try:
            loaded = datasets.load_from_disk(str(path))
        except (FileNotFoundError, ValueError) as exc:
            raise InputError(f"not a dataset saved with save_to_disk: {exc}", path=path) from None
        parts = loaded.items() if isinstance(loaded, datasets.DatasetDict) else [(None, loaded)]
        total = 0
        for split, ds in parts:
            names = _label_names(ds, options.label_field)
            tag_split = split is not None and not options.split_field
            opts = options.model_copy(update={"split_field": "__split__"}) if tag_split else options
            for i, rec in enumerate(ds, start=1):
                total += 1
                where = Where(f"{path}[{split}]" if split else str(path), record=i)
                if names is not None and isinstance(rec.get(options.label_field), int):
                    value = rec[options.label_field]
                    if not 0 <= value < len(names):
                        raise where.error(f"class id {value} outside the ClassLabel names", options.label_field)
                    rec[options.label_field] = names[value]
                if tag_split:
                    rec["__split__"] = split
                add_record(sink, rec, where, opts, i)
        if total == 0:
            raise InputError("dataset has no rows", path=path)


def _label_names(ds, field: str) -> list[str] | None:
    feature = ds.features.get(field)
    return list(feature.names) if feature is not None and hasattr(feature, "names") else None
