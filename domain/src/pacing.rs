//! Send pacing: the sending window, active days, ramp and caps, as pure functions
//! shared by the send gate (web tier) and the pacer that plans the days after a resume
//! (DESIGN.md, "Send pacing and the send gate"). Caps count per UTC day (counters reset
//! at 00:00 UTC); the weekly cap is rolling over the last 7 UTC days (today included).

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::status::ParseError;

/// A LinkedIn action type; each has its own caps, so an exhausted InMail budget stops
/// nothing else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionType {
    /// Connection invitation.
    Invite,
    /// Message to a connection.
    Message,
    /// InMail.
    Inmail,
    /// Profile view.
    ProfileView,
}

impl ActionType {
    /// Database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionType::Invite => "invite",
            ActionType::Message => "message",
            ActionType::Inmail => "inmail",
            ActionType::ProfileView => "profile_view",
        }
    }
}

impl std::str::FromStr for ActionType {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        match s {
            "invite" => Ok(ActionType::Invite),
            "message" => Ok(ActionType::Message),
            "inmail" => Ok(ActionType::Inmail),
            "profile_view" => Ok(ActionType::ProfileView),
            _ => Err(ParseError::Invalid {
                what: "action type",
                value: s.chars().take(64).collect(),
            }),
        }
    }
}

/// Days over which a new (or long-disconnected) account climbs back to its full
/// daily cap: day 1 may use 1/10 of it, day 10 and later all of it ("1–2 weeks").
pub const RAMP_DAYS: u32 = 10;

/// One account's sending rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendSettings {
    /// IANA time zone of the window and active days.
    pub time_zone: Tz,
    /// Window start (local). Equal to `window_end`: the window is 24 h.
    pub window_start: NaiveTime,
    /// Window end (local); before `window_start` for an overnight window.
    pub window_end: NaiveTime,
    /// Days on which a window may open (the day the window starts, for overnight ones).
    pub active_days: Vec<Weekday>,
    /// First UTC day of the ramp, if the account is ramping.
    pub ramp_start: Option<NaiveDate>,
}

/// Caps of one action type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caps {
    /// Per UTC day.
    pub daily: u32,
    /// Per rolling 7 UTC days.
    pub weekly: u32,
}

impl SendSettings {
    fn window_len(&self) -> Duration {
        let d = self.window_end.signed_duration_since(self.window_start);
        if d <= Duration::zero() {
            d + Duration::days(1)
        } else {
            d
        }
    }

    /// The window that opens on local day `day`, as a UTC interval, if `day` is active.
    /// A start time that does not exist that day (DST gap) moves to the first instant
    /// after the gap; an ambiguous one (DST fold) takes the earlier instant.
    fn window_on(&self, day: NaiveDate) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        if !self.active_days.contains(&day.weekday()) {
            return None;
        }
        let naive = day.and_time(self.window_start);
        let start = match self.time_zone.from_local_datetime(&naive) {
            chrono::LocalResult::Single(t) => t,
            chrono::LocalResult::Ambiguous(a, _) => a,
            chrono::LocalResult::None => {
                // In a gap: walk forward minute by minute (gaps are at most a few hours).
                let mut probe = naive;
                loop {
                    probe += Duration::minutes(1);
                    if let Some(t) = self.time_zone.from_local_datetime(&probe).earliest() {
                        break t;
                    }
                }
            }
        };
        let start = start.with_timezone(&Utc);
        Some((start, start + self.window_len()))
    }

    /// Windows that may contain instants between `from` and `from + days`.
    fn windows_around(
        &self,
        from: DateTime<Utc>,
        days: i64,
    ) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        let local = from.with_timezone(&self.time_zone).date_naive();
        (-1..=days + 1)
            .filter_map(|i| self.window_on(local + Duration::days(i)))
            .collect()
    }

    /// True when `at` is inside a sending window.
    pub fn in_window(&self, at: DateTime<Utc>) -> bool {
        self.windows_around(at, 0)
            .iter()
            .any(|(s, e)| *s <= at && at < *e)
    }

    /// The first instant at or after `at` inside a sending window; `None` when no day is
    /// active.
    pub fn next_open(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.windows_around(at, 8)
            .into_iter()
            .filter(|(_, e)| *e > at)
            .map(|(s, _)| s.max(at))
            .min()
    }

    /// The ramp ceiling on UTC day `day` for a full daily cap of `daily`: day 1 of the
    /// ramp allows ceil(daily/10), climbing linearly to `daily` on day 10.
    pub fn ramp_ceiling(&self, day: NaiveDate, daily: u32) -> u32 {
        match self.ramp_start {
            Some(start) if day >= start => {
                let n = (day - start).num_days() as u64 + 1;
                if n >= u64::from(RAMP_DAYS) {
                    daily
                } else {
                    (u64::from(daily) * n).div_ceil(u64::from(RAMP_DAYS)) as u32
                }
            }
            // Before the ramp begins nothing is sent.
            Some(_) => 0,
            None => daily,
        }
    }

    /// Today's effective daily limit: the cap, lowered by the ramp.
    pub fn daily_limit(&self, day: NaiveDate, caps: Caps) -> u32 {
        caps.daily.min(self.ramp_ceiling(day, caps.daily))
    }
}

/// Sent counts per UTC day of one action type.
pub type History = BTreeMap<NaiveDate, u32>;

/// Sent in the rolling 7 UTC days ending with `day` (included).
pub fn sent_in_week(history: &History, day: NaiveDate) -> u32 {
    history
        .range(day - Duration::days(6)..=day)
        .map(|(_, n)| *n)
        .sum()
}

/// One planned UTC day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayPlan {
    /// UTC day.
    pub day: NaiveDate,
    /// Actions planned that day.
    pub slots: u32,
    /// Why not more: `daily_cap`, `weekly_cap`, `ramp`, `no_window`, `nothing_due`.
    pub limited_by: String,
    /// When the first window of that day opens (UTC), if any.
    pub opens_at: Option<DateTime<Utc>>,
}

/// Plans `due` actions of one type over `days` UTC days starting with the day of
/// `from`, never above the daily cap, the ramp or the rolling weekly cap (given what
/// was already sent), and only on days with sending-window time after `from`. Whatever
/// does not fit waits for later days: no burst catch-up, ever.
pub fn plan(
    settings: &SendSettings,
    caps: Caps,
    history: &History,
    mut due: u32,
    from: DateTime<Utc>,
    days: u32,
) -> Vec<DayPlan> {
    let mut hist = history.clone();
    let mut out = Vec::new();
    let first = from.date_naive();
    for i in 0..i64::from(days) {
        let day = first + Duration::days(i);
        let day_start = day.and_time(NaiveTime::MIN).and_utc().max(from);
        let day_end = (day + Duration::days(1)).and_time(NaiveTime::MIN).and_utc();
        let opens_at = settings.next_open(day_start).filter(|t| *t < day_end);
        let already = hist.get(&day).copied().unwrap_or(0);
        let daily = settings.daily_limit(day, caps);
        let daily_room = daily.saturating_sub(already);
        let weekly_room = caps.weekly.saturating_sub(sent_in_week(&hist, day));
        let (slots, limited_by) = if opens_at.is_none() {
            (0, "no_window")
        } else {
            let room = daily_room.min(weekly_room);
            let slots = room.min(due);
            let why = if slots == due {
                "nothing_due"
            } else if weekly_room < daily_room {
                "weekly_cap"
            } else if daily < caps.daily {
                "ramp"
            } else {
                "daily_cap"
            };
            (slots, why)
        };
        due -= slots;
        *hist.entry(day).or_insert(0) += slots;
        out.push(DayPlan {
            day,
            slots,
            limited_by: limited_by.into(),
            opens_at,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn settings(tz: Tz, start: (u32, u32), end: (u32, u32), days: &[Weekday]) -> SendSettings {
        SendSettings {
            time_zone: tz,
            window_start: NaiveTime::from_hms_opt(start.0, start.1, 0).unwrap(),
            window_end: NaiveTime::from_hms_opt(end.0, end.1, 0).unwrap(),
            active_days: days.to_vec(),
            ramp_start: None,
        }
    }

    const WEEKDAYS: [Weekday; 5] = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
    ];

    #[test]
    fn office_hours_in_paris() {
        let s = settings(chrono_tz::Europe::Paris, (9, 0), (18, 0), &WEEKDAYS);
        // Monday 2026-11-30 08:30 UTC = 09:30 Paris.
        let t = Utc.with_ymd_and_hms(2026, 11, 30, 8, 30, 0).unwrap();
        assert!(s.in_window(t));
        // Saturday: closed until Monday 08:00 UTC.
        let sat = Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap();
        assert!(!s.in_window(sat));
        assert_eq!(
            s.next_open(sat),
            Some(Utc.with_ymd_and_hms(2026, 11, 30, 8, 0, 0).unwrap())
        );
    }

    #[test]
    fn overnight_window_belongs_to_the_day_it_starts() {
        // 22:00–06:00 UTC, only Fridays: Saturday 03:00 is inside, Friday 03:00 is not.
        let s = settings(chrono_tz::UTC, (22, 0), (6, 0), &[Weekday::Fri]);
        assert!(s.in_window(Utc.with_ymd_and_hms(2026, 12, 5, 3, 0, 0).unwrap()));
        assert!(!s.in_window(Utc.with_ymd_and_hms(2026, 12, 4, 3, 0, 0).unwrap()));
        assert!(s.in_window(Utc.with_ymd_and_hms(2026, 12, 4, 23, 0, 0).unwrap()));
    }

    #[test]
    fn equal_start_and_end_is_a_whole_day() {
        let s = settings(chrono_tz::UTC, (0, 0), (0, 0), &[Weekday::Mon]);
        assert!(s.in_window(Utc.with_ymd_and_hms(2026, 11, 30, 23, 59, 0).unwrap()));
        assert!(!s.in_window(Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap()));
    }

    #[test]
    fn dst_spring_forward_gap_moves_the_start_past_the_gap() {
        // New York, 2027-03-14: 02:00–03:00 local does not exist. A 02:30 start opens at 03:00 EDT = 07:00 UTC.
        let s = settings(
            chrono_tz::America::New_York,
            (2, 30),
            (5, 0),
            &[Weekday::Sun],
        );
        let open = s
            .next_open(Utc.with_ymd_and_hms(2027, 3, 14, 0, 0, 0).unwrap())
            .unwrap();
        assert_eq!(open, Utc.with_ymd_and_hms(2027, 3, 14, 7, 0, 0).unwrap());
    }

    #[test]
    fn the_ramp_climbs_over_ten_days() {
        let mut s = settings(chrono_tz::UTC, (0, 0), (0, 0), &WEEKDAYS);
        let start = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
        s.ramp_start = Some(start);
        assert_eq!(s.ramp_ceiling(start, 20), 2);
        assert_eq!(s.ramp_ceiling(start + Duration::days(4), 20), 10);
        assert_eq!(s.ramp_ceiling(start + Duration::days(9), 20), 20);
        assert_eq!(s.ramp_ceiling(start - Duration::days(1), 20), 0);
    }

    #[test]
    fn a_long_backlog_is_spread_not_burst() {
        let s = settings(chrono_tz::UTC, (9, 0), (17, 0), &WEEKDAYS);
        let from = Utc.with_ymd_and_hms(2026, 11, 30, 7, 0, 0).unwrap(); // Monday
        let p = plan(
            &s,
            Caps {
                daily: 20,
                weekly: 80,
            },
            &History::new(),
            1000,
            from,
            14,
        );
        assert_eq!(p[0].slots, 20);
        assert_eq!(
            p.iter().take(7).map(|d| d.slots).sum::<u32>(),
            80,
            "weekly cap binds"
        );
        assert_eq!(p[3].limited_by, "daily_cap");
        assert_eq!(
            (p[4].slots, p[4].limited_by.as_str()),
            (0, "weekly_cap"),
            "Friday: 80 already this week"
        );
        assert_eq!(p[5].limited_by, "no_window", "Saturday");
    }

    fn any_tz() -> impl Strategy<Value = Tz> {
        prop::sample::select(vec![
            chrono_tz::UTC,
            chrono_tz::Europe::Paris,
            chrono_tz::America::New_York,
            chrono_tz::Australia::Lord_Howe,
            chrono_tz::Asia::Kolkata,
        ])
    }

    prop_compose! {
        fn any_settings()(tz in any_tz(), sh in 0u32..24, sm in 0u32..60, eh in 0u32..24, em in 0u32..60,
                          mask in 1u8..128, ramp in prop::option::of(0i64..20)) -> SendSettings {
            let all = [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri, Weekday::Sat, Weekday::Sun];
            SendSettings {
                time_zone: tz,
                window_start: NaiveTime::from_hms_opt(sh, sm, 0).unwrap(),
                window_end: NaiveTime::from_hms_opt(eh, em, 0).unwrap(),
                active_days: all.iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, d)| *d).collect(),
                ramp_start: ramp.map(|r| NaiveDate::from_ymd_opt(2027, 3, 1).unwrap() + Duration::days(r)),
            }
        }
    }

    proptest! {
        #[test]
        fn plans_never_exceed_caps_ramp_or_windows(
            s in any_settings(),
            daily in 0u32..50, weekly in 0u32..200, due in 0u32..2000,
            start_min in 0i64..(60 * 24 * 60), past in prop::collection::vec(0u32..30, 0..7),
        ) {
            // Around the 2027 spring DST changes of Europe, the US and Lord Howe.
            let from = Utc.with_ymd_and_hms(2027, 3, 1, 0, 0, 0).unwrap() + Duration::minutes(start_min);
            let mut history = History::new();
            for (i, n) in past.iter().enumerate() {
                history.insert(from.date_naive() - Duration::days(i as i64 + 1), *n);
            }
            let caps = Caps { daily, weekly };
            let p = plan(&s, caps, &history, due, from, 21);
            let mut all = history.clone();
            for d in &p {
                *all.entry(d.day).or_insert(0) += d.slots;
            }
            let mut total = 0;
            for d in &p {
                total += d.slots;
                prop_assert!(d.slots <= s.daily_limit(d.day, caps), "daily/ramp on {}", d.day);
                prop_assert!(d.slots <= s.ramp_ceiling(d.day, daily));
                if d.slots > 0 {
                    let open = d.opens_at.expect("a day with slots has a window");
                    prop_assert!(s.in_window(open), "opens_at is inside a window");
                    prop_assert!(open.date_naive() == d.day);
                }
                // The rolling week ending on a day with slots stays within the weekly cap.
                prop_assert!(d.slots == 0 || sent_in_week(&all, d.day) <= weekly, "weekly on {}", d.day);
            }
            prop_assert!(total <= due);
        }
        #[test]
        fn next_open_is_inside_a_window_and_not_before(s in any_settings(), start_min in 0i64..(60 * 24 * 400)) {
            let at = Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0).unwrap() + Duration::minutes(start_min);
            if let Some(t) = s.next_open(at) {
                prop_assert!(t >= at);
                prop_assert!(s.in_window(t));
                if s.in_window(at) { prop_assert_eq!(t, at); }
            }
        }
    }
}
