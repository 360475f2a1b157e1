"""One set-based computation per rule kind, written once in SQL that runs on SQLite and PostgreSQL.

Each function takes every rule of its kind at once and returns `Outcome`s: one per rule and provider (and
category where the rule spans several) that the rule applies to — passing ones too (affected 0), which the
scorecards need as the denominator. Scans are shared where the rules allow: all fill-rate rules of all
categories are one aggregate over the current records, all continuity rules one grouped query. No Python pass
per record: Python only sees aggregated rows and samples of at most `SAMPLE` rows per finding.
"""

# The SQL interpolates only placeholders (:c0 …), integers and catalogue item codes (checked on load against
# [a-z0-9_]); every value is bound.
# ruff: noqa: S608

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from xinyidai.catalog.schema import Catalog
from xinyidai.kit import clock
from xinyidai.quality.models import Department, Source
from xinyidai.quality.rules import FREQUENCY_DAYS, Rule, department_categories
from xinyidai.records.models import Delivery

SAMPLE = 20
WORK_MEM = "64MB"  # PostgreSQL, per sort or hash node of the run's statements
SAMPLE_READ = 2_000  # rows a pass of the fill-rate sample query reads at least before it gives up


@dataclass
class Outcome:
    rule: Rule
    provider: str
    category: str | None
    affected: int
    population: int | None
    measure: float | None
    message: str
    sample: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Context:
    s: Session
    catalog: Catalog
    as_of: date
    # Current records per (provider, category), when a scan already counted them (fill_rate over all
    # categories does), so key_conflict need not scan again.
    counts: dict[tuple[str, str], int] | None = None

    @property
    def pg(self) -> bool:
        return self.s.get_bind().dialect.name == "postgresql"

    def bytewise(self, col: str) -> str:
        """`col` compared byte by byte: PostgreSQL sorts and groups a text column in its collation (provider
        names are Chinese; strcoll is several times slower than memcmp); equality is the same either way."""
        return f'{col} COLLATE "C"' if self.pg else col

    def month_index(self, col: str) -> str:
        if self.pg:
            return f"(CAST(EXTRACT(YEAR FROM {col}) AS INTEGER) * 12 + CAST(EXTRACT(MONTH FROM {col}) AS INTEGER))"
        return f"(CAST(substr({col}, 1, 4) AS INTEGER) * 12 + CAST(substr({col}, 6, 2) AS INTEGER))"

    def has_key(self, param: str) -> str:
        """Whether `content` holds the key named by the bound `param` (text `"item":`): a plain substring
        search (SQLite instr, PostgreSQL strpos), several times faster than LIKE with an ESCAPE."""
        return f"{'strpos' if self.pg else 'instr'}(content, :{param}) > 0"

    def json_text(self, col: str, key: str) -> str:
        # Keys are catalogue item codes (checked on load: [a-z0-9_]), safe to inline.
        return f"(CAST({col} AS jsonb) ->> '{key}')" if self.pg else f"json_extract({col}, '$.{key}')"


def prepare(ctx: Context) -> None:
    """Settings for the run's read-only transaction. PostgreSQL: enough work memory that the big groupings
    hash or sort in memory rather than in merge passes on disk (the default 4 MB spills at 100k entities).
    SQLite groups by sorting: let its sorter use helper threads (about a fifth faster on two cores; the
    setting stays on the pooled connection, where it only speeds up other large sorts)."""
    if ctx.pg:
        ctx.s.execute(text(f"SET LOCAL work_mem = '{WORK_MEM}'"))
    else:
        ctx.s.execute(text(f"PRAGMA threads = {min(4, os.cpu_count() or 1)}"))


def _key_text(item: str) -> str:
    """The text of "item present": canonical JSON drops empty values, so a key present means a value. A quote
    inside a value is escaped as \\", so `"item":` cannot match inside one."""
    return f'"{item}":'


def _month_text(index: int) -> str:
    y, m = divmod(index - 1, 12)
    return f"{y:04d}-{m + 1:02d}"


def _rows(ctx: Context, sql: str, **params: Any) -> Sequence[Any]:
    return ctx.s.execute(text(sql), params).all()


def fill_rate(ctx: Context, rules: Sequence[Rule]) -> list[Outcome]:
    """Every fill-rate rule in one scan of the current records. Each row gets a bit mask of which of its own
    category's rule items it carries (a simple CASE on the category evaluates only that category's LIKEs);
    grouping by (category, provider, mask) leaves a handful of rows — the presence patterns — which are summed
    per item here. Far cheaper than one SUM column per rule, which costs an aggregate step per rule per row."""
    cats = sorted({r.category for r in rules if r.category})
    if not cats:
        return []
    params: dict[str, Any] = {f"c{i}": c for i, c in enumerate(cats)}
    bit: dict[int, int] = {}  # rule index → its bit within its category's mask
    branches = []
    for ci, cat in enumerate(cats):
        terms = []
        for n, r in enumerate(rules):
            if r.category == cat:
                bit[n] = len(terms)
                params[f"p{n}"] = _key_text(r.item or "")
                terms.append(f"CASE WHEN {ctx.has_key(f'p{n}')} THEN {1 << bit[n]} ELSE 0 END")
        branches.append(f"WHEN :c{ci} THEN {' + '.join(terms)}")
    in_list = ", ".join(f":c{i}" for i in range(len(cats)))
    patterns = _rows(ctx, f"SELECT category, provider, mask, COUNT(*) FROM (SELECT category, "
                          f"{ctx.bytewise('provider')} AS provider, CASE category "
                          f"{' '.join(branches)} ELSE 0 END AS mask FROM credit_records WHERE status = 'current' "
                          f"AND category IN ({in_list})) x GROUP BY category, provider, mask", **params)
    sums: dict[tuple[str, str], list[int]] = {}  # (category, provider) → [total, count per bit …]
    for cat, provider, mask, count in patterns:
        acc = sums.setdefault((cat, provider), [0] * 33)
        acc[0] += int(count)
        for b in range(32):
            if int(mask) >> b & 1:
                acc[1 + b] += int(count)
    rows = [(cat, provider, acc[0], *[acc[1 + bit[n]] if r.category == cat else 0 for n, r in enumerate(rules)])
            for (cat, provider), acc in sorted(sums.items())]
    if set(cats) >= {c.code for c in department_categories(ctx.catalog)}:
        ctx.counts = {(provider, cat): acc[0] for (cat, provider), acc in sums.items()}
    out = []
    # (category, provider) → [(rule bit, outcome, records missing the item)]
    short: dict[tuple[str, str], list[tuple[int, Outcome, int]]] = {}
    for row in rows:
        cat, provider, total = row[0], row[1], int(row[2])
        for n, r in enumerate(rules):
            if r.category != cat or not total:
                continue
            filled = int(row[3 + n] or 0)
            rate = filled / total
            expected = float(r.params["expected"])
            is_short = rate < expected
            # Affected: the records short of the expected rate's count (a 0.6 rule is not broken by 40 % empty).
            affected = max(0, int(round(expected * total)) - filled) if is_short else 0
            if is_short and affected == 0:
                affected = 1
            item = ctx.catalog.category(cat).item(r.item or "").name if r.item else ""
            o = Outcome(r, provider, cat, affected, total, round(rate, 4),
                        f"{item}填充率 {rate:.1%}，低于期望 {expected:.0%}（{total - filled}/{total} 条缺失）")
            if is_short:
                short.setdefault((cat, provider), []).append((bit[n], o, total - filled))
            out.append(o)
    _fill_samples(ctx, short)
    return out


def _fill_samples(ctx: Context, short: dict[tuple[str, str], list[tuple[int, Outcome, int]]]) -> None:
    """Up to SAMPLE records lacking the item for every short (category, provider, item) — all of them when fewer
    are missing — from one streamed query read only until each has its sample (a query per rule would scan
    once per rule whenever the missing rows are rare or the provider small). A pass reads a bounded number of
    rows; the next, if any, selects only the rows lacking items still short of their sample."""
    names = {id(o): ctx.catalog.category(o.category or "").item(o.rule.item or "").name
             for wanted in short.values() for _, o, _ in wanted}
    want = {id(o): min(SAMPLE, missing) for w in short.values() for _, o, missing in w}
    capped = True
    while short and capped:  # a capped pass completes at least one sample; one that reads to the end, all
        short, capped = _stream_samples(ctx, short, names, want)


def _stream_samples(ctx: Context, short: dict[tuple[str, str], list[tuple[int, Outcome, int]]],
                    names: dict[int, str], want: dict[int, int]) -> tuple[dict[tuple[str, str], Any], bool]:
    """Append to each outcome's sample; returns the entries still open and whether the pass stopped at its cap
    (SAMPLE per open outcome at least, so that one of them fills before the cap)."""
    short = {pair: [x for x in w if len(x[1].sample) < want[id(x[1])]] for pair, w in short.items()}
    short = {pair: w for pair, w in short.items() if w}
    if not short:
        return {}, False
    for w in short.values():
        for _, o, _ in w:
            o.sample.clear()  # a pass reads from the start again (and PostgreSQL may start a scan mid-table)
    params: dict[str, Any] = {}
    pairs, branches = [], []
    for i, ((cat, provider), wanted) in enumerate(sorted(short.items())):
        params[f"c{i}"], params[f"v{i}"] = cat, provider
        pairs.append(f"(category = :c{i} AND provider = :v{i})")
        terms = []
        for b, o, _ in wanted:
            params[f"k{i}_{b}"] = _key_text(o.rule.item or "")
            terms.append(f"CASE WHEN {ctx.has_key(f'k{i}_{b}')} THEN 0 ELSE {1 << b} END")
        branches.append(f"WHEN category = :c{i} AND provider = :v{i} THEN {' + '.join(terms)}")
    sql = (f"SELECT category, provider, entity_code, record_key, lacks FROM (SELECT category, provider, entity_code, "
           f"record_key, CASE {' '.join(branches)} ELSE 0 END AS lacks FROM credit_records WHERE status = 'current' "
           f"AND ({' OR '.join(pairs)})) x WHERE lacks <> 0")
    open_ = sum(len(w) for w in short.values())
    cap = max(SAMPLE_READ, SAMPLE * open_)
    result = ctx.s.execute(text(sql).execution_options(stream_results=True, yield_per=2000), params)
    read = 0
    try:
        for cat, provider, entity, key, lacks in result:
            read += 1
            for b, o, _ in short[(cat, provider)]:
                if int(lacks) >> b & 1 and len(o.sample) < want[id(o)]:
                    o.sample.append({"entity_code": entity, "record_key": key, "detail": f"缺少{names[id(o)]}"})
                    if len(o.sample) == want[id(o)]:
                        open_ -= 1
            if not open_ or read >= cap:
                break
    finally:
        result.close()
    return {pair: w for pair, w in short.items() if any(len(o.sample) < want[id(o)] for _, o, _ in w)}, read >= cap


def missing_months(ctx: Context, rules: Sequence[Rule]) -> list[Outcome]:
    """Per entity and provider in each monthly category: months absent between its first month and its last
    (or the as-of month minus `lag_months`). All categories in one grouped query, samples in a second."""
    by_cat = {r.category: r for r in rules if r.category}
    if not by_cat:
        return []
    as_of_index = ctx.as_of.year * 12 + ctx.as_of.month
    params: dict[str, Any] = {}
    until_cases = []
    for i, (cat, r) in enumerate(by_cat.items()):
        params[f"c{i}"] = cat
        lag = r.params.get("lag_months")
        if lag is not None:
            params[f"u{i}"] = as_of_index - int(lag)
            until_cases.append(f"WHEN :c{i} THEN CAST(:u{i} AS INTEGER)")
    in_list = ", ".join(f":c{i}" for i in range(len(by_cat)))
    until = (f"CASE category {' '.join(until_cases)} ELSE NULL END" if until_cases else "NULL")
    until = f"CAST({until} AS INTEGER)"
    mi = ctx.month_index("period_start")
    base = (f"WITH x AS (SELECT category, {ctx.bytewise('provider')} AS provider, entity_code, {mi} AS mi, {until} AS until FROM credit_records "
            f"WHERE status = 'current' AND category IN ({in_list}) AND period_start IS NOT NULL), "
            f"m AS (SELECT category, provider, entity_code, MIN(mi) AS lo, MAX(mi) AS hi, MAX(until) AS until, "
            f"COUNT(DISTINCT mi) AS n FROM x GROUP BY category, provider, entity_code), "
            f"g AS (SELECT category, provider, entity_code, lo, n, CASE WHEN until IS NOT NULL AND until > hi "
            f"THEN until ELSE hi END AS hi FROM m), "
            f"h AS MATERIALIZED (SELECT category, provider, entity_code, lo, hi, hi - lo + 1 - n AS gap FROM g), "
            f"r AS (SELECT h.*, ROW_NUMBER() OVER (PARTITION BY category, provider ORDER BY entity_code) AS rn "
            f"FROM h WHERE gap > 0) ")
    # One statement: the per-provider aggregate and the samples share the materialised grouping.
    params["n"] = SAMPLE
    got = _rows(ctx, base + "SELECT 'a', category, provider, COUNT(*), SUM(CASE WHEN gap > 0 THEN 1 ELSE 0 END), "
                            "SUM(CASE WHEN gap > 0 THEN gap ELSE 0 END), NULL FROM h GROUP BY category, provider "
                            "UNION ALL SELECT 's', category, provider, lo, hi, gap, entity_code FROM r WHERE rn <= :n",
                **params)
    agg = [row[1:6] for row in got if row[0] == "a"]
    samples: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for _, cat, provider, lo, hi, gap, entity in sorted((row for row in got if row[0] == "s"), key=lambda r: r[6]):
        samples.setdefault((cat, provider), []).append({
            "entity_code": entity, "record_key": None,
            "detail": f"{_month_text(int(lo))} 至 {_month_text(int(hi))} 间缺 {int(gap)} 个月"})
    out = []
    for cat, provider, population, affected, gap_months in agg:
        name = ctx.catalog.category(cat).name
        affected = int(affected or 0)
        out.append(Outcome(by_cat[cat], provider, cat, affected, int(population), float(gap_months or 0),
                           f"{name}：{affected} 个主体月份不连续，共缺 {int(gap_months or 0)} 个月",
                           samples.get((cat, provider), [])))
    return out


def last_delivery(ctx: Context, rules: Sequence[Rule]) -> list[Outcome]:
    """Each provider's last accepted or partly accepted delivery of the category against its frequency."""
    wanted = {r.category: r for r in rules if r.category}
    q = (select(Delivery.provider, Delivery.category, func.max(Delivery.received_at))
         .where(Delivery.status.in_(("accepted", "partial")), Delivery.category.in_(list(wanted)))
         .group_by(Delivery.provider, Delivery.category))
    out = []
    for provider, cat, last in ctx.s.execute(q):
        r = wanted[cat]
        c = ctx.catalog.category(cat)
        last_day = last.astimezone(clock.CHINA_TZ).date() if isinstance(last, datetime) else last
        allowed = FREQUENCY_DAYS[c.frequency] + int(r.params.get("grace_days", 0))
        late = (ctx.as_of - last_day).days - allowed
        out.append(Outcome(r, provider, cat, 1 if late > 0 else 0, 1, float(max(late, 0)),
                           f"最近一次交付在 {last_day.isoformat()}，按{c.frequency}更新已逾期 {late} 天"
                           if late > 0 else f"{c.name}最近一次交付在 {last_day.isoformat()}，未逾期",
                           [{"entity_code": None, "record_key": None,
                             "detail": f"最近交付 {last_day.isoformat()}，允许间隔 {allowed} 天"}] if late > 0 else []))
    return out


def after_deregistration(ctx: Context, rules: Sequence[Rule]) -> list[Outcome]:
    """Current records dated after the entity's deregistration or revocation (its registration record with
    status 注销/吊销 and closed_on), per provider and category."""
    out = []
    closed = ctx.json_text("content", "closed_on")
    for r in rules:
        grace = int(r.params.get("grace_days", 0))
        limit = (f"CAST(d.closed AS DATE) + {grace}" if ctx.pg else f"date(d.closed, '+{grace} days')")
        cat_filter = "AND r.category = :cat" if r.category else ""
        base = (f"WITH d AS (SELECT entity_code, MIN(closed) AS closed FROM (SELECT entity_code, {closed} AS closed "
                f"FROM credit_records WHERE status = 'current' AND category = 'registration' AND "
                f"(content LIKE '%\"status\":\"注销\"%' OR content LIKE '%\"status\":\"吊销\"%')) y "
                f"WHERE closed IS NOT NULL GROUP BY entity_code), "
                f"j AS (SELECT r.provider, r.category, r.entity_code, r.record_key, r.period_start, d.closed, "
                f"CASE WHEN r.period_start > {limit} THEN 1 ELSE 0 END AS late FROM credit_records r "
                f"JOIN d ON r.entity_code = d.entity_code WHERE r.status = 'current' AND r.category <> 'registration' "
                f"AND r.period_start IS NOT NULL {cat_filter}) ")
        params: dict[str, Any] = {"cat": r.category} if r.category else {}
        # One statement: the aggregate and the samples share the materialised join (one scan, not two).
        base = base.replace("j AS (", "j AS MATERIALIZED (", 1)
        got = _rows(ctx, base + ", k AS (SELECT j.*, ROW_NUMBER() OVER (PARTITION BY provider, category ORDER BY "
                                "entity_code, record_key) AS rn FROM j WHERE late = 1) "
                                "SELECT 'a', provider, category, COUNT(*), SUM(late), NULL, NULL, NULL FROM j "
                                "GROUP BY provider, category UNION ALL SELECT 's', provider, category, NULL, NULL, "
                                "entity_code, record_key, CAST(period_start AS VARCHAR(30)) || '/' || "
                                "CAST(closed AS VARCHAR(30)) FROM k WHERE rn <= :n", n=SAMPLE, **params)
        agg = [row[1:5] for row in got if row[0] == "a"]
        samples: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for _, provider, cat, _, _, entity, key, pair in sorted((x for x in got if x[0] == "s"),
                                                                  key=lambda x: (x[5], x[6])):
            start, _, closed_on = str(pair).partition("/")
            samples.setdefault((provider, cat), []).append({
                "entity_code": entity, "record_key": key,
                "detail": f"记录日期 {start[:10]} 晚于注销/吊销日期 {closed_on[:10]}"})
        for provider, cat, population, affected in agg:
            affected = int(affected or 0)
            out.append(Outcome(r, provider, cat, affected, int(population), float(affected),
                               f"{ctx.catalog.category(cat).name}：{affected} 条记录日期晚于主体注销或吊销日期",
                               samples.get((provider, cat), [])))
    return out


def headcount_ratio(ctx: Context, rules: Sequence[Rule]) -> list[Outcome]:
    """Social-insurance insured count against housing-fund depositor count for the same entity and month,
    differing by more than `factor` either way; attributed to the social-insurance provider."""
    out = []
    si, hf = ctx.json_text("content", "insured_count"), ctx.json_text("content", "depositor_count")
    for r in rules:
        f = float(r.params["factor"])
        # One pass over both categories grouped by entity and month (no join): the SI side's provider and key.
        base = (f"WITH g AS (SELECT entity_code, period_start, "
                f"MAX(CASE WHEN category = 'social_insurance' THEN provider END) AS provider, "
                f"MAX(CASE WHEN category = 'social_insurance' THEN record_key END) AS record_key, "
                f"MAX(CASE WHEN category = 'social_insurance' THEN CAST({si} AS DOUBLE PRECISION) END) AS si, "
                f"MAX(CASE WHEN category = 'housing_fund' THEN CAST({hf} AS DOUBLE PRECISION) END) AS hf "
                f"FROM credit_records WHERE status = 'current' AND category IN ('social_insurance', 'housing_fund') "
                f"AND period_start IS NOT NULL GROUP BY entity_code, period_start), "
                f"j AS (SELECT provider, entity_code, record_key, si, hf, CASE WHEN si > :f * hf OR hf > :f * si "
                f"THEN 1 ELSE 0 END AS off FROM g WHERE si IS NOT NULL AND hf IS NOT NULL), "
                f"k AS (SELECT j.*, ROW_NUMBER() OVER (PARTITION BY provider ORDER BY entity_code, record_key) AS rn "
                f"FROM j WHERE off = 1) ")
        base = base.replace("j AS (", "j AS MATERIALIZED (", 1)
        got = _rows(ctx, base + "SELECT 'a', provider, COUNT(*), SUM(off), NULL, NULL, NULL FROM j GROUP BY provider "
                                "UNION ALL SELECT 's', provider, NULL, NULL, entity_code, record_key, "
                                "CAST(si AS VARCHAR(20)) || '/' || CAST(hf AS VARCHAR(20)) FROM k WHERE rn <= :n",
                    f=f, n=SAMPLE)
        agg = [row[1:4] for row in got if row[0] == "a"]
        samples: dict[str, list[dict[str, Any]]] = {}
        for _, provider, _, _, entity, key, pair in sorted((x for x in got if x[0] == "s"), key=lambda x: x[4:6]):
            a, _, b = str(pair).partition("/")
            samples.setdefault(provider, []).append({
                "entity_code": entity, "record_key": key,
                "detail": f"参保人数 {float(a):g}，公积金缴存人数 {float(b):g}"})
        for provider, population, affected in agg:
            affected = int(affected or 0)
            out.append(Outcome(r, provider, "social_insurance", affected, int(population), float(affected),
                               f"{affected} 个主体月份的社保参保人数与公积金缴存人数相差超过 {f:g} 倍",
                               samples.get(provider, [])))
    return out


def key_conflict(ctx: Context, rules: Sequence[Rule]) -> list[Outcome]:
    """The same (entity, category, record key) delivered by two providers with different contents: the later
    one became a new version of the record. Only keys with more than one version can conflict, so the
    candidates are those rows (version > 1), joined back through the record index."""
    out = []
    for r in rules:
        cat_filter = "AND category = :cat" if r.category else ""
        params: dict[str, Any] = {"cat": r.category} if r.category else {}
        base = (f"WITH c AS (SELECT DISTINCT entity_code, category, record_key FROM credit_records WHERE version > 1 "
                f"{cat_filter}), k AS (SELECT v.entity_code, v.category, v.record_key FROM credit_records v "
                f"JOIN c ON v.entity_code = c.entity_code AND v.category = c.category AND v.record_key = c.record_key "
                f"GROUP BY v.entity_code, v.category, v.record_key HAVING COUNT(DISTINCT v.provider) > 1 "
                f"AND COUNT(DISTINCT v.fingerprint) > 1), "
                f"j AS (SELECT x.provider, x.category, x.entity_code, x.record_key FROM credit_records x JOIN k "
                f"ON x.entity_code = k.entity_code AND x.category = k.category AND x.record_key = k.record_key "
                f"WHERE x.status = 'current') ")
        # One statement: the counts and the samples share the materialised candidates (one scan, not two).
        base = base.replace("j AS (", "j AS MATERIALIZED (", 1)
        got = _rows(ctx, base + ", s AS (SELECT j.*, ROW_NUMBER() OVER (PARTITION BY provider, category ORDER BY "
                                "entity_code, record_key) AS rn FROM j) SELECT 'a', provider, category, COUNT(*), "
                                "NULL, NULL FROM j GROUP BY provider, category UNION ALL SELECT 's', provider, category, "
                                "NULL, entity_code, record_key FROM s WHERE rn <= :n", n=SAMPLE, **params)
        agg = [row[1:4] for row in got if row[0] == "a"]
        samples: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for _, provider, cat, _, entity, key in sorted((x for x in got if x[0] == "s"), key=lambda x: (x[4], x[5])):
            samples.setdefault((provider, cat), []).append({
                "entity_code": entity, "record_key": key, "detail": "另一提供方交付了同一记录的不同取值"})
        counts = _current_counts(ctx)
        hit = {(p, c): int(n) for p, c, n in agg}
        for (provider, cat), total in counts.items():
            if r.category and cat != r.category:
                continue
            n = hit.get((provider, cat), 0)
            out.append(Outcome(r, provider, cat, n, total, float(n),
                               f"{ctx.catalog.category(cat).name if cat in ctx.catalog.codes else cat}：{n} 条记录"
                               f"与其他提供方同键不同值", samples.get((provider, cat), [])))
    return out


def _current_counts(ctx: Context) -> dict[tuple[str, str], int]:
    if ctx.counts is not None:
        return ctx.counts
    rows = _rows(ctx, "SELECT provider, category, COUNT(*) FROM credit_records WHERE status = 'current' "
                      "GROUP BY provider, category")
    watched = {c.code for c in department_categories(ctx.catalog)}
    return {(p, c): int(n) for p, c, n in rows if c in watched}


def rejected_share_drift(ctx: Context, rules: Sequence[Rule]) -> list[Outcome]:
    """Per provider and category: the latest delivery's rejected share against the mean of its previous
    `history` deliveries (window functions over the deliveries table, which is small)."""
    out = []
    for r in rules:
        h = int(r.params.get("history", 5))
        cat_filter = "AND category = :cat" if r.category else ""
        rows = _rows(ctx, f"WITH d AS (SELECT provider, category, id, rows_rejected, rows_total, ROW_NUMBER() OVER "
                          f"(PARTITION BY provider, category ORDER BY received_at DESC, id DESC) AS rn FROM deliveries "
                          f"WHERE status IN ('accepted', 'partial', 'rejected') AND rows_total > 0 {cat_filter}) "
                          f"SELECT provider, category, MAX(CASE WHEN rn = 1 THEN id END), "
                          f"MAX(CASE WHEN rn = 1 THEN rows_rejected END), MAX(CASE WHEN rn = 1 THEN rows_total END), "
                          f"AVG(CASE WHEN rn > 1 AND rn <= :h THEN 1.0 * rows_rejected / rows_total END), "
                          f"SUM(CASE WHEN rn > 1 AND rn <= :h THEN 1 ELSE 0 END) FROM d GROUP BY provider, category",
                     h=h + 1, **({"cat": r.category} if r.category else {}))
        factor, floor = float(r.params.get("factor", 3)), float(r.params.get("min_share", 0.05))
        for provider, cat, did, rejected, total, mean, n in rows:
            if not n:
                continue  # no history to compare with
            share, mean = int(rejected) / int(total), float(mean or 0)
            jump = share >= floor and share > factor * mean
            out.append(Outcome(r, provider, cat, int(rejected) if jump else 0, int(total), round(share, 4),
                               f"最近一批（#{did}）拒收比例 {share:.1%}，此前 {int(n)} 批平均 {mean:.1%}",
                               [{"entity_code": None, "record_key": None,
                                 "detail": f"交付批次 #{did} 拒收 {int(rejected)}/{int(total)} 行"}] if jump else []))
    return out


def source_failing(ctx: Context, rules: Sequence[Rule]) -> list[Outcome]:
    """Sources failing for longer than `hours` since their last success (or creation), per department."""
    out = []
    now = clock.now()
    rows = ctx.s.execute(select(Department.name, Source.name, Source.state, Source.last_success_at,
                                Source.created_at, Source.last_error_code)
                         .join(Department, Department.code == Source.department)).all()
    for r in rules:
        limit = timedelta(hours=float(r.params.get("hours", 24)))
        per: dict[str, list[Any]] = {}
        for dept, name, state, ok_at, created, code in rows:
            per.setdefault(dept, [])
            since = ok_at or created
            if state == "failing" and now - since > limit:
                per[dept].append({"entity_code": None, "record_key": name,
                                  "detail": f"自 {since.astimezone(clock.CHINA_TZ):%Y-%m-%d %H:%M} 起失败"
                                            f"（{code or '未知错误'}）"})
        total = {d: sum(1 for row in rows if row[0] == d) for d in per}
        for dept, failing in per.items():
            out.append(Outcome(r, dept, None, len(failing), total[dept], float(len(failing)),
                               f"{len(failing)} 个数据来源持续失败超过 {limit.total_seconds() / 3600:g} 小时",
                               failing[:SAMPLE]))
    return out


# Department categories whose records carry a certificate number an enterprise may self-report: category →
# (number item, name item or None). Validity (valid_to) is compared for all of them.
CERTIFICATE_SOURCES: dict[str, tuple[str, str | None]] = {"license": ("license_no", "license_name"),
                                                          "rnd": ("certificate_no", None)}
SELF_CERTIFICATES = "self_certificates"


def self_report_conflict(ctx: Context, rules: Sequence[Rule]) -> list[Outcome]:
    """Self-reported certificates (企业自报) against the department's current record with the same number for the
    same entity: a different validity or name is a contradiction, attributed to the department's provider and
    category (the department is asked to look; the enterprise's claim is never counted anyway)."""
    if SELF_CERTIFICATES not in ctx.catalog.codes:
        return []
    j = ctx.json_text
    sources = [(c, no, nm) for c, (no, nm) in CERTIFICATE_SOURCES.items() if c in ctx.catalog.codes]
    if not sources:
        return []
    dept = " UNION ALL ".join(
        f"SELECT provider, category, entity_code, record_key, {j('content', no)} AS no, "
        f"{j('content', 'valid_to')} AS vt, {j('content', nm) if nm else 'NULL'} AS nm FROM credit_records "
        f"WHERE status = 'current' AND category = '{c}'" for c, no, nm in sources)
    base = (f"WITH a AS (SELECT entity_code, {j('content', 'certificate_no')} AS no, {j('content', 'valid_to')} AS vt, "
            f"{j('content', 'certificate_name')} AS nm FROM credit_records WHERE status = 'current' "
            f"AND category = '{SELF_CERTIFICATES}'), d AS ({dept}), "
            f"x AS MATERIALIZED (SELECT d.provider, d.category, d.entity_code, d.record_key, a.vt AS avt, d.vt AS dvt, "
            f"a.nm AS anm, d.nm AS dnm, CASE WHEN (a.vt IS NOT NULL AND d.vt IS NOT NULL AND a.vt <> d.vt) OR "
            f"(a.nm IS NOT NULL AND d.nm IS NOT NULL AND a.nm <> d.nm) THEN 1 ELSE 0 END AS off "
            f"FROM a JOIN d ON a.entity_code = d.entity_code AND a.no = d.no), "
            f"k AS (SELECT x.*, ROW_NUMBER() OVER (PARTITION BY provider, category ORDER BY entity_code, record_key) "
            f"AS rn FROM x WHERE off = 1) ")
    got = _rows(ctx, base + "SELECT 'a', provider, category, COUNT(*), SUM(off), NULL, NULL, NULL, NULL, NULL, NULL "
                            "FROM x GROUP BY provider, category UNION ALL SELECT 's', provider, category, NULL, NULL, "
                            "entity_code, record_key, avt, dvt, anm, dnm FROM k WHERE rn <= :n", n=SAMPLE)
    samples: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for _, provider, cat, _, _, entity, key, avt, dvt, anm, dnm in sorted((x for x in got if x[0] == "s"),
                                                                          key=lambda x: (x[5], x[6])):
        diff = []
        if avt is not None and dvt is not None and avt != dvt:
            diff.append(f"有效期自报 {avt}、部门记录 {dvt}")
        if anm is not None and dnm is not None and anm != dnm:
            diff.append(f"名称自报「{anm}」、部门记录「{dnm}」")
        samples.setdefault((provider, cat), []).append({"entity_code": entity, "record_key": key,
                                                        "detail": "；".join(diff)})
    out = []
    for r in rules:
        for _, provider, cat, population, affected, *_ in (x for x in got if x[0] == "a"):
            n = int(affected or 0)
            out.append(Outcome(r, provider, cat, n, int(population), float(n),
                               f"{ctx.catalog.category(cat).name}：{n} 份企业自报的资质证书与同一证书编号的部门记录"
                               f"有效期或名称不一致", samples.get((provider, cat), [])))
    return out


KIND_FUNCTIONS: dict[str, Callable[[Context, Sequence[Rule]], list[Outcome]]] = {
    "last_delivery": last_delivery, "missing_months": missing_months, "fill_rate": fill_rate,
    "after_deregistration": after_deregistration, "headcount_ratio": headcount_ratio, "key_conflict": key_conflict,
    "rejected_share_drift": rejected_share_drift, "source_failing": source_failing,
    "self_report_conflict": self_report_conflict,
}
