"""Calendar time arithmetic: parsing what the model writes and finding free slots, across DST."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from variet.servers.calendar.times import (
    TimeFormatError,
    day_bounds,
    free_slots,
    local_iso,
    parse_day_hours,
    parse_when,
    to_instant,
    zone_named,
)

BERLIN = ZoneInfo("Europe/Berlin")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_naive_times_are_wall_times_in_the_users_zone() -> None:
    assert parse_when("2026-03-28T10:00", BERLIN) == at("2026-03-28T10:00:00+01:00")
    assert parse_when("2026-03-29T10:00", BERLIN) == at("2026-03-29T10:00:00+02:00")
    assert parse_when("2026-03-29T08:00:00Z", BERLIN) == at("2026-03-29T08:00:00+00:00")
    assert parse_when("2026-03-29", BERLIN) == date(2026, 3, 29)


def test_a_wall_time_inside_the_spring_gap_moves_forward_and_the_autumn_fold_takes_the_first() -> None:
    gap, fold = parse_when("2026-03-29T02:30", BERLIN), parse_when("2026-10-25T02:30", BERLIN)
    assert isinstance(gap, datetime) and isinstance(fold, datetime)
    assert local_iso(gap, BERLIN) == "2026-03-29T03:30:00+02:00"
    assert local_iso(fold, BERLIN) == "2026-10-25T02:30:00+02:00"


def test_dates_mean_local_midnights_and_dst_days_have_their_real_length() -> None:
    start = to_instant(date(2026, 3, 29), BERLIN)
    end = to_instant(date(2026, 3, 29), BERLIN, end_of_day=True)
    assert end - start == timedelta(hours=23)
    first, last = day_bounds(date(2026, 10, 25), (time(0), None), BERLIN)
    assert last - first == timedelta(hours=25)


@pytest.mark.parametrize("text", ["tomorrow", "2026-02-30", "29/03/2026", "2026-03-29T25:00"])
def test_unreadable_times_say_what_a_good_one_looks_like(text: str) -> None:
    with pytest.raises(TimeFormatError, match="ISO 8601"):
        parse_when(text, BERLIN)


def test_day_hours_and_zones_are_checked() -> None:
    assert parse_day_hours("9:00 - 17:30") == (time(9), time(17, 30))
    assert parse_day_hours("00:00-24:00") == (time(0), None)
    for bad in ("18:00-09:00", "9-5", "10:00-24:30"):
        with pytest.raises(TimeFormatError):
            parse_day_hours(bad)
    with pytest.raises(TimeFormatError, match="IANA"):
        zone_named("Mars/Olympus")


def test_free_slots_skip_busy_and_overlapping_periods_and_stay_within_hours() -> None:
    busy = [
        (at("2026-03-30T09:30+02:00"), at("2026-03-30T10:00+02:00")),
        (at("2026-03-30T09:45+02:00"), at("2026-03-30T11:00+02:00")),  # overlaps the first
        (at("2026-03-30T16:50+02:00"), at("2026-03-31T08:00+02:00")),  # runs past the evening
    ]
    slots = free_slots(
        busy,
        start=at("2026-03-30T00:00+02:00"),
        end=at("2026-04-01T00:00+02:00"),
        duration=timedelta(minutes=30),
        zone=BERLIN,
        hours=(time(9), time(17)),
    )
    assert [(local_iso(a, BERLIN), local_iso(b, BERLIN)) for a, b in slots] == [
        ("2026-03-30T09:00:00+02:00", "2026-03-30T09:30:00+02:00"),
        ("2026-03-30T11:00:00+02:00", "2026-03-30T16:50:00+02:00"),
        ("2026-03-31T09:00:00+02:00", "2026-03-31T17:00:00+02:00"),
    ]


def test_a_whole_dst_day_is_one_23_hour_slot() -> None:
    [(first, last)] = free_slots(
        [],
        start=to_instant(date(2026, 3, 29), BERLIN),
        end=to_instant(date(2026, 3, 29), BERLIN, end_of_day=True),
        duration=timedelta(hours=1),
        zone=BERLIN,
        hours=(time(0), None),
    )
    assert last - first == timedelta(hours=23)


def test_free_slots_start_no_earlier_than_the_window() -> None:
    slots = free_slots(
        [],
        start=at("2026-03-30T16:45+02:00"),
        end=at("2026-03-30T23:00+02:00"),
        duration=timedelta(minutes=30),
        zone=BERLIN,
        hours=(time(9), time(17)),
    )
    assert slots == []
