//! A MaintenanceWindow's times: a 5-field cron schedule in an IANA time zone with a duration, and
//! one-off windows. Pure: it answers questions about instants (`window_at`, `next`, `is_open`) and
//! never reads a clock. Cron occurrences come from croner, time zones (with their daylight-saving
//! rules, from a bundled database) from jiff: no calendar arithmetic here.
//!
//! Daylight saving: a window whose local start time does not exist that day (the clock jumps over
//! it) starts at the next valid instant; one whose local start exists twice starts once, at the
//! first.

use croner::Cron;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use crate::api::common::parse_duration;
use crate::api::maintenance_window::MaintenanceWindowSpec;
use crate::validate::FieldError;

/// CloudWatch alarm mute rules last 1 minute to 15 days.
pub const MIN_WINDOW_SECONDS: i64 = 60;
pub const MAX_WINDOW_SECONDS: i64 = 15 * 86_400;

/// How far ahead a schedule is searched for its next window; a schedule with none in this time
/// (`0 2 30 2 *`) can never fire.
const HORIZON_DAYS: i64 = 5 * 366;

/// One window: open from `start` (inclusive) to `end` (exclusive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub start: Timestamp,
    pub end: Timestamp,
    pub reason: Option<String>,
}

impl Window {
    pub fn covers(&self, now: Timestamp) -> bool {
        self.start <= now && now < self.end
    }
}

/// The recurring part of a schedule.
#[derive(Debug, Clone)]
pub struct Recurring {
    cadence: Cadence,
    /// The IANA name of `zone`, as CloudWatch takes it.
    pub zone_name: String,
    pub duration: SignedDuration,
    /// The schedule as a CloudWatch mute rule expression: `cron(M H DoM Mon DoW)`.
    pub expression: String,
}

/// Every window of a MaintenanceWindow.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub recurring: Option<Recurring>,
    pub one_off: Vec<Window>,
}

impl Schedule {
    /// The schedule of a spec, or every problem with it, each naming its field.
    pub fn parse(spec: &MaintenanceWindowSpec) -> Result<Schedule, Vec<FieldError>> {
        let mut problems = Vec::new();
        let zone_name = spec.time_zone.clone().unwrap_or_else(|| "UTC".into());
        let zone = match TimeZone::get(&zone_name) {
            Ok(zone) => Some(zone),
            Err(_) => {
                problems.push(FieldError::new(
                    "spec.timeZone",
                    format!(
                        "{zone_name:?} is not an IANA time zone name (e.g. UTC, Europe/Berlin)"
                    ),
                ));
                None
            }
        };
        let recurring = match (&spec.schedule, &spec.duration) {
            (Some(schedule), Some(duration)) => {
                let expression = cloudwatch_cron(schedule)
                    .map_err(|message| problems.push(FieldError::new("spec.schedule", message)))
                    .ok();
                let cron = schedule
                    .parse::<Cron>()
                    .map_err(|err| {
                        problems.push(FieldError::new(
                            "spec.schedule",
                            format!("{schedule:?} is not a valid cron schedule: {err}"),
                        ))
                    })
                    .ok();
                let duration = window_duration(duration)
                    .map_err(|message| problems.push(FieldError::new("spec.duration", message)))
                    .ok();
                match (cron, expression, duration, zone.clone()) {
                    (Some(cron), Some(expression), Some(duration), Some(zone)) => Some(Recurring {
                        cadence: Cadence { cron, zone },
                        zone_name: zone_name.clone(),
                        duration,
                        expression,
                    }),
                    _ => None,
                }
            }
            _ => None,
        };
        let mut one_off = Vec::new();
        for (i, window) in spec.windows.iter().enumerate() {
            let (start, end) = (window.start.0, window.end.0);
            let seconds = end.as_second() - start.as_second();
            if start.subsec_nanosecond() != 0 || start.as_second() % 60 != 0 {
                problems.push(FieldError::new(
                    format!("spec.windows[{i}].start"),
                    "must be a whole minute (CloudWatch mute rules start on the minute)",
                ));
            } else if seconds % 60 != 0 || end.subsec_nanosecond() != 0 {
                problems.push(FieldError::new(
                    format!("spec.windows[{i}].end"),
                    "must be a whole number of minutes after start",
                ));
            } else if !(MIN_WINDOW_SECONDS..=MAX_WINDOW_SECONDS).contains(&seconds) {
                problems.push(FieldError::new(
                    format!("spec.windows[{i}].end"),
                    "a window lasts 1 minute to 15 days (the range of CloudWatch mute rules)",
                ));
            } else {
                one_off.push(Window {
                    start,
                    end,
                    reason: window.reason.clone(),
                });
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let schedule = Schedule { recurring, one_off };
        if let Some(recurring) = &schedule.recurring {
            // Any instant will do to ask whether the schedule ever fires: use the Unix epoch's
            // horizon from a fixed, recent instant so the answer never depends on a clock.
            let probe = Timestamp::from_second(1_767_225_600).unwrap_or(Timestamp::UNIX_EPOCH);
            if recurring.next_start(probe).is_none() {
                return Err(vec![FieldError::new(
                    "spec.schedule",
                    format!(
                        "{:?} never fires (no matching day in five years)",
                        spec.schedule.as_deref().unwrap_or_default()
                    ),
                )]);
            }
        }
        Ok(schedule)
    }

    /// The window open at `now`, if any (of several, the one that closes last).
    pub fn window_at(&self, now: Timestamp) -> Option<Window> {
        let recurring = self.recurring.as_ref().and_then(|r| {
            let start = r.last_start(now)?;
            let window = r.window(start)?;
            window.covers(now).then_some(window)
        });
        recurring
            .into_iter()
            .chain(self.one_off.iter().filter(|w| w.covers(now)).cloned())
            .max_by_key(|w| w.end)
    }

    /// Whether a window is open at `now`.
    pub fn is_open(&self, now: Timestamp) -> bool {
        self.window_at(now).is_some()
    }

    /// The next window that starts after `now`.
    pub fn next(&self, now: Timestamp) -> Option<Window> {
        let recurring = self
            .recurring
            .as_ref()
            .and_then(|r| r.window(r.next_start(now)?));
        recurring
            .into_iter()
            .chain(self.one_off.iter().filter(|w| w.start > now).cloned())
            .min_by_key(|w| w.start)
    }

    /// The next instant at which the window opens or closes: when to look again.
    pub fn next_boundary(&self, now: Timestamp) -> Option<Timestamp> {
        let closes = self.window_at(now).map(|w| w.end);
        let opens = self.next(now).map(|w| w.start);
        closes.into_iter().chain(opens).min()
    }

    /// One-off windows that have not ended at `now`.
    pub fn pending_one_off(&self, now: Timestamp) -> impl Iterator<Item = &Window> {
        self.one_off.iter().filter(move |w| w.end > now)
    }
}

/// A 5-field cron schedule in a time zone: when it fires (a window opens, a drill is due).
#[derive(Debug, Clone)]
pub struct Cadence {
    cron: Cron,
    zone: TimeZone,
}

impl Cadence {
    /// `schedule` in `time_zone` (default UTC); the error says which part is wrong.
    pub fn parse(schedule: &str, time_zone: Option<&str>) -> Result<Cadence, String> {
        let zone_name = time_zone.unwrap_or("UTC");
        let zone = TimeZone::get(zone_name).map_err(|_| {
            format!("{zone_name:?} is not an IANA time zone name (e.g. UTC, Europe/Berlin)")
        })?;
        let cron = schedule
            .parse::<Cron>()
            .map_err(|err| format!("{schedule:?} is not a valid cron schedule: {err}"))?;
        Ok(Cadence { cron, zone })
    }

    /// The first occurrence strictly after `now` (within five years).
    pub fn next_after(&self, now: Timestamp) -> Option<Timestamp> {
        let from = now.to_zoned(self.zone.clone());
        let next = self.cron.find_next_occurrence(&from, false).ok()?;
        let horizon = now
            .checked_add(SignedDuration::from_hours(24 * HORIZON_DAYS))
            .ok()?;
        let start = next.timestamp();
        (start <= horizon).then_some(start)
    }

    /// The last occurrence at or before `now`.
    pub fn last_at_or_before(&self, now: Timestamp) -> Option<Timestamp> {
        let from = now.to_zoned(self.zone.clone());
        self.cron
            .find_previous_occurrence(&from, true)
            .ok()
            .map(|z| z.timestamp())
    }
}

impl Recurring {
    fn next_start(&self, now: Timestamp) -> Option<Timestamp> {
        self.cadence.next_after(now)
    }

    fn last_start(&self, now: Timestamp) -> Option<Timestamp> {
        self.cadence.last_at_or_before(now)
    }

    fn window(&self, start: Timestamp) -> Option<Window> {
        Some(Window {
            start,
            end: start.checked_add(self.duration).ok()?,
            reason: None,
        })
    }
}

/// A window's duration: `2h`, `90m`, whole minutes from 1 minute to 15 days.
fn window_duration(text: &str) -> Result<SignedDuration, String> {
    let seconds = parse_duration(text)
        .ok_or_else(|| format!("{text:?} is not a duration like 30m, 2h or 1h30m"))?;
    let seconds = i64::try_from(seconds).map_err(|_| format!("{text:?} is too long"))?;
    if seconds % 60 != 0 {
        return Err(format!(
            "{text:?} must be whole minutes (CloudWatch mute rules count in minutes)"
        ));
    }
    if !(MIN_WINDOW_SECONDS..=MAX_WINDOW_SECONDS).contains(&seconds) {
        return Err(format!(
            "{text:?} must be between 1 minute and 15 days (the range of CloudWatch mute rules)"
        ));
    }
    Ok(SignedDuration::from_secs(seconds))
}

/// An ISO 8601 duration as CloudWatch mute rules take it: `PT2H`, `PT90M` as `PT1H30M`, `P1DT12H`.
pub fn iso_duration(duration: SignedDuration) -> String {
    let minutes = duration.as_secs() / 60;
    let (days, hours, minutes) = (minutes / 1440, (minutes % 1440) / 60, minutes % 60);
    let mut text = String::from("P");
    if days > 0 {
        text.push_str(&format!("{days}D"));
    }
    if hours > 0 || minutes > 0 {
        text.push('T');
        if hours > 0 {
            text.push_str(&format!("{hours}H"));
        }
        if minutes > 0 {
            text.push_str(&format!("{minutes}M"));
        }
    }
    text
}

/// A one-off window's start as a mute rule expression, in UTC: `at(2026-12-26T01:00)`.
pub fn at_expression(start: Timestamp) -> String {
    format!("at({})", start.strftime("%Y-%m-%dT%H:%M"))
}

const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];

/// The 5-field cron schedule as a CloudWatch mute rule expression: steps (`*/15`) expanded into
/// the lists CloudWatch accepts, days of the week as names (cron counts them from 0, CloudWatch's
/// own cron from 1: names are the same in both). What CloudWatch does not document (`L`, `W`, `#`,
/// `?`), and day-of-month with day-of-week both restricted (cron ORs them; other systems AND
/// them), are errors.
pub fn cloudwatch_cron(schedule: &str) -> Result<String, String> {
    let fields: Vec<&str> = schedule.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!(
            "{schedule:?} has {} fields; use 5: minute hour day-of-month month day-of-week",
            fields.len()
        ));
    }
    let specs: [(&str, u32, u32, &[&str]); 5] = [
        ("minute", 0, 59, &[]),
        ("hour", 0, 23, &[]),
        ("day-of-month", 1, 31, &[]),
        ("month", 1, 12, &MONTHS),
        ("day-of-week", 0, 7, &DAYS),
    ];
    if fields[2] != "*" && fields[4] != "*" {
        return Err(format!(
            "{schedule:?} restricts both day-of-month and day-of-week; cron means either, CloudWatch could read both: restrict one and set the other to *"
        ));
    }
    let mut out = Vec::new();
    for (field, (name, min, max, names)) in fields.iter().zip(specs) {
        out.push(cloudwatch_field(field, name, min, max, names)?);
    }
    Ok(format!("cron({})", out.join(" ")))
}

fn cloudwatch_field(
    field: &str,
    name: &str,
    min: u32,
    max: u32,
    names: &[&str],
) -> Result<String, String> {
    if let Some(bad) = field.chars().find(|c| matches!(c, 'L' | 'W' | '#' | '?')) {
        return Err(format!(
            "{name} {field:?}: {bad:?} is not supported by CloudWatch mute rules; use numbers, names, ranges (a-b), lists (a,b) and steps (*/n)"
        ));
    }
    let value = |text: &str| -> Result<u32, String> {
        if let Ok(number) = text.parse::<u32>() {
            return Ok(number);
        }
        names
            .iter()
            .position(|n| n.eq_ignore_ascii_case(text))
            .map(|i| i as u32 + if name == "month" { 1 } else { 0 })
            .ok_or_else(|| format!("{name} {field:?}: {text:?} is not a number or a name"))
    };
    let is_days = name == "day-of-week";
    let show = |n: u32| -> String {
        if is_days {
            DAYS[(n % 7) as usize].to_string()
        } else {
            n.to_string()
        }
    };
    let mut parts = Vec::new();
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => {
                let step: u32 = step.parse().ok().filter(|s| *s > 0).ok_or_else(|| {
                    format!("{name} {field:?}: the step {step:?} is not a positive number")
                })?;
                (range, Some(step))
            }
            None => (part, None),
        };
        let (low, high) = match range {
            "*" => (min, max),
            _ => match range.split_once('-') {
                Some((a, b)) => (value(a)?, value(b)?),
                None => {
                    let v = value(range)?;
                    (v, if step.is_some() { max } else { v })
                }
            },
        };
        if low < min || high > max || low > high {
            return Err(format!(
                "{name} {field:?}: {range:?} is outside {min}-{max}"
            ));
        }
        match step {
            Some(step) => parts.extend((low..=high).step_by(step as usize).map(show)),
            None if range == "*" => parts.push("*".to_string()),
            None if low == high => parts.push(show(low)),
            None => parts.push(format!("{}-{}", show(low), show(high))),
        }
    }
    if is_days {
        // 7 is Sunday too; say each day once.
        let mut seen = Vec::new();
        parts.retain(|p| {
            let fresh = !seen.contains(p);
            seen.push(p.clone());
            fresh
        });
    }
    Ok(parts.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::maintenance_window::OneOffWindow;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn ts(text: &str) -> Timestamp {
        text.parse().expect("timestamp")
    }

    fn spec(schedule: &str, zone: &str, duration: &str) -> MaintenanceWindowSpec {
        serde_json::from_value(serde_json::json!({
            "schedule": schedule, "timeZone": zone, "duration": duration,
            "suppress": {"alarmPolicySelector": {"matchLabels": {"tier": "prod"}}},
        }))
        .expect("spec")
    }

    fn schedule(schedule: &str, zone: &str, duration: &str) -> Schedule {
        Schedule::parse(&spec(schedule, zone, duration)).expect("valid schedule")
    }

    /// The runbook as a table: schedule, zone, at this instant -> open?, next start.
    #[test]
    fn windows_in_real_time_zones_with_daylight_saving() {
        let cases = [
            // Sundays 02:00-04:00 New York: EST (UTC-5) in winter.
            (
                "0 2 * * SUN",
                "America/New_York",
                "2h",
                "2026-12-06T06:30:00Z",
                false,
                "2026-12-06T07:00:00Z",
            ),
            (
                "0 2 * * SUN",
                "America/New_York",
                "2h",
                "2026-12-06T07:30:00Z",
                true,
                "2026-12-13T07:00:00Z",
            ),
            (
                "0 2 * * SUN",
                "America/New_York",
                "2h",
                "2026-12-06T09:00:00Z",
                false,
                "2026-12-13T07:00:00Z",
            ),
            // EDT (UTC-4) in summer.
            (
                "0 2 * * SUN",
                "America/New_York",
                "2h",
                "2026-07-01T00:00:00Z",
                false,
                "2026-07-05T06:00:00Z",
            ),
            // 02:30 does not exist on 2026-03-08 in New York (02:00 -> 03:00): the window starts at
            // the next valid instant, 03:00 EDT = 07:00Z.
            (
                "30 2 * * *",
                "America/New_York",
                "1h",
                "2026-03-08T06:00:00Z",
                false,
                "2026-03-08T07:00:00Z",
            ),
            // 01:30 exists twice on 2026-11-01 in New York (02:00 -> 01:00): it starts once, the
            // first time (01:30 EDT = 05:30Z), not again at 06:30Z.
            (
                "30 1 * * *",
                "America/New_York",
                "30m",
                "2026-11-01T05:00:00Z",
                false,
                "2026-11-01T05:30:00Z",
            ),
            (
                "30 1 * * *",
                "America/New_York",
                "30m",
                "2026-11-01T05:45:00Z",
                true,
                "2026-11-02T06:30:00Z",
            ),
            // Berlin: 02:30 does not exist on 2026-03-29 (02:00 -> 03:00 CEST = 01:00Z).
            (
                "30 2 * * *",
                "Europe/Berlin",
                "1h",
                "2026-03-29T00:00:00Z",
                false,
                "2026-03-29T01:00:00Z",
            ),
            // Berlin: 02:30 exists twice on 2026-10-25 (03:00 CEST -> 02:00 CET): once, at 00:30Z.
            (
                "30 2 * * *",
                "Europe/Berlin",
                "15m",
                "2026-10-25T00:00:00Z",
                false,
                "2026-10-25T00:30:00Z",
            ),
            (
                "30 2 * * *",
                "Europe/Berlin",
                "15m",
                "2026-10-25T00:50:00Z",
                false,
                "2026-10-26T01:30:00Z",
            ),
            // A window longer than a day spans midnight; steps are fine.
            (
                "*/15 * * * *",
                "UTC",
                "5m",
                "2026-01-01T00:16:00Z",
                true,
                "2026-01-01T00:30:00Z",
            ),
            (
                "*/15 * * * *",
                "UTC",
                "5m",
                "2026-01-01T00:21:00Z",
                false,
                "2026-01-01T00:30:00Z",
            ),
            (
                "0 22 * * FRI",
                "UTC",
                "48h",
                "2026-01-04T12:00:00Z",
                true,
                "2026-01-09T22:00:00Z",
            ),
        ];
        for (cron, zone, duration, now, open, next) in cases {
            let schedule = schedule(cron, zone, duration);
            let now = ts(now);
            assert_eq!(schedule.is_open(now), open, "{cron} {zone} at {now}");
            assert_eq!(
                schedule.next(now).map(|w| w.start),
                Some(ts(next)),
                "{cron} {zone} after {now}"
            );
        }
    }

    #[test]
    fn the_current_window_and_the_next_boundary() {
        let schedule = schedule("0 2 * * SUN", "America/New_York", "2h");
        let now = ts("2026-12-06T07:30:00Z");
        let window = schedule.window_at(now).expect("open");
        assert_eq!(
            (window.start, window.end),
            (ts("2026-12-06T07:00:00Z"), ts("2026-12-06T09:00:00Z"))
        );
        assert_eq!(
            schedule.next_boundary(now),
            Some(ts("2026-12-06T09:00:00Z"))
        );
        assert_eq!(
            schedule.next_boundary(ts("2026-12-06T10:00:00Z")),
            Some(ts("2026-12-13T07:00:00Z"))
        );
    }

    #[test]
    fn one_off_windows_open_and_expire() {
        let mut spec = spec("0 2 * * SUN", "UTC", "1h");
        spec.windows = vec![OneOffWindow {
            start: Time(ts("2026-12-26T01:00:00Z")),
            end: Time(ts("2026-12-26T05:00:00Z")),
            reason: Some("CHG-4711".into()),
        }];
        let schedule = Schedule::parse(&spec).expect("valid");
        assert!(schedule.is_open(ts("2026-12-26T04:59:00Z")));
        assert!(!schedule.is_open(ts("2026-12-26T05:00:00Z")));
        assert_eq!(
            schedule
                .window_at(ts("2026-12-26T02:00:00Z"))
                .and_then(|w| w.reason),
            Some("CHG-4711".into())
        );
        assert_eq!(
            schedule.pending_one_off(ts("2026-12-27T00:00:00Z")).count(),
            0
        );
        assert_eq!(
            schedule.next(ts("2026-12-25T00:00:00Z")).map(|w| w.start),
            Some(ts("2026-12-26T01:00:00Z"))
        );
    }

    #[test]
    fn cloudwatch_expressions_and_durations() {
        for (cron, expression) in [
            ("0 2 * * SUN", "cron(0 2 * * SUN)"),
            ("0 2 * * 0", "cron(0 2 * * SUN)"),
            ("0 2 * * 1-5", "cron(0 2 * * MON-FRI)"),
            ("*/15 * * * *", "cron(0,15,30,45 * * * *)"),
            ("0 */6 1 * *", "cron(0 0,6,12,18 1 * *)"),
            ("30 1 * jan,jul *", "cron(30 1 * 1,7 *)"),
            ("0 3 * * 7", "cron(0 3 * * SUN)"),
        ] {
            assert_eq!(cloudwatch_cron(cron).as_deref(), Ok(expression), "{cron}");
        }
        assert_eq!(iso_duration(SignedDuration::from_secs(7200)), "PT2H");
        assert_eq!(iso_duration(SignedDuration::from_secs(5400)), "PT1H30M");
        assert_eq!(
            iso_duration(SignedDuration::from_secs(86_400 * 2 + 3600)),
            "P2DT1H"
        );
        assert_eq!(
            at_expression(ts("2026-12-26T01:00:00Z")),
            "at(2026-12-26T01:00)"
        );
    }

    #[test]
    fn every_rejected_input_names_its_field() {
        let cases: Vec<(MaintenanceWindowSpec, &str, &str)> = vec![
            (
                spec("0 2 * * SUN", "Mars/Olympus", "2h"),
                "spec.timeZone",
                "IANA",
            ),
            (
                spec("0 2 L * *", "UTC", "2h"),
                "spec.schedule",
                "not supported",
            ),
            (spec("0 2 1 * MON", "UTC", "2h"), "spec.schedule", "both"),
            (
                spec("0 2 30 2 *", "UTC", "2h"),
                "spec.schedule",
                "never fires",
            ),
            (spec("0 25 * * *", "UTC", "2h"), "spec.schedule", ""),
            (
                spec("0 2 * * *", "UTC", "90s"),
                "spec.duration",
                "whole minutes",
            ),
            (spec("0 2 * * *", "UTC", "400h"), "spec.duration", "15 days"),
        ];
        for (spec, field, message) in cases {
            let errors = Schedule::parse(&spec).expect_err(field);
            assert!(
                errors
                    .iter()
                    .any(|e| e.path == field && e.message.contains(message)),
                "{field}: {errors:?}"
            );
        }
        let mut off_minute = spec("0 2 * * *", "UTC", "1h");
        off_minute.windows = vec![OneOffWindow {
            start: Time(ts("2026-12-26T01:00:30Z")),
            end: Time(ts("2026-12-26T05:00:00Z")),
            reason: None,
        }];
        let errors = Schedule::parse(&off_minute).expect_err("off the minute");
        assert_eq!(errors[0].path, "spec.windows[0].start");
    }
}
