"""Reference tables of the synthetic world: country mixes, kinds, name parts, deal terms.

Entities and links are generated as integer codes (an index into :data:`COUNTRIES`,
:data:`KINDS`, :data:`LINK_KINDS`, …) and turned into text only when written. Dates are day
numbers since :data:`EPOCH` and shares whole basis points; :data:`DATE_STR` and
:data:`SHARE_STR` turn them into cells (their last entry, :data:`NO_DATE` / :data:`NO_SHARE`,
is the empty cell).

>>> COUNTRIES[:4] == COVERED, DATE_STR[day_code(dt.date(2024, 6, 1))], SHARE_STR[5100]
(True, '2024-06-01', '0.51')
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import numpy.typing as npt

__all__ = [
    "APPT",
    "BP",
    "CHEMISTRY",
    "CHEM_P",
    "CIDX",
    "COMP",
    "CONTROLS",
    "COUNTRIES",
    "COUNTRY_NAMES",
    "COVERED",
    "COVERED_MIX",
    "DATE_STR",
    "DAYS",
    "DEBT",
    "DEFAULT_SUFFIX",
    "EPOCH",
    "EQ",
    "EQUIP",
    "F64",
    "FAC",
    "FACILITY_MIX",
    "FACILITY_TYPES",
    "FAMILY",
    "FUND",
    "FUND_WORDS",
    "GENERIC",
    "GIVEN",
    "GOV",
    "I64",
    "IRANIAN",
    "JAPANESE",
    "KINDS",
    "KNOW_HOW",
    "KOREAN",
    "LIC",
    "LINK_KINDS",
    "NO_DATE",
    "NO_SHARE",
    "OFFT",
    "OPER",
    "OTHER_MIX",
    "PERSON",
    "PINYIN",
    "PRODUCTS",
    "RUSSIAN",
    "SB",
    "SECTOR",
    "SERV",
    "SHARE_STR",
    "STAGES",
    "STATE_BODY_NAMES",
    "SUFFIX",
    "SUPP",
    "TECHNOLOGY",
    "TECH_BIAS",
    "US_REGIONS",
    "VOTE",
    "day_code",
]

#: integer and float arrays, the generator's working types
I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


COVERED = ("CN", "RU", "IR", "KP")
COVERED_MIX = (0.94, 0.04, 0.015, 0.005)
# companies outside the covered nations (weights, normalized below)
OTHER_MIX = (
    ("US", 33),
    ("JP", 8),
    ("KR", 8),
    ("DE", 7),
    ("GB", 5),
    ("FR", 4),
    ("NL", 3),
    ("ES", 2),
    ("IT", 2),
    ("SE", 2),
    ("PL", 2),
    ("HU", 2),
    ("CH", 1),
    ("IN", 4),
    ("SG", 3),
    ("HK", 4),
    ("TW", 4),
    ("CA", 3),
    ("MX", 2),
    ("AU", 2),
    ("ID", 2),
    ("VN", 2),
    ("TH", 1),
    ("MA", 1),
    ("CL", 1),
    ("BR", 1),
)
COUNTRIES: tuple[str, ...] = COVERED + tuple(c for c, _ in OTHER_MIX)
CIDX = {c: i for i, c in enumerate(COUNTRIES)}
COUNTRY_NAMES = {
    "CN": "the People's Republic of China",
    "RU": "the Russian Federation",
    "IR": "the Islamic Republic of Iran",
    "KP": "the Democratic People's Republic of Korea",
    "US": "the United States",
    "JP": "Japan",
    "KR": "the Republic of Korea",
    "DE": "Germany",
    "GB": "the United Kingdom",
    "FR": "France",
    "NL": "the Netherlands",
    "ES": "Spain",
    "IT": "Italy",
    "SE": "Sweden",
    "PL": "Poland",
    "HU": "Hungary",
    "CH": "Switzerland",
    "IN": "India",
    "SG": "Singapore",
    "HK": "Hong Kong SAR",
    "TW": "Taiwan",
    "CA": "Canada",
    "MX": "Mexico",
    "AU": "Australia",
    "ID": "Indonesia",
    "VN": "Viet Nam",
    "TH": "Thailand",
    "MA": "Morocco",
    "CL": "Chile",
    "BR": "Brazil",
}
# facility locations: mostly US plants (the rules are US rules), some in Europe and Asia
FACILITY_MIX = (
    ("US", 65),
    ("DE", 5),
    ("HU", 4),
    ("ES", 3),
    ("GB", 3),
    ("FR", 2),
    ("PL", 2),
    ("SE", 1),
    ("MX", 3),
    ("CA", 3),
    ("KR", 2),
    ("JP", 2),
    ("CN", 3),
    ("MA", 1),
    ("ID", 1),
)
# licensors / equipment makers / material suppliers lean on CN, KR and JP battery makers
TECH_BIAS = {"CN": 6.0, "KR": 3.0, "JP": 3.0, "US": 1.0, "DE": 0.5, "TW": 0.5, "HK": 0.5}

KINDS = (
    "government",
    "state_body",
    "company",
    "fund",
    "person",
    "facility",
)
GOV, SB, COMP, FUND, PERSON, FAC = range(6)

LINK_KINDS = (
    "equity",
    "voting",
    "appointment",
    "debt",
    "licence",
    "equipment",
    "services",
    "operation",
    "offtake",
    "supply",
)
EQ, VOTE, APPT, DEBT, LIC, EQUIP, SERV, OPER, OFFT, SUPP = range(10)

STATE_BODY_NAMES = {
    "CN": (
        "State-owned Assets Supervision and Administration Commission of the State Council",
        "Ministry of Industry and Information Technology",
        "National Development and Reform Commission",
        "Ministry of Finance",
        "Central Huijin Investment",
    ),
    "RU": ("Federal Agency for State Property Management", "Ministry of Energy"),
    "IR": ("Industrial Development and Renovation Organization", "Ministry of Industry"),
    "KP": ("Ministry of Electronics Industry",),
}
PINYIN = _words(
    "Hua Zhong Guo Xin Tian Long Feng Hai Jin Yuan Rui Sheng Tong Da Kai Heng Bao Chang Ning "
    "Shan Dong Xi Nan Bei Hong Ming Yang An Jia Li Hui Xing Fu Cheng Wei De Zhi Yu Qing"
)
JAPANESE = _words("Toyo Nihon Yama Kawa Fuji Sumi Mitsu Hoku Tai Asa Naka Shin Kyo Hiro Ota")
KOREAN = _words("Han Dae Sam Hyun Kum Seo Jin Woo Sung Kyung Hae Chung Il Yeong")
RUSSIAN = _words("Ros Sib Ural Volga Neva Sever Tech Energo Prom Don Baikal Amur")
IRANIAN = _words("Pars Sepahan Khazar Alborz Kavir Zagros Iran Mehr Arya")
GENERIC = _words(
    "North Star Blue River Summit Granite Pioneer Atlas Keystone Vector Horizon Meridian "
    "Lakeshore Redwood Harbor Crescent Liberty Beacon Sterling Cardinal Everest Orion Apex "
    "Silverline Ironwood Clearwater Highland Prairie Coastal Frontier Union"
)
SECTOR = (
    "Battery",
    "Energy",
    "New Energy",
    "Lithium",
    "Power Systems",
    "Materials",
    "Advanced Materials",
    "Cathode",
    "Anode",
    "Electrolyte",
    "Mining",
    "Automotive",
    "Motors",
    "Storage",
    "Electronics",
    "Technology",
    "Industrial",
    "Holdings",
    "Capital",
    "Equipment",
)
SUFFIX = {
    "CN": ("Co., Ltd.", "Group Co., Ltd.", "Technology Co., Ltd.", "Holdings Ltd."),
    "HK": ("Holdings Ltd.", "International Ltd.", "Ltd."),
    "TW": ("Corp.", "Co., Ltd."),
    "JP": ("Corporation", "Co., Ltd.", "K.K."),
    "KR": ("Co., Ltd.", "Corp.", "Solutions"),
    "DE": ("GmbH", "AG", "SE"),
    "FR": ("SAS", "SA"),
    "NL": ("B.V.", "N.V."),
    "ES": ("S.A.", "S.L."),
    "IT": ("S.p.A.", "S.r.l."),
    "SE": ("AB",),
    "PL": ("Sp. z o.o.", "S.A."),
    "HU": ("Kft.", "Zrt."),
    "CH": ("AG", "SA"),
    "RU": ("JSC", "PJSC", "LLC"),
    "IR": ("Co.", "Industrial Group"),
    "KP": ("Corporation", "General Bureau"),
    "GB": ("Ltd", "plc"),
    "SG": ("Pte. Ltd.",),
    "IN": ("Pvt. Ltd.", "Ltd."),
    "ID": ("PT", "Tbk"),
    "VN": ("JSC", "Co., Ltd."),
    "TH": ("Public Co., Ltd.",),
    "MX": ("S.A. de C.V.",),
    "BR": ("S.A.", "Ltda."),
    "CL": ("S.A.", "SpA"),
}
DEFAULT_SUFFIX = ("Inc.", "Corp.", "LLC", "Holdings Inc.")
FUND_WORDS = ("Capital Partners", "Investment Fund", "Growth Fund", "Industrial Fund", "Ventures")
FAMILY = {
    "CN": "Wang Li Zhang Liu Chen Yang Zhao Huang Zhou Wu Xu Sun Hu Zhu Gao Lin He Guo Ma Luo",
    "JP": "Sato Suzuki Takahashi Tanaka Watanabe Ito Yamamoto Nakamura Kobayashi Kato",
    "KR": "Kim Lee Park Choi Jung Kang Cho Yoon Jang Lim",
    "RU": "Ivanov Smirnov Kuznetsov Popov Vasiliev Petrov Sokolov Mikhailov",
    "IR": "Hosseini Mohammadi Rezaei Ahmadi Karimi Moradi Jafari",
    "KP": "Kim Ri Pak Choe Jong Kang",
    "XX": "Smith Johnson Miller Garcia Brown Martin Muller Schmidt Rossi Dubois Novak Patel "
    "Singh Nguyen Tan Lopez Silva Jensen Andersson Kowalski",
}
GIVEN = {
    "CN": "Wei Fang Min Jing Lei Yan Jun Hua Ming Xia Qiang Lin Hao Jie Bin Yun",
    "JP": "Hiroshi Takeshi Yuki Kenji Akira Naoko Satoshi Yoko",
    "KR": "Min-jun Seo-yeon Ji-ho Ha-eun Jae-won Soo-jin",
    "RU": "Alexei Dmitri Sergei Olga Natalia Ivan Mikhail",
    "IR": "Ali Reza Mehdi Maryam Zahra Hossein",
    "KP": "Chol Song Myong Hyok Yong",
    "XX": "James Maria David Anna Michael Laura Thomas Sofia Daniel Emma Lucas Priya Omar Elena",
}
US_REGIONS = _words(
    "Michigan Kentucky Tennessee Georgia Ohio Indiana Nevada Arizona Texas South-Carolina "
    "North-Carolina Kansas Illinois New-York Alabama Mississippi Oklahoma West-Virginia"
)
FACILITY_TYPES = ("Battery Plant", "Gigafactory", "Cell Plant", "Battery Park", "Pack Plant")
CHEMISTRY = ("LFP", "NMC", "LMFP", "NCA", "sodium-ion", "LMR")
CHEM_P = (0.45, 0.25, 0.1, 0.05, 0.1, 0.05)
TECHNOLOGY = (
    "battery cell technology",
    "cell manufacturing process",
    "cell-to-pack integration",
    "cathode material process",
    "energy-storage system design",
)
KNOW_HOW = ("full", "partial", "none", "unknown")
CONTROLS = ("component_sourcing", "operations", "ip_use", "component_sourcing;operations")
PRODUCTS = ("cells", "modules", "packs", "storage")
STAGES = ("talks", "announced", "construction", "producing")

EPOCH = dt.date(1990, 1, 1)
DAYS = (dt.date(2041, 1, 1) - EPOCH).days


def day_code(d: dt.date) -> int:
    return (d - EPOCH).days


# string tables: index code → cell text; the last entry is the empty cell
DATE_STR = [(EPOCH + dt.timedelta(days=i)).isoformat() for i in range(DAYS)] + [""]
NO_DATE = DAYS
SHARE_STR = ["0"] + [f"0.{i:04d}".rstrip("0") for i in range(1, 10000)] + ["1", ""]
NO_SHARE = 10001
BP = 10000  # shares are drawn and checked in whole basis points
