"""GB/T 2260 administrative division codes: every provincial-level division, and Heilongjiang's
prefecture- and county-level divisions in detail (the demo province).

Other provinces' counties are not listed; a code is "valid" when its province exists and its shape is plausible.
"""

from __future__ import annotations

from xinyidai.kit.errors import InvalidInput

# All 34 provincial-level divisions in GB/T 2260 (31 on the mainland, Taiwan, Hong Kong, Macao).
PROVINCES: dict[str, str] = {
    "110000": "北京市",
    "120000": "天津市",
    "130000": "河北省",
    "140000": "山西省",
    "150000": "内蒙古自治区",
    "210000": "辽宁省",
    "220000": "吉林省",
    "230000": "黑龙江省",
    "310000": "上海市",
    "320000": "江苏省",
    "330000": "浙江省",
    "340000": "安徽省",
    "350000": "福建省",
    "360000": "江西省",
    "370000": "山东省",
    "410000": "河南省",
    "420000": "湖北省",
    "430000": "湖南省",
    "440000": "广东省",
    "450000": "广西壮族自治区",
    "460000": "海南省",
    "500000": "重庆市",
    "510000": "四川省",
    "520000": "贵州省",
    "530000": "云南省",
    "540000": "西藏自治区",
    "610000": "陕西省",
    "620000": "甘肃省",
    "630000": "青海省",
    "640000": "宁夏回族自治区",
    "650000": "新疆维吾尔自治区",
    "710000": "台湾省",
    "810000": "香港特别行政区",
    "820000": "澳门特别行政区",
}
_PROVINCE_PREFIXES = frozenset(code[:2] for code in PROVINCES)

HEILONGJIANG = "230000"

# Resident population at the 2020 (seventh) census, in millions: the demo's proxy for how many
# market entities each prefecture has, since per-prefecture registration counts are not published
# in one consistent table.
_POPULATION_2020: dict[str, tuple[str, float]] = {
    "230100": ("哈尔滨市", 10.00),
    "230200": ("齐齐哈尔市", 4.07),
    "230300": ("鸡西市", 1.50),
    "230400": ("鹤岗市", 0.89),
    "230500": ("双鸭山市", 1.21),
    "230600": ("大庆市", 2.78),
    "230700": ("伊春市", 0.88),
    "230800": ("佳木斯市", 2.16),
    "230900": ("七台河市", 0.69),
    "231000": ("牡丹江市", 2.29),
    "231100": ("黑河市", 1.29),
    "231200": ("绥化市", 3.76),
    "232700": ("大兴安岭地区", 0.33),
}
_TOTAL = sum(pop for _, pop in _POPULATION_2020.values())

# code → (name, share of the province's market entities); shares sum to 1.
HEILONGJIANG_PREFECTURES: dict[str, tuple[str, float]] = {
    code: (name, pop / _TOTAL) for code, (name, pop) in _POPULATION_2020.items()
}

# Heilongjiang's county-level divisions (GB/T 2260, as of the 2019 reorganisation of 伊春), by prefecture.
# fmt: off
HEILONGJIANG_COUNTIES: dict[str, dict[str, str]] = {
    "230100": {
        "230102": "道里区", "230103": "南岗区", "230104": "道外区", "230108": "平房区", "230109": "松北区",
        "230110": "香坊区", "230111": "呼兰区", "230112": "阿城区", "230113": "双城区", "230123": "依兰县", "230124": "方正县",
        "230125": "宾县", "230126": "巴彦县", "230127": "木兰县", "230128": "通河县", "230129": "延寿县", "230183": "尚志市",
        "230184": "五常市",
    },
    "230200": {
        "230202": "龙沙区", "230203": "建华区", "230204": "铁锋区", "230205": "昂昂溪区", "230206": "富拉尔基区",
        "230207": "碾子山区", "230208": "梅里斯达斡尔族区", "230221": "龙江县", "230223": "依安县", "230224": "泰来县", "230225": "甘南县",
        "230227": "富裕县", "230229": "克山县", "230230": "克东县", "230231": "拜泉县", "230281": "讷河市",
    },
    "230300": {
        "230302": "鸡冠区", "230303": "恒山区", "230304": "滴道区", "230305": "梨树区", "230306": "城子河区",
        "230307": "麻山区", "230321": "鸡东县", "230381": "虎林市", "230382": "密山市",
    },
    "230400": {
        "230402": "向阳区", "230403": "工农区", "230404": "南山区", "230405": "兴安区", "230406": "东山区",
        "230407": "兴山区", "230421": "萝北县", "230422": "绥滨县",
    },
    "230500": {
        "230502": "尖山区", "230503": "岭东区", "230505": "四方台区", "230506": "宝山区", "230521": "集贤县",
        "230522": "友谊县", "230523": "宝清县", "230524": "饶河县",
    },
    "230600": {
        "230602": "萨尔图区", "230603": "龙凤区", "230604": "让胡路区", "230605": "红岗区", "230606": "大同区",
        "230621": "肇州县", "230622": "肇源县", "230623": "林甸县", "230624": "杜尔伯特蒙古族自治县",
    },
    "230700": {
        "230717": "伊美区", "230718": "乌翠区", "230719": "友好区", "230722": "嘉荫县", "230723": "汤旺县",
        "230724": "丰林县", "230725": "大箐山县", "230726": "南岔县", "230751": "金林区", "230781": "铁力市",
    },
    "230800": {
        "230803": "向阳区", "230804": "前进区", "230805": "东风区", "230811": "郊区", "230822": "桦南县",
        "230826": "桦川县", "230828": "汤原县", "230881": "同江市", "230882": "富锦市", "230883": "抚远市",
    },
    "230900": {
        "230902": "新兴区", "230903": "桃山区", "230904": "茄子河区", "230921": "勃利县",
    },
    "231000": {
        "231002": "东安区", "231003": "阳明区", "231004": "爱民区", "231005": "西安区", "231025": "林口县",
        "231081": "绥芬河市", "231083": "海林市", "231084": "宁安市", "231085": "穆棱市", "231086": "东宁市",
    },
    "231100": {
        "231102": "爱辉区", "231123": "逊克县", "231124": "孙吴县", "231181": "北安市", "231182": "五大连池市",
        "231183": "嫩江市",
    },
    "231200": {
        "231202": "北林区", "231221": "望奎县", "231222": "兰西县", "231223": "青冈县", "231224": "庆安县",
        "231225": "明水县", "231226": "绥棱县", "231281": "安达市", "231282": "肇东市", "231283": "海伦市",
    },
    "232700": {
        "232701": "漠河市", "232721": "呼玛县", "232722": "塔河县",
    },
}
# fmt: on
_COUNTY_NAMES = {c: n for counties in HEILONGJIANG_COUNTIES.values() for c, n in counties.items()}

_NAMES: dict[str, str] = {**PROVINCES, **{c: n for c, (n, _) in HEILONGJIANG_PREFECTURES.items()}}


def is_valid_region(code: str) -> bool:
    """6 ASCII digits, a real province, and no county part under a province-level "00" prefecture."""
    if not isinstance(code, str) or len(code) != 6 or not (code.isascii() and code.isdigit()):
        return False
    if code[:2] not in _PROVINCE_PREFIXES:
        return False
    return not (code[2:4] == "00" and code[4:] != "00")


def region_name(code: str) -> str | None:
    """Name of a province, a Heilongjiang prefecture, or one of its counties written as addresses write it
    (哈尔滨市道里区, 哈尔滨市尚志市); "<prefecture>下辖区县" for a county code the table does not know."""
    if not is_valid_region(code):
        return None
    if code in _NAMES:
        return _NAMES[code]
    prefecture = _NAMES.get(code[:4] + "00")
    if prefecture is not None and code in _COUNTY_NAMES:
        return prefecture + _COUNTY_NAMES[code]
    if prefecture is not None and code[2:4] != "00":
        return prefecture + "下辖区县"
    return None


def prefecture_of(code: str) -> str:
    """The prefecture-level code a county belongs to (a province code maps to itself).

    The first four digits identify the prefecture in every case, including 地区/盟 such as
    232700 大兴安岭地区 (whose counties are 2327xx) and the 省直辖 groups numbered 90.
    """
    if not is_valid_region(code):
        raise InvalidInput(f"行政区划代码“{code}”不符合GB/T 2260（应为6位数字且省级代码存在）")
    return code[:4] + "00"
