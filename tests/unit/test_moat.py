"""`datamoat moat`: tier slices, the firehose tier against `datamoat truth`, a small study
over seeds (calibration, hold-out, measured), the report files, the README and the committed
summary against the code, determinism and bad input. No test asserts a conclusion on one
seed: the figures' own intervals are what the tests read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import orjson
import polars as pl
import pytest
from PIL import Image
from polars.testing import assert_frame_equal

from datamoat.cli import main
from datamoat.config import REPO_ROOT
from datamoat.errors import ConfigError
from datamoat.moat import Tier, load_moat_config, millis_filter, run_pass, sampled_trend
from datamoat.moat.bursts import true_bursts
from datamoat.moat.measure import available
from ingest.firehose import Burst, Firehose, FirehoseConfig
from process.trends import TrendConfig
from process.windows import WindowSpec
from tests.support.common import moat_tiers

START = "2026-03-01T00:00:00Z"
START_MS = 1_772_323_200_000
PNG = b"\x89PNG\r\n\x1a\n"
TIERS = moat_tiers(delay_s=900.0, every_s=3600.0)
# A small study: 6 simulated hours in 2.5 minutes of event time at 500k posts a simulated
# day, 5-minute windows; 2 calibration, 2 hold-out and 2 measured seeds.
SMALL = f"""
[moat]
posts_per_day = 500000.0
day_in_s = 600.0
duration_s = 21600.0
window_s = 300.0
allowed_lateness_s = 60.0
horizon_s = 3600.0
burst_sizes = [20.0, 50.0, 100.0, 300.0]
calibration_seeds = 2
holdout_seeds = 2
{TIERS}
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# --- tiers ------------------------------------------------------------------------------


def test_default_tiers_are_the_documented_slices() -> None:
    config = load_moat_config(REPO_ROOT / "configs" / "moat.toml")
    tiers = {t.name: t for t in config.tiers}
    assert list(tiers) == ["firehose", "decahose", "sample", "delayed", "hourly"]
    assert tiers["sample"].ms == (657, 666) and tiers["sample"].rate == pytest.approx(0.01)
    assert tiers["decahose"].ms == (600, 699) and tiers["decahose"].rate == pytest.approx(0.1)
    assert tiers["delayed"] == Tier("delayed", None, 900.0)
    assert tiers["hourly"] == Tier("hourly", None, 0.0, 3600.0)


@pytest.mark.parametrize(("ms", "expected"), [((657, 666), range(657, 667)),
                                              ((600, 699), range(600, 700)),
                                              ((0, 0), range(1)), ((999, 999), range(999, 1000)),
                                              (None, range(1000))])  # fmt: skip
def test_tier_filter_selects_exactly_its_milliseconds(ms: Any, expected: range) -> None:
    created = np.arange(START_MS - 1500, START_MS + 3500, dtype=np.int64)  # 5 s, every ms
    frame = pl.DataFrame({"created_at": created})
    got = frame.filter(millis_filter(ms))["created_at"].to_numpy()
    assert set((got % 1000).tolist()) == set(expected)
    assert len(got) == 5 * len(expected)  # each millisecond of each second, once


def test_sampled_score_rule() -> None:
    base = TrendConfig()
    assert sampled_trend(base, 1.0) == base
    one = sampled_trend(base, 0.01)
    assert one.floor == pytest.approx(base.floor * 0.01)  # counts scaled by 1/p
    assert one.min_support == 1  # the support scaled too: no hand-set gate on top
    assert sampled_trend(base, 0.1).min_support == 2


def test_availability_of_delayed_and_batch_tiers() -> None:
    config = load_moat_config(REPO_ROOT / "configs" / "moat.toml")
    clock = config.clock(START_MS)  # a day in an hour: 1 simulated s = 1/24 s
    ends = pl.DataFrame({"window_end": [START_MS + 12_500, START_MS + 150_000]})
    lateness = clock.ms(60)

    def at(tier: Tier) -> list[int]:
        return ends.select(available(tier, clock, lateness).alias("at"))["at"].to_list()

    assert at(Tier("firehose")) == [START_MS + 15_000, START_MS + 152_500]
    assert at(Tier("delayed", None, 900.0)) == [START_MS + 52_500, START_MS + 190_000]
    # batches every simulated hour (150 s of event time), for the hour just ended
    assert at(Tier("hourly", None, 0.0, 3600.0)) == [START_MS + 150_000, START_MS + 300_000]


# --- the firehose tier against `datamoat truth` -------------------------------------------


def test_firehose_tier_equals_truth(tmp_path: Path) -> None:
    # 30 simulated s windows in a day compressed to an hour: 1.25 s of event time each
    moat = write(tmp_path / "moat.toml", f"[moat]\nwindow_s = 30.0\n{TIERS}")
    pipeline = write(tmp_path / "datamoat.toml", "[window]\nsize_s = 1.25\n")
    n, seed = 30_000, 5
    config = load_moat_config(moat)
    fh = FirehoseConfig(rate=config.rate, day_in_s=config.day_in_s)
    done = run_pass(config, config.tiers, Firehose(fh, seed, START_MS, polarity=True), posts=n)
    assert done.posts == n
    got = done.signals[None].sort("window_start", "key")

    assert main(["truth", "--config", str(pipeline), "--seed", str(seed), "--start", START,
                 "--rate", "700", "--day-in", "3600", "--posts", str(n),
                 "--output-dir", str(tmp_path / "truth")]) == 0  # fmt: skip
    want = pl.read_parquet(tmp_path / "truth" / "signals" / "**" / "*.parquet").sort(
        "window_start", "key"
    )
    assert got["window_start"].n_unique() > TrendConfig().warmup_windows  # trends scored too
    assert got.filter(pl.col("trend_score") != 0).height > 0
    ints = [c for c, t in want.schema.items() if t == pl.Int64()]
    assert got.select(ints).equals(want.select(ints))
    assert_frame_equal(got, want, check_exact=False, abs_tol=1e-9)

    # the sampled engines saw exactly their slices of the same posts
    for ms in ((600, 699), (657, 666)):
        star = done.signals[ms].filter(pl.col("key") == "*")
        slice_posts = want.filter(pl.col("key") == "*")["posts"].sum()
        assert 0 < star["posts"].sum() < slice_posts
    stream = done.signals[None].filter(pl.col("key") == "*")["posts"].sum()
    assert stream == n
    # the generator's feeling was summed over every post, per window and key
    feel = done.feel.filter(pl.col("key") == "*")
    assert feel["feel_posts"].sum() == n
    assert feel.join(want.filter(pl.col("key") == "*"), on="window_start")["posts"].sum() == n


# --- a small study over seeds ---------------------------------------------------------------


@pytest.fixture(scope="module")
def small_study(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("moat")
    config = write(tmp / "moat.toml", SMALL)
    summary, report = tmp / "summary.json", tmp / "report"
    rc = main(["moat", "--moat-config", str(config), "--seeds", "2", "--start", START,
               "--procs", "2", "--cache-dir", str(tmp / "cache"),
               "--summary-json", str(summary), "--report-dir", str(report), "--quiet"])  # fmt: skip
    assert rc == 0
    return {"summary": orjson.loads(summary.read_bytes()), "report": report, "tmp": tmp,
            "config": config}  # fmt: skip


def test_every_figure_has_its_interval_and_its_provenance(small_study: dict[str, Any]) -> None:
    s = small_study["summary"]
    assert s["seeds"] == 2 and s["commit"] and s["versions"]["polars"] == pl.__version__
    assert s["trend_rule"]["warmup_windows"] == TrendConfig().warmup_windows
    assert [t["name"] for t in s["tier_definitions"]] == ["firehose", "decahose", "sample",
                                                          "delayed", "hourly"]  # fmt: skip
    assert s["calibration_seeds"] and not set(s["calibration_seeds"]) & set(s["holdout_seeds"])
    assert not set(s["calibration_seeds"]) & {1, 2}  # never a measured seed
    tiers = s["tiers"]
    for name, t in tiers.items():
        for key in ("recall", "lead_time_p50_s", "false_alarms_per_hour", "sentiment_mae",
                    "top10_overlap", "kendall_tau", "unique_authors_error"):  # fmt: skip
            assert key in t, (name, key)  # today's keys stay
        assert t["false_alarms_per_h"] == t["false_alarms_per_hour"]
        lo, hi = t["false_alarms_per_h_ci95"]
        assert lo <= t["false_alarms_per_h"] <= hi
        if t["recall_ci95"] is not None:
            lo, hi = t["recall_ci95"]
            assert 0.0 <= lo <= hi <= 1.0
        assert set(t["detector"]) == {"trend", "sentiment", "early", "trend_early"}
        assert t["detector"]["trend"]["threshold"] > 0
        assert 0.0 < t["coverage"] <= 1.0
        if name != "firehose":
            v = t["versus_firehose"]
            assert 0.0 <= v["mcnemar_p"] <= 1.0 and 0.0 <= v["wilcoxon_p"] <= 1.0
            assert v["events"] == tiers["firehose"]["bursts"]  # paired on the same events
    # full access is exact: counts and sentiment equal the truth wherever it looks
    for name in ("firehose", "delayed", "hourly"):
        t = tiers[name]
        assert t["coverage"] == 1.0 and t["posts_error"] == 0.0 and t["sentiment_mae"] == 0.0
        assert t["detector"] == tiers["firehose"]["detector"]  # the same posts, one detector
    assert tiers["delayed"]["recall"] == tiers["firehose"]["recall"]
    assert [r["tier"] for r in s["curve"]].count("sample") == 7  # common rate + 6 points
    # with early alerts: every tier, at the common rate, never finding less
    assert s["early_rule"]["step_s"] > 0 and s["early_rule"]["min_originals"] >= 1
    for name, t in tiers.items():
        for way in ("early_alerts", "early_alerts_held"):
            e = t[way]
            assert e["bursts"] == t["bursts"] and e["applies"] == (name != "hourly")
            lo, hi = e["either_per_h_ci95"]
            assert lo <= e["either_per_h"] <= hi
            assert ("versus_firehose" in e) == (name != "firehose")
        e = t["early_alerts"]  # on top of the final alarms: never finding less, nor later
        assert e["detected"] >= t["detected"]
        assert e["versus_without"]["only_reference_found"] == 0
        assert (e["versus_without"]["lead_difference_p50_s"] or 0.0) <= 0.0
        held = t["early_alerts_held"]  # held together: both at one threshold, the rate's
        assert held["threshold"] == t["detector"]["trend_early"]["threshold"]
        assert held["either_per_h"] == t["detector"]["trend_early"]["holdout_per_h"] or (
            name == "hourly"
        )
    for way in ("early_alerts", "early_alerts_held"):  # a batch tier has no early alerts
        assert tiers["hourly"][way]["lead_time_p50_s"] == tiers["hourly"]["lead_time_p50_s"]
        assert tiers["hourly"][way]["either_per_h"] == tiers["hourly"]["false_alarms_per_h"]


def test_report_files_and_plots(small_study: dict[str, Any]) -> None:
    report: Path = small_study["report"]
    text = (report / "report.md").read_text(encoding="utf-8")
    assert "| firehose |" in text and "| sample |" in text
    assert "lead p50, early alerts" in text and "none: a batch tier" in text
    assert "held to the rate together" in text and "| firehose | trend_early |" in text
    assert "What this can and cannot show" in text and "Morstatter" in text
    for name in ("tiers.png", "recall_vs_false_alarms.png"):
        path = report / name
        assert f"]({name})" in text
        assert path.read_bytes()[:8] == PNG
        with Image.open(path) as image:
            image.verify()
        with Image.open(path) as image:
            assert image.format == "PNG" and image.size[0] > 400 and image.size[1] > 200
    assert orjson.loads((report / "summary.json").read_bytes()) == small_study["summary"]


def test_summary_is_deterministic_and_calibration_is_cached(
    small_study: dict[str, Any],
) -> None:
    tmp: Path = small_study["tmp"]
    again = tmp / "again.json"
    cache = tmp / "cache"
    entries = sorted(p.name for p in cache.iterdir())
    assert len(entries) == 4  # 2 calibration + 2 hold-out streams
    rc = main(["moat", "--moat-config", str(small_study["config"]), "--seeds", "2",
               "--start", START, "--procs", "2", "--cache-dir", str(cache),
               "--summary-json", str(again), "--quiet"])  # fmt: skip
    assert rc == 0
    assert sorted(p.name for p in cache.iterdir()) == entries  # read, not made again
    first, second = small_study["summary"], orjson.loads(again.read_bytes())
    for data in (first, second):
        data.pop("wall_s")
        data.pop("command")
    assert first["tiers"] == second["tiers"] and first["bursts"] == second["bursts"]


# --- bad tier definitions -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("tiers", "says"),
    [
        ('[[moat.tiers]]\nname = "firehose"\n[[moat.tiers]]\nname = "x"\nms = [700, 600]',
         "ms must be [first, last]"),
        ('[[moat.tiers]]\nname = "firehose"\n[[moat.tiers]]\nname = "x"\nms = [0, 1000]',
         "ms must be [first, last]"),
        ('[[moat.tiers]]\nname = "firehose"\n[[moat.tiers]]\nname = "x"\ndelay_s = -5',
         "delay_s must be >= 0"),
        ('[[moat.tiers]]\nname = "firehose"\n[[moat.tiers]]\nname = "x"\nevery_s = "1h"',
         "every_s must be a number"),
        ('[[moat.tiers]]\nname = "firehose"\n[[moat.tiers]]\nname = "x"\nsample = 0.1',
         "unknown key 'sample'"),
        ('[[moat.tiers]]\nname = "firehose"\n[[moat.tiers]]\nname = "firehose"',
         "used twice"),
        ('[[moat.tiers]]\nname = "Bad Name"', "name must be"),
        ('[[moat.tiers]]\nname = "sample"\nms = [657, 666]', "a tier named 'firehose'"),
        ("", "at least one [[moat.tiers]]"),
    ],
)  # fmt: skip
def test_bad_tier_definition_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tiers: str, says: str
) -> None:
    config = write(tmp_path / "moat.toml", f"[moat]\n{tiers}\n")
    assert main(["moat", "--moat-config", str(config), "--duration", "1h"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("datamoat moat: error: ")
    assert says in err and str(config) in err


@pytest.mark.parametrize(
    ("keys", "says"),
    [
        ("window_s = 0", "moat.window_s must be positive"),
        ("window_s = -30", "moat.window_s must be positive"),
        ("allowed_lateness_s = -1", "moat.allowed_lateness_s must be >= 0"),
    ],
)
def test_the_moats_windows_are_checked_by_the_engines_rules(
    tmp_path: Path, keys: str, says: str
) -> None:
    config = write(tmp_path / "moat.toml", f"[moat]\n{keys}\n{TIERS}")
    with pytest.raises(ConfigError) as info:
        load_moat_config(config)
    assert str(info.value) == f"{config}: {says}"


def test_the_moats_window_spec_is_in_event_time() -> None:
    moat = load_moat_config(REPO_ROOT / "configs" / "moat.toml")  # a day in an hour
    clock = moat.clock(START_MS)
    size, lateness = clock.ms(moat.window_s), clock.ms(moat.allowed_lateness_s)
    assert moat.window_spec() == WindowSpec(size, size, lateness)
    assert (size, lateness) == (12_500, 2_500)


def test_ground_truth_is_the_generators_bursts() -> None:
    onset = START_MS + 20_000
    config = FirehoseConfig(
        rate=2000.0, day_in_s=3600.0, bursts=(Burst(onset, "#MoatTest", 0.5, 600.0, -0.8),)
    )
    truth = true_bursts(config, 4, START_MS, START_MS + 60_000)
    assert truth.filter(pl.col("injected")).is_empty()  # the injected rows come from inject()
    assert set(truth["kind"]) <= {"random"}
    posts = Firehose(config, 4, START_MS).take_until(START_MS + 60_000)
    tagged = posts.filter(pl.col("hashtags").list.contains("moattest"))
    assert tagged.height > 100
    first = tagged["created_at"].min()
    assert isinstance(first, int) and first >= onset  # nothing before the onset
