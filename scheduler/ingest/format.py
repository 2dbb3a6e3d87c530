"""The county upload format: columns and labels, in English and Chinese (docs/uploads.md).

One file per county, ``<county_code>.csv`` or ``.xlsx``. Most files are UTF-8
CSV with English headers; as real offices do, a few are Excel workbooks and a
few are GB18030-encoded CSV, and those two use Chinese headers, Chinese
category labels and ``YYYY-MM-DD HH:MM`` timestamps (real datetime cells in
Excel). The ingestion reads this format and the fixture generator writes it.
"""

from __future__ import annotations

#: English header, in file order. ``tubes`` is informational (the office's
#: own ceil(people / pool_size)); ``due_at`` is empty unless a deadline was set.
COLUMNS: tuple[str, ...] = (
    "county_code",
    "site_id",
    "site_name",
    "lat",
    "lon",
    "window_start",
    "window_end",
    "category",
    "pool_size",
    "people",
    "tubes",
    "due_at",
)
COLUMNS_ZH: dict[str, str] = {
    "county_code": "区县代码",
    "site_id": "采样点编码",
    "site_name": "采样点名称",
    "lat": "纬度",
    "lon": "经度",
    "window_start": "采样开始时间",
    "window_end": "采样结束时间",
    "category": "人群类别",
    "pool_size": "混采比例",
    "people": "采样人数",
    "tubes": "管数",
    "due_at": "结果时限",
}
CATEGORY_ZH: dict[str, str] = {
    "fever_clinic": "发热门诊",
    "isolation_point": "隔离点",
    "close_contact": "密切接触者",
    "key_population": "重点人群",
    "community": "社区人群",
}
FORMATS: tuple[str, ...] = ("csv", "xlsx", "gb18030")

#: every documented column but the optional ones (docs/uploads.md section 2)
OPTIONAL: tuple[str, ...] = ("tubes", "due_at")
REQUIRED: tuple[str, ...] = tuple(c for c in COLUMNS if c not in OPTIONAL)
#: a header cell (English or Chinese) -> its column
HEADER: dict[str, str] = {**{c: c for c in COLUMNS}, **{zh: c for c, zh in COLUMNS_ZH.items()}}
#: a category label (English or Chinese) -> its category
CATEGORY: dict[str, str] = {
    **{c: c for c in CATEGORY_ZH},
    **{zh: c for c, zh in CATEGORY_ZH.items()},
}
