"""The merger's whole state as bytes, and back: what a restart reads instead of history.

A snapshot holds exactly the :class:`~process.stage_two.merger.Merger`'s state as it is
laid out in memory (the open windows' merged frame and pieces, the trend baselines, every
sorted run of the cascade state, the marks and counts), not a merged copy: the layout
decides when pieces merge, when runs compact and when the cascade budget evicts, so a
merger restored from a snapshot and then given the same deltas gives the same signals,
bit for bit, as one that never stopped.

Layout: ``MAGIC``, a 4-byte big-endian header length, the JSON header (the scalars, the
settings the state was built under, and each frame's name and length), then each frame in
Arrow IPC. The settings travel along because a state built under other windows or other
cascade rules is not this merger's state: :func:`load` refuses it (:class:`SnapshotMismatch`).
"""

from __future__ import annotations

import dataclasses
import io
import struct
from typing import Any, Final

import orjson
import polars as pl

from process.cascade_state import CascadeState
from process.delta import Mark
from process.sorted_runs import SortedRuns
from process.stage_two.merger import Merger

__all__ = ["MAGIC", "SnapshotError", "SnapshotMismatch", "dump", "load", "parse", "settings"]

MAGIC: Final = b"DMSNAP1\n"
_LENGTH: Final = struct.Struct(">I")


class SnapshotError(ValueError):
    """The bytes are not a merger snapshot of this format."""


class SnapshotMismatch(SnapshotError):
    """A valid snapshot of a merger with other settings (windows, trends or cascades)."""


def settings(merger: Merger, scope: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the state depends on besides the deltas: a snapshot is only this merger's when
    these are equal. ``scope``: whose deltas it merges (the caller's worker group, input
    topic and partitions), when the caller has one."""
    return {
        "window": dataclasses.asdict(merger.spec),
        "trends": dataclasses.asdict(merger.trend_config),
        "cascades": dataclasses.asdict(merger.cascade_config),
        "scope": scope or {},
    }


def _frames(merger: Merger) -> dict[str, pl.DataFrame]:
    c = merger.cascades
    frames = {"open.merged": merger.open.merged, "trends.state": merger.trends.state}
    frames |= {f"open.piece.{i}": f for i, f in enumerate(merger.open.pieces)}
    frames["cascades.snapshots"] = c.snapshots
    frames |= {f"cascades.pending.{i}": f for i, f in enumerate(c.pending)}
    frames |= {f"cascades.roots.{i}": f for i, f in enumerate(c.state.roots.runs)}
    frames |= {f"cascades.depths.{i}": f for i, f in enumerate(c.state.depths.runs)}
    return frames


def dump(merger: Merger, scope: dict[str, Any] | None = None) -> bytes:
    """The merger's state (taken between deltas: no late rows waiting to be taken)."""
    if merger.late:
        raise ValueError("take the late rows (Merger.take_late) before a snapshot")
    c = merger.cascades
    blobs: list[tuple[str, bytes]] = []
    for name, frame in _frames(merger).items():
        buf = io.BytesIO()
        frame.write_ipc(buf, compression="lz4")
        blobs.append((name, buf.getvalue()))
    header = {
        "settings": settings(merger, scope),
        "closed_through": merger.closed_through,
        "marks": [[p, m.closed_through, m.idle] for p, m in sorted(merger.marks.items())],
        "stats": {**merger.stats.to_json(), "late_after_merge": merger.stats.late_after_merge},
        "trends": {"windows_seen": merger.trends.windows_seen},
        "cascades": {
            "closed_through": c.closed_through,
            "folded_through": c.folded_through,
            "forgot_at": c.forgot_at,
            "evicted": c.evicted,
        },
        "frames": [[name, len(blob)] for name, blob in blobs],
    }
    head = orjson.dumps(header)
    return b"".join([MAGIC, _LENGTH.pack(len(head)), head, *(blob for _, blob in blobs)])


def parse(blob: bytes) -> tuple[dict[str, Any], dict[str, pl.DataFrame]]:
    """The header and the frames of a snapshot (:class:`SnapshotError` when damaged)."""
    if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + _LENGTH.size:
        raise SnapshotError("not a merger snapshot (no DMSNAP1 header)")
    at = len(MAGIC)
    (size,) = _LENGTH.unpack_from(blob, at)
    at += _LENGTH.size
    try:
        header = orjson.loads(blob[at : at + size])
        at += size
        frames = {}
        for name, length in header["frames"]:
            frames[name] = pl.read_ipc(io.BytesIO(blob[at : at + length]))
            at += length
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, OSError,
            pl.exceptions.PolarsError) as exc:  # fmt: skip
        raise SnapshotError(f"a damaged merger snapshot ({exc})") from exc
    if at != len(blob):
        raise SnapshotError(f"a damaged merger snapshot ({len(blob) - at} bytes left over)")
    return header, frames


def _numbered(frames: dict[str, pl.DataFrame], prefix: str) -> list[pl.DataFrame]:
    count = sum(1 for name in frames if name.startswith(prefix + "."))
    return [frames[f"{prefix}.{i}"] for i in range(count)]


def load(merger: Merger, blob: bytes, scope: dict[str, Any] | None = None) -> None:
    """Put the state of ``blob`` into ``merger`` (built with the same settings and
    ``scope``), in place: whoever holds the merger sees the restored state. Everything is
    read and checked before the merger changes: on any error it is as it was."""
    header, frames = parse(blob)
    mine = settings(merger, scope)
    if header.get("settings") != mine:
        raise SnapshotMismatch(
            f"the snapshot's merger had other settings ({header.get('settings')}) than this "
            f"one ({mine})"
        )
    try:
        c, trends, stats = header["cascades"], header["trends"], header["stats"]
        marks = {int(p): Mark(through, bool(idle)) for p, through, idle in header["marks"]}
        counts = type(merger.stats)(
            consumed=int(stats["consumed"]),
            processed=int(stats["processed"]),
            dead_lettered=int(stats["dead_lettered"]),
            late=int(stats["late"]),
            reasons={str(k): int(v) for k, v in stats["reasons"].items()},
            late_after_merge=int(stats["late_after_merge"]),
        )
        windows_seen, evicted = int(trends["windows_seen"]), int(c["evicted"])
        cascade_marks = (c["closed_through"], c["folded_through"], c["forgot_at"])
        closed_through = header["closed_through"]
        merged, trend_state = frames["open.merged"], frames["trends.state"]
        snapshots = frames["cascades.snapshots"]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise SnapshotError(f"a merger snapshot without {exc} (another format?)") from exc
    tracker = merger.cascades
    roots, depths = tracker.state.roots, tracker.state.depths
    merger.open.merged, merger.open.pieces = merged, _numbered(frames, "open.piece")
    merger.trends.state, merger.trends.windows_seen = trend_state, windows_seen
    tracker.snapshots, tracker.pending = snapshots, _numbered(frames, "cascades.pending")
    tracker.state = CascadeState(
        SortedRuns(roots.key, roots.schema, roots.latest_only, _numbered(frames, "cascades.roots")),
        SortedRuns(depths.key, depths.schema, depths.latest_only,
                   _numbered(frames, "cascades.depths")),
    )  # fmt: skip
    tracker.closed_through, tracker.folded_through, tracker.forgot_at = cascade_marks
    tracker.evicted = evicted
    merger.closed_through, merger.marks, merger.stats = closed_through, marks, counts
    merger.late = []
