//! Cron schedules in a time zone: which dialect a `schedule` is read in, and its due
//! times.
//!
//! Three forms are accepted, told apart by the number of fields:
//!
//! - 6 or 7 fields, seconds first, an optional year last: Quartz, the original
//!   platform's dialect (`0 0/15 * * * ?`; days of week 1–7 from Sunday, `?`, `L`, `W`,
//!   `#`). A seconds field of `*` (every second) is refused, as the original does.
//! - 5 fields: the Unix form (`*/15 * * * *`; days of week 0–7 from Sunday).
//! - `@yearly` (`@annually`), `@monthly`, `@weekly`, `@daily`, `@hourly`: the Unix
//!   meanings (midnight of the first of January, of the first of the month, of Sunday,
//!   every midnight, every hour at minute 0), in the trigger's time zone.
//!
//! Due times are civil times of the zone (an IANA name, `UTC` by default): `0 0 2 * * ?`
//! in `Europe/Rome` fires at 02:00 Rome time, whatever the offset that day. A civil
//! time skipped by a daylight-saving jump fires at the first instant after it; one that
//! repeats fires once (croner's rules).

use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use jiff::tz::TimeZone;
use time::OffsetDateTime;

/// A parsed schedule and the zone its civil times are read in.
#[derive(Clone, Debug)]
pub(crate) struct Schedule {
    cron: Cron,
    zone: TimeZone,
}

/// The zone when a trigger names none.
pub(crate) const DEFAULT_ZONE: &str = "UTC";

impl Schedule {
    /// Reads `text` (see the module docs) in zone `zone`. A bad schedule or an unknown
    /// zone is an error naming what is wrong, for the field it came from; which field
    /// is said by [`Refusal`].
    pub(crate) fn parse(text: &str, zone: &str) -> Result<Schedule, Refusal> {
        let zone = TimeZone::get(zone).map_err(|error| {
            Refusal::Zone(format!(
                "{zone:?} is not a time zone of the IANA database ({error}); e.g. UTC, Europe/Rome"
            ))
        })?;
        let text = text.trim();
        let fields: Vec<&str> = text.split_whitespace().collect();
        let parser = match fields.len() {
            1 if text.starts_with('@') => unix(),
            5 => unix(),
            6 | 7 if fields[0] == "*" => {
                return Err(Refusal::Schedule(format!(
                    "{text:?} fires every second (its seconds field is `*`); give the seconds \
                     it fires at (`0`, `*/5`)"
                )));
            }
            6 | 7 => CronParser::builder()
                .seconds(Seconds::Required)
                .year(Year::Optional)
                .alternative_weekdays(true)
                // Quartz writes `0/15` for "every 15 from 0".
                .sloppy_ranges(true)
                .build(),
            count => {
                return Err(Refusal::Schedule(format!(
                    "{text:?} has {count} fields: a cron schedule has 6 or 7 (Quartz, seconds \
                     first: `0 0/15 * * * ?`) or 5 (Unix: `*/15 * * * *`), or is @hourly, \
                     @daily, @weekly, @monthly or @yearly"
                )));
            }
        };
        let cron = parser.parse(text).map_err(|error| {
            Refusal::Schedule(format!("{text:?} is not a valid cron schedule: {error}"))
        })?;
        let schedule = Schedule { cron, zone };
        // A pattern that never matches (the 30th of February) has no due time.
        schedule
            .after(OffsetDateTime::now_utc())
            .map_err(Refusal::Schedule)?;
        Ok(schedule)
    }

    /// The first due time strictly after `at`.
    pub(crate) fn after(&self, at: OffsetDateTime) -> Result<OffsetDateTime, String> {
        self.find(at, true)
    }

    /// The last due time at `at` or before it.
    pub(crate) fn at_or_before(&self, at: OffsetDateTime) -> Result<OffsetDateTime, String> {
        self.find(at, false)
    }

    /// The first due time after `at` (`forward`), or the last at or before it.
    fn find(&self, at: OffsetDateTime, forward: bool) -> Result<OffsetDateTime, String> {
        let zoned = self.zoned(at)?;
        let found = if forward {
            self.cron.find_next_occurrence(&zoned, false)
        } else {
            self.cron.find_previous_occurrence(&zoned, true)
        };
        let found =
            found.map_err(|error| format!("the schedule has no due time near {at}: {error}"))?;
        instant(&found)
    }

    fn zoned(&self, at: OffsetDateTime) -> Result<jiff::Zoned, String> {
        let timestamp = jiff::Timestamp::from_nanosecond(at.unix_timestamp_nanos())
            .map_err(|error| format!("{at} is out of range: {error}"))?;
        Ok(timestamp.to_zoned(self.zone.clone()))
    }
}

/// Which field of the spec a schedule was refused for, and why.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Refusal {
    /// `spec.schedule`.
    Schedule(String),
    /// `spec.timezone`.
    Zone(String),
}

/// The parser of the 5-field Unix form and the `@` shorthands.
fn unix() -> CronParser {
    CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build()
}

/// The instant of a zoned time.
fn instant(zoned: &jiff::Zoned) -> Result<OffsetDateTime, String> {
    OffsetDateTime::from_unix_timestamp_nanos(zoned.timestamp().as_nanosecond())
        .map_err(|error| format!("{zoned} is out of range: {error}"))
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn after(text: &str, zone: &str, at: OffsetDateTime) -> OffsetDateTime {
        Schedule::parse(text, zone).unwrap().after(at).unwrap()
    }

    #[test]
    fn quartz_unix_and_shorthands_agree_on_their_due_times() {
        let at = datetime!(2030-03-14 10:07:30 UTC);
        assert_eq!(
            after("0 0/15 * * * ?", "UTC", at),
            datetime!(2030-03-14 10:15:00 UTC)
        );
        assert_eq!(
            after("*/15 * * * *", "UTC", at),
            datetime!(2030-03-14 10:15:00 UTC)
        );
        assert_eq!(
            after("*/2 * * * * ?", "UTC", at),
            datetime!(2030-03-14 10:07:32 UTC)
        );
        assert_eq!(after("@hourly", "UTC", at), datetime!(2030-03-14 11:00 UTC));
        assert_eq!(after("@daily", "UTC", at), datetime!(2030-03-15 00:00 UTC));
        // Quartz counts days of week from Sunday = 1; Unix from Sunday = 0.
        // 2030-03-14 is a Thursday: Friday is 6 in Quartz, 5 in Unix.
        assert_eq!(
            after("0 0 9 ? * 6", "UTC", at),
            datetime!(2030-03-15 09:00 UTC)
        );
        assert_eq!(
            after("0 9 * * 5", "UTC", at),
            datetime!(2030-03-15 09:00 UTC)
        );
        assert_eq!(
            after("0 0 12 * * ? 2031", "UTC", at),
            datetime!(2031-01-01 12:00 UTC)
        );
    }

    #[test]
    fn due_times_are_civil_times_of_the_zone() {
        // 02:00 in Rome is 01:00 UTC in winter and 00:00 UTC in summer.
        let winter = datetime!(2030-01-10 12:00 UTC);
        assert_eq!(
            after("0 0 2 * * ?", "Europe/Rome", winter),
            datetime!(2030-01-11 01:00 UTC)
        );
        let summer = datetime!(2030-07-10 12:00 UTC);
        assert_eq!(
            after("0 2 * * *", "Europe/Rome", summer),
            datetime!(2030-07-11 00:00 UTC)
        );
        let schedule = Schedule::parse("*/2 * * * * ?", "UTC").unwrap();
        assert_eq!(
            schedule
                .at_or_before(datetime!(2030-01-01 00:00:03.5 UTC))
                .unwrap(),
            datetime!(2030-01-01 00:00:02 UTC)
        );
        assert_eq!(
            schedule
                .at_or_before(datetime!(2030-01-01 00:00:04 UTC))
                .unwrap(),
            datetime!(2030-01-01 00:00:04 UTC)
        );
    }

    #[test]
    fn bad_schedules_and_zones_are_refused_with_the_reason() {
        let schedule = |text: &str| match Schedule::parse(text, "UTC") {
            Err(Refusal::Schedule(message)) => message,
            other => panic!("{text}: {other:?}"),
        };
        assert!(schedule("every day").contains("has 2 fields"));
        assert!(schedule("* * * * * ?").contains("fires every second"));
        assert!(schedule("0 61 * * * ?").contains("not a valid cron schedule"));
        assert!(schedule("0 0 30 2 *").contains("no due time"));
        assert!(schedule("@fortnightly").contains("not a valid cron schedule"));
        match Schedule::parse("@daily", "Mars/Olympus") {
            Err(Refusal::Zone(message)) => assert!(message.contains("Mars/Olympus")),
            other => panic!("{other:?}"),
        }
    }
}
