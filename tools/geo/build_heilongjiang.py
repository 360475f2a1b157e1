"""Build the schematic (示意) prefecture map of Heilongjiang for the ECharts choropleth.

Usage:

    python tools/geo/build_heilongjiang.py NE_ADMIN1_FILE [OUT_JSON]

NE_ADMIN1_FILE is Natural Earth's admin-1 states/provinces layer (public domain), any of:
``ne_50m_admin_1_states_provinces.geojson`` (or ``ne_10m_…``), the matching ``.shp``, or the ``.zip``
that naturalearthdata.com serves; any GeoJSON whose features carry ``iso_3166_2`` ``CN-HL`` (or
``adm1_code`` ``CHN-1839``, or ``name`` ``Heilongjiang``) also works. OUT_JSON defaults to
``src/xinyidai/web/static/geo/heilongjiang.json`` beside this repository's root.

Needs shapely (>= 2) and pyshp only; pyshp is imported only when a shapefile is given.

How the map is made (see ``src/xinyidai/web/static/geo/ATTRIBUTION.md``): Natural Earth gives the
province's outline, nothing inside it. The 13 prefecture-level divisions are drawn as a weighted Voronoi
partition: each division owns several seed points (its seat and the approximate seats of its counties,
plus a few fill points in large, thinly settled areas), every seed's Voronoi cell goes to its division,
the cells of a division are merged, and the result is clipped to the outline. The internal boundaries
are therefore straight-edged approximations, not the legal boundaries; the map only places each
division where it is, at roughly its size, without gaps or overlaps.
"""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

import shapely
from shapely.geometry import MultiPoint, Point, mapping, shape
from shapely.geometry.polygon import orient
from shapely.ops import unary_union, voronoi_diagram

# Outline simplification (degrees, topology-preserving) and the output coordinate grid (3 decimals).
SIMPLIFY_TOLERANCE = 0.02
GRID = 0.001
# A seed may lie this far (degrees) outside the outline, for sources whose border runs differently.
MAX_SEED_GAP = 0.1

# (adcode, name, seat (lon, lat), further seeds). Coordinates are approximate (about 0.05°) town
# centres of the division's seat and of its districts' and counties' seats, taken from general public
# knowledge; "fill" seeds (marked) stand in thinly settled forest areas so large divisions get room.
# 大兴安岭地区's seat, 加格达奇, lies inside Inner Mongolia (the area is administered by Heilongjiang but
# is outside the provincial outline), so its "seat" here is a point in the middle of the part of the
# division that lies inside the outline, between 漠河 and 塔河.
# fmt: off
DIVISIONS: list[tuple[str, str, tuple[float, float], list[tuple[float, float]]]] = [
    ("230100", "哈尔滨市", (126.63, 45.75), [
        (126.31, 45.38),  # 双城
        (126.59, 45.89),  # 呼兰
        (126.96, 45.54),  # 阿城
        (127.17, 44.93),  # 五常
        (127.96, 45.21),  # 尚志
        (127.49, 45.75),  # 宾县
        (127.40, 46.09),  # 巴彦
        (128.04, 45.95),  # 木兰
        (128.75, 45.98),  # 通河
        (128.83, 45.84),  # 方正
        (128.33, 45.45),  # 延寿
        (129.57, 46.32),  # 依兰
        (127.60, 44.50),  # fill: 五常 south-east hills
        (128.50, 44.95),  # fill: 尚志 east
    ]),
    ("230200", "齐齐哈尔市", (123.92, 47.35), [
        (123.75, 47.31),  # 梅里斯
        (122.88, 47.52),  # 碾子山
        (123.20, 47.34),  # 龙江
        (123.42, 46.39),  # 泰来
        (123.50, 47.92),  # 甘南
        (124.47, 47.77),  # 富裕
        (124.88, 48.48),  # 讷河
        (125.31, 47.89),  # 依安
        (125.87, 48.04),  # 克山
        (126.25, 48.04),  # 克东
        (126.10, 47.60),  # 拜泉
        (122.80, 47.05),  # fill: 龙江 west
    ]),
    ("230300", "鸡西市", (130.97, 45.30), [
        (131.12, 45.26),  # 鸡东
        (131.87, 45.55),  # 密山
        (132.94, 45.77),  # 虎林
        (132.30, 45.35),  # fill: 兴凯湖 north shore
        (133.20, 45.60),  # fill: 虎林 east, towards the Ussuri
        (130.60, 44.95),  # fill: 鸡西 south-west
        (133.40, 46.05),  # fill: 虎头, 虎林 north-east
    ]),
    ("230400", "鹤岗市", (130.30, 47.35), [
        (130.83, 47.58),  # 萝北
        (131.86, 47.29),  # 绥滨
        (130.60, 48.00),  # fill: 萝北 north, towards the Amur
        (130.10, 47.75),  # fill: 鹤岗 north-west hills
    ]),
    ("230500", "双鸭山市", (131.16, 46.65), [
        (131.81, 46.77),  # 友谊
        (132.20, 46.33),  # 宝清
        (134.02, 46.80),  # 饶河
        (133.10, 46.35),  # fill: 宝清 east
        (132.30, 46.05),  # fill: 宝清 south
        (133.40, 46.95),  # fill: 饶河 west
    ]),
    ("230600", "大庆市", (125.10, 46.59), [
        (124.87, 46.65),  # 让胡路
        (124.44, 46.86),  # 杜尔伯特
        (124.87, 47.18),  # 林甸
        (124.81, 46.04),  # 大同
        (125.27, 45.70),  # 肇州
        (125.08, 45.52),  # 肇源
        (124.20, 46.30),  # fill: 杜尔伯特 south-west
    ]),
    ("230700", "伊春市", (128.84, 47.73), [
        (128.03, 46.98),  # 铁力
        (129.28, 47.14),  # 南岔
        (129.43, 47.41),  # 金林
        (129.57, 48.45),  # 汤旺
        (129.42, 48.90),  # 乌伊岭
        (130.32, 48.85),  # 嘉荫
        (128.40, 47.40),  # fill: 铁力 north
        (129.10, 48.15),  # fill: 友好 north
        (129.90, 48.55),  # fill: 嘉荫 south
    ]),
    ("230800", "佳木斯市", (130.32, 46.80), [
        (129.90, 46.73),  # 汤原
        (130.55, 46.24),  # 桦南
        (130.72, 47.02),  # 桦川
        (132.04, 47.25),  # 富锦
        (132.51, 47.64),  # 同江
        (134.29, 48.36),  # 抚远
        (133.40, 47.90),  # fill: 同江–抚远
        (134.40, 47.80),  # fill: 抚远 south
        (132.80, 47.30),  # fill: 富锦 east
        (131.35, 47.05),  # fill: Songhua corridor 桦川–富锦 (keeps the division in one piece)
        (131.75, 47.05),  # fill: Songhua corridor, 富锦 west
    ]),
    ("230900", "七台河市", (131.00, 45.77), [
        (130.59, 45.75),  # 勃利
        (130.80, 45.60),  # fill: 勃利 south
    ]),
    ("231000", "牡丹江市", (129.63, 44.55), [
        (129.38, 44.59),  # 海林
        (129.47, 44.34),  # 宁安
        (130.52, 44.92),  # 穆棱
        (131.12, 44.06),  # 东宁
        (131.08, 44.41),  # 绥芬河
        (130.27, 45.28),  # 林口
        (128.70, 44.30),  # fill: 海林–宁安 west (镜泊湖 area)
        (129.00, 44.95),  # fill: 海林 north-west
        (129.90, 45.50),  # fill: 林口 north
    ]),
    ("231100", "黑河市", (127.45, 50.22), [
        (127.33, 49.43),  # 孙吴
        (128.48, 49.56),  # 逊克
        (125.22, 49.18),  # 嫩江
        (126.49, 48.24),  # 北安
        (126.20, 48.52),  # 五大连池
        (125.70, 50.10),  # fill: 嫩江 north
        (126.50, 50.70),  # fill: 爱辉 north-west
        (126.60, 49.60),  # fill: 孙吴–嫩江
        (128.30, 48.95),  # fill: 逊克 south
        (127.40, 48.70),  # fill: 北安 north-east
    ]),
    ("231200", "绥化市", (126.97, 46.65), [
        (125.34, 46.42),  # 安达
        (125.96, 46.05),  # 肇东
        (126.29, 46.25),  # 兰西
        (126.48, 46.83),  # 望奎
        (126.11, 46.69),  # 青冈
        (125.91, 47.17),  # 明水
        (126.97, 47.46),  # 海伦
        (127.11, 47.24),  # 绥棱
        (127.51, 46.88),  # 庆安
        (127.60, 47.50),  # fill: 绥棱 north-east
    ]),
    ("232700", "大兴安岭地区", (123.50, 52.30), [
        (122.53, 52.97),  # 漠河
        (124.71, 52.33),  # 塔河
        (126.65, 51.73),  # 呼玛
        (124.40, 51.70),  # 新林
        (121.80, 52.60),  # fill: 漠河 south-west
        (125.60, 52.80),  # fill: 塔河 north-east
        (125.70, 51.90),  # fill: 塔河–呼玛
    ]),
]
# fmt: on


def load_outline(path: Path) -> shapely.Geometry:
    """The Heilongjiang feature of a Natural Earth admin-1 layer (GeoJSON, shapefile or zip)."""
    for props, geom in _features(path):
        if (
            props.get("iso_3166_2") == "CN-HL"
            or props.get("adm1_code") == "CHN-1839"
            or props.get("name") == "Heilongjiang"
        ):
            return shape(geom)
    raise SystemExit(f"no Heilongjiang (CN-HL) feature in {path}")


def _features(path: Path):
    suffix = path.suffix.lower()
    if suffix in (".geojson", ".json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        for f in data["features"]:
            yield {k.lower(): v for k, v in (f.get("properties") or {}).items()}, f["geometry"]
        return
    import shapefile  # pyshp

    if suffix == ".zip":
        with zipfile.ZipFile(path) as z:
            shp = next(n for n in z.namelist() if n.lower().endswith(".shp"))
            base = shp[:-4]
            names = {n.lower(): n for n in z.namelist()}
            reader = shapefile.Reader(
                shp=z.open(shp),
                shx=z.open(names[(base + ".shx").lower()]),
                dbf=z.open(names[(base + ".dbf").lower()]),
                encoding="utf-8",
            )
            yield from _shp_records(reader)
        return
    with shapefile.Reader(str(path), encoding="utf-8") as reader:
        yield from _shp_records(reader)


def _shp_records(reader):
    fields = [f[0].lower() for f in reader.fields[1:]]
    for sr in reader.iterShapeRecords():
        yield dict(zip(fields, sr.record, strict=False)), sr.shape.__geo_interface__


def build(outline: shapely.Geometry) -> dict:
    outline = shapely.make_valid(outline)
    outline = outline.simplify(SIMPLIFY_TOLERANCE, preserve_topology=True)
    outline = shapely.set_precision(outline, GRID)

    seeds: list[tuple[Point, int]] = []
    for i, (_code, name, seat, extra) in enumerate(DIVISIONS):
        for pt in [seat, *extra]:
            p = Point(pt)
            if not outline.contains(p):
                # River towns sit on the border; a seed just outside still gives its division a cell
                # (clipped to the outline), so only a seed far outside means a wrong coordinate.
                gap = outline.distance(p)
                if gap > MAX_SEED_GAP:
                    raise SystemExit(f"seed {pt} of {name} lies {gap:.3f}° outside the outline")
                print(f"note: seed {pt} of {name} lies {gap:.3f}° outside the outline", file=sys.stderr)
            seeds.append((p, i))

    envelope = outline.envelope.buffer(2.0)
    cells = voronoi_diagram(MultiPoint([p for p, _ in seeds]), envelope=envelope)
    owned: list[list[shapely.Geometry]] = [[] for _ in DIVISIONS]
    for cell in cells.geoms:
        owners = [i for p, i in seeds if cell.contains(p)]
        if len(owners) != 1:
            raise SystemExit("a Voronoi cell does not hold exactly one seed")
        owned[owners[0]].append(cell)

    features = []
    for (code, name, _seat, _extra), parts in zip(DIVISIONS, owned, strict=True):
        region = unary_union(parts)
        geom = shapely.intersection(region, outline, grid_size=GRID)
        geom = _polygonal(geom)
        if geom.is_empty:
            raise SystemExit(f"{name} got no area")
        features.append(
            {
                "type": "Feature",
                "properties": {"adcode": code, "name": name},
                "geometry": _rounded(mapping(geom)),
            }
        )
    return {"type": "FeatureCollection", "features": features}


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    """Drop stray points/lines an overlay may leave; orient rings as RFC 7946 asks."""
    polys = [g for g in getattr(geom, "geoms", [geom]) if g.geom_type in ("Polygon", "MultiPolygon")]
    flat = []
    for g in polys:
        flat.extend(getattr(g, "geoms", [g]))
    flat = [orient(p, 1.0) for p in flat if not p.is_empty]
    if len(flat) == 1:
        return flat[0]
    return shapely.MultiPolygon(flat)


def _rounded(obj):
    if isinstance(obj, float):
        return round(obj, 3)
    if isinstance(obj, (list, tuple)):
        return [_rounded(x) for x in obj]
    if isinstance(obj, dict):
        return {k: _rounded(v) for k, v in obj.items()}
    return obj


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: python tools/geo/build_heilongjiang.py NE_ADMIN1_FILE [OUT_JSON]", file=sys.stderr)
        return 2
    src = Path(argv[1])
    out = (
        Path(argv[2])
        if len(argv) > 2
        else (Path(__file__).resolve().parents[2] / "src/xinyidai/web/static/geo/heilongjiang.json")
    )
    fc = build(load_outline(src))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(fc, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"wrote {out} ({out.stat().st_size} bytes, {len(fc['features'])} features)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
