"""Materialise due posts (calendar events) into POST_SCHEMA rows, vectorised.

Everything here is a pure function of each row's ids and times (counter-based hashing), so
the same post renders identically in any batch or shard. A repost renders its source's
text and hashtags; replies address the cascade's original author.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from ingest.firehose import vocab
from ingest.firehose.authors import Authors
from ingest.firehose.bursts import BurstBook
from ingest.firehose.calendar import Events, unpack
from ingest.firehose.cascade import child_kinds
from ingest.firehose.config import FirehoseConfig
from ingest.firehose.hashing import seed_key, uniform
from ingest.firehose.profile import BURST_SPAN, burst_shape
from ingest.schema import KINDS, POST_SCHEMA

__all__ = ["Renderer", "vocabulary_hashtag"]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
_MAX_TAGS = 3
_N_ADJ = len(vocab.ADJECTIVES[0])
_N_BUT = len(vocab.BUT_CLAUSES[0])
_N_EMOJI = len(vocab.EMOJI[0])
_FRESH_BASE = 1 << 40
_BURST_BASE = 1 << 60
_HOUR_MS = 3_600_000.0


def _pick(u: F64, n: int) -> I64:
    out: I64 = np.minimum((u * n).astype(np.int64), n - 1)
    return out


def _table(strings: tuple[str, ...] | list[str]) -> pl.Series:
    return pl.Series(list(strings), dtype=pl.String)


_SYLL = _table(vocab.SYLLABLES)


def _syllable_names(codes: I64) -> pl.Series:
    """A pronounceable name per non-negative code: two or three syllables."""
    d0, d1, d2 = codes % 64, (codes // 64) % 64, (codes // 4096) % 64
    third = pl.when(pl.Series(codes >= 4096)).then(_SYLL.gather(d2)).otherwise(pl.lit(""))
    return pl.select(pl.concat_str(_SYLL.gather(d0), _SYLL.gather(d1), third)).to_series()


def vocabulary_hashtag(config: FirehoseConfig, rank: int) -> str:
    """The rendered name of the ordinary vocabulary hashtag of Zipf rank ``rank`` (0 = most
    common): a common tag's name, else a syllable name. A ``Burst`` or ``Shift`` on this name
    acts on an established hashtag."""
    if not 0 <= rank < config.hashtag_vocab:
        raise ValueError(f"rank must be in [0, {config.hashtag_vocab}) (hashtag_vocab), got {rank}")
    n_common = len(vocab.COMMON_TAGS)
    if rank < n_common:
        return vocab.COMMON_TAGS[rank]
    name = _syllable_names(np.array([rank - n_common], dtype=np.int64))[0]
    return str(name)


@dataclass(frozen=True)
class _Shift:
    """A ``Shift`` in render units: span start and rise in ms relative to the stream start."""

    hashtag: str
    start: float
    rise: float
    share: float
    sentiment: float


class Renderer:
    def __init__(
        self,
        config: FirehoseConfig,
        seed: int,
        start_ms: int,
        block_ms: int,
        authors: Authors,
        bursts: BurstBook,
    ) -> None:
        self._block_ms = block_ms
        self._c = config
        self._seed = seed
        self._start = np.int64(start_ms)
        self._authors = authors
        self._bursts = bursts
        self._keys = {name: seed_key(seed, 0x7E00 + k) for k, name in enumerate(_SALTS)}
        langs = [code for code, _ in config.languages]
        shares = np.array([s for _, s in config.languages], dtype=np.float64)
        self._lang_codes = _table(langs)
        self._lang_cdf = np.cumsum(shares) / shares.sum()
        # Foreign phrases flattened as [lang][polarity][k]; English rows use the template.
        self._foreign_n = 3
        flat: list[str] = []
        self._foreign_ok = np.zeros(len(langs), dtype=bool)
        for li, code in enumerate(langs):
            table = vocab.FOREIGN.get(code)
            self._foreign_ok[li] = table is not None
            for pol in range(3):
                phrases = table[pol] if table is not None else ("",) * self._foreign_n
                flat.extend(phrases[k % len(phrases)] for k in range(self._foreign_n))
        self._foreign = _table(flat)
        self._tag_cdf = np.cumsum(config.hashtags_per_post) / sum(config.hashtags_per_post)
        self._openers = _table(vocab.OPENERS)
        self._subjects = _table(vocab.SUBJECTS)
        self._verbs = _table(vocab.VERBS + vocab.VERBS_NEGATED)
        self._boosters = _table(vocab.BOOSTERS)
        self._punct = _table(vocab.PUNCTUATION)
        self._adj = _table(
            [w.upper() if caps else w for a in vocab.ADJECTIVES for caps in (0, 1) for w in a]
        )
        self._but = _table(["", *(c for b in vocab.BUT_CLAUSES for c in b)])
        self._emoji = _table([e for group in vocab.EMOJI for e in group])
        n_common = len(vocab.COMMON_TAGS)
        codes = np.arange(max(config.hashtag_vocab - n_common, 0), dtype=np.int64)
        self._vocab_names = pl.concat([_table(vocab.COMMON_TAGS), _syllable_names(codes)])
        self._shifts = tuple(
            _Shift(
                hashtag=s.hashtag,
                start=float(s.start_ms - start_ms),
                rise=s.rise_s * 1000.0 * config.time_scale,
                share=s.share,
                sentiment=s.sentiment,
            )
            for s in config.shifts
        )

    def _u(self, ids: I64, name: str) -> F64:
        return uniform(ids, self._keys[name])

    # --- sentiment and hashtags -----------------------------------------------------------
    def _topic_sentiment(self, topic: I64) -> F64:
        out = np.zeros(len(topic))
        for t in np.unique(topic[topic != 0]).tolist():
            out[topic == t] = self._bursts.topic(int(t))[1]
        return out

    def _tag_ids(self, src: I64, src_t: I64, topic: I64) -> tuple[I64, I64]:
        """Hashtag ids per source post as an (n, 3) matrix, distinct ones first, -1 after;
        and the number of hashtags per post."""
        c = self._c
        count = np.searchsorted(self._tag_cdf, self._u(src, "ntags"), side="right")
        count = np.where(topic != 0, np.maximum(count, 1), count)
        s = c.hashtag_zipf
        vocab_n = float(max(c.hashtag_vocab, 1))
        hour = np.floor(src_t / (_HOUR_MS * c.time_scale)).astype(np.int64)
        out: list[I64] = []
        for j in range(_MAX_TAGS):
            u = self._u(src, f"tag{j}")
            if abs(s - 1.0) < 1e-9:
                rank = np.floor((vocab_n + 1.0) ** u)
            else:
                top = (vocab_n + 1.0) ** (1.0 - s)
                rank = np.floor((1.0 + u * (top - 1.0)) ** (1.0 / (1.0 - s)))
            tag = np.clip(rank.astype(np.int64) - 1, 0, max(c.hashtag_vocab, 1) - 1)
            fresh = self._u(src, f"new{j}") < c.new_hashtag_share
            k_new = max(c.new_hashtags_per_hour, 1)
            fresh_id = _FRESH_BASE + hour * k_new + _pick(self._u(src, f"fid{j}"), k_new)
            tag = np.where(fresh, fresh_id, tag)
            if j == 0:
                on_topic = (topic != 0) & (self._u(src, "ontopic") < 0.85)
                tag = np.where(on_topic, _BURST_BASE + topic, tag)
            tag = np.where(count > j, tag, -1)
            for prev in out:
                tag = np.where(tag == prev, -1, tag)
            out.append(tag)
        ids = np.stack(out, axis=1)
        valid = ids >= 0
        order = np.argsort(~valid, axis=1, kind="stable")
        compact: I64 = np.take_along_axis(ids, order, axis=1)
        counts: I64 = valid.sum(axis=1).astype(np.int64)
        return compact, counts

    def _burst_names_once(self, ids: I64, counts: I64, flat: pl.Series) -> tuple[I64, pl.Series]:
        """Drop a post's other hashtags that render the same name as its burst hashtag (a
        burst on an established hashtag, ``vocabulary_hashtag``): each name once per post.
        Returns the hashtag counts and the flat names, compacted again."""
        rows = np.flatnonzero(ids[:, 0] >= _BURST_BASE)
        if len(rows) == 0:
            return counts, flat
        first = flat.gather(rows * _MAX_TAGS)
        dup = np.zeros(ids.shape, dtype=bool)
        for j in range(1, _MAX_TAGS):
            dup[rows, j] = (flat.gather(rows * _MAX_TAGS + j) == first).fill_null(False).to_numpy()
        if not dup.any():
            return counts, flat
        keep = (ids >= 0) & ~dup
        order = np.argsort(~keep, axis=1, kind="stable")
        slots = np.arange(ids.size, dtype=np.int64).reshape(ids.shape)
        kept = np.take_along_axis(keep, order, axis=1).ravel()
        moved = flat.gather(np.take_along_axis(slots, order, axis=1).ravel())
        out = pl.select(pl.when(pl.Series(kept)).then(moved).otherwise(None)).to_series()
        new_counts: I64 = keep.sum(axis=1).astype(np.int64)
        return new_counts, out

    def _shifted_skew(self, skew: F64, src: I64, src_t: I64, tag_flat: pl.Series) -> F64:
        """The polarity skew with the shifts applied: a post whose source lies in a shift's
        span and carries its hashtag takes the shift's sentiment with probability
        ``share * burst_shape``. One uniform per source post, so a repost follows its source;
        where shifts overlap, the first in the config that takes the post wins."""
        t = src_t.astype(np.float64)
        out = skew
        taken = np.zeros(len(src), dtype=bool)
        u: F64 | None = None
        for sh in self._shifts:
            x = (t - sh.start) / sh.rise
            live = np.flatnonzero((x >= 0.0) & (x < BURST_SPAN) & ~taken)
            if len(live) == 0:
                continue
            if u is None:
                u = self._u(src, "shift")
            live = live[u[live] < sh.share * burst_shape(x[live])]
            if len(live) == 0:
                continue
            slots = (live[:, None] * _MAX_TAGS + np.arange(_MAX_TAGS)).ravel()
            same = (tag_flat.gather(slots) == sh.hashtag).fill_null(False).to_numpy()
            rows = live[same.reshape(len(live), _MAX_TAGS).any(axis=1)]
            if len(rows):
                if out is skew:
                    out = skew.copy()
                out[rows] = sh.sentiment
                taken[rows] = True
        return out

    def _tag_names(self, ids: I64) -> pl.Series:
        """Hashtag name per id (null for -1): common list, syllable vocabulary, fresh, burst."""
        vocab_n = len(self._vocab_names)
        ordinary = pl.Series(self._vocab_names.gather(np.clip(ids, 0, vocab_n - 1)))
        fresh = (ids >= _FRESH_BASE) & (ids < _BURST_BASE)
        names = pl.select(
            pl.when(pl.Series(ids < 0))
            .then(pl.lit(None, pl.String))
            .when(pl.Series(fresh))
            .then(_syllable_names(mix_small(ids)))
            .otherwise(ordinary)
        ).to_series()
        burst = ids >= _BURST_BASE
        if burst.any():
            rows = np.flatnonzero(burst)
            topics = ids[rows] - _BURST_BASE
            uniq, inverse = np.unique(topics, return_inverse=True)
            table = _table([self._bursts.topic(int(t))[0] for t in uniq.tolist()])
            names = names.scatter(rows, table.gather(inverse.astype(np.int64)))
        return names

    # --- text -----------------------------------------------------------------------------
    def _english(self, src: I64, polarity: I64) -> pl.Series:
        """Opener, subject, (negated) verb, booster, adjective, but-clause, !?, emoji."""
        u = self._u
        negate = (u(src, "neg") < 0.12) & (polarity != 0)
        word_pol = np.where(negate, -polarity, polarity) + 1
        feel = polarity + 1
        caps = (u(src, "caps") < 0.08).astype(np.int64)
        n_verbs, n_neg = len(vocab.VERBS), len(vocab.VERBS_NEGATED)
        verb_u = u(src, "verb")
        verb = np.where(negate, n_verbs + _pick(verb_u, n_neg), _pick(verb_u, n_verbs))
        boost = np.where(polarity != 0, _pick(u(src, "boost"), len(vocab.BOOSTERS)), 0)
        adj = (word_pol * 2 + caps) * _N_ADJ + _pick(u(src, "adj"), _N_ADJ)
        but = np.where(u(src, "but") < 0.12, 1 + feel * _N_BUT + _pick(u(src, "butk"), _N_BUT), 0)
        emoji = feel * _N_EMOJI + _pick(u(src, "emoji"), _N_EMOJI)
        return pl.select(
            pl.concat_str(
                self._openers.gather(_pick(u(src, "open"), len(vocab.OPENERS))),
                self._subjects.gather(_pick(u(src, "subj"), len(vocab.SUBJECTS))),
                pl.lit(" "),
                self._verbs.gather(verb),
                pl.lit(" "),
                self._boosters.gather(boost),
                self._adj.gather(adj),
                self._but.gather(but),
                self._punct.gather(_pick(u(src, "punct"), len(vocab.PUNCTUATION))),
                self._emoji.gather(emoji),
            )
        ).to_series()

    def render(self, ev: Events, *, polarity: bool = False) -> pl.DataFrame:
        """POST_SCHEMA rows for the given events (in the given order); with ``polarity``
        also the feeling each post was given (its source's), as Int8 -1/0/1 after them."""
        posts = unpack(ev, self._block_ms)
        ids, parent, root, src = posts.id, posts.parent, posts.root, posts.src
        kind = posts.kind.astype(np.int64)
        author = self._authors.of_posts(ids)
        followers = self._authors.followers[author]
        cascade = np.where(root != 0, root, ids)
        lang = np.searchsorted(self._lang_cdf, self._u(cascade, "lang"), side="right")
        lang = np.minimum(lang, len(self._lang_cdf) - 1)
        topic = posts.topic
        skew = self._topic_sentiment(topic)
        tag_ids, tag_counts = self._tag_ids(src, posts.src_t, topic)
        tag_counts, tag_flat = self._burst_names_once(
            tag_ids, tag_counts, self._tag_names(tag_ids.ravel())
        )
        if self._shifts:
            skew = self._shifted_skew(skew, src, posts.src_t, tag_flat)
        pol_u = self._u(src, "pol")
        p_neg = np.clip(0.22 - 0.6 * skew, 0.02, 0.95)
        p_pos = np.clip(0.38 + 0.6 * skew, 0.02, 0.95)
        feeling = np.where(pol_u < p_neg, -1, np.where(pol_u > 1.0 - p_pos, 1, 0))
        tag_names = [
            tag_flat.gather(np.arange(j, tag_flat.len(), _MAX_TAGS)) for j in range(_MAX_TAGS)
        ]
        hashtags = tag_flat.reshape((len(ids), _MAX_TAGS)).arr.to_list()
        english = self._english(src, feeling)
        pol_i = feeling + 1
        phrase = (lang * 3 + pol_i) * self._foreign_n + _pick(
            self._u(src, "phrase"), self._foreign_n
        )
        foreign = self._foreign.gather(phrase)
        use_foreign = pl.Series(self._foreign_ok[lang])
        src_kind = np.where(
            src == ids, kind, np.where(src == cascade, 0, child_kinds(src, self._c, self._seed))
        )
        mention = pl.Series(np.where(src_kind == 2, 1 + self._authors.of_posts(cascade), 0))
        emoji_tail = self._emoji.gather(pol_i * _N_EMOJI + _pick(self._u(src, "emoji"), _N_EMOJI))
        tags_text = [pl.concat_str(pl.lit(" #"), n).fill_null("") for n in tag_names]
        df = pl.select(
            post_id=pl.Series(ids),
            author_id=pl.Series(author + 1),
            created_at=pl.Series(posts.t + self._start),
            kind=_table(KINDS).gather(kind),
            parent_id=pl.Series(parent).replace(0, None),
            root_id=pl.Series(root).replace(0, None),
            text=pl.concat_str(
                pl.when(mention > 0).then(pl.format("@user{} ", mention)).otherwise(pl.lit("")),
                pl.when(use_foreign).then(pl.concat_str(foreign, emoji_tail)).otherwise(english),
                *tags_text,
            ),
            hashtags=hashtags.list.head(pl.lit(pl.Series(tag_counts))),
            lang=self._lang_codes.gather(lang),
            followers=pl.Series(followers),
        )
        out = df.cast(POST_SCHEMA).select(POST_SCHEMA.names())
        if polarity:
            out = out.with_columns(polarity=pl.Series(feeling, dtype=pl.Int8))
        return out


def mix_small(ids: I64) -> I64:
    """Scramble fresh-hashtag ids into syllable indices (deterministic, non-negative)."""
    x = (ids.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(40)
    out: I64 = x.astype(np.int64) + 4096
    return out


_SALTS = (
    "lang", "pol", "ntags", "tag0", "tag1", "tag2", "new0", "new1", "new2", "fid0", "fid1",
    "fid2", "ontopic", "neg", "caps", "but", "boost", "verb", "adj", "butk", "emoji", "open",
    "subj", "punct", "phrase", "shift",
)  # fmt: skip
