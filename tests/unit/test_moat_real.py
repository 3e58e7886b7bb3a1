"""``datamoat moat --input``: the access tiers over real posts, here a dump that went
through ``datamoat ingest file`` (as a user's would), with no burst book behind it."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from datamoat.cli import main
from tests.support.common import moat_tiers

TIERS = moat_tiers(delay_s=60.0)


def test_moat_on_a_file_from_ingest_gives_a_report(tmp_path: Path) -> None:
    dump, posts = tmp_path / "dump.ndjson", tmp_path / "posts.ndjson"
    assert main(["produce", "--seed", "5", "--start", "2026-01-01T00:00:00Z", "--rate", "300",
                 "--posts", "60000", "--output", str(dump), "--quiet"]) == 0  # fmt: skip
    assert main(["ingest", "file", str(dump), "--sort", "--output", str(posts), "--quiet"]) == 0
    config = tmp_path / "moat.toml"
    config.write_text(
        "[moat]\nposts_per_day = 25920000.0\nwindow_s = 10.0\nallowed_lateness_s = 2.0\n"
        "horizon_s = 600.0\nburst_sizes = [100.0]\n" + TIERS,
        encoding="utf-8",
    )
    summary, report = tmp_path / "summary.json", tmp_path / "report"
    rc = main(["moat", "--input", str(posts), "--moat-config", str(config),
               "--summary-json", str(summary), "--report-dir", str(report), "--quiet"])  # fmt: skip
    assert rc == 0
    s = orjson.loads(summary.read_bytes())
    assert s["posts"] == 60_000 and s["windows"] >= 19
    tiers = s["tiers"]
    assert sorted(tiers) == ["decahose", "delayed", "firehose", "sample"]
    fh = tiers["firehose"]
    assert fh["coverage"] == 1.0 and fh["posts_error"] == 0.0  # the file's own posts, exactly
    assert s["reference_episodes"] >= 1  # the demo stream trends at least once (seed 5)
    assert fh["agreement"] == 1.0 and fh["lead_vs_firehose_p50_s"] == 0.0
    assert tiers["delayed"]["lead_vs_firehose_p50_s"] == 60.0  # its delay, exactly
    assert 0 < tiers["sample"]["coverage"] < tiers["decahose"]["coverage"] <= 1.0
    text = (report / "report.md").read_text(encoding="utf-8")
    assert "| sample |" in text and "What does not" in text and "Bluesky" in text


def test_moat_input_that_is_not_posts_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.ndjson"
    bad.write_text('{"hello": 1}\n', encoding="utf-8")
    assert main(["moat", "--input", str(bad), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--input" in err
