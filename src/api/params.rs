//! Checks and query parameters shared by the endpoints: scopes, organisations, times, paging.

use super::extract::QueryParams;
use super::problem::{ApiError, InvalidField};
use super::AppState;
use crate::auth::{Caller, Scope};
use chrono::{DateTime, Utc};

pub fn require(caller: &Caller, scope: Scope) -> Result<(), ApiError> {
    if caller.has(scope) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "the token lacks the scope {}",
            scope.as_str()
        )))
    }
}

pub fn not_acting_for(organisation: &str) -> ApiError {
    ApiError::Forbidden(format!("this client may not act for organisation {organisation}"))
}

pub fn time(params: &QueryParams, name: &str, errors: &mut Vec<InvalidField>) -> Option<DateTime<Utc>> {
    let v = params.get(name)?;
    match DateTime::parse_from_rfc3339(v) {
        Ok(t) => Some(t.with_timezone(&Utc)),
        Err(_) => {
            errors.push(InvalidField::parameter(
                name,
                "must be an RFC 3339 timestamp with an offset",
            ));
            None
        }
    }
}

pub fn limit(params: &QueryParams, max: u32, errors: &mut Vec<InvalidField>) -> u32 {
    match params.get("limit").map(str::parse::<u32>) {
        None => max.min(100),
        Some(Ok(n)) if (1..=max).contains(&n) => n,
        Some(_) => {
            errors.push(InvalidField::parameter("limit", format!("must be between 1 and {max}")));
            max.min(100)
        }
    }
}

/// The organisations a query covers: the one asked for (which the client must act for), or all of the client's.
pub fn organisations(
    state: &AppState,
    caller: &Caller,
    params: &QueryParams,
    errors: &mut Vec<InvalidField>,
) -> Result<Vec<String>, ApiError> {
    match params.get("organisation") {
        None => Ok(caller.orgs.clone()),
        Some(v) => match state.registry.resolve(v) {
            None => {
                errors.push(InvalidField::parameter("organisation", "is not a known organisation"));
                Ok(Vec::new())
            }
            Some(org) if caller.acts_for(&org.id) => Ok(vec![org.id]),
            Some(org) => Err(not_acting_for(&org.id)),
        },
    }
}

/// A period bound given as a date (`2026-03-01`, a day in Helsinki time) or an RFC 3339 time.
/// A date as the end of a period includes that whole day.
pub fn day_or_time(
    params: &QueryParams,
    name: &str,
    end_of_period: bool,
    errors: &mut Vec<InvalidField>,
) -> Option<DateTime<Utc>> {
    let v = params.get(name)?;
    let bound = crate::case::holidays::period_bound(v, end_of_period);
    if bound.is_none() {
        errors.push(InvalidField::parameter(
            name,
            "must be a date (YYYY-MM-DD, Helsinki time) or an RFC 3339 timestamp with an offset",
        ));
    }
    bound
}

/// Checks that a period (its end exclusive) is not empty.
pub fn period(
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    errors: &mut Vec<InvalidField>,
) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    if let (Some(f), Some(t)) = (from, to) {
        if f >= t {
            errors.push(InvalidField::parameter("to", "must be after from"));
        }
    }
    (from, to)
}
