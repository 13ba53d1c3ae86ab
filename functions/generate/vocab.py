"""Word lists and category weights for synthetic records (see docs/synthetic-data.md)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def probs(weights: Mapping[str, float]) -> tuple[tuple[str, ...], np.ndarray]:
    """Keys and normalised probabilities of a weight table."""
    keys = tuple(weights)
    w = np.array([weights[k] for k in keys], dtype=np.float64)
    return keys, w / w.sum()


# GB/T 4754-2017 sections: share of entities, the division range and a name suffix.
INDUSTRY_ENTERPRISE = {
    "F": 30, "C": 12, "L": 9, "M": 8, "I": 6, "H": 5, "E": 7, "A": 4, "G": 4, "K": 3, "O": 3,
    "N": 2, "R": 2, "J": 1, "P": 1, "Q": 1, "D": 0.5, "B": 0.5, "S": 0.5,
}  # fmt: skip
INDUSTRY_INDIVIDUAL = {"F": 55, "H": 18, "O": 12, "G": 5, "C": 3, "A": 3, "R": 2, "E": 1, "I": 1}
INDUSTRY_COOPERATIVE = {"A": 90, "F": 5, "C": 3, "O": 2}
DIVISIONS = {
    "A": (1, 5), "B": (6, 12), "C": (13, 43), "D": (44, 46), "E": (47, 50), "F": (51, 52), "G": (53, 60),
    "H": (61, 62), "I": (63, 65), "J": (66, 69), "K": (70, 70), "L": (71, 72), "M": (73, 75),
    "N": (76, 79), "O": (80, 82), "P": (83, 83), "Q": (84, 85), "R": (86, 90), "S": (91, 97), "T": (98, 98),
}  # fmt: skip
ENTERPRISE_SUFFIX = {
    "A": "农业发展有限公司", "B": "矿业有限公司", "C": "制造有限公司", "D": "能源有限公司",
    "E": "建筑工程有限公司", "F": "商贸有限公司", "G": "物流有限公司", "H": "餐饮管理有限公司",
    "I": "信息技术有限公司", "J": "投资管理有限公司", "K": "房地产开发有限公司", "L": "企业管理咨询有限公司",
    "M": "科技有限公司", "N": "环保科技有限公司", "O": "家政服务有限公司", "P": "教育咨询有限公司",
    "Q": "健康管理有限公司", "R": "文化传媒有限公司", "S": "社会服务有限公司", "T": "有限公司",
}  # fmt: skip
INDIVIDUAL_SUFFIX = ("商行", "便利店", "餐馆", "五金店", "理发店", "经营部", "小吃店", "服装店", "维修部")
COOPERATIVE_SUFFIX = ("种植专业合作社", "养殖专业合作社", "农机专业合作社", "果蔬专业合作社")
TRADE_NAMES = (
    "恒达", "鑫源", "华信", "宏图", "金盛", "瑞丰", "永泰", "隆昌", "博远", "天成",
    "汇通", "新星", "嘉禾", "盛世", "荣昌", "顺发", "明辉", "佳美", "长兴", "安康",
    "万福", "东方", "兴旺", "富华", "德润", "众诚", "联创", "启航", "宇航", "云帆",
    "智慧", "睿达", "合众", "同心", "正泰", "广源", "丰收", "润泽", "和谐", "立信",
    "世纪", "金鹏", "银河", "晨光", "百佳", "信诚", "优品", "乐享", "楚天", "江汉",
    "荆楚", "北辰", "秦川", "燕赵", "龙江", "雪原", "松花", "汉水", "长江", "黄河",
)  # fmt: skip
ROADS = (
    "解放路", "中山路", "人民路", "建设大道", "友谊大道", "发展大道", "和平大道", "光明路", "胜利街",
    "新华路",
    "民主路", "文化路", "工业大道", "青年路", "朝阳路", "幸福路", "团结路", "长江路", "黄河路", "学府路",
    "南湖大道", "东风大道", "车站路", "滨江大道",
)  # fmt: skip

ENTITY_TYPES = ("enterprise", "individual", "cooperative")
ENTITY_TYPE_P = np.array([0.55, 0.42, 0.03])

CHANGE_ITEMS = {
    "address": 22, "legal_rep": 18, "business_scope": 20, "shareholder": 15, "registered_capital": 10,
    "name": 8, "other": 7,
}  # fmt: skip
PENALTY_DOMAINS = {
    "consumer": 16, "product_quality": 14, "food": 18, "price": 8, "advertising": 7, "registration": 9,
    "metrology": 5, "standards": 3, "certification": 3, "competition": 4, "ip": 4, "drug": 4,
    "special_equipment": 3, "other": 2,
}  # fmt: skip
PENALTY_KINDS_LOW = {"warning": 40, "fine": 50, "confiscation": 6, "other": 4}
SEVERE_KINDS = {
    "suspend_license": 3, "lower_qualification": 1, "revoke_license": 2, "restrict_business": 2,
    "order_suspension": 4, "order_closure": 1, "restrict_employment": 1,
}  # fmt: skip
INSPECTION_DOMAINS = {
    "registration": 30, "food": 15, "product_quality": 15, "consumer": 8, "advertising": 6, "price": 6,
    "metrology": 5, "special_equipment": 5, "drug": 3, "standards": 3, "certification": 2, "ip": 2,
}  # fmt: skip
ABNORMAL_REASONS = {"unreachable": 60, "no_disclosure": 15, "false_disclosure": 10, "other": 15}
SERIOUS_REASONS = (
    "列入经营异常名录届满3年仍未履行相关义务",
    "提交虚假材料或者采取其他欺诈手段隐瞒重要事实取得登记",
    "因危害食品安全违法行为受到较重行政处罚",
    "因危害特种设备安全违法行为受到较重行政处罚",
    "因侵犯知识产权受到较重行政处罚",
)
OTHER_DISHONESTY = {
    # category: (weight, source)
    "court_enforcement": (25, "人民法院"),
    "judgment": (10, "人民法院"),
    "admin_enforcement": (8, "市场监督管理局"),
    "tax_arrears": (20, "税务局"),
    "abnormal_taxpayer": (10, "税务局"),
    "utility_arrears": (12, "供电公司"),
    "broken_commitment": (5, "信用中国"),
    "contract_breach": (6, "人民法院"),
    "other": (4, "行业协会"),
}
