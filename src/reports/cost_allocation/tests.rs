use super::*;
use proptest::prelude::*;

fn map(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

fn cents(a: &Allocation) -> Vec<(&str, u128)> {
    a.shares
        .iter()
        .map(|s| (s.organisation.as_str(), s.share_cents))
        .collect()
}

/// Checks the promises: the shares add up to the budget, the parts to the share, and each
/// amount is less than a cent from its exact value (computed here independently).
fn check(budget: u128, population: &BTreeMap<String, u64>, contacts: &BTreeMap<String, u64>, a: &Allocation) {
    assert_eq!(a.sum_cents(), budget);
    let p: u128 = population.values().map(|&v| u128::from(v)).sum();
    let c: u128 = population
        .keys()
        .map(|k| u128::from(contacts.get(k).copied().unwrap_or(0)))
        .sum();
    for s in &a.shares {
        assert_eq!(s.population_share_cents + s.performance_share_cents, s.share_cents);
        let (pi, ci) = (u128::from(s.population_75_plus), u128::from(s.contacts));
        // Exact parts as fractions over `den`.
        let (den, pop, perf) = if c > 0 {
            (100 * p * c, budget * 70 * pi * c, budget * 30 * ci * p)
        } else {
            (100 * p, budget * 70 * pi, budget * 30 * pi)
        };
        let within_a_cent = |amount: u128, exact: u128| (amount * den).abs_diff(exact) < den;
        assert!(within_a_cent(s.share_cents, pop + perf), "{s:?}");
        assert!(within_a_cent(s.population_share_cents, pop), "{s:?}");
        assert!(within_a_cent(s.performance_share_cents, perf), "{s:?}");
    }
}

#[test]
fn seventy_percent_by_population_thirty_by_contacts() {
    // P = 40, C = 4. Turku: 100 000 · (0.7 · 30/40 + 0.3 · 1/4) = 52 500 + 7 500 = 60 000.
    // Naantali: 100 000 · (0.7 · 10/40 + 0.3 · 3/4) = 17 500 + 22 500 = 40 000.
    let (pop, con) = (map(&[("853", 30), ("529", 10)]), map(&[("853", 1), ("529", 3)]));
    let a = allocate(100_000, &pop, &con).unwrap();
    assert!(a.performance_by_contacts);
    assert_eq!(cents(&a), [("529", 40_000), ("853", 60_000)]);
    assert_eq!(
        (a.shares[0].population_share_cents, a.shares[0].performance_share_cents),
        (17_500, 22_500)
    );
    assert_eq!(
        (a.shares[1].population_share_cents, a.shares[1].performance_share_cents),
        (52_500, 7_500)
    );
    check(100_000, &pop, &con, &a);
}

#[test]
fn leftover_cents_go_to_the_largest_remainders_then_the_smaller_code() {
    // 100 cents in three equal parts: 33⅓ each; the one cent left goes to the smallest code.
    let pop = map(&[("853", 5), ("202", 5), ("529", 5)]);
    let a = allocate(100, &pop, &BTreeMap::new()).unwrap();
    assert_eq!(cents(&a), [("202", 34), ("529", 33), ("853", 33)]);
    // 1 cent between two equal halves.
    let a = allocate(1, &map(&[("853", 1), ("529", 1)]), &BTreeMap::new()).unwrap();
    assert_eq!(cents(&a), [("529", 1), ("853", 0)]);
    // Remainders decide before codes: 10 cents by 1:2 → 3⅓ and 6⅔: the ⅔ rounds up.
    let a = allocate(10, &map(&[("202", 1), ("853", 2)]), &BTreeMap::new()).unwrap();
    assert_eq!(cents(&a), [("202", 3), ("853", 7)]);
}

#[test]
fn without_contacts_everything_goes_by_population() {
    let pop = map(&[("853", 3), ("529", 1)]);
    let con = map(&[("853", 0)]);
    let a = allocate(1_000, &pop, &con).unwrap();
    assert!(!a.performance_by_contacts);
    // 750 and 250, each split 70:30.
    assert_eq!(cents(&a), [("529", 250), ("853", 750)]);
    assert_eq!(a.shares[1].population_share_cents, 525);
    assert_eq!(a.shares[1].performance_share_cents, 225);
    check(1_000, &pop, &con, &a);
}

#[test]
fn zero_population_pays_only_for_its_contacts() {
    // Naantali: 0 by population, half of the 30 %: 1 500 of 10 000.
    let (pop, con) = (map(&[("853", 100), ("529", 0)]), map(&[("853", 1), ("529", 1)]));
    let a = allocate(10_000, &pop, &con).unwrap();
    assert_eq!(cents(&a), [("529", 1_500), ("853", 8_500)]);
    assert_eq!(
        allocate(10_000, &map(&[("853", 0)]), &map(&[("853", 4)])),
        Err(AllocationError::ZeroPopulation)
    );
    assert_eq!(
        allocate(10_000, &BTreeMap::new(), &BTreeMap::new()),
        Err(AllocationError::ZeroPopulation)
    );
}

#[test]
fn contacts_without_a_population_entry_are_named() {
    let pop = map(&[("853", 100)]);
    let con = map(&[("853", 5), ("529", 2), ("202", 1), ("680", 0)]);
    assert_eq!(
        allocate(10_000, &pop, &con),
        Err(AllocationError::MissingPopulation(vec!["202".into(), "529".into()]))
    );
}

#[test]
fn a_zero_budget_gives_zero_shares() {
    let (pop, con) = (map(&[("853", 7), ("529", 3)]), map(&[("853", 2)]));
    let a = allocate(0, &pop, &con).unwrap();
    assert!(a
        .shares
        .iter()
        .all(|s| s.share_cents == 0 && s.population_share_cents == 0));
    assert_eq!(a.sum_cents(), 0);
}

#[test]
fn huge_budgets_are_exact_or_refused() {
    let (pop, con) = (
        map(&[("853", 21_500), ("529", 3_900), ("202", 4_400)]),
        map(&[("853", 1_200), ("529", 333)]),
    );
    let budget = u128::from(u64::MAX);
    let a = allocate(budget, &pop, &con).unwrap();
    check(budget, &pop, &con, &a);
    assert_eq!(allocate(u128::MAX / 2, &pop, &con), Err(AllocationError::TooLarge));
}

#[test]
fn euros_are_read_and_written_in_cents() {
    assert_eq!(parse_euros("1250000.00"), Some(125_000_000));
    assert_eq!(parse_euros("1250000.5"), Some(125_000_050));
    assert_eq!(parse_euros("0.07"), Some(7));
    assert_eq!(parse_euros("12"), Some(1_200));
    for bad in ["", ".5", "1.", "1.234", "-1", "+1", "1e3", "1,50", " 1", "1.5x", "١٢"] {
        assert_eq!(parse_euros(bad), None, "{bad:?}");
    }
    assert_eq!(parse_euros(&"9".repeat(60)), None);
    assert_eq!(euros(125_000_050), "1250000.50");
    assert_eq!(euros(7), "0.07");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn cents_always_add_up_to_the_budget(
        budget in 0u128..=100_000_000_000_000,
        rows in proptest::collection::vec((0u64..=250_000, 0u64..=200_000), 1..=30),
    ) {
        let mut pop = BTreeMap::new();
        let mut con = BTreeMap::new();
        for (i, (p, c)) in rows.iter().enumerate() {
            pop.insert(format!("{:03}", i * 7 + 5), *p);
            con.insert(format!("{:03}", i * 7 + 5), *c);
        }
        prop_assume!(pop.values().any(|&p| p > 0));
        let a = allocate(budget, &pop, &con).unwrap();
        prop_assert_eq!(a.sum_cents(), budget);
        prop_assert_eq!(a.shares.len(), rows.len());
        check(budget, &pop, &con, &a);
    }
}
