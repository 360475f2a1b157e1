"""GB/T 4754-2017 国民经济行业分类: the 20 sections (门类) and 97 divisions (大类).

The 473 groups (中类) and 1,382 classes (小类) are not shipped: a 3- or 4-digit code is accepted
when its division exists, which is what credit records need for grouping and reporting.
"""

from __future__ import annotations

from xinyidai.kit.errors import InvalidInput

SECTIONS: dict[str, str] = {
    "A": "农、林、牧、渔业",
    "B": "采矿业",
    "C": "制造业",
    "D": "电力、热力、燃气及水生产和供应业",
    "E": "建筑业",
    "F": "批发和零售业",
    "G": "交通运输、仓储和邮政业",
    "H": "住宿和餐饮业",
    "I": "信息传输、软件和信息技术服务业",
    "J": "金融业",
    "K": "房地产业",
    "L": "租赁和商务服务业",
    "M": "科学研究和技术服务业",
    "N": "水利、环境和公共设施管理业",
    "O": "居民服务、修理和其他服务业",
    "P": "教育",
    "Q": "卫生和社会工作",
    "R": "文化、体育和娱乐业",
    "S": "公共管理、社会保障和社会组织",
    "T": "国际组织",
}

# Divisions are numbered consecutively through the sections, so each section is a range of names.
# fmt: off
_BY_SECTION: dict[str, tuple[str, ...]] = {
    "A": ("农业", "林业", "畜牧业", "渔业", "农、林、牧、渔专业及辅助性活动"),
    "B": (
        "煤炭开采和洗选业", "石油和天然气开采业", "黑色金属矿采选业", "有色金属矿采选业",
        "非金属矿采选业", "开采专业及辅助性活动", "其他采矿业",
    ),
    "C": (
        "农副食品加工业", "食品制造业", "酒、饮料和精制茶制造业", "烟草制品业", "纺织业",
        "纺织服装、服饰业", "皮革、毛皮、羽毛及其制品和制鞋业", "木材加工和木、竹、藤、棕、草制品业",
        "家具制造业", "造纸和纸制品业", "印刷和记录媒介复制业", "文教、工美、体育和娱乐用品制造业",
        "石油、煤炭及其他燃料加工业", "化学原料和化学制品制造业", "医药制造业", "化学纤维制造业",
        "橡胶和塑料制品业", "非金属矿物制品业", "黑色金属冶炼和压延加工业", "有色金属冶炼和压延加工业",
        "金属制品业", "通用设备制造业", "专用设备制造业", "汽车制造业",
        "铁路、船舶、航空航天和其他运输设备制造业", "电气机械和器材制造业",
        "计算机、通信和其他电子设备制造业", "仪器仪表制造业", "其他制造业", "废弃资源综合利用业",
        "金属制品、机械和设备修理业",
    ),
    "D": ("电力、热力生产和供应业", "燃气生产和供应业", "水的生产和供应业"),
    "E": ("房屋建筑业", "土木工程建筑业", "建筑安装业", "建筑装饰、装修和其他建筑业"),
    "F": ("批发业", "零售业"),
    "G": (
        "铁路运输业", "道路运输业", "水上运输业", "航空运输业", "管道运输业", "多式联运和运输代理业",
        "装卸搬运和仓储业", "邮政业",
    ),
    "H": ("住宿业", "餐饮业"),
    "I": ("电信、广播电视和卫星传输服务", "互联网和相关服务", "软件和信息技术服务业"),
    "J": ("货币金融服务", "资本市场服务", "保险业", "其他金融业"),
    "K": ("房地产业",),
    "L": ("租赁业", "商务服务业"),
    "M": ("研究和试验发展", "专业技术服务业", "科技推广和应用服务业"),
    "N": ("水利管理业", "生态保护和环境治理业", "公共设施管理业", "土地管理业"),
    "O": ("居民服务业", "机动车、电子产品和日用产品修理业", "其他服务业"),
    "P": ("教育",),
    "Q": ("卫生", "社会工作"),
    "R": ("新闻和出版业", "广播、电视、电影和录音制作业", "文化艺术业", "体育", "娱乐业"),
    "S": (
        "中国共产党机关", "国家机构", "人民政协、民主党派", "社会保障",
        "群众团体、社会团体和其他成员组织", "基层群众自治组织及其他组织",
    ),
    "T": ("国际组织",),
}
# fmt: on


def _number_divisions() -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    n = 1
    for section, names in _BY_SECTION.items():
        for name in names:
            out[f"{n:02d}"] = (name, section)
            n += 1
    return out


# "13" → ("农副食品加工业", "C")
DIVISIONS: dict[str, tuple[str, str]] = _number_divisions()


def _division_of(code: str) -> str | None:
    """The 2-digit division of a code, or None; a leading section letter must match (e.g. C1311)."""
    c = code.strip().upper() if isinstance(code, str) else ""
    letter = ""
    if c[:1].isalpha():
        letter, c = c[:1], c[1:]
    if not (2 <= len(c) <= 4 and c.isascii() and c.isdigit()):
        return None
    entry = DIVISIONS.get(c[:2])
    if entry is None or (letter and entry[1] != letter):
        return None
    return c[:2]


def is_valid_industry(code: str) -> bool:
    """A section letter, a 2-digit division, or a 3-/4-digit code (optionally section-prefixed)."""
    if isinstance(code, str) and code.strip().upper() in SECTIONS:
        return True
    return _division_of(code) is not None


def industry_name(code: str) -> str | None:
    """Section name for a letter; otherwise the name of the division the code falls in."""
    if isinstance(code, str) and (letter := code.strip().upper()) in SECTIONS:
        return SECTIONS[letter]
    division = _division_of(code)
    return DIVISIONS[division][0] if division else None


def section_of(code: str) -> str:
    if isinstance(code, str) and (letter := code.strip().upper()) in SECTIONS:
        return letter
    division = _division_of(code)
    if division is None:
        raise InvalidInput(f"行业代码“{code}”不符合GB/T 4754-2017")
    return DIVISIONS[division][1]


# Rough share of SMEs and 个体工商户 by division in a northeastern province: trade, catering and
# residents' services dominate; agriculture, food processing, construction and transport follow.
# Illustrative only — not official statistics.
# fmt: off
_DEMO_RAW: tuple[tuple[str, float], ...] = (
    ("52", 20.0), ("51", 18.0), ("62", 7.0), ("01", 6.0), ("72", 6.0), ("54", 4.0), ("80", 4.0),
    ("75", 3.0), ("13", 2.5), ("03", 2.0), ("05", 2.0), ("47", 2.0), ("50", 2.0), ("61", 2.0),
    ("65", 2.0), ("81", 2.0), ("48", 1.5), ("70", 1.5), ("74", 1.5), ("14", 1.0), ("49", 1.0),
    ("64", 1.0), ("71", 1.0), ("82", 1.0), ("30", 0.8), ("33", 0.8), ("58", 0.8), ("88", 0.8),
    ("90", 0.8), ("20", 0.7), ("34", 0.7), ("59", 0.7), ("15", 0.5), ("44", 0.5), ("83", 0.5),
    ("84", 0.5), ("26", 0.4), ("06", 0.3), ("27", 0.3),
)
# fmt: on
_DEMO_TOTAL = sum(w for _, w in _DEMO_RAW)
DEMO_INDUSTRY_WEIGHTS: list[tuple[str, float]] = [(code, w / _DEMO_TOTAL) for code, w in _DEMO_RAW]
