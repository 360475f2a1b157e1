"""Records for one market entity in each of the 17 categories, as the row validator would produce them.

Content is keyed by the catalogue's item codes and typed as `records.validation` types it: dates
"YYYY-MM-DD", months "YYYY-MM", integers int, decimals float rounded to 2 places, booleans bool, enums
only from the allowed values. Event-like categories (licences, penalties, cases …) are drawn for a share of
entities; monthly ones (tax, social insurance, utilities …) run over the months the entity existed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from xinyidai.catalog.schema import Catalog

from . import distributions as dist
from .distributions import Picker, lognormal, nice_amount, region_label
from .generator import Entity, NullSink, Province, Sink, add_years

TAX_HOLD = 2_000  # latest-month tax rows kept back for the GBK delivery file
ELECTRICITY_HOLD = 1_500  # latest-month Harbin electricity rows kept back for the UTF-8-BOM file
SI_SAMPLE = 400
CORRECTION_SAMPLE = 10
HARBIN_SAMPLE = 60
HARBIN = "230100"


@dataclass
class Samples:
    """What the defective deliveries are made of, collected while the province is generated."""

    tax_latest: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)  # held back, not stored
    electricity_latest: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)  # held back
    si_latest: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)  # stored too
    tax_previous: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)  # stored too
    harbin_entities: list[Entity] = field(default_factory=list)


def _r2(x: float) -> float:
    return round(x, 2) + 0.0  # + 0.0 turns -0.0 into 0.0


# --------------------------------------------------------------------------------------------------------
# Templates
# --------------------------------------------------------------------------------------------------------

# key → (licence name, category, content, authority ("county:"/"city:"/"" + name), valid years, number style)
# fmt: off
LICENSES: dict[str, tuple[str, str, str, str, int | None, str]] = {
    "food_sale": ("食品经营许可证", "普通", "预包装食品（含冷藏冷冻食品）销售，散装食品（含冷藏冷冻食品）销售", "county:市场监督管理局", 5, "JY1"),
    "food_service": ("食品经营许可证", "普通", "热食类食品制售，冷食类食品制售", "county:市场监督管理局", 5, "JY2"),
    "food_production": ("食品生产许可证", "普通", "粮食加工品（大米）；豆制品；食用植物油", "city:市场监督管理局", 5, "SC"),
    "road_transport": ("道路运输经营许可证", "普通", "道路普通货物运输", "county:交通运输局", 4, "ROAD"),
    "construction": ("建筑业企业资质证书", "认可", "建筑工程施工总承包三级；市政公用工程施工总承包三级", "黑龙江省住房和城乡建设厅", 5, "D"),
    "safety_construction": ("安全生产许可证", "普通", "建筑施工", "黑龙江省住房和城乡建设厅", 3, "JZ"),
    "safety_mining": ("安全生产许可证", "普通", "煤炭开采", "黑龙江省应急管理厅", 3, "MK"),
    "safety_chemicals": ("安全生产许可证", "普通", "危险化学品生产", "黑龙江省应急管理厅", 3, "WH"),
    "mining": ("采矿许可证", "特许", "开采矿种：煤；开采方式：地下开采", "黑龙江省自然资源厅", 10, "C"),
    "drug_production": ("药品生产许可证", "普通", "片剂，硬胶囊剂，颗粒剂，中药饮片", "黑龙江省药品监督管理局", 5, "DRUG"),
    "medical": ("医疗机构执业许可证", "普通", "诊疗科目：内科；全科医疗科；中医科", "county:卫生健康局", 5, "PDY"),
    "public_hygiene": ("公共场所卫生许可证", "普通", "住宿；沐浴；美容美发", "county:卫生健康局", 4, "HYG"),
    "entertainment": ("娱乐经营许可证", "普通", "歌舞娱乐场所", "county:文化广电和旅游局", 2, "ENT"),
    "pollution": ("排污许可证", "普通", "废气、废水污染物排放", "city:生态环境局", 5, "PW"),
    "power": ("电力业务许可证", "特许", "发电类", "国家能源局东北监管局", 20, "POWER"),
    "drainage": ("城镇污水排入排水管网许可证", "普通", "餐饮污水排入城镇排水管网", "county:住房和城乡建设局", 5, "DRAIN"),
    "tobacco": ("烟草专卖零售许可证", "特许", "卷烟、雪茄烟零售", "county:烟草专卖局", 5, "TOB"),
    "labor_dispatch": ("劳务派遣经营许可证", "普通", "劳务派遣经营", "county:人力资源和社会保障局", 3, "LAB"),
    "seed": ("农作物种子生产经营许可证", "普通", "农作物种子生产经营（水稻、大豆）", "county:农业农村局", 5, "SEED"),
    "animal": ("动物防疫条件合格证", "普通", "畜禽养殖场", "county:农业农村局", None, "ANI"),
}
# fmt: on
LICENSES_BY_DIVISION: dict[str, tuple[str, ...]] = {
    "52": ("food_sale", "tobacco"), "51": ("food_sale",), "62": ("food_service", "drainage"),
    "61": ("food_service", "public_hygiene"), "13": ("food_production", "pollution"),
    "14": ("food_production", "pollution"), "15": ("food_production", "pollution"), "20": ("pollution",),
    "26": ("pollution", "safety_chemicals"), "27": ("drug_production", "pollution"), "30": ("pollution",),
    "33": ("pollution",), "34": ("pollution",), "06": ("mining", "safety_mining"), "44": ("power", "pollution"),
    "47": ("construction", "safety_construction"), "48": ("construction", "safety_construction"),
    "49": ("construction", "safety_construction"), "50": ("construction",), "54": ("road_transport",),
    "59": ("road_transport",), "84": ("medical",), "80": ("public_hygiene",), "90": ("entertainment",),
    "72": ("labor_dispatch",), "01": ("seed",), "03": ("animal",),
}
LICENSE_SHORT = {"市场监督管理局": "市监", "交通运输局": "交运", "卫生健康局": "卫健", "文化广电和旅游局": "文旅",
                 "生态环境局": "环", "住房和城乡建设局": "住建", "烟草专卖局": "烟", "人力资源和社会保障局": "人社",
                 "农业农村局": "农"}

# (group, agency ("county:"/"city:" + name), document abbreviation, violation type, facts, basis, type,
#  fine range in 万元, confiscation)
# fmt: off
PENALTIES: tuple[tuple[str, str, str, str, str, str, str, float, float, bool], ...] = (
    ("food", "county:市场监督管理局", "市监", "食品安全", "当事人在经营场所销售超过保质期的预包装食品，货值金额较小",
     "《中华人民共和国食品安全法》第一百二十四条第一款第（五）项", "罚款", 0.5, 5.0, True),
    ("food", "county:市场监督管理局", "市监", "食品安全", "当事人未按规定查验并记录所采购食品的供货者许可证和产品合格证明",
     "《中华人民共和国食品安全法》第一百二十六条第一款第（三）项", "警告", 0.0, 0.0, False),
    ("all", "county:市场监督管理局", "市监", "广告", "当事人通过网络平台发布含有虚假内容的广告，欺骗、误导消费者",
     "《中华人民共和国广告法》第五十五条第一款", "罚款", 1.0, 20.0, False),
    ("all", "county:市场监督管理局", "市监", "价格", "当事人销售商品未按规定明码标价",
     "《明码标价和禁止价格欺诈规定》第二十一条", "警告", 0.0, 0.0, False),
    ("all", "county:市场监督管理局", "市监", "计量", "当事人使用未经检定的计量器具进行贸易结算",
     "《中华人民共和国计量法实施细则》第四十三条", "罚款", 0.05, 0.1, False),
    ("enterprise", "county:市场监督管理局", "市监", "登记管理", "当事人未按规定期限公示年度报告，经责令限期改正逾期未改正",
     "《企业信息公示暂行条例》第十八条", "罚款", 0.1, 1.0, False),
    ("all", "tax:", "税", "税收征管", "当事人未按照规定期限办理纳税申报和报送纳税资料",
     "《中华人民共和国税收征收管理法》第六十二条", "罚款", 0.02, 0.2, False),
    ("enterprise", "tax:", "税", "发票管理", "当事人未按规定开具发票",
     "《中华人民共和国发票管理办法》第三十五条", "罚款", 0.05, 1.0, False),
    ("manufacturing", "city:生态环境局", "环", "大气污染防治", "当事人超过大气污染物排放标准排放大气污染物",
     "《中华人民共和国大气污染防治法》第九十九条第（二）项", "罚款", 10.0, 100.0, False),
    ("manufacturing", "city:生态环境局", "环", "固体废物", "当事人未按照规定贮存一般工业固体废物",
     "《中华人民共和国固体废物污染环境防治法》第一百零二条", "罚款", 10.0, 50.0, False),
    ("safety", "county:应急管理局", "应急", "安全生产", "当事人未按照规定对从业人员进行安全生产教育和培训",
     "《中华人民共和国安全生产法》第九十七条第（三）项", "罚款", 1.0, 10.0, False),
    ("premises", "city:消防救援支队", "消", "消防安全", "当事人消防设施、器材未保持完好有效",
     "《中华人民共和国消防法》第六十条第一款第（一）项", "罚款", 0.5, 5.0, False),
    ("premises", "city:消防救援支队", "消", "消防安全", "当事人占用、堵塞、封闭疏散通道、安全出口",
     "《中华人民共和国消防法》第六十条第一款第（三）项", "罚款", 0.5, 5.0, False),
    ("hygiene", "county:卫生健康局", "卫", "公共场所卫生", "当事人安排未取得有效健康合格证明的从业人员从事直接为顾客服务的工作",
     "《公共场所卫生管理条例实施细则》第三十八条", "罚款", 0.05, 0.5, False),
    ("transport", "county:交通运输局", "交", "道路运输", "当事人未取得道路运输经营许可，擅自从事道路普通货物运输经营",
     "《中华人民共和国道路运输条例》第六十三条", "罚款", 1.0, 10.0, True),
    ("street", "county:城市管理综合行政执法局", "城管", "市容环境", "当事人未经批准擅自设置户外广告设施",
     "《城市市容和环境卫生管理条例》第三十六条", "罚款", 0.1, 1.0, False),
    ("construction", "county:住房和城乡建设局", "建", "建筑市场", "当事人未取得施工许可证擅自施工",
     "《建设工程质量管理条例》第五十七条", "罚款", 5.0, 30.0, False),
)
# fmt: on


def _penalty_groups(e: Entity) -> frozenset[str]:
    g = {"all"}
    d = e.division
    if e.head == "91":
        g.add("enterprise")
    if d in ("51", "52", "61", "62", "13", "14", "15"):
        g.add("food")
    if d in dist.MANUFACTURING or d in ("06", "44"):
        g.update(("manufacturing", "safety"))
    if d in dist.CONSTRUCTION:
        g.update(("construction", "safety"))
    if d in ("52", "61", "62", "80", "90", "59"):
        g.add("premises")
    if d in ("61", "80"):
        g.add("hygiene")
    if d in ("54", "58", "59"):
        g.add("transport")
    if d in ("52", "62", "72", "81"):
        g.add("street")
    return frozenset(g)


_PENALTY_CACHE: dict[frozenset[str], tuple[int, ...]] = {}

CIVIL_CAUSES = ("买卖合同纠纷", "借款合同纠纷", "金融借款合同纠纷", "租赁合同纠纷", "劳动争议", "建设工程施工合同纠纷",
                "服务合同纠纷", "民间借贷纠纷", "承揽合同纠纷", "运输合同纠纷", "房屋租赁合同纠纷", "追索劳动报酬纠纷")
CASE_TYPES = Picker(("民事", "执行", "行政", "刑事", "破产"), (62, 30, 5, 2, 1))

# (honour, level, authority, document prefix, years valid, who: 企业/个体/合作社/社团/农/制造)
# fmt: off
HONORS: tuple[tuple[str, str, str, str, int | None, str], ...] = (
    ("全国守合同重信用企业", "国家级", "国家市场监督管理总局", "国市监信发", 2, "big"),
    ("黑龙江省守合同重信用企业", "省级", "黑龙江省市场监督管理局", "黑市监发", 2, "enterprise"),
    ("黑龙江省诚信示范企业", "省级", "黑龙江省发展和改革委员会", "黑发改信用", 3, "enterprise"),
    ("{pref}优秀民营企业", "市级", "{pref}人民政府", "{abbr}政发", None, "enterprise"),
    ("黑龙江省农业产业化重点龙头企业", "省级", "黑龙江省农业农村厅", "黑农厅发", 2, "agri"),
    ("黑龙江省绿色工厂", "省级", "黑龙江省工业和信息化厅", "黑工信节能", None, "manufacturing"),
    ("黑龙江省农民合作社省级示范社", "省级", "黑龙江省农业农村厅", "黑农厅合", 2, "coop"),
    ("{county}文明诚信个体工商户", "县级", "{county}市场监督管理局", "{short}市监发", 2, "individual"),
    ("黑龙江省先进社会组织", "省级", "黑龙江省民政厅", "黑民发", None, "association"),
)
# (project, type, authority, basis, median 万元, project code, who)
POLICIES: tuple[tuple[str, str, str, str, float, str, str], ...] = (
    ("中小企业发展专项资金", "财政补贴", "黑龙江省工业和信息化厅", "《黑龙江省中小企业发展专项资金管理办法》", 50.0, "ZXQY", "enterprise"),
    ("失业保险稳岗返还", "财政补贴", "{pref}人力资源和社会保障局",
     "《关于做好失业保险稳岗位提技能防失业工作的通知》（人社部发〔2022〕23号）", 2.0, "WGFH", "enterprise"),
    ("创业担保贷款贴息", "贷款贴息", "{pref}财政局",
     "《关于进一步加大创业担保贷款贴息力度全力支持重点群体创业就业的通知》（财金〔2020〕21号）", 3.0, "CYDB", "small"),
    ("政府性融资担保贷款", "担保支持", "黑龙江省财政厅", "《黑龙江省政府性融资担保体系建设实施方案》", 200.0, "RZDB", "enterprise"),
    ("高新技术企业认定奖励", "奖励", "{pref}科学技术局", "《{pref}支持科技创新若干政策措施》", 20.0, "GXJL", "tech"),
    ("农机购置与应用补贴", "财政补贴", "{county}农业农村局", "《农机购置与应用补贴实施指导意见》", 5.0, "NJBT", "agri"),
    ("小型微利企业所得税减免", "税收优惠", "国家税务总局{county}税务局",
     "《关于进一步支持小微企业和个体工商户发展有关税费政策的公告》（财政部 税务总局公告2023年第12号）", 2.0, "XWJM", "small"),
    ("外经贸发展专项资金（出口信用保险保费补贴）", "财政补贴", "黑龙江省商务厅", "《黑龙江省外经贸发展专项资金管理办法》", 10.0, "WJMZ", "trade"),
)
# fmt: on

IP_TYPES = Picker(("商标", "实用新型", "发明专利", "外观设计", "软件著作权"), (45, 22, 9, 7, 17))
IP_OBJECTS = {
    "13": ("大米抛光", "大豆脱皮", "粮食烘干", "稻谷清理"), "14": ("乳品杀菌", "豆制品成型", "食品包装"),
    "34": ("农机传动", "播种机排种", "收割机割台", "液压控制"), "33": ("钢结构连接", "焊接定位"),
    "65": ("数据处理", "信息管理", "图像识别"), "64": ("网络通信", "数据同步"), "75": ("生物发酵", "土壤检测", "菌种培育"),
    "74": ("工程检测", "结构监测"), "27": ("中药提取", "药物制剂"),
}
IP_GENERIC_OBJECTS = ("节能加热", "自动控制", "物料输送", "质量检测", "寒地保温")
SOFTWARE_TOPICS = ("企业资源管理系统", "进销存管理系统", "智慧物流调度平台", "农产品溯源系统", "数据采集分析平台")
RND_TYPES = Picker(("科技型中小企业", "高新技术企业", "专精特新中小企业", "专精特新“小巨人”企业", "省级企业技术中心",
                    "技术先进型服务企业"), (50, 30, 13, 2, 4, 1))
RND_AUTHORITY = {
    "科技型中小企业": "黑龙江省科学技术厅",
    "高新技术企业": "黑龙江省科学技术厅 黑龙江省财政厅 国家税务总局黑龙江省税务局",
    "专精特新中小企业": "黑龙江省工业和信息化厅",
    "专精特新“小巨人”企业": "工业和信息化部",
    "省级企业技术中心": "黑龙江省工业和信息化厅",
    "技术先进型服务企业": "黑龙江省科学技术厅",
}
REAL_ESTATE_RIGHTS = Picker(("国有建设用地使用权及房屋所有权", "国有建设用地使用权", "房屋所有权", "集体建设用地使用权"),
                            (75, 15, 7, 3))
# 纳税信用等级. New taxpayers are M by rule (see tax()); drawing M less often keeps the whole near
# A 20% · B 45% · M 20% · C 10% · D 5%.
GRADES = Picker(("A", "B", "M", "C", "D"), (22, 50, 10, 12, 6))
CUSTOMS_GRADES = Picker(("一般信用企业", "高级认证企业", "失信企业"), (90, 8, 2))
SI_TYPES = Picker(("养老、医疗、失业、工伤", "养老、医疗、失业、工伤、生育", "养老、医疗、工伤"), (80, 15, 5))
HF_RATES = Picker((5.0, 6.0, 7.0, 8.0, 10.0, 12.0), (40, 5, 5, 15, 15, 20))

# Participation by USCC head (91 企业, 92 个体, 93 合作社, 51 社会团体)
P_LICENSE = {"91": 0.40, "92": 0.25, "93": 0.15, "51": 0.05}
P_PENALTY = {"91": 0.06, "92": 0.03, "93": 0.01, "51": 0.005}
P_JUDICIAL = {"91": 0.06, "92": 0.014, "93": 0.01, "51": 0.005}
P_DISHONEST = {"91": 0.007, "92": 0.003, "93": 0.002, "51": 0.0}
P_HONOR = {"91": 0.09, "92": 0.004, "93": 0.05, "51": 0.03}
P_POLICY = {"91": 0.075, "92": 0.012, "93": 0.09, "51": 0.0}
P_REAL_ESTATE = {"91": 0.20, "92": 0.04, "93": 0.10, "51": 0.03}
P_ELECTRICITY = {"91": 0.70, "92": 0.25, "93": 0.50, "51": 0.20}
P_WATER = {"91": 0.35, "92": 0.12, "93": 0.10, "51": 0.10}


def _patent_check(digits12: str) -> str:
    s = sum(int(c) * w for c, w in zip(digits12, (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5), strict=True)) % 11
    return "X" if s == 10 else str(s)


class _Bill:
    """Arrears of one utility account: a few accounts pay late; unpaid bills add up until settled."""

    __slots__ = ("bal", "overdue", "prone")

    def __init__(self, prone: bool) -> None:
        self.prone, self.bal, self.overdue = prone, 0.0, 0

    def pay(self, r: Any, due: float, late: tuple[str, str] = ("欠费", "催缴")) -> tuple[float, float, str]:
        if self.prone and r() < 0.3:
            paid = due * r() * 0.7
            self.bal += due - paid
            self.overdue += 1
        elif self.bal > 0 and r() < 0.5:
            paid = due + self.bal
            self.bal, self.overdue = 0.0, 0
        else:
            paid = due
        if self.bal <= 0.005:
            self.bal = 0.0
            return paid, 0.0, "正常"
        return paid, self.bal, late[0] if self.overdue <= 2 else late[1]


# --------------------------------------------------------------------------------------------------------
# The generator
# --------------------------------------------------------------------------------------------------------

class RecordGenerator:
    """Draws every category's records for an entity, in a fixed order, into the category sinks."""

    def __init__(self, province: Province, catalog: Catalog) -> None:
        self.p = province
        self.rng = province.rng
        self.catalog = catalog
        self.samples = Samples()
        self.richest: tuple[str, str] | None = None
        self._best = (-1, -1)
        self.latest = len(province.periods) - 1
        self.correction_index = max(0, len(province.periods) - 3)
        self._forced_penalties: list[tuple[dict[str, Any], str]] = []

    def bind(self, sinks: dict[str, Sink | NullSink], writer: Any) -> None:
        self.s = sinks
        self.pv = [(p.label, writer.day(p.start.isoformat()), writer.day(p.end.isoformat()), p.start.isoformat(),
                    p.end.isoformat(), p.month - 1, p.start_ord) for p in self.p.periods]

    # -- helpers ------------------------------------------------------------------------------------------

    def _authority(self, e: Entity, spec: str) -> str:
        if spec.startswith("county:"):
            return region_label(e.region) + spec[7:]
        if spec.startswith("city:"):
            return e.pref.name + spec[5:]
        if spec == "tax:":
            return f"国家税务总局{region_label(e.region)}税务局"
        return spec

    def _doc_abbr(self, e: Entity, spec: str) -> str:
        """哈 for a city body, 哈道 for a district body (道里区), as document numbers are prefixed."""
        if (spec.startswith("county:") or spec == "tax:") and e.region != e.pref.code:
            return e.pref.abbr + dist.county_short(e.region)[:1]
        return e.pref.abbr

    def _hi(self, e: Entity) -> int:
        return e.closed_on.toordinal() if e.closed_on else self.p.as_of_ord

    def _event_day(self, e: Entity, years_back: float, min_after_est: int = 0) -> date | None:
        hi = self._hi(e)
        lo = max(e.est_ord + min_after_est, self.p.as_of_ord - int(years_back * 365))
        if lo > hi:
            return None
        return self.p.day(lo, hi)

    # -- per entity ---------------------------------------------------------------------------------------

    def records_for(self, e: Entity) -> None:
        cats = total = 0
        forced_cases: list[tuple[str, str, date, date]] = []
        for n in (self.license(e), self.penalty(e), self.dishonesty(e, forced_cases), self.judicial(e, forced_cases),
                  self.honor(e), self.policy_support(e), self.real_estate(e), self.intellectual_property(e),
                  self.rnd(e), self.tax(e), self.social_insurance(e), self.housing_fund(e),
                  self.import_export(e), self.water(e), self.electricity(e), self.gas(e)):
            if n:
                cats += 1
                total += n
        if e.head == "91" and e.active and (cats, total) > self._best:
            self._best = (cats, total)
            self.richest = (e.code, e.name)
        if (e.pref.code == HARBIN and e.active and e.head in ("91", "92")
                and len(self.samples.harbin_entities) < HARBIN_SAMPLE):
            self.samples.harbin_entities.append(e)

    # -- 行政许可 -----------------------------------------------------------------------------------------

    def license(self, e: Entity) -> int:
        r = self.rng.random
        options = LICENSES_BY_DIVISION.get(e.division, ())
        p = P_LICENSE[e.head] * 1.2
        if not options or not (e.showcase or r() < p):
            return 0
        chosen = [options[int(r() * len(options))]]
        if len(options) > 1 and (e.showcase or r() < 0.3):
            chosen = list(options)
        n = 0
        for key in chosen:
            lname, lcat, content, spec, years, style = LICENSES[key]
            decided = self._event_day(e, (years or 5) + 1.0)
            if decided is None:
                continue
            y = decided.year
            serial = self.p.next_serial("licence", style, start=100)
            region = e.region
            if style.startswith("JY"):
                body = f"{style[2]}{region}{serial:06d}"
                no = f"JY{body}{sum(map(int, body)) % 10}"
            elif style == "SC":
                body = f"101{region}{serial % 10000:04d}"
                no = f"SC{body}{sum(map(int, body)) % 10}"
            elif style == "ROAD":
                no = f"黑交运管许可{e.pref.abbr}字{region}{serial:06d}号"
            elif style == "D":
                no = f"D2{region[:4]}{serial:05d}"
            elif style in ("JZ", "MK", "WH"):
                no = f"（黑）{style}安许证字〔{y}〕{serial:06d}"
            elif style == "C":
                no = f"C23000020{y}0{serial:011d}"
            elif style == "DRUG":
                no = f"黑{y}{serial:04d}"
            elif style == "PDY":
                no = f"PDY{serial:06d}{region}A1002"
            elif style == "HYG":
                no = f"{e.pref.abbr}卫公证字〔{y}〕第{region}{serial:06d}号"
            elif style == "PW":
                no = f"{e.code}{serial % 1000:03d}V"
            elif style == "DRAIN":
                no = f"{e.pref.abbr}排水许字〔{y}〕第{serial:05d}号"
            else:
                no = f"{region}{style}{serial:07d}"
            authority = self._authority(e, spec)
            valid_to = add_years(decided, years) if years else None
            decision_no = None
            if r() < 0.5:
                short = LICENSE_SHORT.get(spec.split(":", 1)[-1], "许")
                abbr = self._doc_abbr(e, spec)
                decision_no = f"{abbr}{short}许〔{y}〕{self.p.next_serial('licence-doc', abbr, short, y)}号"
            self.s["license"].emit(e.code, {
                "decision_doc_name": "准予行政许可决定书" if decision_no else None,
                "decision_no": decision_no,
                "license_category": lcat,
                "license_name": lname,
                "license_no": no,
                "license_content": content,
                "decided_on": decided.isoformat(),
                "valid_from": decided.isoformat(),
                "valid_to": valid_to.isoformat() if valid_to else None,
                "authority": authority,
                "authority_uscc": self.p.org_code(authority, region if spec.startswith("county:") else e.pref.code),
                "license_status": "有效" if (valid_to is None or valid_to.toordinal() >= self.p.as_of_ord) else "无效",
            }, decided.isoformat(), decided.isoformat())
            n += 1
        return n

    # -- 行政处罚 -----------------------------------------------------------------------------------------

    def penalty(self, e: Entity, force: bool = False, window: tuple[int, int] | None = None) -> int:
        r = self.rng.random
        if not (force or e.showcase or e.risky or r() < P_PENALTY[e.head]):
            return 0
        groups = _penalty_groups(e)
        idx = _PENALTY_CACHE.get(groups)
        if idx is None:
            idx = _PENALTY_CACHE[groups] = tuple(i for i, t in enumerate(PENALTIES) if t[0] in groups)
        k = 1 if (force or e.showcase) else (2 if e.risky else (1 if r() < 0.8 else (2 if r() < 0.75 else 3)))
        contents = []
        for _ in range(k):
            group, spec, abbr_word, vtype, facts, basis, ptype, lo, hi, confiscate = PENALTIES[idx[int(r() * len(idx))]]
            if window is not None:
                decided = self.p.day(*window)
            else:
                decided = self._event_day(e, 5.0, 30)
                if decided is None:
                    continue
            y = decided.year
            abbr = self._doc_abbr(e, spec) if spec.startswith(("county:", "tax:")) else e.pref.abbr
            decision_no = f"{abbr}{abbr_word}罚〔{y}〕{self.p.next_serial('penalty', abbr, abbr_word, y)}号"
            fine = None
            if ptype == "罚款":
                fine = _r2(lo + (hi - lo) * r() ** 2)
                if fine >= 1:
                    fine = float(round(fine))
                fine = max(fine, 0.01)
            confiscated = _r2(0.01 + r() * 0.5) if confiscate and r() < 0.5 else None
            if ptype == "警告":
                content = "警告，责令改正"
                days = 91
            else:
                content = f"罚款人民币{fine * 10000:,.0f}元" if fine is not None else ptype
                if confiscated:
                    content = f"没收违法所得{confiscated * 10000:,.0f}元，并处" + content
                days = 1095 if (fine or 0) >= 10 else 365
            publicity = date.fromordinal(decided.toordinal() + days)
            repaired = None
            if publicity.toordinal() > self.p.as_of_ord:
                repaired = (not e.risky and decided.toordinal() < self.p.as_of_ord - 90 and r() < 0.2) or (
                    e.showcase and ptype != "警告")
            elif r() < 0.5:
                repaired = False
            authority = self._authority(e, spec)
            contents.append(({
                "decision_no": decision_no,
                "penalty_type": ptype,
                "violation_type": vtype,
                "reason": facts,
                "basis": basis,
                "penalty_content": content,
                "fine_amount": fine,
                "confiscated_amount": confiscated,
                "decided_on": decided.isoformat(),
                "authority": authority,
                "authority_uscc": self.p.org_code(authority, e.region if spec.startswith(("county:", "tax:"))
                                                  else e.pref.code),
                "publicity_until": publicity.isoformat(),
                "credit_repaired": repaired,
            }, decided.isoformat()))
        if force:
            self._forced_penalties = contents
            return len(contents)
        for content, d in contents:
            self.s["penalty"].emit(e.code, content, d, d)
        return len(contents)

    def fresh_penalties(self, e: Entity, lo_ord: int, hi_ord: int) -> list[dict[str, Any]]:
        """Penalties decided between two days, for a delivery file (not stored here)."""
        self.penalty(e, force=True, window=(lo_ord, hi_ord))
        return [c for c, _ in self._forced_penalties]

    # -- 严重失信主体名单 ------------------------------------------------------------------------------------

    def dishonesty(self, e: Entity, forced_cases: list[tuple[str, str, date, date]]) -> int:
        r = self.rng.random
        if e.showcase or not (r() < P_DISHONEST[e.head] or e.risky):
            return 0
        listed = self._event_day(e, 2.0 if e.risky else 5.0, 365)
        if listed is None:
            return 0
        u = 0.0 if e.risky else r()
        y = listed.year
        court, court_code = dist.base_court(e.region)
        if u < 0.70 or e.head == "92":
            list_type = "失信被执行人"
            filed = date.fromordinal(max(e.est_ord, listed.toordinal() - 30 - int(r() * 300)))
            fy = filed.year
            case_no = f"（{fy}）{court_code}执{self.p.next_serial('case', court_code, '执', fy)}号"
            decision_no = case_no
            reason = "有履行能力而拒不履行生效法律文书确定义务"
            basis = "《最高人民法院关于公布失信被执行人名单信息的若干规定》第一条第（一）项"
            authority = court
            forced_cases.append((case_no, court, listed, filed))
        elif u < 0.85:
            list_type = "重大税收违法失信主体"
            abbr = e.pref.abbr
            decision_no = f"{abbr}税稽处〔{y}〕{self.p.next_serial('tax-case', abbr, y)}号"
            reason = "虚开增值税专用发票" if r() < 0.5 else "逃避缴纳税款，数额较大且占应纳税额百分之十以上"
            basis = "《重大税收违法失信主体信息公布管理办法》第六条"
            authority = f"国家税务总局{e.pref.name}税务局"
        elif u < 0.95:
            list_type = "严重违法失信企业"
            abbr = e.pref.abbr
            decision_no = f"{abbr}市监严违〔{y}〕{self.p.next_serial('samr-list', abbr, y)}号"
            reason = "提交虚假材料取得市场主体登记，情节严重"
            basis = "《市场监督管理严重违法失信名单管理办法》第十条"
            authority = f"{e.pref.name}市场监督管理局"
        else:
            list_type = "政府采购严重违法失信行为"
            abbr = e.pref.abbr
            decision_no = f"{abbr}财采罚〔{y}〕{self.p.next_serial('procurement', abbr, y)}号"
            reason = "提供虚假材料谋取中标、成交"
            basis = "《中华人民共和国政府采购法》第七十七条"
            authority = f"{e.pref.name}财政局"
        removed = removal = None
        if not e.risky and r() < 0.3 and listed.toordinal() + 60 <= self.p.as_of_ord:
            removed = self.p.day(listed.toordinal() + 60, self.p.as_of_ord)
            removal = "已履行生效法律文书确定的义务" if list_type == "失信被执行人" else "完成信用修复"
        d = listed.isoformat()
        self.s["dishonesty"].emit(e.code, {
            "list_type": list_type, "decision_no": decision_no, "listed_on": d, "reason": reason, "basis": basis,
            "authority": authority, "removed_on": removed.isoformat() if removed else None,
            "removal_reason": removal,
        }, d, d)
        return 1

    # -- 司法判决及执行 ----------------------------------------------------------------------------------

    def judicial(self, e: Entity, forced_cases: list[tuple[str, str, date, date]]) -> int:
        r = self.rng.random
        n = 0
        sink = self.s["judicial"]
        for case_no, court, listed, filed in forced_cases:
            amount = _r2(lognormal(self.rng, 80_000.0, 1.2))
            ended = r() < 0.5
            d = filed.isoformat()
            sink.emit(e.code, {
                "case_no": case_no, "case_type": "执行", "party_role": "被执行人", "cause": CIVIL_CAUSES[int(r() * 4)],
                "subject_amount": amount, "unperformed_amount": _r2(amount * (0.6 + 0.4 * r())),
                "filed_on": d, "closed_on": listed.isoformat() if ended else None,
                "judgment_result": "终结本次执行程序" if ended else None,
                "enforcement_status": "终结本次执行" if ended else "执行中", "court": court,
            }, d, d)
            n += 1
        if not (e.showcase or e.risky or r() < P_JUDICIAL[e.head]):
            return n
        k = 1 if (e.showcase or r() < 0.7) else (2 if r() < 0.67 else 3)
        if e.risky:
            k = 2
        for _ in range(k):
            filed = self._event_day(e, 5.0, 60)
            if filed is None:
                break
            ctype = "民事" if (e.showcase or e.risky) else CASE_TYPES.pick(self.rng)
            y = filed.year
            amount: float | None = _r2(lognormal(self.rng, 50_000.0, 1.3))
            unperformed = enforcement = result = None
            cause: str | None = CIVIL_CAUSES[int(r() * len(CIVIL_CAUSES))]
            court, code = dist.base_court(e.region)
            appeal = ctype == "民事" and r() < 0.15
            if ctype == "民事":
                if appeal:
                    court, code = dist.intermediate_court(e.region)
                    word, days = "民终", 30 + int(r() * 120)
                else:
                    word, days = "民初", 30 + int(r() * 200)
                role = "原告" if e.showcase else ("被告" if (e.risky or r() < 0.6) else "原告")
                if appeal:
                    role = "上诉人" if r() < 0.5 else "被上诉人"
                result = ("判决被告于判决生效之日起十日内支付原告欠款及利息", "调解结案", "准予原告撤诉",
                          "驳回原告的诉讼请求", "驳回上诉，维持原判")[4 if appeal else int(r() * 4)]
            elif ctype == "执行":
                word, days = "执", 30 + int(r() * 400)
                role = "被执行人" if r() < 0.7 else "申请执行人"
            elif ctype == "行政":
                word, days = "行初", 60 + int(r() * 200)
                role = "原告" if r() < 0.7 else "第三人"
                cause, amount = ("行政处罚" if r() < 0.6 else "行政许可"), None
                result = "驳回原告诉讼请求" if r() < 0.6 else "撤销被诉行政行为"
            elif ctype == "刑事":
                word, days = "刑初", 90 + int(r() * 200)
                role, amount = "被告", None
                cause = "虚开增值税专用发票罪" if r() < 0.5 else "重大责任事故罪"
                result = "判处被告单位罚金"
            else:
                court, code = dist.intermediate_court(e.region)
                word, days = "破", 200 + int(r() * 700)
                role = "被申请人" if r() < 0.8 else "申请人"
                cause, amount = "破产清算", None
                result = "宣告破产"
            closed_ord = filed.toordinal() + days
            closed = date.fromordinal(closed_ord) if closed_ord <= self.p.as_of_ord else None
            if ctype == "执行" and amount is not None:
                if closed is None:
                    enforcement = "执行中"
                    unperformed = _r2(amount * (0.3 + 0.7 * r()))
                else:
                    u = r()
                    enforcement = "已结案" if u < 0.4 else ("已履行" if u < 0.7 else "终结本次执行")
                    unperformed = _r2(amount * (0.5 + 0.5 * r())) if enforcement == "终结本次执行" else 0.0
                    result = {"已结案": "执行完毕", "已履行": "和解履行完毕", "终结本次执行": "终结本次执行程序"}[enforcement]
            elif closed is None:
                result = None
            case_no = f"（{y}）{code}{word}{self.p.next_serial('case', code, word, y)}号"
            d = filed.isoformat()
            sink.emit(e.code, {
                "case_no": case_no, "case_type": ctype, "party_role": role, "cause": cause, "subject_amount": amount,
                "unperformed_amount": unperformed, "filed_on": d, "closed_on": closed.isoformat() if closed else None,
                "judgment_result": result, "enforcement_status": enforcement, "court": court,
            }, d, d)
            n += 1
        return n

    # -- 荣誉表彰 -----------------------------------------------------------------------------------------

    def _fits(self, e: Entity, who: str) -> bool:
        d, head = e.division, e.head
        if who == "big":
            return head == "91" and e.headcount >= 50
        if who == "enterprise":
            return head == "91"
        if who == "agri":
            return head in ("91", "93") and (d in dist.AGRICULTURE or d in ("13", "14"))
        if who == "manufacturing":
            return head == "91" and d in dist.MANUFACTURING
        if who == "coop":
            return head == "93"
        if who == "individual":
            return head == "92"
        if who == "association":
            return head == "51"
        if who == "small":
            return head in ("91", "92") and e.headcount <= 20
        if who == "tech":
            return head == "91" and (d in dist.TECH or d in dist.MANUFACTURING)
        if who == "trade":
            return head == "91" and (d in ("51", "58") or d in dist.MANUFACTURING)
        raise ValueError(who)

    def honor(self, e: Entity) -> int:
        r = self.rng.random
        if not (e.showcase or r() < P_HONOR[e.head]):
            return 0
        fitting = [h for h in HONORS if self._fits(e, h[5])]
        if not fitting:
            return 0
        k = 2 if (e.showcase or r() < 0.2) and len(fitting) > 1 else 1
        picks = []
        for _ in range(k):
            h = fitting[int(r() * len(fitting))]
            if h not in picks:
                picks.append(h)
        label = region_label(e.region)
        county = label if e.region != e.pref.code else e.pref.name
        n = 0
        for name, level, authority, prefix, years, _ in picks:
            fill = {"pref": e.pref.name, "abbr": e.pref.abbr, "county": county,
                    "short": dist.county_short(e.region)[:1] or e.pref.abbr}
            name, authority, prefix = name.format(**fill), authority.format(**fill), prefix.format(**fill)
            y = self.p.as_of.year - int(r() * 5)
            h = dist.stable_hash(f"{name}|{y}")
            awarded = date(y, 1 + h % 12, 1 + h % 28)
            if awarded.toordinal() > self.p.as_of_ord:
                y -= 1
                awarded = awarded.replace(year=y)
            if awarded.toordinal() < e.est_ord + 365 or awarded.toordinal() > self._hi(e):
                continue
            valid_to = add_years(awarded, years) if years else None
            d = awarded.isoformat()
            self.s["honor"].emit(e.code, {
                "honor_name": name, "level": level, "authority": authority, "awarded_on": d,
                "doc_no": f"{prefix}〔{y}〕{1 + h % 97}号", "valid_to": valid_to.isoformat() if valid_to else None,
                "content": f"授予“{name}”称号",
            }, d, d)
            n += 1
        return n

    # -- 政策支持 -----------------------------------------------------------------------------------------

    def policy_support(self, e: Entity) -> int:
        r = self.rng.random
        if not (e.showcase or r() < P_POLICY[e.head]):
            return 0
        fitting = [p for p in POLICIES if self._fits(e, p[6])]
        if not fitting:
            return 0
        label = region_label(e.region)
        county = label if e.region != e.pref.code else e.pref.name
        k = 2 if (e.showcase or r() < 0.25) else 1
        n = 0
        for _ in range(k):
            name, stype, authority, basis, median, pcode, _ = fitting[int(r() * len(fitting))]
            approved = self._event_day(e, 4.0, 90)
            if approved is None:
                break
            fill = {"pref": e.pref.name, "county": county}
            y = approved.year
            d = approved.isoformat()
            self.s["policy_support"].emit(e.code, {
                "project_name": name, "support_type": stype, "amount": _r2(max(0.1, lognormal(self.rng, median, 0.7))),
                "approved_on": d, "authority": authority.format(**fill),
                "project_no": f"HLJ-{pcode}-{y}-{self.p.next_serial('policy', pcode, y):05d}",
                "policy_basis": basis.format(**fill),
            }, d, d)
            n += 1
        return n

    # -- 不动产 -------------------------------------------------------------------------------------------

    def real_estate(self, e: Entity) -> int:
        r = self.rng.random
        if not (e.showcase or r() < P_REAL_ESTATE[e.head]):
            return 0
        label = region_label(e.region)
        place = e.pref.name if label.startswith(e.pref.name) else label
        k = 2 if e.showcase else (1 if r() < 0.7 else (2 if r() < 0.67 else 3))
        agri = e.division in dist.AGRICULTURE or e.head == "93"
        n = 0
        for _ in range(k):
            registered = self._event_day(e, min(10.0, self.p.as_of.year - 2015), 30)
            if registered is None:
                break
            y = registered.year
            if agri and r() < 0.6:
                right, nature, use = "土地承包经营权", "家庭承包" if r() < 0.5 else "其他方式承包", "耕地"
                area, term = _r2(lognormal(self.rng, 100_000.0, 0.8)), add_years(registered, 30)
            else:
                right = REAL_ESTATE_RIGHTS.pick(self.rng)
                industrial = e.division in dist.MANUFACTURING or e.division in ("06", "44", "59")
                if right == "国有建设用地使用权":
                    nature, use = "出让", "工业用地" if industrial else ("仓储用地" if r() < 0.3 else "商服用地")
                    area = _r2(lognormal(self.rng, 8_000.0, 0.9))
                elif right == "集体建设用地使用权":
                    nature, use, area = "出让", "工业用地", _r2(lognormal(self.rng, 5_000.0, 0.8))
                else:
                    nature = "出让/市场化商品房" if right.startswith("国有") else "市场化商品房"
                    use = ("工业/厂房" if industrial else ("商业/商业服务" if r() < 0.6 else "办公/办公"))
                    area = _r2(lognormal(self.rng, 600.0 if industrial else 150.0, 0.9))
                term = add_years(registered, 50 if industrial else 40) if "土地" in right or "用地" in right else None
            road = dist.ROADS[int(r() * len(dist.ROADS))]
            location = f"{label}{road}{1 + int(r() * 300)}号"
            if use.startswith(("商业", "办公")):
                location += f"{1 + int(r() * 3)}单元{1 + int(r() * 20)}层{1 + int(r() * 12)}号"
            serial = self.p.next_serial("estate", place, y)
            unit = f"{e.region}{int(r() * 1000):03d}{int(r() * 1000):03d}GB{int(r() * 100000):05d}F{serial % 10**8:08d}"
            d = registered.isoformat()
            self.s["real_estate"].emit(e.code, {
                "certificate_no": f"黑（{y}）{place}不动产权第{serial:07d}号", "unit_no": unit, "location": location,
                "right_type": right, "right_nature": nature, "land_use": use, "area": area, "registered_on": d,
                "use_to": term.isoformat() if term else None, "mortgaged": r() < 0.35 or e.showcase,
                "seized": (not e.showcase) and r() < 0.02,
            }, d, d)
            n += 1
        return n

    # -- 知识产权 -----------------------------------------------------------------------------------------

    def intellectual_property(self, e: Entity) -> int:
        r = self.rng.random
        d = e.division
        if e.head == "91":
            p = 0.6 if d in dist.TECH else (0.45 if d in dist.MANUFACTURING else 0.16)
        elif e.head == "92":
            p = 0.03 if d in dist.CATERING or d == "52" else 0.0
        else:
            p = 0.02
        if not (e.showcase or r() < p):
            return 0
        k = 6 if e.showcase else 1 + min(9, int(self.rng.expovariate(1.0 if d not in dist.TECH else 0.4)))
        n = 0
        for i in range(k):
            ip_type = ("发明专利", "实用新型", "商标", "软件著作权", "外观设计", "商标")[i] if e.showcase else (
                IP_TYPES.pick(self.rng) if e.head == "91" else "商标")
            filed = self._event_day(e, 8.0, 30)
            if filed is None:
                break
            fo = filed.toordinal()
            y = filed.year
            valid_to = None
            if ip_type in ("发明专利", "实用新型", "外观设计"):
                t = {"发明专利": "1", "实用新型": "2", "外观设计": "3"}[ip_type]
                digits = f"{y}{t}{self.p.next_serial('patent', t, y, start=10_000):07d}"
                app_no = f"{digits}.{_patent_check(digits)}"
                lag = {"1": 700 + int(r() * 400), "2": 150 + int(r() * 210), "3": 120 + int(r() * 180)}[t]
                life = {"1": 20, "2": 10, "3": 15 if y >= 2021 else 10}[t]
                valid_to = add_years(filed, life)
                objs = IP_OBJECTS.get(d, IP_GENERIC_OBJECTS)
                obj = objs[int(r() * len(objs))]
                ip_name = (f"一种{obj}装置" if t == "2" else f"一种{obj}方法") if t != "3" else f"{obj}用包装盒"
            elif ip_type == "商标":
                app_no = str(50_000_000 + self.p.next_serial("trademark"))
                lag = 250 + int(r() * 150)
                ip_name = e.brand if i == 0 else f"{e.brand}{dist.BRAND_EXTRA[int(r() * len(dist.BRAND_EXTRA))]}"
            else:
                app_no = f"{y}SR{self.p.next_serial('software', y, start=100_000):07d}"
                lag = 30 + int(r() * 60)
                ip_name = f"{e.brand}{SOFTWARE_TOPICS[int(r() * len(SOFTWARE_TOPICS))]}V{1 + int(r() * 3)}.0"
            granted = None
            if fo + lag <= self.p.as_of_ord:
                granted = date.fromordinal(fo + lag)
                if ip_type == "商标":
                    valid_to = add_years(granted, 10)
            if granted is None:
                status = "审中"
            elif valid_to is not None and valid_to.toordinal() < self.p.as_of_ord:
                status = "失效"
            else:
                u = r()
                status = "质押" if (u < 0.05 or (e.showcase and i == 0)) else ("失效" if u < 0.12 and ip_type != "商标"
                                                                              else "有效")
            g = granted.isoformat() if granted else None
            self.s["intellectual_property"].emit(e.code, {
                "ip_type": ip_type, "application_no": app_no, "ip_name": ip_name, "filed_on": filed.isoformat(),
                "granted_on": g, "valid_to": valid_to.isoformat() if valid_to else None, "legal_status": status,
                "pledged": status == "质押",
            }, g, g)
            n += 1
        return n

    # -- 科技研发 -----------------------------------------------------------------------------------------

    def rnd(self, e: Entity) -> int:
        r = self.rng.random
        if e.head != "91":
            return 0
        d = e.division
        p = 0.4 if d in dist.TECH else (0.3 if d in dist.MANUFACTURING else 0.06)
        if not (e.showcase or r() < p):
            return 0
        kinds = ["科技型中小企业", "高新技术企业"] if e.showcase else [RND_TYPES.pick(self.rng)]
        n = 0
        for kind in kinds:
            recognized = self._event_day(e, 3.0, 365)
            if recognized is None:
                continue
            if kind == "高新技术企业":  # certificates are issued late in the year
                recognized = max(date(recognized.year, 10, 1), recognized) if recognized.month < 10 else recognized
                if recognized.toordinal() > self._hi(e):
                    recognized = date.fromordinal(self._hi(e))
            y = recognized.year
            serial = self.p.next_serial("rnd", kind, y)
            cert = {
                "科技型中小企业": f"{y}{e.region}{1 + int(r() * 6):02d}{serial:06d}",
                "高新技术企业": f"GR{y}23{serial:06d}",
                "专精特新中小企业": f"ZJTX-23-{y}-{serial:05d}",
                "专精特新“小巨人”企业": f"XJR-{y}-{serial:05d}",
                "省级企业技术中心": f"HLJQJ-{y}-{serial:04d}",
                "技术先进型服务企业": f"JXF-23-{y}-{serial:04d}",
            }[kind]
            valid = date(y, 12, 31) if kind == "科技型中小企业" else (
                None if kind == "省级企业技术中心" else add_years(recognized, 3))
            dd = recognized.isoformat()
            self.s["rnd"].emit(e.code, {
                "recognition_type": kind, "certificate_no": cert, "recognized_on": dd,
                "valid_to": valid.isoformat() if valid else None, "rnd_year": str(y - 1),
                "rnd_expense": _r2(max(5.0, e.revenue / 10_000 * (0.03 + 0.05 * r()))),
                "rnd_staff": max(1, int(e.headcount * (0.1 + 0.3 * r()))), "authority": RND_AUTHORITY[kind],
            }, dd, dd)
            n += 1
        return n

    # -- 纳税 -----------------------------------------------------------------------------------------------

    def tax(self, e: Entity) -> int:
        r = self.rng.random
        if e.head == "91":
            p = 0.96
        elif e.head == "93":
            p = 0.4
        else:
            return 0
        if e.first > e.last or not (e.showcase or r() < p):
            return 0
        rng = self.rng
        small = not (e.revenue > 5_000_000 or r() < 0.1)
        ttype = "小规模纳税人" if small else "一般纳税人"
        cur = "A" if e.showcase else ("D" if e.risky else _pick_grade(rng))
        prev = cur if (e.showcase or r() < 0.75) else ("C" if e.risky else _pick_grade(rng))
        switch = self.p.grade_switch_ord
        if e.est_ord > switch - 365:
            cur = "M"
        if e.est_ord > switch - 730:
            prev = "M"
        late_p = {"C": 0.06, "D": 0.2}.get(cur, 0.01)
        prone = e.risky or ((not e.showcase) and r() < {"C": 0.15, "D": 0.4}.get(cur, 0.02))
        zero = small and r() < 0.08
        season = dist.sales_season(e.division)
        monthly = e.revenue / 12.0
        margin = 0.03 + 0.07 * r()
        cit_rate = 0.05 if e.revenue < 30_000_000 else 0.25
        bal = 0.0
        n = 0
        sink = self.s["tax"]
        code = e.code
        hold = self.samples.tax_latest
        for i in range(e.first, e.last + 1):
            pv = self.pv[i]
            label, m0, s_ord = pv[0], pv[5], pv[6]
            grade = cur if s_ord >= switch else prev
            u = r()
            if grade == "D" and u < 0.05:
                status = "未申报"
            elif u < late_p:
                status = "逾期申报"
            else:
                status = "正常申报"
            if status == "未申报":
                content = {"period": label, "taxpayer_type": ttype, "tax_credit_grade": grade, "tax_paid": 0.0,
                           "tax_arrears": round(bal, 2), "in_arrears": bal > 0, "filing_status": status}
            else:
                sales = 0.0 if (zero and r() < 0.5) else monthly * season[m0] * lognormal(rng, 1.0, 0.25)
                if small:
                    vat = 0.0 if sales <= 100_000 else sales * 0.01
                    surcharge = vat * 0.06
                else:
                    vat = sales * (0.02 + 0.03 * r())
                    surcharge = vat * 0.12
                cit = 3 * sales * margin * cit_rate if m0 in (2, 5, 8, 11) else 0.0
                payable = round(vat + cit + surcharge + sales * 0.0003, 2)
                if prone and r() < 0.3:
                    paid = round(payable * r() * 0.7, 2)
                    bal += payable - paid
                elif bal > 0 and r() < 0.4:
                    paid = round(payable + bal, 2)
                    bal = 0.0
                else:
                    paid = payable
                if bal < 0.005:
                    bal = 0.0
                vat_paid = min(round(vat, 2), paid)
                content = {"period": label, "taxpayer_type": ttype, "tax_credit_grade": grade,
                           "declared_sales": round(sales, 2), "tax_payable": payable, "tax_paid": paid,
                           "vat_paid": vat_paid, "cit_paid": round(min(cit, max(0.0, paid - vat_paid)), 2),
                           "tax_arrears": round(bal, 2), "in_arrears": bal > 0, "filing_status": status}
            if i == self.latest and len(hold) < TAX_HOLD and not (e.showcase or e.risky):
                hold.append((code, e.name, content))
                continue
            if i == self.correction_index and len(self.samples.tax_previous) < CORRECTION_SAMPLE and not zero:
                self.samples.tax_previous.append((code, e.name, content))
            sink.emit_month(code, content, pv)
            n += 1
        return n

    # -- 社会保险 / 住房公积金 ----------------------------------------------------------------------------

    def social_insurance(self, e: Entity) -> int:
        r = self.rng.random
        p = {"91": 0.70, "93": 0.2, "51": 0.3}.get(e.head, 0.0)
        if e.first > e.last or not (e.showcase or r() < p):
            return 0
        rng = self.rng
        count = max(1, round(e.headcount * (0.6 + 0.4 * r())))
        base_pp = max(3_800.0, lognormal(rng, 4_500.0, 0.25))
        types = SI_TYPES.pick(rng)
        prone = e.risky or ((not e.showcase) and r() < 0.03)
        stop = e.last - int(r() * 6) if ((not e.showcase) and r() < 0.01) else e.last + 1
        bill = _Bill(prone)
        sink = self.s["social_insurance"]
        sample = self.samples.si_latest
        n = 0
        for i in range(e.first, e.last + 1):
            pv = self.pv[i]
            label = pv[0]
            if r() < 0.15:
                count = max(1, count + (1 if r() < 0.55 else -1) * (1 + count // 30))
            if i >= stop:
                content = {"period": label, "insurance_types": types, "insured_count": 0, "contribution_base": 0.0,
                           "amount_due": 0.0, "amount_paid": 0.0, "arrears": round(bill.bal, 2), "status": "中断"}
            else:
                base = round(count * base_pp, 2)
                due = round(base * 0.345, 2)
                paid, arrears, status = bill.pay(r, due, ("欠缴", "欠缴"))
                content = {"period": label, "insurance_types": types, "insured_count": count,
                           "contribution_base": base, "amount_due": due, "amount_paid": round(paid, 2),
                           "arrears": round(arrears, 2), "status": status}
            if i == self.latest and len(sample) < SI_SAMPLE:
                sample.append((e.code, e.name, content))
            sink.emit_month(e.code, content, pv)
            n += 1
        return n

    def housing_fund(self, e: Entity) -> int:
        r = self.rng.random
        if e.head == "91":
            p = min(0.85, 0.15 + e.headcount / 40.0)
        elif e.head == "51":
            p = 0.2
        else:
            return 0
        if e.first > e.last or not (e.showcase or r() < p):
            return 0
        rng = self.rng
        count = max(1, round(e.headcount * (0.4 + 0.6 * r())))
        base_pp = max(3_800.0, lognormal(rng, 5_000.0, 0.3))
        rate = 12.0 if e.showcase else HF_RATES.pick(rng)
        account = f"{e.region[:4]}{self.p.next_serial('hf', e.pref.code):08d}"
        prone = (not e.showcase) and r() < 0.02
        defer_from = e.first + int(r() * (e.last - e.first + 1)) if ((not e.showcase) and r() < 0.015) else -1
        defer_to = defer_from + 2 + int(r() * 4)
        bill = _Bill(prone)
        sink = self.s["housing_fund"]
        n = 0
        for i in range(e.first, e.last + 1):
            pv = self.pv[i]
            label = pv[0]
            if r() < 0.12:
                count = max(1, count + (1 if r() < 0.55 else -1))
            base = round(count * base_pp, 2)
            due = round(base * rate / 100.0 * 2, 2)
            if e.closed_on is not None and i == e.last:
                content = {"period": label, "account_no": account, "depositor_count": 0, "deposit_base": 0.0,
                           "deposit_rate": rate, "amount_due": 0.0, "amount_paid": 0.0, "arrears": round(bill.bal, 2),
                           "status": "封存"}
            elif defer_from <= i < defer_to:
                content = {"period": label, "account_no": account, "depositor_count": count, "deposit_base": base,
                           "deposit_rate": rate, "amount_due": due, "amount_paid": 0.0, "arrears": 0.0,
                           "status": "缓缴"}
            else:
                paid, arrears, status = bill.pay(r, due, ("欠缴", "欠缴"))
                content = {"period": label, "account_no": account, "depositor_count": count, "deposit_base": base,
                           "deposit_rate": rate, "amount_due": due, "amount_paid": round(paid, 2), "arrears": round(arrears, 2),
                           "status": status}
            sink.emit_month(e.code, content, pv)
            n += 1
        return n

    # -- 进出口 ---------------------------------------------------------------------------------------------

    def import_export(self, e: Entity) -> int:
        r = self.rng.random
        if e.head != "91":
            return 0
        d = e.division
        p = {"51": 0.15, "58": 0.3}.get(d, 0.12 if d in dist.MANUFACTURING else (0.08 if d in dist.AGRICULTURE
                                                                                    else 0.025))
        if e.first > e.last or not (e.showcase or r() < p):
            return 0
        rng = self.rng
        customs = f"{e.region[:4]}96{self.p.next_serial('customs', e.pref.code) % 10000:04d}"
        grade = "高级认证企业" if e.showcase else CUSTOMS_GRADES.pick(rng)
        exporter = e.showcase or r() < 0.8
        importer = r() < 0.5 or not exporter
        exp_scale = lognormal(rng, 15.0, 1.0)
        imp_scale = lognormal(rng, 10.0, 1.0)
        activity = 0.5 + 0.5 * r()
        sink = self.s["import_export"]
        n = 0
        for i in range(e.first, e.last + 1):
            if r() > activity:
                continue
            pv = self.pv[i]
            label = pv[0]
            exp = round(exp_scale * lognormal(rng, 1.0, 0.4), 2) if exporter else 0.0
            imp = round(imp_scale * lognormal(rng, 1.0, 0.4), 2) if importer else 0.0
            sink.emit_month(e.code, {
                "period": label, "customs_code": customs, "import_amount": imp, "export_amount": exp,
                "declaration_count": max(1, int((exp + imp) / 5 + 3 * r())), "customs_credit_grade": grade,
            }, pv)
            n += 1
        return n

    # -- 水 / 电 / 燃气 -----------------------------------------------------------------------------------

    def water(self, e: Entity) -> int:
        r = self.rng.random
        d = e.division
        p = P_WATER[e.head] * (2.5 if (e.head == "92" and (d in dist.CATERING or d == "80")) else 1.0)
        if e.first > e.last or not (e.showcase or r() < p):
            return 0
        rng = self.rng
        if d == "80":
            utype, price, base = "特种行业用水", 25.0, lognormal(rng, 200.0, 0.5)
        elif d in dist.MANUFACTURING:
            utype, price, base = "工业用水", 4.3, lognormal(rng, 40.0 * e.headcount ** 0.7, 0.6)
        else:
            utype, price = "非居民用水", 4.3
            base = lognormal(rng, 15.0 if e.head == "92" else 6.0 * e.headcount ** 0.7, 0.6)
        account = f"{e.region[:4]}{self.p.next_serial('water', e.pref.code):07d}"
        return self._metered_months(e, "water", account, utype, price, base, dist.SEASON_WATER)

    def _metered_months(self, e: Entity, category: str, account: str, utype: str, price: float, base: float,
                        season: Any) -> int:
        """Monthly bills of one metered account (water, gas): seasonal usage, price, payment behaviour."""
        r, rng = self.rng.random, self.rng
        bill = _Bill(e.risky or ((not e.showcase) and r() < 0.04))
        sink = self.s[category]
        n = 0
        for i in range(e.first, e.last + 1):
            pv = self.pv[i]
            label, m0 = pv[0], pv[5]
            usage = round(base * season[m0] * lognormal(rng, 1.0, 0.15), 2)
            due = round(usage * price, 2)
            paid, arrears, status = bill.pay(r, due)
            sink.emit_month(e.code, {
                "period": label, "account_no": account, "usage_type": utype, "usage": usage, "amount_due": due,
                "amount_paid": round(paid, 2), "arrears": round(arrears, 2), "status": status,
            }, pv)
            n += 1
        return n

    def electricity(self, e: Entity) -> int:
        r = self.rng.random
        d = e.division
        if e.first > e.last or not (e.showcase or r() < P_ELECTRICITY[e.head]):
            return 0
        rng = self.rng
        if (d in dist.MANUFACTURING or d in ("06", "44")) and e.head == "91" and (e.showcase or r() < 0.6):
            utype, price, demand = "大工业用电", 0.62, 22.0
            capacity = nice_amount(max(315.0, lognormal(rng, 800.0, 0.7)))
            util = 0.2 + 0.3 * r()
        elif d in dist.AGRICULTURE or e.head == "93":
            utype, price, demand = "农业生产用电", 0.50, 0.0
            capacity = nice_amount(lognormal(rng, 50.0, 0.6))
            util = 0.05 + 0.2 * r()
        else:
            utype, price, demand = "一般工商业用电", 0.72, 0.0
            capacity = nice_amount(lognormal(rng, 30.0 if e.head == "92" else 80.0, 0.7))
            util = 0.05 + 0.25 * r()
        accounts = 2 if utype == "大工业用电" and (e.showcase or r() < 0.2) else 1
        season = dist.SEASON_AGRICULTURE if utype == "农业生产用电" else dist.SEASON_ELECTRICITY
        sink = self.s["electricity"]
        hold = self.samples.electricity_latest
        n = 0
        for a in range(accounts):
            account = f"{e.region[:4]}{self.p.next_serial('electricity', e.pref.code):06d}"
            cap = capacity if a == 0 else nice_amount(capacity * 0.4)
            bill = _Bill(e.risky or ((not e.showcase) and r() < 0.04))
            base = cap * 0.8 * 720 * util
            for i in range(e.first, e.last + 1):
                pv = self.pv[i]
                label, m0 = pv[0], pv[5]
                usage = float(round(base * season[m0] * lognormal(rng, 1.0, 0.12)))
                due = round(usage * price + cap * demand, 2)
                paid, arrears, status = bill.pay(r, due)
                content = {"period": label, "account_no": account, "usage_type": utype, "capacity": cap,
                           "usage": usage, "amount_due": due, "amount_paid": round(paid, 2), "arrears": round(arrears, 2),
                           "status": status}
                if (i == self.latest and e.pref.code == HARBIN and a == 0 and not e.showcase
                        and len(hold) < ELECTRICITY_HOLD):
                    hold.append((e.code, e.name, content))
                    continue
                sink.emit_month(e.code, content, pv)
                n += 1
        return n

    def gas(self, e: Entity) -> int:
        r = self.rng.random
        d = e.division
        eligible = d in dist.CATERING or d in dist.MANUFACTURING or d in ("80", "44")
        if e.head == "91":
            p = 0.6 if eligible else 0.03
        elif e.head == "92":
            p = 0.35 if d in dist.CATERING or d == "80" else 0.0
        else:
            p = 0.0
        if e.first > e.last or not (e.showcase or r() < p):
            return 0
        rng = self.rng
        if d in dist.CATERING or d == "80":
            utype, price, season = "商业用气", 3.85, dist.SEASON_GAS_COOKING
            base = lognormal(rng, 300.0 if e.head == "92" else 800.0, 0.5)
        elif eligible:
            utype, price, season = "工业用气", 3.60, dist.SEASON_GAS_COOKING
            base = lognormal(rng, 5_000.0, 0.8)
        else:
            utype, price, season = "采暖用气", 3.20, dist.SEASON_GAS_HEATING
            base = lognormal(rng, 2_000.0, 0.6)
        account = f"RQ{e.region[:4]}{self.p.next_serial('gas', e.pref.code):07d}"
        return self._metered_months(e, "gas", account, utype, price, base, season)


def _pick_grade(rng: Any) -> str:
    return GRADES.pick(rng)
