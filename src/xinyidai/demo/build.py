"""Building the demo province: the register and every category's records written in bulk (from a second
process on large runs), the initial deliveries, the defective delivery files loaded through the ordinary
pipeline, the demo institutions and accounts. See `generator` for the province itself."""

from __future__ import annotations

import logging
import time
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import Index, inspect, update

from xinyidai.accounts import users as accounts
from xinyidai.catalog.schema import Catalog
from xinyidai.demo import categories, defects
from xinyidai.demo.distributions import PREFECTURES
from xinyidai.demo.generator import (
    CATEGORY_ORDER,
    CHUNK_ENTITIES,
    DEMO_GUARANTOR,
    DEMO_INSTITUTIONS,
    DEMO_PASSWORD,
    EMITTED_ITEMS,
    FLUSH_ROWS,
    INITIAL_PROVIDERS,
    PARALLEL_FROM,
    BulkWriter,
    DemoAccount,
    DemoDelivery,
    DemoInstitution,
    DemoSummary,
    NullSink,
    ProcessWriter,
    Progress,
    Province,
    Sink,
    params_digest,
)
from xinyidai.entities.codes import MAX_DEMO_SERIAL, make_uscc
from xinyidai.kit import audit, clock
from xinyidai.kit.db import Database
from xinyidai.records.models import CreditRecord, Delivery

log = logging.getLogger(__name__)


def build_demo(db: Database, catalog: Catalog, *, entities: int = 5000, seed: int = 20220516, months: int = 24,
               defects_dir: Path | None = None, progress: Progress | None = None, as_of: date | None = None,
               chunk_size: int = CHUNK_ENTITIES, parallel: bool | None = None,
               prefecture: str | None = None) -> DemoSummary:
    """Fill an empty, migrated database with a synthetic Heilongjiang (see the module docstring).

    `defects_dir` receives the defective delivery files (default: a `demo-deliveries` folder next to a
    SQLite database file, else a temporary folder). `progress(stage, done, total)` is called per chunk.
    `parallel` inserts from a second process and builds the record indexes after the load (default: from
    PARALLEL_FROM entities on, unless the database is an in-memory SQLite one, which another process cannot
    open); the data is the same either way. `prefecture` (e.g. "230200") puts every entity in that one
    prefecture, so that a city node of the network demo holds only its own region's entities.
    """

    started = time.perf_counter()
    if entities < 1:
        raise ValueError("entities must be at least 1")
    if not 1 <= months <= 240:
        raise ValueError("months must be between 1 and 240")
    if entities >= MAX_DEMO_SERIAL // 2:
        raise ValueError(f"entities must be below {MAX_DEMO_SERIAL // 2:,}")
    today = clock.today()
    as_of = as_of or today
    if as_of > today:
        raise ValueError(f"as_of {as_of.isoformat()} lies in the future")
    present = set(catalog.codes)
    for code, items in EMITTED_ITEMS.items():
        if code not in present:
            continue
        missing = set(items) - {i.code for i in catalog.category(code).items}
        if missing:
            raise ValueError(f"信息清单的类别 {code} 缺少演示数据使用的字段：{', '.join(sorted(missing))}")
    if "registration" not in present:
        raise ValueError("信息清单中没有登记注册（registration）类别，无法生成演示数据")

    now = clock.now()
    timings: dict[str, float] = {}
    province = Province(seed, as_of, months)
    if prefecture is not None:
        if prefecture not in PREFECTURES:
            raise ValueError(f"unknown prefecture {prefecture}")
        province.prefecture = prefecture
    deliveries = _create_initial_deliveries(db, catalog, seed, entities, months, as_of, now)
    gen = categories.RecordGenerator(province, catalog)

    if parallel is None:
        parallel = entities >= PARALLEL_FROM
    parallel = parallel and _shareable(db)
    # A large build maintains the record indexes once, by sorting, instead of row by row.
    deferred = _drop_record_indexes(db) if parallel else []
    t0 = time.perf_counter()
    with db.engine.connect() as conn:
        writer = BulkWriter(conn)
        received = writer.timestamp(now)
        buffer: list[tuple] = []
        sinks: dict[str, Sink | NullSink] = {}
        live: list[Sink] = []
        for code in CATEGORY_ORDER:
            if code in deliveries:
                cat = catalog.category(code)
                sink = Sink(code, cat.key, INITIAL_PROVIDERS[code], deliveries[code], writer, received, buffer)
                sinks[code] = sink
                live.append(sink)
            else:
                sinks[code] = NullSink()
        gen.bind(sinks, writer)
        reg_delivery = deliveries["registration"]
        reg = sinks["registration"]
        outlet: BulkWriter | ProcessWriter = ProcessWriter(db.url) if parallel else writer
        try:
            done = 0
            while done < entities:
                n = min(chunk_size, entities - done)
                entity_rows: list[tuple] = []
                for idx in range(done, done + n):
                    e = province.entity(idx)
                    entity_rows.append(province.entity_row(e, received, reg_delivery))
                    est = e.established.isoformat()
                    reg.emit(e.code, province.registration(e), est, est)
                    gen.records_for(e)
                    if len(buffer) >= FLUSH_ROWS:
                        outlet.entities(entity_rows)
                        outlet.records(buffer)
                        entity_rows, buffer = [], []
                        for sink in live:
                            sink.rows = buffer
                outlet.entities(entity_rows)
                outlet.records(buffer)
                outlet.commit()
                buffer = []
                for sink in live:
                    sink.rows = buffer
                done += n
                if progress:
                    progress("entities", done, entities)
        finally:
            try:
                timings.update(outlet.close())
            finally:
                if deferred:
                    t1 = time.perf_counter()
                    _create_indexes(db, deferred, progress)
                    timings["indexes"] = time.perf_counter() - t1
    timings["bulk"] = time.perf_counter() - t0

    counts = {code: s.count for code, s in sinks.items() if code in deliveries}
    _finish_initial_deliveries(db, deliveries, sinks, seed)

    t0 = time.perf_counter()
    summary_deliveries = [
        DemoDelivery(did, code, INITIAL_PROVIDERS[code], _initial_filename(catalog, code), "accepted",
                     counts[code], 0) for code, did in deliveries.items()]
    target = defects_dir or _default_defects_dir(db)
    summary_deliveries += defects.deliver_defective_files(db, catalog, province, gen, target,
                                                          progress=progress)
    timings["deliveries"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    demo_institutions = _create_institutions(db)
    demo_accounts = _create_accounts(db, gen.richest, demo_institutions[0].code)
    timings["accounts"] = time.perf_counter() - t0

    elapsed = time.perf_counter() - started
    log.info("demo province built: %s entities, %s records, %.1f s", entities, sum(counts.values()), elapsed)
    with db.session() as s:
        audit.record(s, "demo", "demo.built", "demo", seed=seed, entities=entities, months=months,
                     as_of=as_of.isoformat(), records=sum(counts.values()), seconds=round(elapsed, 1))
    return DemoSummary(seed=seed, as_of=as_of, months=months, entities=entities, records=counts,
                       deliveries=summary_deliveries, accounts=demo_accounts, institutions=demo_institutions,
                       enterprise_code=gen.richest[0] if gen.richest else None, elapsed_seconds=elapsed,
                       timings=timings)


def _drop_record_indexes(db: Database) -> list[Index]:
    """Drop the secondary indexes of credit_records that exist (the model's definitions, which the migrations
    create), to be rebuilt by `_create_indexes` after the bulk load. If the build dies in between, the
    database lacks them: a demo database is rebuilt from scratch (`xinyidai demo --reset`) anyway."""
    table = CreditRecord.__table__
    with db.engine.begin() as conn:
        present = {ix["name"] for ix in inspect(conn).get_indexes(table.name)}
        dropped = [ix for ix in sorted(table.indexes, key=lambda i: i.name or "") if ix.name in present]
        for ix in dropped:
            ix.drop(conn)
    return dropped


def _create_indexes(db: Database, indexes: list[Index], progress: Progress | None) -> None:
    with db.engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA threads=2")  # the sorter may use a helper thread
            conn.exec_driver_sql("PRAGMA cache_size=-131072")  # and 128 MB before spilling to disk
        for i, ix in enumerate(indexes, 1):
            ix.create(conn)
            if progress:
                progress("indexes", i, len(indexes))
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA cache_size=-65536")  # the engine's default for pooled connections
            conn.exec_driver_sql("PRAGMA threads=0")


def _shareable(db: Database) -> bool:
    """Whether another process can open the same database (not an in-memory SQLite one)."""
    url = db.engine.url
    return url.get_backend_name() != "sqlite" or bool(url.database and url.database != ":memory:"
                                                         and "mode=memory" not in str(url))


def _initial_filename(catalog: Catalog, code: str) -> str:
    return f"初始加载-{catalog.category(code).name}（演示数据）"


def _default_defects_dir(db: Database) -> Path:
    url = db.engine.url
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).resolve().parent / "demo-deliveries"
    import tempfile

    return Path(tempfile.mkdtemp(prefix="xinyidai-demo-deliveries-"))


def _create_initial_deliveries(db: Database, catalog: Catalog, seed: int, n: int, months: int, as_of: date,
                               now: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    with db.session() as s:
        for code in CATEGORY_ORDER:
            if code not in catalog.codes:
                continue
            d = Delivery(provider=INITIAL_PROVIDERS[code], category=code, filename=_initial_filename(catalog, code),
                         file_digest=params_digest(seed, n, months, as_of, code), size_bytes=0, format="demo",
                         source="demo", submitted_by="demo", status="processing", phase="writing", threshold=0.2,
                         received_at=now)
            s.add(d)
            s.flush()
            out[code] = d.id
    return out


def _finish_initial_deliveries(db: Database, deliveries: dict[str, int], sinks: dict[str, Sink | NullSink],
                               seed: int) -> None:
    finished = clock.now()
    with db.session() as s:
        for code, did in deliveries.items():
            sink = sinks[code]
            n = sink.count
            s.execute(update(Delivery).where(Delivery.id == did).values(
                status="accepted", phase="done", rows_total=n, rows_processed=n, rows_new=n,
                period_start=date.fromisoformat(sink.min_start) if sink.min_start else None,
                period_end=date.fromisoformat(sink.max_end) if sink.max_end else None,
                message=f"演示数据初始加载（种子 {seed}）：新增 {n:,} 条记录", finished_at=finished))
            audit.record(s, "demo", "delivery.loaded", f"delivery:{did}", status="accepted", total=n, new=n,
                         changed=0, unchanged=0, rejected=0)


def _create_institutions(db: Database) -> list[DemoInstitution]:
    from xinyidai.institutions import onboarding as institutions
    from xinyidai.kit.principal import Principal

    demo_operator = Principal(0, "demo", "演示数据", "operator", None)
    out = []
    with db.session() as s:
        for i, (name, kind, region) in enumerate(DEMO_INSTITUTIONS):
            code = make_uscc(region, MAX_DEMO_SERIAL - 1 - i)
            institutions.onboard(s, demo_operator, code=code, name=name, kind=kind, region_code=region,
                                 contact="信贷管理部（演示）")
            out.append(DemoInstitution(code, name, kind, region))
        name, kind, region = DEMO_GUARANTOR
        code = guarantor_code()
        institutions.onboard(s, demo_operator, code=code, name=name, kind=kind, region_code=region,
                             contact="担保业务部（演示）")
    log.info("demo institutions: %s", ", ".join(f"{d.name} {d.code}" for d in out))
    return out


def guarantor_code() -> str:
    """The demo guarantor's code: below the three lenders' at the top of the serial range."""
    return make_uscc(DEMO_GUARANTOR[2], MAX_DEMO_SERIAL - 1 - len(DEMO_INSTITUTIONS))


def _create_accounts(db: Database, richest: tuple[str, str] | None,
                     bank_code: str | None = None) -> list[DemoAccount]:
    enterprise_code, enterprise_name = richest or (None, "演示企业")
    specs = [
        ("operator", "operator", "省公共信用中心 张运营", None),
        ("bank", "bank", "工商银行黑龙江省分行 李信贷", bank_code),
        ("enterprise", "enterprise", f"{enterprise_name} 王财务", enterprise_code),
        ("regulator", "regulator", "省营商环境建设监督局 赵监管", None),
        ("security", "security", "省公共信用中心 孙安全", None),
        # A second security officer: an incident is closed, and a sanction decided, by another than its proposer.
        ("security2", "security", "省公共信用中心 钱安全", None),
        # Two officers of one city's finance office: a claim is reviewed by one and approved by the other.
        ("policy", "policy", "哈尔滨市财政局 周经办", "230100"),
        ("policy2", "policy", "哈尔滨市财政局 吴复核", "230100"),
        ("guarantor", "bank", f"{DEMO_GUARANTOR[0]} 郑担保", guarantor_code()),
    ]
    out = []
    with db.session() as s:
        for username, role, display, org in specs:
            user = accounts.create_user(s, username=username, display_name=display[:100], role=role,
                                        password=DEMO_PASSWORD, org_code=org, actor="demo")
            if role in ("bank", "enterprise") and org:
                user.org_admin = True  # the organisation's (verified) administrator: may add colleagues
            out.append(DemoAccount(username, role, display[:100], DEMO_PASSWORD, org))
    return out
