"""Money as people write it, shared by ingest (salary texts of postings) and question reading (pays in prose).

Pure and stdlib only. One place for the constants and the number forms both sides read:

* ``WORKING_DAYS_PER_MONTH`` (21.75, the statutory average number of working days a month in China,
  劳社部发〔2008〕3号) and ``HOURS_PER_DAY`` (8) convert daily and hourly pay to monthly.
* ``MULTIPLIERS``: k/K and 千 are thousands, w/W and 万 ten thousands.
* ``AMOUNT``: an amount in prose with its optional currency sign, multiplier, a range's second end and a unit
  ("1.5万", "20w-30w", "$120k", "10,000 RMB", "2到3万"); ``ZH_AMOUNT``: one in Chinese numerals ("两万",
  "一万五"). ``amount_value`` and ``chinese_number`` turn their parts into numbers.
"""

from __future__ import annotations

import re

WORKING_DAYS_PER_MONTH = 21.75
HOURS_PER_DAY = 8
MULTIPLIERS = {"k": 1000.0, "千": 1000.0, "w": 10000.0, "万": 10000.0}

AMOUNT = re.compile(
    r"(?P<cur>[$¥€£]\s*)?(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)\s*(?P<mult>[kKwW](?![A-Za-z])|万|千)?"
    r"(?:\s*[-–~到至]\s*(?P<num2>\d+(?:\.\d+)?)\s*(?P<mult2>[kKwW](?![A-Za-z])|万|千)?)?"
    r"(?:\s*(?P<unit>元|块|rmb|cny|yuan|usd|dollars?|美元|美金|eur|euros?))?",
    re.IGNORECASE,
)
ZH_AMOUNT = re.compile(r"[一二两三四五六七八九十][零一二两三四五六七八九十百千]*[千万][一二两三四五六七八九]?")
_ZH_DIGITS = "零一二三四五六七八九"
_ZH_UNITS = {"十": 10, "百": 100, "千": 1000, "k": 1000}


def amount_value(num: str, mult: str | None) -> float:
    """'1.5' with '万' is 15000; '10,000' with no multiplier 10000."""
    return float(num.replace(",", "")) * MULTIPLIERS.get((mult or "").lower(), 1.0)


def chinese_number(raw: str) -> float:
    """'15k' 15000, '1.5万' 15000, '2w' 20000, '两万' 20000, '一万五' 15000, '1万5' 15000, '八千' 8000."""
    total = section = 0.0
    number: float | None = None
    last_unit = 1
    for token in re.findall(r"\d+(?:\.\d+)?|\S", raw.lower().replace("两", "二").replace("w", "万")):
        if token[0].isdigit() or token in _ZH_DIGITS:
            number = float(token) if token[0].isdigit() else float(_ZH_DIGITS.index(token))
        elif token == "万":
            total += (section + (number or 0.0)) * 10000
            section, number, last_unit = 0.0, None, 10000
        elif token in _ZH_UNITS:
            section += (1.0 if number is None else number) * _ZH_UNITS[token]
            number, last_unit = None, _ZH_UNITS[token]
    if number is not None:
        # A lone digit after a unit is spoken shorthand: 一万五 is 15000, 八千五 is 8500.
        section += number * last_unit / 10 if last_unit >= 10 and number < 10 else number
    return total + section


def to_monthly(value: float, period: str) -> float:
    """A pay per month, year, day or hour as monthly."""
    factors = {"month": 1.0, "year": 1 / 12, "day": WORKING_DAYS_PER_MONTH,
               "hour": HOURS_PER_DAY * WORKING_DAYS_PER_MONTH}  # fmt: skip
    return value * factors[period]
