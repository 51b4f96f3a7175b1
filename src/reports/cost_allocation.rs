//! Sharing the guidance's costs between municipalities as agreed from 2021: 70 % by each
//! municipality's population aged 75+, 30 % by performance (its handled contacts).
//!
//! Each municipality's exact share, `budget · (0.7 · p/P + 0.3 · c/C)`, is a fraction with
//! the common denominator `100 · P · C`; it is computed exactly in integers (u128, checked)
//! and apportioned to whole cents by the largest-remainder method: everyone gets the floor,
//! and the cents left over go one each to the largest remainders (ties: the smaller
//! municipality code first). The shares therefore add up exactly to the budget and each is
//! less than a cent from its exact value.
//!
//! Without any contacts in the period the performance part cannot be divided by
//! performance; it is then divided by population too (the whole budget by population).
//! A municipality with contacts but no population entry is an error naming it; a population of
//! zero is allowed (that municipality pays only for its contacts), a total population of zero
//! is not.

use crate::case::Outcome;
use crate::store::ContactFacts;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use utoipa::ToSchema;

/// Percent of the budget shared by population aged 75+; the rest goes by handled contacts.
pub const POPULATION_PERCENT: u128 = 70;
pub const PERFORMANCE_PERCENT: u128 = 100 - POPULATION_PERCENT;

/// The sandbox's population table: the 27 municipalities of Varsinais-Suomi with EXAMPLE
/// figures of the right order of magnitude, not statistics. A deployment configures
/// `reports.population_75_plus` from Statistics Finland's population structure (75+ by
/// municipality) or sends the table with each request.
pub const EXAMPLE_POPULATION_75_PLUS: [(&str, u64); 27] = [
    ("019", 400),
    ("202", 3_900),
    ("284", 400),
    ("304", 200),
    ("322", 1_500),
    ("400", 1_100),
    ("423", 1_800),
    ("430", 2_200),
    ("480", 300),
    ("481", 800),
    ("503", 1_100),
    ("529", 2_600),
    ("538", 400),
    ("561", 150),
    ("577", 1_200),
    ("445", 2_400),
    ("631", 300),
    ("636", 1_000),
    ("680", 2_900),
    ("704", 500),
    ("734", 6_600),
    ("738", 400),
    ("761", 1_500),
    ("833", 300),
    ("853", 21_500),
    ("895", 2_100),
    ("918", 400),
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllocationError {
    #[error("municipalities with contacts but no population entry: {}", .0.join(", "))]
    MissingPopulation(Vec<String>),
    #[error("the population aged 75+ adds up to zero: nothing to share by")]
    ZeroPopulation,
    #[error("the budget is too large to share exactly")]
    TooLarge,
}

/// One municipality's share. The two parts add up to `share_cents`; each is less than a cent
/// from its exact value, as is the share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Share {
    #[schema(example = "853")]
    pub organisation: String,
    pub population_75_plus: u64,
    pub contacts: u64,
    pub population_share_cents: u128,
    pub performance_share_cents: u128,
    pub share_cents: u128,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation {
    pub budget_cents: u128,
    /// False when there were no contacts and the performance part went by population.
    pub performance_by_contacts: bool,
    /// By municipality code.
    pub shares: Vec<Share>,
}

impl Allocation {
    pub fn sum_cents(&self) -> u128 {
        self.shares.iter().map(|s| s.share_cents).sum()
    }
}

/// Whether a contact counts as performance: it was answered or came to an outcome. A help
/// request nobody has answered yet has cost nothing.
pub fn handled(c: &ContactFacts) -> bool {
    c.answered_at.is_some() || c.closed_at.is_some() || c.outcome != Outcome::Open
}

/// Shares `budget_cents` among the municipalities of `population` (and of `contacts`, which
/// must all have a population entry).
pub fn allocate(
    budget_cents: u128,
    population: &BTreeMap<String, u64>,
    contacts: &BTreeMap<String, u64>,
) -> Result<Allocation, AllocationError> {
    let missing: Vec<String> = contacts
        .iter()
        .filter(|(org, &n)| n > 0 && !population.contains_key(*org))
        .map(|(org, _)| org.clone())
        .collect();
    if !missing.is_empty() {
        return Err(AllocationError::MissingPopulation(missing));
    }
    let orgs: BTreeSet<&String> = population.keys().collect();
    let pop = |org: &str| u128::from(population.get(org).copied().unwrap_or(0));
    let con = |org: &str| u128::from(contacts.get(org).copied().unwrap_or(0));
    let total_pop: u128 = orgs.iter().map(|o| pop(o)).sum();
    let total_con: u128 = orgs.iter().map(|o| con(o)).sum();
    if total_pop == 0 {
        return Err(AllocationError::ZeroPopulation);
    }
    let by_contacts = total_con > 0;
    let b = budget_cents;
    let mul = |a: u128, x: u128| a.checked_mul(x).ok_or(AllocationError::TooLarge);
    // Exact parts as numerators over one denominator.
    let denominator = if by_contacts {
        mul(mul(100, total_pop)?, total_con)?
    } else {
        mul(100, total_pop)?
    };
    let mut parts = Vec::with_capacity(orgs.len());
    for org in &orgs {
        let (p, c) = (pop(org), con(org));
        let (pop_num, perf_num) = if by_contacts {
            (
                mul(b, mul(mul(POPULATION_PERCENT, p)?, total_con)?)?,
                mul(b, mul(mul(PERFORMANCE_PERCENT, c)?, total_pop)?)?,
            )
        } else {
            (
                mul(b, mul(POPULATION_PERCENT, p)?)?,
                mul(b, mul(PERFORMANCE_PERCENT, p)?)?,
            )
        };
        pop_num.checked_add(perf_num).ok_or(AllocationError::TooLarge)?;
        parts.push((pop_num, perf_num));
    }
    let share_nums: Vec<u128> = parts.iter().map(|(a, b)| a + b).collect();
    let shares = largest_remainder(b, &share_nums, denominator);
    let shares = orgs
        .iter()
        .zip(parts)
        .zip(shares)
        .map(|((org, (pop_num, perf_num)), share_cents)| {
            let (population_share_cents, performance_share_cents) = split(share_cents, pop_num, perf_num, denominator);
            Share {
                organisation: (*org).clone(),
                population_75_plus: population.get(*org).copied().unwrap_or(0),
                contacts: contacts.get(*org).copied().unwrap_or(0),
                population_share_cents,
                performance_share_cents,
                share_cents,
            }
        })
        .collect();
    Ok(Allocation {
        budget_cents,
        performance_by_contacts: by_contacts,
        shares,
    })
}

/// Whole amounts for fractions `numerators[i] / denominator` that add up to `total` (which
/// the fractions add up to exactly): floors, then one more for each of the largest remainders,
/// earlier entries first among equal remainders.
fn largest_remainder(total: u128, numerators: &[u128], denominator: u128) -> Vec<u128> {
    let mut amounts: Vec<u128> = numerators.iter().map(|n| n / denominator).collect();
    let left = total - amounts.iter().sum::<u128>();
    let mut order: Vec<usize> = (0..numerators.len()).collect();
    // A stable sort keeps the municipality-code order among equal remainders.
    order.sort_by(|&a, &b| (numerators[b] % denominator).cmp(&(numerators[a] % denominator)));
    for &i in order.iter().take(left as usize) {
        amounts[i] += 1;
    }
    amounts
}

/// Splits a share (the floor or the ceiling of its exact value) into its population and
/// performance parts, each the floor or the ceiling of its own exact value.
fn split(share: u128, pop_num: u128, perf_num: u128, denominator: u128) -> (u128, u128) {
    let (pop_floor, pop_rem) = (pop_num / denominator, pop_num % denominator);
    let (perf_floor, perf_rem) = (perf_num / denominator, perf_num % denominator);
    // `share` is pop_floor + perf_floor plus 0, 1 or 2 cents rounded up; the part with the larger
    // remainder (the population part on a tie) is rounded up first.
    match share - pop_floor - perf_floor {
        0 => (pop_floor, perf_floor),
        1 if pop_rem >= perf_rem => (pop_floor + 1, perf_floor),
        1 => (pop_floor, perf_floor + 1),
        _ => (pop_floor + 1, perf_floor + 1),
    }
}

/// Euros with two decimals, e.g. `123456.78`.
pub fn euros(cents: u128) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// A positive or zero amount of euros with at most two decimals ("1250000", "1250000.5",
/// "1250000.50") in cents; `None` for anything else (signs, exponents, more decimals).
pub fn parse_euros(text: &str) -> Option<u128> {
    let (whole, fraction) = match text.split_once('.') {
        Some((w, f)) => (w, f),
        None => (text, ""),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) || fraction.len() > 2 {
        return None;
    }
    if text.contains('.') && fraction.is_empty() {
        return None;
    }
    let whole: u128 = whole.parse().ok()?;
    let fraction: u128 = match fraction.len() {
        0 => 0,
        1 => fraction.parse::<u128>().ok()? * 10,
        _ => fraction.parse().ok()?,
    };
    whole.checked_mul(100)?.checked_add(fraction)
}

#[cfg(test)]
mod tests;
