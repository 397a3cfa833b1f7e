"""Calendar time arithmetic, pure: parsing what the model writes, and finding free slots.

Naive times are wall-clock times in the user's zone; `zoneinfo` resolves them to instants (held in UTC),
so a day that gains or loses an hour (DST) has its real length. A wall time that does not exist (inside a
spring-forward gap) moves forward by the gap, as clocks do; an ambiguous one (autumn) is the first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from variet.shared.errors import VarietError

__all__ = [
    "TimeFormatError",
    "day_bounds",
    "free_slots",
    "local_iso",
    "parse_day_hours",
    "parse_when",
    "to_instant",
    "zone_named",
]


class TimeFormatError(VarietError):
    """A time, date, zone or hour range the model wrote cannot be understood."""


_EXAMPLES = "use ISO 8601 such as 2026-03-29T14:30, 2026-03-29T14:30:00+02:00 or 2026-03-29"


def zone_named(name: str) -> ZoneInfo:
    """The IANA zone `name`, or a `TimeFormatError` that says what a name looks like."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise TimeFormatError(f"unknown time zone {name!r}: use an IANA name such as Europe/Berlin") from None


def parse_when(text: str, zone: ZoneInfo) -> datetime | date:
    """A date (`2026-03-29`) or an aware datetime; a naive datetime is read as wall time in `zone`."""
    value = text.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise TimeFormatError(f"not a valid date: {text!r}; {_EXAMPLES}") from None
    try:
        parsed = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        raise TimeFormatError(f"not a valid time: {text!r}; {_EXAMPLES}") from None
    if parsed.tzinfo is None:
        return _wall(parsed, zone)
    return parsed


def _wall(naive: datetime, zone: ZoneInfo) -> datetime:
    # Instants are kept in UTC: Python subtracts and compares two datetimes that share one ZoneInfo by
    # wall clock, which is an hour off across a DST change. Display converts back (`local_iso`).
    return naive.replace(tzinfo=zone).astimezone(UTC)


def to_instant(value: datetime | date, zone: ZoneInfo, *, end_of_day: bool = False) -> datetime:
    """An aware datetime; a date means its local midnight, or the next one with `end_of_day`."""
    if isinstance(value, datetime):
        return value
    day = value + timedelta(days=1) if end_of_day else value
    return _wall(datetime.combine(day, time()), zone)


def local_iso(value: datetime, zone: ZoneInfo) -> str:
    """ISO 8601 in `zone` with its offset, to the second."""
    return value.astimezone(zone).replace(microsecond=0).isoformat()


def parse_day_hours(text: str) -> tuple[time, time | None]:
    """`09:00-18:00` as (start, end); an end of `24:00` is None (midnight at the end of the day)."""
    match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", text)
    if not match:
        raise TimeFormatError(f"day_hours must look like 09:00-18:00 (or 00:00-24:00 for any time), got {text!r}")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2):
        raise TimeFormatError(f"day_hours has an impossible time: {text!r}")
    start = time(h1, m1)
    end = None if h2 == 24 else time(h2, m2)
    if end is not None and end <= start:
        raise TimeFormatError(f"day_hours must end after it starts: {text!r}")
    return start, end


def day_bounds(day: date, hours: tuple[time, time | None], zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The instants a local day's hours start and end (a DST day is 23 or 25 hours long)."""
    start, end = hours
    first = _wall(datetime.combine(day, start), zone)
    last = (
        _wall(datetime.combine(day + timedelta(days=1), time()), zone)
        if end is None
        else _wall(datetime.combine(day, end), zone)
    )
    return first, last


def free_slots(
    busy: Iterable[tuple[datetime, datetime]],
    *,
    start: datetime,
    end: datetime,
    duration: timedelta,
    zone: ZoneInfo,
    hours: tuple[time, time | None],
) -> list[tuple[datetime, datetime]]:
    """Gaps of at least `duration` inside [start, end), within each local day's `hours`, avoiding `busy`."""
    merged: list[tuple[datetime, datetime]] = []
    for b_start, b_end in sorted(busy):
        if merged and b_start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b_end))
        else:
            merged.append((b_start, b_end))
    slots: list[tuple[datetime, datetime]] = []
    day = start.astimezone(zone).date()
    while True:
        day_start, day_end = day_bounds(day, hours, zone)
        if day_start >= end:
            break
        cursor, stop = max(start, day_start), min(end, day_end)
        for b_start, b_end in merged:
            if b_end <= cursor or b_start >= stop:
                continue
            if b_start - cursor >= duration:
                slots.append((cursor, b_start))
            cursor = max(cursor, b_end)
        if stop - cursor >= duration:
            slots.append((cursor, stop))
        day += timedelta(days=1)
    return slots
