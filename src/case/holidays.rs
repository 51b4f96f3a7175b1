//! Finnish working days in Helsinki local time: when "an answer by the next working day" is due.
//!
//! A help request is due at the end of the next working day (16:15 Helsinki time) after the day
//! it arrived on, skipping weekends and Finnish public holidays (with Midsummer Eve and
//! Christmas Eve, de facto holidays). Helsinki time is computed here from the EU rule rather than
//! from a time zone database: EET (UTC+2), and EEST (UTC+3) from 01:00 UTC on the last Sunday
//! of March to 01:00 UTC on the last Sunday of October (Directive 2000/84/EC).

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc, Weekday};

/// The end of a working day in guidance: the time an answer is due on its day.
pub const END_OF_WORKING_DAY: (u32, u32) = (16, 15);

/// A day on which guidance does not work although it is not a weekend day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holiday {
    NewYearsDay,
    Epiphany,
    GoodFriday,
    EasterSunday,
    EasterMonday,
    MayDay,
    AscensionDay,
    /// A de facto holiday: the Friday between 19 and 25 June.
    MidsummerEve,
    /// The Saturday between 20 and 26 June.
    MidsummerDay,
    /// The Saturday between 31 October and 6 November.
    AllSaintsDay,
    IndependenceDay,
    /// A de facto holiday.
    ChristmasEve,
    ChristmasDay,
    BoxingDay,
}

/// Easter Sunday by the anonymous Gregorian algorithm (Meeus/Jones/Butcher).
pub fn easter_sunday(year: i32) -> NaiveDate {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    // Always 22 March – 25 April, so the date exists.
    NaiveDate::from_ymd_opt(year, month as u32, day as u32).expect("Easter falls in March or April")
}

/// The Finnish holiday on this date, if any.
pub fn holiday(date: NaiveDate) -> Option<Holiday> {
    let (month, day) = (date.month(), date.day());
    let fixed = match (month, day) {
        (1, 1) => Some(Holiday::NewYearsDay),
        (1, 6) => Some(Holiday::Epiphany),
        (5, 1) => Some(Holiday::MayDay),
        (12, 6) => Some(Holiday::IndependenceDay),
        (12, 24) => Some(Holiday::ChristmasEve),
        (12, 25) => Some(Holiday::ChristmasDay),
        (12, 26) => Some(Holiday::BoxingDay),
        _ => None,
    };
    if fixed.is_some() {
        return fixed;
    }
    let weekday = date.weekday();
    match (month, weekday) {
        (6, Weekday::Fri) if (19..=25).contains(&day) => return Some(Holiday::MidsummerEve),
        (6, Weekday::Sat) if (20..=26).contains(&day) => return Some(Holiday::MidsummerDay),
        (10, Weekday::Sat) if day == 31 => return Some(Holiday::AllSaintsDay),
        (11, Weekday::Sat) if day <= 6 => return Some(Holiday::AllSaintsDay),
        _ => {}
    }
    let easter = easter_sunday(date.year());
    match (date - easter).num_days() {
        -2 => Some(Holiday::GoodFriday),
        0 => Some(Holiday::EasterSunday),
        1 => Some(Holiday::EasterMonday),
        39 => Some(Holiday::AscensionDay),
        _ => None,
    }
}

pub fn is_working_day(date: NaiveDate) -> bool {
    !matches!(date.weekday(), Weekday::Sat | Weekday::Sun) && holiday(date).is_none()
}

/// The first working day after `date`.
pub fn next_working_day(date: NaiveDate) -> NaiveDate {
    let mut day = date;
    loop {
        day = day.succ_opt().expect("dates this side of year 262143");
        if is_working_day(day) {
            return day;
        }
    }
}

fn last_sunday(year: i32, month: u32) -> NaiveDate {
    let first_of_next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)
    }
    .expect("a valid month");
    let last = first_of_next.pred_opt().expect("a day before");
    last - Duration::days(i64::from(last.weekday().num_days_from_sunday()))
}

/// Hours ahead of UTC in Helsinki at this instant: 3 in summer time, else 2.
pub fn helsinki_offset_hours(t: DateTime<Utc>) -> i64 {
    let year = t.year();
    let at_one = |d: NaiveDate| Utc.from_utc_datetime(&d.and_hms_opt(1, 0, 0).expect("01:00 exists"));
    let starts = at_one(last_sunday(year, 3));
    let ends = at_one(last_sunday(year, 10));
    if t >= starts && t < ends {
        3
    } else {
        2
    }
}

/// The wall-clock time in Helsinki at this instant.
pub fn helsinki_local(t: DateTime<Utc>) -> NaiveDateTime {
    t.naive_utc() + Duration::hours(helsinki_offset_hours(t))
}

/// The instant a Helsinki wall-clock time names. In the hour that happens twice in October the
/// earlier instant is taken; a time in the hour skipped in March is read as winter time.
pub fn helsinki_to_utc(local: NaiveDateTime) -> DateTime<Utc> {
    let summer = Utc.from_utc_datetime(&(local - Duration::hours(3)));
    if helsinki_offset_hours(summer) == 3 {
        summer
    } else {
        Utc.from_utc_datetime(&(local - Duration::hours(2)))
    }
}

/// A period bound as people write it: a date (a Helsinki day; as the end of a period, through
/// that whole day) or an RFC 3339 time.
pub fn period_bound(value: &str, end_of_period: bool) -> Option<DateTime<Utc>> {
    if let Ok(day) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        let day = if end_of_period { day.succ_opt()? } else { day };
        return Some(helsinki_to_utc(day.and_hms_opt(0, 0, 0)?));
    }
    DateTime::parse_from_rfc3339(value).ok().map(|t| t.with_timezone(&Utc))
}

/// When a request that arrived at `arrived` must be answered: 16:15 Helsinki time on the next
/// working day after the (Helsinki) day of arrival.
pub fn answer_due(arrived: DateTime<Utc>) -> DateTime<Utc> {
    let day = next_working_day(helsinki_local(arrived).date());
    let (hour, minute) = END_OF_WORKING_DAY;
    helsinki_to_utc(day.and_time(NaiveTime::from_hms_opt(hour, minute, 0).expect("a valid time")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn easter_by_the_anonymous_gregorian_algorithm() {
        let table = [
            (2000, 4, 23),
            (2008, 3, 23),
            (2011, 4, 24),
            (2019, 4, 21),
            (2024, 3, 31),
            (2025, 4, 20),
            (2026, 4, 5),
            (2027, 3, 28),
            (2028, 4, 16),
            (2038, 4, 25), // the latest possible date
            (2285, 3, 22), // the earliest possible date
        ];
        for (y, m, d) in table {
            assert_eq!(easter_sunday(y), date(y, m, d), "{y}");
            assert_eq!(easter_sunday(y).weekday(), Weekday::Sun, "{y}");
        }
    }

    #[test]
    fn the_holidays_of_2026() {
        let table = [
            (date(2026, 1, 1), Holiday::NewYearsDay),
            (date(2026, 1, 6), Holiday::Epiphany),
            (date(2026, 4, 3), Holiday::GoodFriday),
            (date(2026, 4, 5), Holiday::EasterSunday),
            (date(2026, 4, 6), Holiday::EasterMonday),
            (date(2026, 5, 1), Holiday::MayDay),
            (date(2026, 5, 14), Holiday::AscensionDay),
            (date(2026, 6, 19), Holiday::MidsummerEve),
            (date(2026, 6, 20), Holiday::MidsummerDay),
            (date(2026, 10, 31), Holiday::AllSaintsDay),
            (date(2026, 12, 6), Holiday::IndependenceDay),
            (date(2026, 12, 24), Holiday::ChristmasEve),
            (date(2026, 12, 25), Holiday::ChristmasDay),
            (date(2026, 12, 26), Holiday::BoxingDay),
        ];
        for (day, expected) in table {
            assert_eq!(holiday(day), Some(expected), "{day}");
        }
        let all = date(2026, 1, 1)
            .iter_days()
            .take_while(|d| d.year() == 2026)
            .filter(|d| holiday(*d).is_some())
            .count();
        assert_eq!(all, 14, "exactly the listed days are holidays");
    }

    #[test]
    fn moving_holidays_in_other_years() {
        // Midsummer Eve is the Friday between 19 and 25 June.
        assert_eq!(holiday(date(2025, 6, 20)), Some(Holiday::MidsummerEve));
        assert_eq!(holiday(date(2027, 6, 25)), Some(Holiday::MidsummerEve));
        assert_eq!(holiday(date(2027, 6, 26)), Some(Holiday::MidsummerDay));
        assert_eq!(holiday(date(2027, 6, 18)), None);
        // All Saints' Day: the Saturday between 31 October and 6 November.
        assert_eq!(holiday(date(2025, 11, 1)), Some(Holiday::AllSaintsDay));
        assert_eq!(holiday(date(2027, 11, 6)), Some(Holiday::AllSaintsDay));
        assert_eq!(holiday(date(2027, 10, 30)), None);
        // Easter and Ascension move with Easter.
        assert_eq!(holiday(date(2027, 3, 26)), Some(Holiday::GoodFriday));
        assert_eq!(holiday(date(2027, 3, 29)), Some(Holiday::EasterMonday));
        assert_eq!(holiday(date(2027, 5, 6)), Some(Holiday::AscensionDay));
        assert_eq!(holiday(date(2025, 5, 29)), Some(Holiday::AscensionDay));
        // Ordinary days.
        assert_eq!(holiday(date(2026, 4, 7)), None);
        assert_eq!(holiday(date(2026, 12, 23)), None);
        assert_eq!(holiday(date(2026, 12, 27)), None);
    }

    #[test]
    fn summer_time_starts_and_ends_at_one_utc_on_the_last_sundays() {
        assert_eq!(last_sunday(2026, 3), date(2026, 3, 29));
        assert_eq!(last_sunday(2026, 10), date(2026, 10, 25));
        assert_eq!(last_sunday(2025, 3), date(2025, 3, 30));
        assert_eq!(last_sunday(2025, 10), date(2025, 10, 26));
        assert_eq!(last_sunday(2027, 3), date(2027, 3, 28));
        assert_eq!(helsinki_offset_hours(utc("2026-03-29T00:59:59Z")), 2);
        assert_eq!(helsinki_offset_hours(utc("2026-03-29T01:00:00Z")), 3);
        assert_eq!(helsinki_offset_hours(utc("2026-10-25T00:59:59Z")), 3);
        assert_eq!(helsinki_offset_hours(utc("2026-10-25T01:00:00Z")), 2);
        assert_eq!(helsinki_offset_hours(utc("2026-07-01T12:00:00Z")), 3);
        assert_eq!(helsinki_offset_hours(utc("2026-01-01T12:00:00Z")), 2);
        assert_eq!(
            helsinki_local(utc("2026-03-29T01:00:00Z")),
            date(2026, 3, 29).and_hms_opt(4, 0, 0).unwrap()
        );
        assert_eq!(
            helsinki_to_utc(date(2026, 7, 1).and_hms_opt(16, 15, 0).unwrap()),
            utc("2026-07-01T13:15:00Z")
        );
        assert_eq!(
            helsinki_to_utc(date(2026, 12, 1).and_hms_opt(16, 15, 0).unwrap()),
            utc("2026-12-01T14:15:00Z")
        );
        // The October hour that happens twice: the earlier instant.
        assert_eq!(
            helsinki_to_utc(date(2026, 10, 25).and_hms_opt(3, 30, 0).unwrap()),
            utc("2026-10-25T00:30:00Z")
        );
    }

    #[test]
    fn answers_are_due_at_the_end_of_the_next_working_day() {
        let table = [
            // An ordinary Monday morning: Tuesday 16:15 (EET, UTC+2).
            ("2026-01-12T08:00:00Z", "2026-01-13T14:15:00Z"),
            // Late on Monday in UTC is already Tuesday in Helsinki: due Wednesday.
            ("2026-01-12T22:30:00Z", "2026-01-14T14:15:00Z"),
            // After the end of the working day still counts from the day of arrival.
            ("2026-01-12T15:30:00Z", "2026-01-13T14:15:00Z"),
            // Friday: Monday.
            ("2026-01-16T10:00:00Z", "2026-01-19T14:15:00Z"),
            // Saturday and Sunday: Monday.
            ("2026-01-17T10:00:00Z", "2026-01-19T14:15:00Z"),
            ("2026-01-18T10:00:00Z", "2026-01-19T14:15:00Z"),
            // Thursday before Easter 2026: Good Friday, Easter, Easter Monday; due Tuesday (EEST).
            ("2026-04-02T09:00:00Z", "2026-04-07T13:15:00Z"),
            // Friday 5.12.2025 (Independence Day is a Saturday): Monday 8.12.
            ("2025-12-05T09:00:00Z", "2025-12-08T14:15:00Z"),
            // Friday 3.12.2027 (Independence Day on Monday): Tuesday 7.12.
            ("2027-12-03T09:00:00Z", "2027-12-07T14:15:00Z"),
            // Wednesday 23.12.2026: Christmas Eve, Christmas, Boxing Day, Sunday; Monday 28.12.
            ("2026-12-23T09:00:00Z", "2026-12-28T14:15:00Z"),
            // Thursday 31.12.2026: New Year's Day on Friday; Monday 4.1.2027.
            ("2026-12-31T09:00:00Z", "2027-01-04T14:15:00Z"),
            // Tuesday 5.1.2027: Epiphany on Wednesday; Thursday.
            ("2027-01-05T09:00:00Z", "2027-01-07T14:15:00Z"),
            // Thursday 30.4.2026: May Day on Friday; Monday 4.5.
            ("2026-04-30T09:00:00Z", "2026-05-04T13:15:00Z"),
            // Wednesday 13.5.2026: Ascension Day on Thursday; Friday 15.5.
            ("2026-05-13T09:00:00Z", "2026-05-15T13:15:00Z"),
            // Thursday 18.6.2026: Midsummer Eve 19.6.; Monday 22.6.
            ("2026-06-18T09:00:00Z", "2026-06-22T13:15:00Z"),
            // Across the change to summer time: Friday 27.3.2026 → Monday 30.3. in EEST.
            ("2026-03-27T09:00:00Z", "2026-03-30T13:15:00Z"),
            // Across the change to winter time: Friday 23.10.2026 → Monday 26.10. in EET.
            ("2026-10-23T09:00:00Z", "2026-10-26T14:15:00Z"),
            // Thursday before Easter 2027 (28.3.): due Tuesday 30.3.
            ("2027-03-25T09:00:00Z", "2027-03-30T13:15:00Z"),
        ];
        for (arrived, due) in table {
            assert_eq!(answer_due(utc(arrived)), utc(due), "arrived {arrived}");
        }
    }
}
