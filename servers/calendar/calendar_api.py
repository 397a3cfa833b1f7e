"""Google Calendar v3, as the calendar tools need it. No MCP here: plain async methods and result models.

Times go out as RFC 3339 with offsets and come back converted to the user's zone (`[google] timezone`,
else the primary calendar's zone). All-day events are written and reported with an inclusive last day.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from variet.servers.calendar.times import (
    TimeFormatError,
    free_slots,
    local_iso,
    parse_day_hours,
    parse_when,
    to_instant,
    zone_named,
)
from variet.servers.google import CALENDAR_EVENTS, GoogleApi
from variet.servers.kit.untrusted import UNTRUSTED_NOTICE, fence

__all__ = [
    "Attendee",
    "CalendarApi",
    "CalendarInfo",
    "CalendarList",
    "Event",
    "EventPage",
    "EventResult",
    "FreeSlot",
    "FreeTime",
    "SendUpdates",
]

SendUpdates = Literal["none", "all", "externalOnly"]

DEFAULT_DAYS = 7
MAX_FREE_TIME_DAYS = 62
MAX_SLOTS = 30


class CalendarInfo(BaseModel):
    id: str
    name: str
    primary: bool = False
    access_role: str = ""
    time_zone: str | None = None


class CalendarList(BaseModel):
    notice: str = UNTRUSTED_NOTICE
    time_zone: str = Field(description="The zone times are reported in.")
    calendars: list[CalendarInfo]


class Attendee(BaseModel):
    email: str
    name: str | None = None
    response: str | None = None
    organizer: bool = False


class Event(BaseModel):
    id: str
    calendar: str
    summary: str = ""
    start: str = Field(description="Local ISO time, or a date for all-day events.")
    end: str = Field(description="Local ISO time, or the last day (inclusive) for all-day events.")
    all_day: bool = False
    location: str | None = None
    description: str | None = Field(default=None, description="Fenced as untrusted text.")
    attendees: list[Attendee] = Field(default_factory=list)
    organizer: str | None = None
    status: str | None = None
    link: str | None = None
    recurring: bool = False


class EventResult(BaseModel):
    notice: str = UNTRUSTED_NOTICE
    time_zone: str
    event: Event


class EventPage(BaseModel):
    notice: str = UNTRUSTED_NOTICE
    time_zone: str
    time_min: str
    time_max: str
    events: list[Event]
    next_page_token: str | None = Field(default=None, description="Pass as page_token for more events.")


class FreeSlot(BaseModel):
    start: str
    end: str
    minutes: int


class FreeTime(BaseModel):
    time_zone: str
    window_start: str
    window_end: str
    day_hours: str
    slots: list[FreeSlot]
    more: bool = Field(default=False, description="True when more slots exist than are listed.")
    warnings: list[str] = Field(default_factory=list)


class CalendarApi:
    """Calendar operations over one `GoogleApi` (service `calendar`)."""

    def __init__(self, api: GoogleApi) -> None:
        self._api = api
        configured = api.settings.google.timezone
        self._zone: ZoneInfo | None = zone_named(configured) if configured else None

    async def aclose(self) -> None:
        """Nothing to close: each Google call opens and closes its own connection."""

    async def zone(self) -> ZoneInfo:
        """The user's zone: `[google] timezone`, else the primary calendar's (fetched once)."""
        if self._zone is None:
            primary = await self._api.call(lambda c: c.calendars().get(calendarId="primary"))
            self._zone = zone_named(primary.get("timeZone") or "UTC")
        return self._zone

    async def list_calendars(self) -> CalendarList:
        zone = await self.zone()
        items: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            # `call` builds the request before returning, so the loop variable is read in time.
            page = await self._api.call(lambda c: c.calendarList().list(maxResults=250, pageToken=token))  # noqa: B023
            items += page.get("items", [])
            token = page.get("nextPageToken")
            if not token:
                break
        calendars = [
            CalendarInfo(
                id=item["id"],
                name=item.get("summaryOverride") or item.get("summary") or item["id"],
                primary=bool(item.get("primary")),
                access_role=item.get("accessRole", ""),
                time_zone=item.get("timeZone"),
            )
            for item in items
        ]
        return CalendarList(time_zone=zone.key, calendars=calendars)

    async def list_events(
        self,
        *,
        time_min: str | None,
        time_max: str | None,
        query: str | None,
        calendar: str,
        max_results: int,
        page_token: str | None,
    ) -> EventPage:
        zone = await self.zone()
        start, end = self._window(time_min, time_max, zone)
        page = await self._api.call(
            lambda c: c.events().list(
                calendarId=calendar,
                timeMin=start.isoformat(),
                timeMax=end.isoformat(),
                q=query or None,
                singleEvents=True,
                orderBy="startTime",
                maxResults=max_results,
                pageToken=page_token or None,
                timeZone=zone.key,
            )
        )
        return EventPage(
            time_zone=zone.key,
            time_min=local_iso(start, zone),
            time_max=local_iso(end, zone),
            events=[_event(raw, calendar, zone) for raw in page.get("items", [])],
            next_page_token=page.get("nextPageToken"),
        )

    async def get_event(self, event_id: str, calendar: str) -> EventResult:
        zone = await self.zone()
        raw = await self._api.call(lambda c: c.events().get(calendarId=calendar, eventId=event_id))
        return EventResult(time_zone=zone.key, event=_event(raw, calendar, zone))

    async def find_free_time(
        self,
        *,
        duration_minutes: int,
        window_start: str | None,
        window_end: str | None,
        calendars: list[str],
        day_hours: str,
    ) -> FreeTime:
        zone = await self.zone()
        hours = parse_day_hours(day_hours)
        start, end = self._window(window_start, window_end, zone)
        if end - start > timedelta(days=MAX_FREE_TIME_DAYS):
            raise TimeFormatError(f"the window is longer than {MAX_FREE_TIME_DAYS} days: ask for a shorter one")
        body = {
            "timeMin": start.isoformat(),
            "timeMax": end.isoformat(),
            "timeZone": zone.key,
            "items": [{"id": cal} for cal in calendars],
        }
        answer = await self._api.call(lambda c: c.freebusy().query(body=body))
        busy: list[tuple[datetime, datetime]] = []
        warnings: list[str] = []
        for cal in calendars:
            entry = answer.get("calendars", {}).get(cal, {})
            for error in entry.get("errors", []):
                warnings.append(f"calendar {cal!r}: {error.get('reason', 'error')}; its busy times are unknown")
            for period in entry.get("busy", []):
                busy.append((datetime.fromisoformat(period["start"]), datetime.fromisoformat(period["end"])))
        found = free_slots(
            busy, start=start, end=end, duration=timedelta(minutes=duration_minutes), zone=zone, hours=hours
        )
        return FreeTime(
            time_zone=zone.key,
            window_start=local_iso(start, zone),
            window_end=local_iso(end, zone),
            day_hours=day_hours,
            slots=[
                FreeSlot(start=local_iso(a, zone), end=local_iso(b, zone), minutes=int((b - a).total_seconds() // 60))
                for a, b in found[:MAX_SLOTS]
            ],
            more=len(found) > MAX_SLOTS,
            warnings=warnings,
        )

    async def create_event(
        self,
        *,
        summary: str,
        start: str,
        end: str | None,
        description: str | None,
        location: str | None,
        attendees: list[str],
        calendar: str,
        send_updates: SendUpdates,
    ) -> EventResult:
        zone = await self.zone()
        first = parse_when(start, zone)
        last = parse_when(end, zone) if end else None
        body: dict[str, Any] = {"summary": summary, **_times(first, last, zone)}
        if description:
            body["description"] = description
        if location:
            body["location"] = location
        if attendees:
            body["attendees"] = [{"email": email} for email in attendees]
        raw = await self._api.call(
            lambda c: c.events().insert(calendarId=calendar, body=body, sendUpdates=send_updates),
            needs=CALENDAR_EVENTS,
        )
        return EventResult(time_zone=zone.key, event=_event(raw, calendar, zone))

    async def update_event(
        self,
        *,
        event_id: str,
        calendar: str,
        summary: str | None,
        start: str | None,
        end: str | None,
        description: str | None,
        location: str | None,
        attendees: list[str] | None,
        send_updates: SendUpdates,
    ) -> EventResult:
        zone = await self.zone()
        patch: dict[str, Any] = {}
        if start or end:
            current = await self._api.call(lambda c: c.events().get(calendarId=calendar, eventId=event_id))
            old_start, old_end = _bounds(current)
            first = parse_when(start, zone) if start else old_start
            last = parse_when(end, zone) if end else _keep_length(first, old_start, old_end)
            patch.update(_times(first, last, zone))
        for key, value in (("summary", summary), ("description", description), ("location", location)):
            if value is not None:
                patch[key] = value
        if attendees is not None:
            patch["attendees"] = [{"email": email} for email in attendees]
        raw = await self._api.call(
            lambda c: c.events().patch(calendarId=calendar, eventId=event_id, body=patch, sendUpdates=send_updates),
            needs=CALENDAR_EVENTS,
        )
        return EventResult(time_zone=zone.key, event=_event(raw, calendar, zone))

    async def describe_for_delete(self, event_id: str, calendar: str) -> tuple[str, str]:
        """What deleting would remove, for the user to confirm, and a fingerprint of that event version."""
        event = await self._api.call(lambda c: c.events().get(calendarId=calendar, eventId=event_id))
        zone = await self.zone()
        shown = _event(event, calendar, zone)
        people = len(shown.attendees)
        text = (
            f"Delete the event {shown.summary or '(no title)'!r} ({shown.start} to {shown.end}, "
            f"calendar {calendar!r}{f', {people} attendees' if people else ''})?"
        )
        version = f"{calendar}\n{event_id}\n{event.get('etag', '')}\n{event.get('updated', '')}"
        return text, hashlib.sha256(version.encode()).hexdigest()

    async def delete_event(self, event_id: str, calendar: str, send_updates: SendUpdates) -> None:
        await self._api.call(
            lambda c: c.events().delete(calendarId=calendar, eventId=event_id, sendUpdates=send_updates),
            needs=CALENDAR_EVENTS,
        )

    @staticmethod
    def _window(first: str | None, last: str | None, zone: ZoneInfo) -> tuple[datetime, datetime]:
        start = to_instant(parse_when(first, zone), zone) if first else datetime.now(UTC).replace(microsecond=0)
        end = (
            to_instant(parse_when(last, zone), zone, end_of_day=True) if last else start + timedelta(days=DEFAULT_DAYS)
        )
        if end <= start:
            raise TimeFormatError(f"the end ({local_iso(end, zone)}) is not after the start ({local_iso(start, zone)})")
        return start, end


def _times(first: datetime | date, last: datetime | date | None, zone: ZoneInfo) -> dict[str, Any]:
    """Event `start`/`end` bodies; a date start makes an all-day event (`last` is its inclusive last day)."""
    if isinstance(first, datetime):
        stop = last if last is not None else first + timedelta(hours=1)
        if not isinstance(stop, datetime):
            stop = to_instant(stop, zone, end_of_day=True)
        if stop <= first:
            raise TimeFormatError("the event must end after it starts")
        return {
            "start": {"dateTime": local_iso(first, zone), "timeZone": zone.key},
            "end": {"dateTime": local_iso(stop, zone), "timeZone": zone.key},
        }
    final = last.astimezone(zone).date() if isinstance(last, datetime) else (last or first)
    if final < first:
        raise TimeFormatError("an all-day event's last day cannot be before its first")
    return {"start": {"date": first.isoformat()}, "end": {"date": (final + timedelta(days=1)).isoformat()}}


def _bounds(raw: dict[str, Any]) -> tuple[datetime | date, datetime | date]:
    """An event's start and end: instants with the API's offsets, or all-day dates with an inclusive end."""
    start, end = raw.get("start", {}), raw.get("end", {})
    if "date" in start:
        return date.fromisoformat(start["date"]), date.fromisoformat(end["date"]) - timedelta(days=1)
    return datetime.fromisoformat(start["dateTime"]), datetime.fromisoformat(end["dateTime"])


def _keep_length(
    first: datetime | date, old_start: datetime | date, old_end: datetime | date
) -> datetime | date | None:
    """The end that keeps an event's length when its start moves to `first`; None if timed became all-day."""
    if isinstance(first, datetime) and isinstance(old_start, datetime) and isinstance(old_end, datetime):
        return first + (old_end - old_start)
    if not isinstance(first, datetime) and not isinstance(old_start, datetime) and not isinstance(old_end, datetime):
        return first + (old_end - old_start)
    return None


def _event(raw: dict[str, Any], calendar: str, zone: ZoneInfo) -> Event:
    start, end = _bounds(raw)
    all_day = not isinstance(start, datetime)

    def show(value: datetime | date) -> str:
        return local_iso(value, zone) if isinstance(value, datetime) else value.isoformat()

    description = raw.get("description")
    return Event(
        id=raw["id"],
        calendar=calendar,
        summary=raw.get("summary", ""),
        start=show(start),
        end=show(end),
        all_day=all_day,
        location=raw.get("location"),
        description=fence(description, f"calendar event {raw['id']}") if description else None,
        attendees=[
            Attendee(
                email=person.get("email", ""),
                name=person.get("displayName"),
                response=person.get("responseStatus"),
                organizer=bool(person.get("organizer")),
            )
            for person in raw.get("attendees", [])
        ],
        organizer=raw.get("organizer", {}).get("email"),
        status=raw.get("status"),
        link=raw.get("htmlLink"),
        recurring=bool(raw.get("recurringEventId") or raw.get("recurrence")),
    )
