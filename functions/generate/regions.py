"""Real GB/T 2260 county-level codes for the provinces the demo and tests use.

Hubei (42), Heilongjiang (23), Shaanxi (61) and Hebei (13) carry a sample of real counties
(all districts of the capital city and several other prefectures). Any other province in
``functions.layout.PROVINCES`` falls back to the districts ``PP0102``–``PP0112`` of its capital,
which is the shape GB/T 2260 uses for capital-city districts (flagged ``generic``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from functions.errors import InvalidInput
from functions.layout import PROVINCES

_COUNTIES: dict[str, str] = {
    "42": """
420102 江岸区 420103 江汉区 420104 硚口区 420105 汉阳区 420106 武昌区 420107 青山区 420111 洪山区
420112 东西湖区 420113 汉南区 420114 蔡甸区 420115 江夏区 420116 黄陂区 420117 新洲区
420202 黄石港区 420203 西塞山区 420204 下陆区 420205 铁山区 420222 阳新县 420281 大冶市
420302 茅箭区 420303 张湾区 420304 郧阳区 420322 郧西县 420323 竹山县 420325 房县 420381 丹江口市
420502 西陵区 420503 伍家岗区 420504 点军区 420505 猇亭区 420506 夷陵区 420525 远安县 420581 宜都市
420582 当阳市 420583 枝江市 420602 襄城区 420606 樊城区 420607 襄州区 420624 南漳县 420625 谷城县
420682 老河口市 420683 枣阳市 420684 宜城市 420702 梁子湖区 420703 华容区 420704 鄂城区
420802 东宝区 420804 掇刀区 420822 沙洋县 420881 钟祥市 420902 孝南区 420921 孝昌县 420922 大悟县
420923 云梦县 420981 应城市 420982 安陆市 420984 汉川市 421002 沙市区 421003 荆州区 421022 公安县
421081 石首市 421083 洪湖市 421087 松滋市 421102 黄州区 421122 红安县 421123 罗田县 421125 浠水县
421126 蕲春县 421127 黄梅县 421181 麻城市 421182 武穴市 421202 咸安区 421221 嘉鱼县 421281 赤壁市
421303 曾都区 421321 随县 421381 广水市 422801 恩施市 422802 利川市 422822 建始县 422823 巴东县
429004 仙桃市 429005 潜江市 429006 天门市 429021 神农架林区
""",
    "23": """
230102 道里区 230103 南岗区 230104 道外区 230108 平房区 230109 松北区 230110 香坊区 230111 呼兰区
230112 阿城区 230113 双城区 230123 依兰县 230124 方正县 230125 宾县 230126 巴彦县 230183 尚志市
230184 五常市 230202 龙沙区 230203 建华区 230204 铁锋区 230206 富拉尔基区 230221 龙江县
230223 依安县 230281 讷河市 230602 萨尔图区 230603 龙凤区 230604 让胡路区 230605 红岗区
230606 大同区 230621 肇州县 230622 肇源县 230803 向阳区 230804 前进区 230805 东风区 230822 桦南县
230881 同江市 230882 富锦市 231002 东安区 231003 阳明区 231004 爱民区 231005 西安区 231025 林口县
231081 绥芬河市 231083 海林市 231084 宁安市 231202 北林区 231221 望奎县 231222 兰西县
231281 安达市 231282 肇东市 231283 海伦市
""",
    "61": """
610102 新城区 610103 碑林区 610104 莲湖区 610111 灞桥区 610112 未央区 610113 雁塔区 610114 阎良区
610115 临潼区 610116 长安区 610117 高陵区 610118 鄠邑区 610122 蓝田县 610124 周至县
610302 渭滨区 610303 金台区 610304 陈仓区 610323 岐山县 610324 扶风县 610326 眉县
610402 秦都区 610403 杨陵区 610404 渭城区 610422 三原县 610423 泾阳县 610424 乾县 610481 兴平市
610502 临渭区 610503 华州区 610523 大荔县 610526 蒲城县 610528 富平县 610581 韩城市 610582 华阴市
610602 宝塔区 610603 安塞区 610625 志丹县 610626 吴起县 610629 洛川县 610702 汉台区 610703 南郑区
610722 城固县 610723 洋县 610725 勉县 610802 榆阳区 610803 横山区 610822 府谷县 610824 靖边县
610825 定边县 610881 神木市
""",
    "13": """
130102 长安区 130104 桥西区 130105 新华区 130107 井陉矿区 130108 裕华区 130109 藁城区 130110 鹿泉区
130111 栾城区 130121 井陉县 130123 正定县 130131 平山县 130133 赵县 130181 辛集市 130183 晋州市
130184 新乐市 130202 路南区 130203 路北区 130204 古冶区 130205 开平区 130207 丰南区 130208 丰润区
130209 曹妃甸区 130229 玉田县 130281 遵化市 130283 迁安市 130402 邯山区 130403 丛台区
130404 复兴区 130406 峰峰矿区 130481 武安市 130602 竞秀区 130606 莲池区 130607 满城区
130608 清苑区 130609 徐水区 130629 容城县 130632 安新县 130638 雄县 130681 涿州市 130682 定州市
130684 高碑店市 131002 安次区 131003 广阳区 131022 固安县 131023 永清县 131024 香河县
131025 大城县 131026 文安县 131028 大厂回族自治县 131081 霸州市 131082 三河市
""",
}

# Short province names used in penalty decision numbers (e.g. 鄂市监处罚〔2025〕12号).
ABBREVIATIONS: dict[str, str] = {
    "11": "京", "12": "津", "13": "冀", "14": "晋", "15": "蒙", "21": "辽", "22": "吉", "23": "黑",
    "31": "沪", "32": "苏", "33": "浙", "34": "皖", "35": "闽", "36": "赣", "37": "鲁", "41": "豫",
    "42": "鄂", "43": "湘", "44": "粤", "45": "桂", "46": "琼", "50": "渝", "51": "川", "52": "黔",
    "53": "云", "54": "藏", "61": "陕", "62": "甘", "63": "青", "64": "宁", "65": "新",
}  # fmt: skip


@dataclass(frozen=True)
class Regions:
    """The counties of one province and how entities are spread over them."""

    province: str
    codes: tuple[str, ...]
    names: tuple[str, ...]
    weights: np.ndarray  # sums to 1
    generic: bool

    @property
    def abbreviation(self) -> str:
        return ABBREVIATIONS[self.province]


def regions_for(province: str) -> Regions:
    """Counties of ``province``; capital-city districts weigh more (more entities register there)."""
    if province not in PROVINCES:
        raise InvalidInput(f"unknown province code {province!r}", field="province")
    text = _COUNTIES.get(province)
    if text is None:
        codes = tuple(f"{province}01{n:02d}" for n in range(2, 13))
        names = tuple(f"{PROVINCES[province]}第{n - 1}区" for n in range(2, 13))
        generic = True
    else:
        tokens = text.split()
        codes, names = tuple(tokens[0::2]), tuple(tokens[1::2])
        generic = False
    capital = codes[0][:4]
    w = np.array(
        [(3.0 if c[:4] == capital else 1.0) * (1.5 if c[4] == "0" else 1.0) for c in codes], dtype=np.float64
    )
    return Regions(province, codes, names, w / w.sum(), generic)
