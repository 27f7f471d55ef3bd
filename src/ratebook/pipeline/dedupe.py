"""Stage 3: tell new records from repeats and from conflicting re-uses of an id.

A record is known by ``(entity, origin, record_id)`` forever. Taking rows in file order:

* same id and same content as a row seen before (earlier in the batch, or in the store): a
  counted **duplicate**;
* same id, different content: an ``ID_CONFLICT`` rejection; the first version stays the record,
  the new one is kept with the exception;
* otherwise: **new**.
"""

from __future__ import annotations

import polars as pl

from ratebook.model.frames import empty_frame
from ratebook.model.rejections import Code, no_rejections

_DUPLICATE_SCHEMA = {"row_idx": pl.Int64, "record_id": pl.String}


def dedupe(
    records: pl.DataFrame, known: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Split canonical records into new ones, duplicates and conflicts.

    Args:
        records: canonical records of one origin, in file order (``row_idx`` ascending).
        known: versions already stored for those ids (``model.usage.KNOWN_SCHEMA``), each id's first
            version ahead of its others: a conflict names where that one was seen.

    Returns:
        ``(new, duplicates, conflicts)``: ``new`` keeps the record columns; ``duplicates`` has
        ``row_idx`` and ``record_id``; ``conflicts`` is a rejection frame.

    One function: the batch's own repeats and the store's are one ordered decision.
    """
    ordered = records.sort("row_idx")
    if known.is_empty() and ordered["record_id"].n_unique() == ordered.height:
        # nothing known and no id twice (a push, usually): every record is new
        return ordered, empty_frame(_DUPLICATE_SCHEMA), no_rejections()
    # only a record whose id came earlier in the batch, or is in the store, can repeat or
    # clash: the pairwise checks below run on the rows of those ids alone (most batches
    # repeat about 1% of their ids, and the store knows few of a batch's ids)
    repeated = ordered.filter(~pl.col("record_id").is_first_distinct())["record_id"]
    ids = pl.concat([repeated, known["record_id"]]).unique()
    if ids.is_empty():
        return ordered.select(records.columns), empty_frame(_DUPLICATE_SCHEMA), no_rejections()
    known_pairs = (
        known.select("record_id", "content_sha256")
        .unique()
        .with_columns(pl.lit(True).alias("_pair_known"))
    )
    known_ids = known.group_by("record_id", maintain_order=True).agg(
        pl.col("seen_at").first().alias("_seen_at")
    )
    flagged = (
        ordered.filter(pl.col("record_id").is_in(ids.implode()))
        .join(known_pairs, on=["record_id", "content_sha256"], how="left", maintain_order="left")
        .join(known_ids, on="record_id", how="left", maintain_order="left")
        .with_columns(
            pl.struct("record_id", "content_sha256").is_first_distinct().alias("_pair_first"),
            pl.col("record_id").is_first_distinct().alias("_id_first"),
            pl.col("line").first().over("record_id").alias("_first_line"),
        )
    )
    duplicate = ~pl.col("_pair_first") | pl.col("_pair_known").fill_null(False)
    conflict = ~duplicate & (~pl.col("_id_first") | pl.col("_seen_at").is_not_null())
    flagged = flagged.with_columns(duplicate.alias("_dup"), conflict.alias("_conflict"))

    clash = flagged.filter(pl.col("_conflict"))
    conflicts = (
        clash.select(
            pl.col("row_idx"),
            pl.lit(Code.ID_CONFLICT.value).alias("code"),
            pl.lit(None, pl.String).alias("sub_code"),
            pl.lit("record_id").alias("field"),
            pl.concat_str(
                [
                    pl.lit("record_id '"),
                    pl.col("record_id"),
                    pl.lit("' was already seen with different content at "),
                    pl.coalesce(
                        pl.col("_seen_at"),
                        pl.lit("line ")
                        + pl.col("_first_line").cast(pl.String)
                        + pl.lit(" of this file"),
                    ),
                    pl.lit("; both versions are kept"),
                ]
            ).alias("reason"),
        )
        if not clash.is_empty()
        else no_rejections()
    )
    duplicates = flagged.filter(pl.col("_dup")).select("row_idx", "record_id")
    held_back = flagged.filter(pl.col("_dup") | pl.col("_conflict")).select("row_idx")
    new = ordered.join(held_back, on="row_idx", how="anti", maintain_order="left")
    return new.select(records.columns), duplicates, conflicts
