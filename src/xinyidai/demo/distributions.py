"""The demo province's vocabulary and shapes: places, names, industries, seasons, and fast samplers.

Everything here is plain data chosen to look like Heilongjiang (GB/T 2260 county codes, names of the
province's courts and agencies, a heating season from October to April). None of it is official
statistics; it only has to be plausible, deterministic and cheap to sample from.
"""

from __future__ import annotations

import math
import zlib
from bisect import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate
from random import Random
from typing import Generic, TypeVar

from xinyidai.entities.regions import HEILONGJIANG_COUNTIES, HEILONGJIANG_PREFECTURES

T = TypeVar("T")


class Picker(Generic[T]):
    """Weighted choice by bisecting cumulative weights: a third of the cost of `Random.choices`."""

    __slots__ = ("cum", "items", "total")

    def __init__(self, items: Sequence[T], weights: Sequence[float]) -> None:
        if len(items) != len(weights) or not items:
            raise ValueError("items and weights must be non-empty and of equal length")
        self.items = tuple(items)
        self.cum = tuple(accumulate(weights))
        self.total = self.cum[-1]

    def pick(self, rng: Random) -> T:
        return self.items[bisect(self.cum, rng.random() * self.total)]


def stable_hash(text: str) -> int:
    """A hash that is the same in every process (str.__hash__ is salted per process)."""
    return zlib.crc32(text.encode("utf-8"))


# ---------------------------------------------------------------------------------------------------------
# Places: the 13 prefecture-level divisions and their counties (GB/T 2260 codes)
# ---------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Prefecture:
    code: str
    name: str  # 哈尔滨市 / 大兴安岭地区
    short: str  # 哈尔滨 — the prefix in company names
    abbr: str  # 哈 — the prefix of document numbers
    weight: float  # share of the province's market entities
    counties: tuple[tuple[str, str, float], ...]  # (code, name, weight within the prefecture)


# Urban districts weigh 3, county-level cities 1.5, counties 1: market entities crowd into city centres.
# prefecture → (short name in company names, abbreviation in document numbers); its counties come from the
# register's own table (entities.regions).
_NAMING: dict[str, tuple[str, str]] = {
    "230100": ("哈尔滨", "哈"),
    "230200": ("齐齐哈尔", "齐"),
    "230300": ("鸡西", "鸡"),
    "230400": ("鹤岗", "鹤"),
    "230500": ("双鸭山", "双"),
    "230600": ("大庆", "庆"),
    "230700": ("伊春", "伊"),
    "230800": ("佳木斯", "佳"),
    "230900": ("七台河", "七"),
    "231000": ("牡丹江", "牡"),
    "231100": ("黑河", "黑河"),
    "231200": ("绥化", "绥"),
    "232700": ("大兴安岭", "兴"),
}


def _county_weight(name: str) -> float:
    if name.endswith("区"):
        return 3.0
    if name.endswith("市"):
        return 1.5
    return 1.0


PREFECTURES: dict[str, Prefecture] = {
    code: Prefecture(code, full, _NAMING[code][0], _NAMING[code][1], share,
                     tuple((c, n, _county_weight(n)) for c, n in HEILONGJIANG_COUNTIES[code].items()))
    for code, (full, share) in HEILONGJIANG_PREFECTURES.items()
}
_COUNTY_NAMES = {c: n for p in PREFECTURES.values() for c, n, _ in p.counties}
PROVINCE = "黑龙江省"


def prefecture_of(code: str) -> Prefecture:
    return PREFECTURES[code[:4] + "00"]


def region_label(code: str) -> str:
    """How the place is written in names: 哈尔滨市 / 哈尔滨市道里区 / 尚志市 / 漠河市."""
    pref = prefecture_of(code)
    if code == pref.code:
        return pref.name
    county = _COUNTY_NAMES[code]
    return pref.name + county if county.endswith("区") else county


def county_short(code: str) -> str:
    """道里 / 尚志 — the county in a document number (first character) or an address."""
    name = _COUNTY_NAMES.get(code, "")
    for suffix in ("达斡尔族区", "蒙古族自治县", "区", "县", "市"):
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def base_court(code: str) -> tuple[str, str]:
    """(name, code in case numbers) of the basic people's court for a region: 哈尔滨市道里区人民法院, 黑0102."""
    pref = prefecture_of(code)
    if code == pref.code:  # registered with the city: its first urban district's court hears first instance
        code = pref.counties[0][0]
    return region_label(code) + "人民法院", "黑" + code[2:6]


def intermediate_court(code: str) -> tuple[str, str]:
    pref = prefecture_of(code)
    return pref.name + "中级人民法院", "黑" + code[2:4]


ROADS = (
    "中山路", "红旗大街", "学府路", "长江路", "友谊路", "建设街", "和平路", "新华路", "人民路", "解放路",
    "文化街", "西大直街", "东大直街", "中央大街", "黄河路", "珠江路", "民主路", "胜利路", "光明街", "工农大街",
    "通达街", "先锋路", "哈平路", "太平大街", "公园路", "北京路", "上海路", "松花江街", "站前路", "林业街",
    "兴华路", "繁荣街", "向阳路", "卫星路", "开发区大道", "经纬街", "育才路", "团结路", "铁路街", "滨江路",
)
PARKS = ("经济技术开发区", "高新技术产业开发区", "工业园区", "物流园区", "农业科技园区")


# ---------------------------------------------------------------------------------------------------------
# People and brands (all characters are in GB 2312, so GBK deliveries can carry them)
# ---------------------------------------------------------------------------------------------------------

# fmt: off
SURNAMES = (
    "王", "李", "张", "刘", "赵", "孙", "于", "杨", "陈", "高", "马", "郭", "徐", "朱", "吴", "林", "何", "宋",
    "董", "韩", "曹", "崔", "姜", "范", "付", "田", "白", "谷", "关", "鲁", "隋", "曲", "邹", "黄", "周", "胡",
    "梁", "郑", "谢", "唐", "冯", "程", "袁", "邓", "许", "沈", "曾", "彭", "吕", "苏", "卢", "蒋", "蔡", "贾",
    "丁", "魏", "薛", "叶", "闫", "潘", "杜", "戴", "夏", "钟", "汪", "任", "方", "石", "姚", "谭", "廖", "金",
    "陆", "郝", "孔", "康", "毛", "邱", "秦", "江", "史", "顾", "侯", "邵", "孟", "龙", "万", "段", "雷", "钱",
    "汤", "尹", "常", "武", "乔", "贺", "龚", "文", "庞", "樊",
)
GIVEN_NAMES = (
    "伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超",
    "秀兰", "霞", "平", "刚", "桂英", "建华", "建国", "建军", "志强", "志刚", "海燕", "海波", "红梅", "玉兰",
    "凤霞", "淑珍", "淑华", "桂兰", "丽娟", "丽华", "晓东", "晓光", "晓红", "春雨", "春生", "春梅", "冬梅",
    "雪梅", "雪峰", "立新", "立军", "立伟", "国庆", "国强", "国华", "国栋", "宏伟", "宏亮", "德明", "德胜",
    "文斌", "文华", "文涛", "振华", "振宇", "永刚", "永生", "长海", "长林", "金龙", "金凤", "玉梅", "玉华",
    "凤英", "亚楠", "欣怡", "子涵", "浩然", "宇航", "博文", "思远", "佳琪", "雨婷", "鑫", "鹏", "浩", "宇",
    "帅", "旭", "辉", "斌", "健", "亮", "峰", "波", "楠", "琳", "颖", "慧", "婷", "雪", "莹", "晶", "丹", "冰",
    "岩", "松", "柏", "森", "红", "华", "军华", "铁军", "铁柱", "宝山", "宝林", "福生", "喜林", "成林", "树林",
    "树森", "大伟", "大勇", "小龙", "小红", "淑芬", "淑梅", "秀珍", "秀梅", "桂芝", "玉珍", "晓梅", "海龙",
    "海军", "海涛", "东升", "东海", "春华", "秋菊", "秋实", "景春", "景龙", "庆丰", "庆林", "占山", "占军",
)
BRAND_FIRST = (
    "鑫", "华", "盛", "恒", "瑞", "宏", "泰", "金", "龙", "祥", "德", "隆", "兴", "丰", "源", "昌", "达", "通",
    "顺", "利", "福", "嘉", "百", "万", "北", "冰", "雪", "松", "江", "远", "正", "诚", "信", "和", "新", "博",
    "天", "中", "长", "永", "东", "海", "峰", "晟", "凯", "宇", "佳", "安", "润", "黑土",
)
BRAND_SECOND = (
    "达", "盛", "丰", "源", "泰", "华", "昌", "通", "祥", "润", "鑫", "锦", "隆", "晟", "航", "腾", "越", "程",
    "邦", "辰", "创", "图", "联", "合", "利", "远", "信", "鼎", "益", "宁", "禾", "美", "康", "瑞", "捷", "诺",
    "森", "凯", "威", "博", "尚", "众", "亿", "佳", "成", "力", "新", "阳", "旺", "悦",
)
# Appended to a brand when a place and trade already use it. No name word below starts with one of these,
# so "brand + extras + word" can always be split back and names built this way never collide.
BRAND_EXTRA = ("源", "达", "丰", "盛", "昌", "泰", "祥", "通", "华", "宇", "晟", "隆", "森", "辉", "德", "兴",
               "嘉", "瑞", "诚", "和", "顺", "鸿", "海", "峰", "龙", "鹏", "远", "博", "恒", "旭")
# fmt: on
BRANDS = tuple(a + b for a in BRAND_FIRST for b in BRAND_SECOND if a != b)


def brand_extras(tier: int) -> str:
    """0 → "", then 源, 达, … 旭, 源源, 源达, … (bijective base-30, so every tier has its own suffix)."""
    out = []
    while tier > 0:
        tier -= 1
        tier, d = divmod(tier, len(BRAND_EXTRA))
        out.append(BRAND_EXTRA[d])
    return "".join(reversed(out))
PERSON_NAMES_COUNT = len(SURNAMES) * len(GIVEN_NAMES)


def person_name(i: int) -> str:
    s, g = divmod(i % PERSON_NAMES_COUNT, len(GIVEN_NAMES))
    return SURNAMES[s] + GIVEN_NAMES[g]


# Surnames are far from uniform; the first ones in the list are the common ones.
SURNAME_PICKER = Picker(SURNAMES, [1.0 / (i + 8) for i in range(len(SURNAMES))])


def random_person(rng: Random) -> str:
    return SURNAME_PICKER.pick(rng) + GIVEN_NAMES[int(rng.random() * len(GIVEN_NAMES))]


def coprime_step(n: int, hint: int) -> int:
    """A step in [1, n) coprime to n, near `hint`: k → (a·k + b) mod n then visits every slot once."""
    a = hint % n or 1
    while math.gcd(a, n) != 1:
        a = a % (n - 1) + 1
    return a


# ---------------------------------------------------------------------------------------------------------
# Industries: words for company names, shop words for individual businesses, a business scope
# ---------------------------------------------------------------------------------------------------------

LEGAL_SCOPE_NOTE = "（依法须经批准的项目，经相关部门批准后方可开展经营活动）"

# division → (company name words, individual-business shop words, business scope)
# fmt: off
INDUSTRY_WORDS: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {
    "01": (("农业科技", "农业发展", "种植"), ("家庭农场", "种植园"), "谷物、豆类、蔬菜种植；农产品初加工；农业技术推广服务"),
    "02": (("林业", "苗木"), ("苗圃",), "林木育苗；林下种植；木材采运"),
    "03": (("牧业", "养殖"), ("养殖场", "牧场"), "牲畜饲养；家禽饲养；畜牧专业及辅助性活动"),
    "05": (("农机服务", "农业技术服务"), ("农机服务部",), "农业机械服务；农作物病虫害防治服务；灌溉服务"),
    "06": (("煤业", "矿业"), (), "煤炭开采、洗选及销售"),
    "13": (("粮油", "米业", "农产品加工"), ("粮油加工坊", "米业加工厂"), "粮食收购；大米、豆制品加工及销售；农副产品加工"),
    "14": (("食品", "乳业"), ("豆制品加工坊", "食品加工部"), "食品生产；食品销售；乳制品生产"),
    "15": (("酒业", "饮品"), (), "白酒、饮料生产及销售"),
    "20": (("木业",), ("木器加工厂",), "木材加工；木制品制造及销售"),
    "26": (("化工",), (), "化工产品（不含许可类化工产品）生产及销售"),
    "27": (("药业", "生物制药"), (), "药品生产；中药饮片加工；医药技术开发"),
    "30": (("建材", "水泥制品"), (), "水泥制品、新型建筑材料制造及销售"),
    "33": (("金属制品", "钢结构"), (), "金属结构制造；钢结构工程施工"),
    "34": (("机械设备", "机械制造"), (), "通用设备制造；农业机械制造；机械零部件加工"),
    "44": (("热力", "新能源"), (), "热力生产和供应；光伏发电、风力发电"),
    "47": (("建筑工程", "建设工程"), (), "房屋建筑工程施工；建设工程施工"),
    "48": (("路桥工程", "市政工程"), (), "公路工程、市政公用工程施工"),
    "49": (("安装工程", "机电安装"), (), "建筑机电安装工程；电力设施安装"),
    "50": (("装饰工程", "装饰设计"), ("装修部", "装饰材料店"), "住宅室内装饰装修；建筑装饰工程"),
    "51": (("商贸", "贸易", "经贸"), ("批发部", "商行"), "日用百货、农副产品、五金产品、建筑材料批发；货物进出口"),
    "52": (("商贸", "百货", "超市"), ("商店", "超市", "便利店", "食杂店", "百货店", "五金店", "服装店"),
           "日用百货、食品、服装鞋帽、五金产品零售"),
    "54": (("物流", "运输"), ("货运部", "运输队"), "道路货物运输（不含危险货物）；普通货物仓储服务"),
    "58": (("国际货运代理", "供应链管理"), (), "国际货物运输代理；供应链管理服务"),
    "59": (("仓储", "冷链物流"), ("仓储部",), "普通货物仓储服务；低温仓储；装卸搬运"),
    "61": (("酒店管理", "宾馆"), ("旅店", "宾馆"), "住宿服务；酒店管理"),
    "62": (("餐饮管理", "餐饮"), ("餐馆", "饭店", "烧烤店", "饺子馆", "面馆"), "餐饮服务；食品销售"),
    "64": (("网络科技", "信息技术"), (), "互联网信息服务；网络技术服务"),
    "65": (("软件", "信息技术", "数字科技"), (), "软件开发；信息系统集成服务；信息技术咨询服务"),
    "70": (("房地产开发", "物业管理"), (), "房地产开发经营；物业管理"),
    "71": (("租赁", "设备租赁"), ("租赁部",), "机械设备租赁；建筑工程机械与设备租赁"),
    "72": (("企业管理咨询", "商务服务", "广告传媒"), ("广告部", "图文设计部"), "企业管理咨询；广告设计、制作、代理"),
    "74": (("工程技术", "检测技术"), (), "工程技术服务；检验检测服务"),
    "75": (("科技", "生物科技"), (), "技术服务、技术开发、技术咨询、技术转让、技术推广"),
    "80": (("家政服务", "洗浴服务"), ("理发店", "美容院", "洗衣店", "摄影部", "洗浴中心"), "家政服务；洗浴服务；理发及美容服务"),
    "81": (("汽车维修", "设备维修"), ("修理部", "汽车修理厂", "家电维修部"), "机动车修理和维护；家用电器修理"),
    "82": (("清洁服务",), ("保洁服务部", "宠物店"), "专业保洁、清洗、消毒服务；宠物服务"),
    "83": (("教育科技", "培训"), ("培训部",), "教育咨询服务（不含涉许可审批的教育培训活动）"),
    "84": (("医疗管理", "健康管理"), ("诊所",), "医疗服务；健康咨询服务"),
    "88": (("文化传媒", "文化艺术"), ("工作室",), "组织文化艺术交流活动；演出经纪"),
    "90": (("娱乐", "文化娱乐"), ("网吧", "棋牌室"), "娱乐性展览；歌舞娱乐活动"),
    "95": ((), (), "行业自律、交流合作、咨询服务"),
}
# fmt: on
COOP_WORDS: dict[str, tuple[str, ...]] = {
    "01": ("水稻种植", "大豆种植", "玉米种植", "蔬菜种植", "中药材种植", "食用菌种植"),
    "02": ("苗木种植", "林下经济"),
    "03": ("肉牛养殖", "生猪养殖", "奶牛养殖", "家禽养殖"),
    "05": ("农机", "植保"),
}
COOP_DIVISIONS = Picker(("01", "03", "05", "02"), (50, 30, 15, 5))
ASSOCIATION_WORDS = ("餐饮行业协会", "物流协会", "软件行业协会", "青年企业家协会", "女企业家协会", "食品行业协会",
                     "建筑业协会", "中小企业协会", "个体劳动者协会", "商会", "农产品流通协会", "电子商务协会")
ASSOCIATION_DIVISION = "95"

MANUFACTURING = frozenset(f"{d:02d}" for d in range(13, 44))
AGRICULTURE = frozenset(("01", "02", "03", "04", "05"))
CONSTRUCTION = frozenset(("47", "48", "49", "50"))
TECH = frozenset(("64", "65", "73", "74", "75"))
CATERING = frozenset(("61", "62"))
TRADE = frozenset(("51", "52"))

# Revenue per head (元 a year) by kind of business: trading turns over much more than services.
def revenue_per_head(division: str) -> float:
    if division == "51":
        return 900_000.0
    if division in MANUFACTURING or division in ("06", "44"):
        return 500_000.0
    if division == "52" or division in CONSTRUCTION or division == "70":
        return 400_000.0
    if division in TECH:
        return 300_000.0
    return 180_000.0


# ---------------------------------------------------------------------------------------------------------
# Seasons (index 0 = January). Heilongjiang heats from mid-October to mid-April.
# ---------------------------------------------------------------------------------------------------------

SEASON_FLAT = (1.0,) * 12
SEASON_RETAIL = (1.25, 1.3, 0.9, 0.9, 0.95, 0.95, 1.0, 1.0, 0.95, 1.1, 1.0, 1.2)
SEASON_CONSTRUCTION = (0.25, 0.25, 0.45, 0.9, 1.3, 1.45, 1.5, 1.5, 1.4, 1.25, 0.6, 0.3)
SEASON_AGRICULTURE = (0.5, 0.5, 0.6, 0.9, 1.0, 0.9, 0.8, 0.9, 1.5, 1.9, 1.5, 0.8)
SEASON_HEATING = (1.7, 1.6, 1.3, 0.9, 0.4, 0.3, 0.3, 0.3, 0.4, 1.1, 1.5, 1.7)
SEASON_TOURISM = (1.5, 1.4, 0.8, 0.7, 0.8, 1.0, 1.3, 1.3, 0.9, 0.8, 0.8, 1.3)  # ice festival, summer
SEASON_ELECTRICITY = (1.35, 1.3, 1.15, 1.05, 0.9, 0.9, 0.95, 0.95, 0.9, 1.05, 1.2, 1.35)
SEASON_GAS_HEATING = (2.4, 2.2, 1.8, 1.2, 0.55, 0.4, 0.4, 0.4, 0.5, 1.2, 1.9, 2.3)
SEASON_GAS_COOKING = (1.15, 1.15, 1.05, 1.0, 0.95, 0.9, 0.9, 0.9, 0.95, 1.0, 1.05, 1.15)
SEASON_WATER = (0.9, 0.9, 0.95, 1.0, 1.05, 1.1, 1.15, 1.15, 1.05, 1.0, 0.95, 0.9)


def sales_season(division: str) -> tuple[float, ...]:
    if division in CONSTRUCTION:
        return SEASON_CONSTRUCTION
    if division in AGRICULTURE or division == "13":
        return SEASON_AGRICULTURE
    if division == "44":
        return SEASON_HEATING
    if division in CATERING:
        return SEASON_TOURISM
    if division in TRADE:
        return SEASON_RETAIL
    return SEASON_FLAT


# ---------------------------------------------------------------------------------------------------------
# Round numbers: registered capital is written 50, 100, 500 万元, not 137.2
# ---------------------------------------------------------------------------------------------------------

_NICE = (0.5, 1, 2, 3, 5, 8, 10, 20, 30, 50, 60, 80, 100, 120, 150, 200, 300, 500, 600, 800, 1000, 1200, 1500,
         2000, 3000, 5000, 6000, 8000, 10000, 20000, 30000, 50000, 100000)
_NICE_MIDS = tuple(math.sqrt(a * b) for a, b in zip(_NICE, _NICE[1:], strict=False))


def nice_amount(x: float) -> float:
    """The nearest 'round' amount on a log scale."""
    return float(_NICE[bisect(_NICE_MIDS, x)])


def lognormal(rng: Random, median: float, sigma: float) -> float:
    return median * math.exp(rng.gauss(0.0, sigma))
