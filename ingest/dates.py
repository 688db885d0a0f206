"""Posting dates as written on job boards, resolved without inventing anything.

| written                              | result                                   | precision  |
|--------------------------------------|------------------------------------------|------------|
| `2017-04-27`, `2023-12-12 09:22:00`  | that day                                 | "exact"    |
| `2025/4/1`, `2024年5月17日`          | that day                                 | "exact"    |
| `今天 09:55`, `刚刚`, `x分钟前`      | the scrape day                           | "relative" |
| `x小时前`                            | the scrape day minus whole days          | "relative" |
| `昨天 14:47`, `前天`, `3天前`, `2周前` | the scrape day minus 1, 2, 3, 14 days  | "relative" |
| `04-27`, `4月27日`                   | that day in the scrape year, or the year | "relative" |
|                                      | before if that is after the scrape day   |            |
| relative forms without a scrape date | None                                     | "unknown"  |
| anything else                        | None                                     | "unknown"  |

"Relative" means the day was computed from the scrape date; "x小时前" near midnight can be one
day late, which is the precision a board showing relative dates gives anyway. A time of day is
read but not kept.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from datetime import date, timedelta

_TIME = r"(?:\s*[Tt\s]\s*\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"
_FULL = re.compile(rf"^(\d{{4}})\s*[-/.年]\s*(\d{{1,2}})\s*[-/.月]\s*(\d{{1,2}})\s*日?{_TIME}$")
_MONTH_DAY = re.compile(rf"^(\d{{1,2}})\s*[-/月]\s*(\d{{1,2}})\s*日?{_TIME}$")
_DAYS_BACK = {
    "今天": 0,
    "今日": 0,
    "刚刚": 0,
    "刚才": 0,
    "today": 0,
    "just now": 0,
    "昨天": 1,
    "昨日": 1,
    "yesterday": 1,
    "前天": 2,
}
_NAMED = re.compile(rf"^({'|'.join(sorted(_DAYS_BACK, key=len, reverse=True))}){_TIME}$")
_AGO = re.compile(r"^(\d+)\s*(分钟|分|小时|个小时|天|日|周|星期|minutes?|mins?|hours?|hrs?|days?|weeks?)\s*(前|ago)$")
_UNIT_DAYS = {"天": 1, "日": 1, "day": 1, "days": 1, "周": 7, "星期": 7, "week": 7, "weeks": 7}
_UNIT_HOURS = {"小时": 1, "个小时": 1, "hour": 1, "hours": 1, "hr": 1, "hrs": 1}


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def parse_post_date(text: str | None, scrape_date: date | None) -> tuple[date | None, str]:
    """Read a posting date.

    Args:
        text: the date as written (`2017-04-27`, `昨天 14:47`, `3天前`, `04-27`...).
        scrape_date: the day the page was scraped, needed for relative forms; None when not known.

    Returns:
        (date, precision): precision is "exact" for a full date, "relative" for a date computed from
        scrape_date, and "unknown" (with date None) when the text is empty, unreadable, or relative with no
        scrape date.
    """
    raw = unicodedata.normalize("NFKC", text or "").strip().casefold()
    if not raw:
        return None, "unknown"
    full = _FULL.match(raw)
    if full:
        found = _safe_date(int(full[1]), int(full[2]), int(full[3]))
        return (found, "exact") if found else (None, "unknown")
    if scrape_date is None:
        return None, "unknown"  # every other form needs the scrape date
    named = _NAMED.match(raw)
    if named:
        return scrape_date - timedelta(days=_DAYS_BACK[named[1]]), "relative"
    ago = _AGO.match(raw)
    if ago:
        amount, unit = int(ago[1]), ago[2]
        if unit in _UNIT_DAYS:
            return scrape_date - timedelta(days=amount * _UNIT_DAYS[unit]), "relative"
        hours = amount * _UNIT_HOURS[unit] if unit in _UNIT_HOURS else amount // 60
        return scrape_date - timedelta(days=hours // 24), "relative"
    month_day = _MONTH_DAY.match(raw)
    if month_day:
        month, day = int(month_day[1]), int(month_day[2])
        found = _safe_date(scrape_date.year, month, day)
        if found is not None and found > scrape_date:
            found = _safe_date(scrape_date.year - 1, month, day)  # a December date seen in January
        return (found, "relative") if found else (None, "unknown")
    return None, "unknown"


def infer_lagou_scrape_date(dates: Iterable[str]) -> date | None:
    """The day a Lagou search was scraped, from the post dates of its rows.

    Lagou shows `今天 HH:MM` for today, `昨天 HH:MM` for yesterday and an absolute date before
    that. When a file has both 今天 and 昨天 rows, the newest absolute date is the day before
    yesterday, so the scrape day is that date + 2 days. This is the earliest day consistent with the
    rows: it is exact only if something was posted the day before yesterday, which holds for the
    large files (a small file can give a day too early).

    Args:
        dates: the 发布日期 values of one file.

    Returns:
        The inferred scrape day, or None when the file lacks 今天 or 昨天 rows or any absolute date.
    """
    newest: date | None = None
    seen_today = seen_yesterday = False
    for text in dates:
        raw = unicodedata.normalize("NFKC", text or "").strip()
        seen_today = seen_today or raw.startswith("今天")
        seen_yesterday = seen_yesterday or raw.startswith("昨天")
        found, precision = parse_post_date(raw, None)
        if found is not None and precision == "exact" and (newest is None or found > newest):
            newest = found
    if newest is None or not (seen_today and seen_yesterday):
        return None
    return newest + timedelta(days=2)
