"""Salary text to a monthly range: pure, tested on every salary string of the bundled postings.

Units and conversions (the `rule` field of the result names the conversion applied):

| written                             | read as                        | monthly                |
|-------------------------------------|--------------------------------|------------------------|
| `25k-40k`, `10K-20K`, `30-60K·14薪` | k/K = 1,000                    | as written             |
| `6-8千`, `3千及以下`                | 千 = 1,000                     | as written             |
| `1-1.5万`, `1.2-1.5万·13薪`         | 万/w/W = 10,000                | as written             |
| `8000-15000元`, `7000-10000`        | 元, or a bare number >= 1,000  | as written             |
| `20-28万/年`, `$120k/yr`, `年薪30万`| per year                       | ÷ 12                   |
| `150-200元/天`, `100-200/天`        | per day                        | × 21.75 working days   |
| `25元/时`, `800-1000元/时`          | per hour                       | × 8 h × 21.75 days     |

21.75 is the statutory average number of working days a month in China (劳社部发〔2008〕3号).

* A unit written only after the second number applies to both (`1-1.5万` = 10,000-15,000);
  a unit on each side applies per side (`6千-1.2万` = 6,000-12,000).
* `以上`, `起`, `+`, "or more" give a minimum only (`15k以上`: max None); `以下`, `及以下`,
  "up to" a maximum only. A single amount without these is both (`200元/天`).
* `·13薪` / `13薪` sets months_per_year; it is never assumed (None when not written).
* `面议`, `薪资面议`, "negotiable" and empty text mean "not stated": parse_salary returns None.
* Non-CNY amounts (`$`, USD, EUR, £, HK$) are parsed and kept in their currency: no exchange
  rate is invented.

Plausibility, on the monthly figures: a minimum under 500, a maximum over 1,000,000, a minimum
above the maximum, or a maximum more than 10 times the minimum raise SalaryError. The bounds are in
the posting's currency (there are no exchange rates here; the bundled data is all CNY). So the
hand-edited Zhaopin row `1.5-30万` is rejected as "implausible range 15000-300000".
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from assistant.money import HOURS_PER_DAY, WORKING_DAYS_PER_MONTH  # one home for both sides (see assistant/money.py)

MIN_MONTHLY = 500
MAX_MONTHLY = 1_000_000
MAX_RATIO = 10

_NOT_STATED = {
    "",
    "面议",
    "薪资面议",
    "薪酬面议",
    "工资面议",
    "待遇面议",
    "面谈",
    "negotiable",
    "salarynegotiable",
    "competitive",
    "dependsonexperience",
    "doe",
}
_MONTHS = re.compile(r"[·・,，\s]*[(（]?\s*(\d{1,2})\s*薪\s*[)）]?")
_CURRENCIES = (  # longest tokens first: "hk$" before "$"
    ("hk$", "HKD"),
    ("hkd", "HKD"),
    ("us$", "USD"),
    ("usd", "USD"),
    ("$", "USD"),
    ("eur", "EUR"),
    ("€", "EUR"),
    ("gbp", "GBP"),
    ("£", "GBP"),
    ("rmb", "CNY"),
    ("cny", "CNY"),
    ("¥", "CNY"),
    ("元", "CNY"),
    ("人民币", "CNY"),
)
_PERIODS = (  # (pattern, period); checked in order, matched text removed
    (r"/\s*(年|year|yr|annum)|每年|年薪|per\s*(year|annum)|a\s*year|annual(ly)?|\bp\.\s*a\.", "year"),
    (r"/\s*(月|month|mo)|每月|月薪|per\s*month|a\s*month|monthly", "month"),
    (r"/\s*(天|日|day)|每天|日薪|per\s*day|a\s*day|daily", "day"),
    (r"/\s*(小时|时|hour|hr|h)|每小时|时薪|per\s*hour|an\s*hour|hourly", "hour"),
)
_MIN_ONLY = re.compile(r"及以上|以上|起|\+|or\s*more|and\s*above|from|at\s*least|minimum|min\.?")
_MAX_ONLY = re.compile(r"及以下|以下|以内|up\s*to|at\s*most|or\s*less|below|maximum|max\.?")
_AMOUNT = r"(\d+(?:\.\d+)?)\s*(k|千|万|w)?"
_RANGE = re.compile(rf"^{_AMOUNT}\s*(?:(?:-|~|–|—|至|到|to)\s*{_AMOUNT})?$", re.IGNORECASE)
_MULTIPLIER = {"k": 1_000.0, "千": 1_000.0, "万": 10_000.0, "w": 10_000.0}
_TO_MONTHLY = {
    "month": (1.0, "monthly as written"),
    "year": (1 / 12, "per year ÷ 12"),
    "day": (WORKING_DAYS_PER_MONTH, f"per day × {WORKING_DAYS_PER_MONTH} working days"),
    "hour": (
        HOURS_PER_DAY * WORKING_DAYS_PER_MONTH,
        f"per hour × {HOURS_PER_DAY} hours × {WORKING_DAYS_PER_MONTH} working days",
    ),
}


@dataclass(frozen=True)
class Salary:
    """A salary range per month, in `currency`; one side may be open (`15k以上` has no maximum)."""

    min_monthly: float | None
    max_monthly: float | None
    months_per_year: int | None  # from "·13薪"; None when not stated
    period: str  # unit as written: "month" | "year" | "day" | "hour"
    currency: str = "CNY"
    rule: str = ""  # the conversion applied, e.g. "per day × 21.75 working days"


#: Digits in one amount beyond which it cannot be a salary (a yearly 99,999,999,999 already is not).
_MAX_DIGITS = 12


class SalaryError(ValueError):
    """Salary text that cannot be read or is implausible; str(exc) is a short reason."""


def _fmt(value: float) -> str:
    if not math.isfinite(value):
        return "too large to read"
    return str(int(value)) if value == int(value) else f"{value:.2f}".rstrip("0")


def _quoted(text: str, limit: int = 40) -> str:
    """The text as a reason quotes it: repr, cut to `limit` characters (a 400-digit value is not echoed whole)."""
    return repr(text if len(text) <= limit else text[:limit] + "…")


def _strip_currency(text: str) -> tuple[str, str]:
    currency = "CNY"
    for token, code in _CURRENCIES:
        if token in text:
            if code != "CNY":
                currency = code
            text = text.replace(token, " ")
    return text, currency


def _strip_period(text: str) -> tuple[str, str]:
    for pattern, period in _PERIODS:
        new, n = re.subn(pattern, " ", text)
        if n:
            return new, period
    return text, "month"


def _amounts(text: str, period: str, original: str) -> tuple[float, float | None]:
    compact = re.sub(r"(?<=\d),(?=\d{3})", "", text)  # thousands separators: "20,000"
    compact = re.sub(r"\s+", " ", compact).strip()
    match = _RANGE.match(compact)
    if match is None:
        raise SalaryError(f"unrecognised salary format {_quoted(original)}")
    a, unit_a, b, unit_b = match.groups()
    if unit_a is None and unit_b is not None:
        unit_a = unit_b  # "1-1.5万": the unit after the second number applies to both
    if unit_b is None and b is not None:
        unit_b = unit_a
    if max(len(a), len(b or "")) > _MAX_DIGITS:
        raise SalaryError(f"amount too long to be a salary {_quoted(original)}")
    low = float(a) * _MULTIPLIER.get((unit_a or "").lower(), 1.0)
    high = float(b) * _MULTIPLIER.get((unit_b or "").lower(), 1.0) if b is not None else None
    if unit_a is None and period == "month" and "元" not in original and low < 1000:
        # A bare "15-25" could be thousands or tens of thousands: refuse rather than guess.
        raise SalaryError(f"amount without unit {compact!r}")
    return low, high


def _check(low: float | None, high: float | None) -> None:
    if low is not None and low < MIN_MONTHLY:
        raise SalaryError(f"implausible minimum {_fmt(low)}/month")
    if high is not None and high > MAX_MONTHLY:
        raise SalaryError(f"implausible maximum {_fmt(high)}/month")
    if high is not None and high < MIN_MONTHLY:
        raise SalaryError(f"implausible maximum {_fmt(high)}/month")
    if low is not None and high is not None:
        if low > high:
            raise SalaryError(f"minimum above maximum {_fmt(low)}-{_fmt(high)}")
        if high > MAX_RATIO * low:
            raise SalaryError(f"implausible range {_fmt(low)}-{_fmt(high)}")


#: An amount of zero ("0", "0.0", "0-0"): exports write it where no pay was stated.
_ZERO = re.compile(r"\s*0+(?:\.0+)?(?:\s*[-~～至]\s*0+(?:\.0+)?)?\s*")
_PLAIN_NUMBER = re.compile(r"\s*\d+(?:\.\d+)?\s*")
_PLAIN_RANGE = re.compile(r"\s*\d+(?:\.\d+)?\s*(?:-\s*\d+(?:\.\d+)?\s*)?")
PAY_PERIODS = {"month": "元/月", "year": "元/年", "day": "元/天"}


def salary_text(salary: str, low: str, high: str, period: str | None = None) -> str | None:
    """The salary text of a row: its salary column, or its lowest and highest pay columns (最低月薪 / 最高月薪)
    read as one range; plain numbers get the file's pay period (month unless the file says year or day).

    Returns:
        The text to read with `parse_salary` (kept as the posting's salary as written), or None when the row
        states no pay (blank, 0 or 面议 in every pay column).
    """
    unit = PAY_PERIODS[period or "month"]

    def plain(value: str) -> bool:
        return bool(_PLAIN_NUMBER.fullmatch(value))

    if salary.strip():
        if period and _PLAIN_RANGE.fullmatch(salary):
            return f"{salary.strip()}{unit}"
        return salary.strip()
    lo, hi = ("" if _states_no_pay(_normalized(v)) else v.strip() for v in (low, high))
    suffix = unit if (not lo or plain(lo)) and (not hi or plain(hi)) else ""
    if lo and hi:
        return lo + suffix if lo == hi else f"{lo}-{hi}{suffix}"
    if lo:
        return f"{lo}{suffix}以上"
    if hi:
        return f"{hi}{suffix}以下"
    return None


def _normalized(text: str) -> str:
    return unicodedata.normalize("NFKC", text.strip()).casefold()


def _states_no_pay(normalized: str) -> bool:
    """Whether a pay text (normalized) states nothing: blank, zero or 面议 and its kind."""
    return re.sub(r"[\s\-_/.,()（）]+", "", normalized) in _NOT_STATED or bool(_ZERO.fullmatch(normalized))


@lru_cache(maxsize=1 << 16)  # pure; the same pay text repeats across thousands of postings
def parse_salary(text: str | None) -> Salary | None:
    """Read a salary as written on a job board.

    Args:
        text: the salary text, e.g. `25k-40k`, `1.2-1.5万·13薪`, `150-200元/天`,
            `RMB 20,000-30,000 per month`.

    Returns:
        The monthly range (see the module docstring for units and conversions), or None when no salary is
        stated (empty, `面议`, "negotiable").

    Raises:
        SalaryError: the text cannot be read, or the monthly range is implausible; str(exc) says why, e.g.
            "implausible range 15000-300000".
    """
    if text is None:
        return None
    original = text.strip()
    normalized = _normalized(original)
    if _states_no_pay(normalized):
        return None
    if "\ufffd" in normalized:
        raise SalaryError("unreadable character (U+FFFD) in salary text")
    months_per_year = None
    found = _MONTHS.search(normalized)
    if found:
        months_per_year = int(found.group(1))
        normalized = normalized[: found.start()] + " " + normalized[found.end() :]
        if not 12 <= months_per_year <= 24:
            raise SalaryError(f"implausible months per year {months_per_year}")
    normalized = re.sub(r"^(salary|pay|薪资|薪酬|工资)\s*[:：]?\s*", "", normalized.strip())
    normalized, currency = _strip_currency(normalized)
    normalized, period = _strip_period(normalized)
    min_only = bool(_MIN_ONLY.search(normalized))
    max_only = bool(_MAX_ONLY.search(normalized))
    normalized = _MAX_ONLY.sub(" ", _MIN_ONLY.sub(" ", normalized))
    if not re.search(r"\d", normalized):
        raise SalaryError(f"no amount in {_quoted(original)}")
    first, second = _amounts(normalized, period, original)
    low: float | None = first
    high: float | None = second
    if high is None:
        # One number: "200元/天" is that amount; "15k以上" a minimum; "3千及以下" a maximum.
        if max_only and not min_only:
            low, high = None, first
        elif not min_only:
            high = low
    elif min_only or max_only:
        raise SalaryError(f"a range with an open bound {_quoted(original)}")
    factor, rule = _TO_MONTHLY[period]
    low = round(low * factor, 2) if low is not None else None
    high = round(high * factor, 2) if high is not None else None
    _check(low, high)
    return Salary(low, high, months_per_year, period, currency, rule)
