"""Name lists of the demo city 新余市渝水区: streets, communities, roads and landmarks.

Street names are the urban streets (街道) of 渝水区; their 9-digit codes are demo codes assigned in order,
not quoted from the statistics code table. Community names are plausible, not an official list.
"""

from __future__ import annotations

DISTRICT_CODE = "360502"
DISTRICT_NAME = "渝水区"
CITY_CODE = "360500"
CITY_NAME = "新余市"

STREETS: list[tuple[str, str]] = [
    ("360502001", "城南街道"),
    ("360502002", "城北街道"),
    ("360502003", "新钢街道"),
    ("360502004", "袁河街道"),
    ("360502005", "渝东街道"),
    ("360502006", "仙来街道"),
]

# Where each street lies, as an offset in kilometres (east, north) from the city centre: the seeds of the
# street partition (the generator adds a small seeded jitter).
STREET_ANCHORS_KM: dict[str, tuple[float, float]] = {
    "360502001": (0.6, -1.6),
    "360502002": (-0.4, 2.1),
    "360502003": (-5.0, 0.4),
    "360502004": (-2.3, -2.2),
    "360502005": (5.4, -0.4),
    "360502006": (3.0, 1.0),
}

# Ten names per street; a street uses the first n, n being its number of communities (4–10).
COMMUNITY_NAMES: dict[str, list[str]] = {
    "360502001": [
        "沿江社区",
        "胜利南社区",
        "南门社区",
        "秀水社区",
        "长青南社区",
        "白梅社区",
        "爱民社区",
        "水西社区",
        "福寿社区",
        "渝州社区",
    ],
    "360502002": [
        "北湖社区",
        "团结社区",
        "劳动北社区",
        "抱石社区",
        "天工社区",
        "白竹社区",
        "新欣社区",
        "北门社区",
        "府前社区",
        "高家社区",
    ],
    "360502003": [
        "钢城社区",
        "冶金社区",
        "新钢东社区",
        "新钢西社区",
        "铁焦社区",
        "湖泽社区",
        "河下社区",
        "钢花社区",
        "新兴社区",
        "钢苑社区",
    ],
    "360502004": [
        "袁河社区",
        "迎家新村社区",
        "夏家社区",
        "下村社区",
        "凤凰社区",
        "城西社区",
        "袁河湾社区",
        "站前社区",
        "毓秀社区",
        "光明社区",
    ],
    "360502005": [
        "渝东社区",
        "孔目江社区",
        "东门社区",
        "城东社区",
        "欣荣社区",
        "东湖社区",
        "和谐社区",
        "明珠社区",
        "江东社区",
        "东兴社区",
    ],
    "360502006": [
        "仙来社区",
        "仙湖社区",
        "仙源社区",
        "广场社区",
        "康乐社区",
        "文化社区",
        "金桥社区",
        "春龙社区",
        "天一社区",
        "仙来东社区",
    ],
}

# Roads of the urban area, used in place addresses.
ROADS: list[str] = [
    "劳动北路",
    "劳动南路",
    "抱石大道",
    "胜利北路",
    "胜利南路",
    "团结东路",
    "团结西路",
    "北湖东路",
    "北湖西路",
    "仙来东大道",
    "仙来西大道",
    "沿江路",
    "长青北路",
    "长青南路",
    "渝东大道",
    "赣西大道",
    "新欣北大道",
    "新欣南大道",
    "天工北大道",
    "天工南大道",
    "站前东路",
    "站前西路",
    "白竹路",
    "春龙大道",
    "湖泽路",
    "秀水路",
    "城东路",
    "光明路",
]

# Landmarks that host a public toilet (公厕).
TOILET_LANDMARKS: list[str] = [
    "仙来广场",
    "抱石公园",
    "北湖公园",
    "孔目江湿地公园",
    "袁河公园",
    "人民公园",
    "新余站站前广场",
    "新余汽车站",
    "城北农贸市场",
    "城南农贸市场",
    "渝东农贸市场",
    "市体育中心",
    "市民中心",
    "袁河沿江风光带",
    "百花洲公园",
    "天工广场",
    "新钢文化宫",
    "渝水区政务服务中心",
    "长青公园",
    "仙来农贸市场",
]

# Landmarks with a parking lot (停车场).
PARKING_LANDMARKS: list[str] = [
    "仙来广场",
    "北湖公园",
    "抱石公园",
    "孔目江湿地公园",
    "新余站",
    "新余汽车站",
    "市人民医院",
    "市中医院",
    "市妇幼保健院",
    "市体育中心",
    "市民中心",
    "万达广场",
    "步步高广场",
    "新余学院",
    "城北农贸市场",
    "城南农贸市场",
    "渝水区人民医院",
    "天工广场",
    "袁河公园",
    "新钢文化宫",
]

TOILET_OPEN_HOURS: list[str] = ["00:00-24:00", "06:00-22:00", "05:30-23:00", "07:00-21:00"]
PARKING_OPEN_HOURS: list[str] = ["00:00-24:00", "07:00-22:00", "08:00-20:00", "06:30-23:30"]
TOILET_FEE_NOTES: list[str] = ["免费"]
PARKING_FEE_NOTES: list[str] = [
    "首小时免费，之后2元/小时",
    "免费",
    "2元/小时，每日封顶20元",
    "前30分钟免费，之后1元/30分钟",
    "白天3元/次，夜间免费",
    "首2小时5元，之后2元/小时",
    "小型车5元/次，大型车10元/次",
]
