"""`xinyidai node …`: a node's identity, its parent, and its application to connect.
`xinyidai network …`: file mode, reconciliation, feedback, banks' needs and the 先立后破 migration."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from xinyidai.console import database, fail, settings

node_app = typer.Typer(help="节点身份与接入", no_args_is_help=True)


def _toml_value(v: str) -> str:
    return json.dumps(v, ensure_ascii=False)  # a JSON string is a valid TOML basic string


@node_app.command("init")
def init(role: str = typer.Option(..., help="national / provincial / municipal"),
         code: str = typer.Option(..., help="节点代码，如 CN、CN-230000、CN-230100"),
         name: str = typer.Option(..., help="平台名称"),
         parent: str = typer.Option("", help="上级节点地址（国家节点不填）"),
         public_url: str = typer.Option("", help="本节点对外地址（供上级、下级访问）"),
         suite: str = typer.Option("sm", help="密码套件：sm（SM2/SM3/SM4，默认）或 intl"),
         mode: str = typer.Option("push", help="与上级的交换方式：push / pull / file"),
         upload: str = typer.Option("", help="向上级报送的信息类别（逗号分隔的类别代码；默认全部）")) -> None:
    """创建节点身份与密钥对（私钥加密保存在 var/keys，不进数据库），并登记上级节点的公钥。"""
    import httpx

    from xinyidai.config import ROLES, SUITES
    from xinyidai.kit import migrate
    from xinyidai.kit.node_key import node_identity
    from xinyidai.network import peers

    if role not in ROLES or suite not in SUITES or mode not in ("push", "pull", "file"):
        typer.secho("role / suite / mode 取值不正确", fg="red", err=True)
        raise typer.Exit(2)
    s = settings()
    s.var_dir.mkdir(parents=True, exist_ok=True)
    values = {"node_code": code, "node_role": role, "node_name": name, "crypto_suite": suite,
              "public_url": public_url, "parent_url": parent, "parent_mode": mode}
    (s.var_dir / "node.toml").write_text("".join(f"{k} = {_toml_value(v)}\n" for k, v in values.items()),
                                         encoding="utf-8")
    identity = node_identity(s.var_dir, suite)
    typer.echo(f"节点 {code}（{role}）身份已创建：密码套件 {suite}，密钥标识 {identity.key_id}")
    if parent:
        try:
            info = httpx.get(f"{parent.rstrip('/')}/api/v1/network/node", timeout=10).json()
        except (httpx.HTTPError, ValueError) as exc:
            typer.secho(f"无法连接上级节点 {parent}：{exc}", fg="red", err=True)
            raise typer.Exit(1) from None
        from xinyidai.catalog.schema import load_catalog

        categories = [c.strip() for c in upload.split(",") if c.strip()]
        known = set(load_catalog(s.catalog_path).codes)
        unknown = [c for c in categories if c not in known]
        if unknown:
            typer.secho(f"未知的信息类别：{'、'.join(unknown)}", fg="red", err=True)
            raise typer.Exit(2)
        db = database(settings())
        migrate.upgrade(db.engine)
        with db.session() as sess:
            peers.register_parent(sess, info, parent, mode, categories or None)
        typer.echo(f"已登记上级节点 {info['code']} {info['name']}（公钥标识 {info['key_id']}）")


@node_app.command("apply")
def apply(contact: str = typer.Option(..., help="联系人与电话"),
          assessment: Path = typer.Option(..., exists=True, help="安全自评估（JSON 文件）"),
          region: str = typer.Option("", help="本平台辖区的行政区划前缀，如 2301（哈尔滨）")) -> None:
    """向上级节点提交接入申请（由本节点私钥签名）。"""
    import httpx

    from xinyidai.kit.node_key import node_identity
    from xinyidai.network import peers

    s = settings()
    if not s.parent_url:
        typer.secho("尚未登记上级节点：请先运行 xinyidai node init --parent URL", fg="red", err=True)
        raise typer.Exit(2)
    identity = node_identity(s.var_dir, s.crypto_suite)
    doc = peers.application(s, identity, endpoint=s.public_url or None, contact=contact,
                            assessment=json.loads(assessment.read_text(encoding="utf-8")), mode=s.parent_mode,
                            region_prefix=region or None)
    r = httpx.post(f"{s.parent_url.rstrip('/')}/api/v1/network/applications", json=doc, timeout=30)
    body = r.json()
    if r.status_code >= 400:
        typer.secho(f"申请被拒绝：{body.get('message')}（{body.get('error')}）", fg="red", err=True)
        raise typer.Exit(1)
    typer.echo(f"接入申请已提交：{body.get('message')}")


@node_app.command("reassess")
def reassess(contact: str = typer.Option(..., help="联系人与电话"),
             assessment: Path = typer.Option(..., exists=True, help="新的安全自评估（JSON 文件）")) -> None:
    """已接入的平台在安全评估到期前 30 天内（或等保级别、测评报告变更后）重新提交评估：与接入申请同一路径、
    同一密钥签名，上级由登记审核人员审核、另一位安全管理员决定；审核期间接入不受影响。"""
    apply(contact=contact, assessment=assessment, region="")  # the parent tells a re-assessment by our status


# ── key rotation (issue 24) ────────────────────────────────────────────────────────────────────────────────

@node_app.command("rotate-key")
def rotate_key(reason: str = typer.Option("定期轮换", help="轮换理由（记入审计）"),
               overlap_hours: int = typer.Option(0, help="旧密钥仍被对端接受的小时数（默认取配置 key_overlap_hours）"),
               by: str = typer.Option("cli", help="操作人（记入审计）")) -> None:
    """轮换本节点密钥：生成同一套件的新密钥并发布，用旧密钥签名通知所有上下级节点；重叠期内新旧密钥均被接受，
    运行中的服务数秒内自动改用新密钥，无需重启。"""
    from xinyidai.kit.errors import DomainError
    from xinyidai.network import keys

    s = settings()
    try:
        rotation, told = keys.rotate(database(s), s, by, reason, overlap_hours or None)
    except DomainError as exc:
        fail(exc)
    typer.echo(f"密钥已轮换：{rotation.old.key_id} → {rotation.new.key_id}；旧密钥重叠期至 "
               f"{rotation.overlap_until.isoformat()}；已通知 {len(told)} 个节点"
               + (f"（{'、'.join(told)}）" if told else ""))


@node_app.command("retire-key")
def retire_key(reason: str = typer.Option("提前结束重叠期", help="理由（记入审计）"),
               by: str = typer.Option("cli", help="操作人（记入审计）")) -> None:
    """提前结束旧密钥的重叠期：本地记为已停用，并通知上下级节点不再接受旧密钥。"""
    from xinyidai.kit.errors import DomainError
    from xinyidai.network import keys

    s = settings()
    try:
        ids, told = keys.retire(database(s), s, by, reason)
    except DomainError as exc:
        fail(exc)
    typer.echo(f"已停用旧密钥 {'、'.join(ids)}；已通知 {len(told)} 个节点")


@node_app.command("keys")
def keys_cmd() -> None:
    """列出本节点用过的全部密钥：密钥标识、套件、启用时间、状态（当前使用 / 重叠期内 / 已停用）。"""
    from xinyidai.network import keys

    for k in keys.own_keys(settings()):
        until = f"，重叠期至 {k['until']}" if k["until"] else ""
        typer.echo(f"{k['key_id']}  {k['suite']}  {k['since']}  {k['status_label']}{until}")


# ── xinyidai network …: file mode, reconciliation, feedback, needs, 先立后破 ────────────────────────────────

network_app = typer.Typer(help="节点间交换：文件方式、对账、质量反馈、数据需求、直连迁移", no_args_is_help=True)


def _node():  # noqa: ANN202 - (settings, database, context)
    from xinyidai.network import keys

    s = settings()
    return s, database(s), keys.node_context(s)


def _cli_actor(role: str, name: str = "cli"):  # noqa: ANN202
    from xinyidai.kit.principal import Principal

    return Principal(0, name, name, role, None)


def _summary(started: list[dict]) -> str:
    """One line per reconciliation started."""
    return "\n".join(f"{r['peer']}：" + (f"已发送对账数据，{r['buckets']} 组、{r['records']} 条" if r["status"] == "sent"
                                        else f"有 {r['in_flight']} 个报文在途，暂缓对账（可加 --force）")
                     for r in started)


@network_app.command("export")
def export(peer: str = typer.Option(..., help="文件交换方式的对端节点代码"),
           out_dir: Path = typer.Option(..., "--dir", help="报文文件输出目录"),
           collect: bool = typer.Option(False, help="先收集待发送的记录（本节点服务未运行时使用）"),
           again: bool = typer.Option(False, help="重新导出已导出但尚未收到回执的报文")) -> None:
    """把发给文件方式对端的待发报文写成文件（<编号>.xyd），并标记为已导出。"""
    from xinyidai.kit.errors import DomainError
    from xinyidai.network import files

    _, db, ctx = _node()
    try:
        written = files.export_outbox(db, ctx, peer, out_dir, collect=collect, again=again)
    except DomainError as exc:
        fail(exc)
    typer.echo(f"已导出 {len(written)} 个报文文件到 {out_dir}")


@network_app.command("import")
def import_(paths: list[Path] = typer.Argument(..., help="报文文件或所在目录"),
            receipts: Path = typer.Option(..., "--receipts", help="回执输出目录")) -> None:
    """校验并应用报文文件，签名回执写入 <编号>.receipt.json；坏文件逐个拒收，其余照常处理。"""
    from xinyidai.network import files

    _, db, ctx = _node()
    outcome = files.import_files(db, ctx, paths, receipts)
    for name, code, message in outcome.refused:
        typer.secho(f"拒收 {name}：{code} {message}", fg="red", err=True)
    typer.echo(f"已应用 {len(outcome.applied)} 个，重复 {len(outcome.duplicates)} 个，拒收 {len(outcome.refused)} 个；"
               f"回执在 {receipts}")
    if outcome.refused:
        raise typer.Exit(1)


@network_app.command("receipts")
def receipts(paths: list[Path] = typer.Argument(..., help="回执文件或所在目录")) -> None:
    """接收对端交回的回执文件：验签后把对应报文标记为已送达。"""
    from xinyidai.network import files

    _, db, _ = _node()
    accepted, rejected = files.accept_receipt_files(db, paths)
    for name, why in rejected:
        typer.secho(f"未接受 {name}：{why}", fg="red", err=True)
    typer.echo(f"已确认送达 {accepted} 个报文")
    if rejected:
        raise typer.Exit(1)


@network_app.command("reconcile")
def reconcile(days: int = typer.Option(7, help="核对最近几天（北京时间自然日）"),
              peer: str = typer.Option("", help="只与这个上级节点对账"),
              force: bool = typer.Option(False, help="即使仍有记录在途也立即对账")) -> None:
    """向上级节点发送最近几天各类别的条数与摘要（对账）；上级回复不一致的类别与日期后自动重发。"""
    from xinyidai.network import exchange

    _, db, ctx = _node()
    with db.session() as s:
        done = exchange.start_reconciliation(s, ctx, days, force=force, peer_code=peer or None)
    typer.echo(_summary(done) or "没有可对账的上级节点")


@network_app.command("feedback")
def feedback(entity: str = typer.Option(..., help="统一社会信用代码"), category: str = typer.Option(...),
             key: str = typer.Option("", help="记录键（不填则取该主体该类别最新的记录）"),
             problem: str = typer.Option(..., help="发现的问题")) -> None:
    """就下级报送的一条记录提出质量问题，沿报送路径逐级反馈到数据来源节点。"""
    from xinyidai.kit.errors import DomainError
    from xinyidai.network import exchange

    _, db, ctx = _node()
    try:
        with db.session() as s:
            note = exchange.raise_feedback(s, ctx, entity, category, key or None, problem, actor="cli")
            ext = note.external_id
    except DomainError as exc:
        fail(exc)
    typer.echo(f"质量反馈已发出：{ext}")


@network_app.command("need")
def need(institution: str = typer.Option(..., help="金融机构代码"), category: str = typer.Option(...),
         items: str = typer.Option(..., help="所需数据项，逗号分隔"), reason: str = typer.Option(...)) -> None:
    """代金融机构登记数据需求（运营人员）；需求随后逐级汇总上报。"""
    from xinyidai.catalog.schema import load_catalog
    from xinyidai.kit.errors import DomainError
    from xinyidai.network import exchange

    settings, db, ctx = _node()
    try:
        with db.session() as s:
            n = exchange.file_need(s, ctx, _cli_actor("operator"), category=category, items=items.split(","),
                                   reason=reason, institution_code=institution,
                                   catalog=load_catalog(settings.catalog_path))
            ext = n.external_id
    except DomainError as exc:
        fail(exc)
    typer.echo(f"数据需求已登记：{ext}")


@network_app.command("needs")
def needs(category: str = typer.Option("", help="只看一个类别")) -> None:
    """数据需求登记簿：按类别、数据项统计（JSON）。"""
    from xinyidai.network import exchange

    _, db, _ = _node()
    with db.session() as s:
        reg = exchange.needs_register(s, _cli_actor("operator"), category or None)
    typer.echo(json.dumps(reg, ensure_ascii=False, indent=2))


@network_app.command("legacy-link")
def legacy_link(url: str = typer.Argument(..., help="原直连对端的地址")) -> None:
    """登记先立后破过渡期的原直连通道（市级平台与国家平台两端各运行一次）。"""
    import httpx

    from xinyidai.kit.errors import DomainError
    from xinyidai.network import exchange

    settings, db, _ = _node()
    try:
        info = httpx.get(f"{url.rstrip('/')}/api/v1/network/node", timeout=10).json()
    except (httpx.HTTPError, ValueError) as exc:
        typer.secho(f"无法连接 {url}：{exc}", fg="red", err=True)
        raise typer.Exit(1) from None
    try:
        with db.session() as s:
            p = exchange.link_legacy(s, settings.node_role, info, url)
            relation = p.relation
    except DomainError as exc:
        fail(exc)
    typer.echo(f"已登记原直连通道：{info['code']}（{'原上级' if relation == 'legacy' else '原直连下级'}）")


@network_app.command("cut-legacy")
def cut_legacy(code: str = typer.Argument(..., help="原直连下级的节点代码"),
               by: str = typer.Option(..., help="安全管理员用户名（记入审计）"),
               reason: str = typer.Option("先立后破：新路径对账一致，切断原直连"),
               force: bool = typer.Option(False, help="不等对账一致即切断")) -> None:
    """切断原直连通道（安全管理员）：要求两条路径最近一次对账均一致。"""
    from xinyidai.kit.errors import DomainError
    from xinyidai.network import exchange

    _, db, _ = _node()
    try:
        with db.session() as s:
            exchange.cut_legacy_path(s, _cli_actor("security", by), code, reason, force=force)
    except DomainError as exc:
        fail(exc)
    typer.echo(f"已切断 {code} 的原直连通道")


@node_app.command("deadlines")
def deadlines_cmd(today: str = typer.Option("", help="按哪一天（YYYY-MM-DD，北京时间）运行；默认今天")) -> None:
    """运行接入后管理日程：整改期限（到期前 7 天、1 天及当天提醒，逾期次日提议暂停接入）和安全评估有效期
    （到期前 30 天、7 天及最后一天提醒，过期次日提议暂停接入），每步只做一次。"""
    from datetime import date

    from xinyidai.kit import clock
    from xinyidai.kit.notify import make_notifier
    from xinyidai.network import daily, deadlines

    s, db, ctx = _node()
    try:
        day = date.fromisoformat(today) if today else clock.today()
    except ValueError:
        typer.secho("日期格式应为 YYYY-MM-DD", fg="red", err=True)
        raise typer.Exit(2) from None
    with db.session() as session:
        done = daily.run(session, day, make_notifier(s.notifier, s.var_dir), deadlines.envelope_sender(ctx),
                         s.assessment_valid_days)
    typer.echo(f"{day.isoformat()}：检查 {done['checked']} 个整改对象，发出提醒 {done['reminders']} 条，"
               f"提议暂停 {done['proposals']} 项；安全评估到期检查 {done['assessment_checked']} 个节点，"
               f"发出提醒 {done['assessment_reminders']} 条，提议暂停 {done['assessment_proposals']} 项")
