//! Slack Induction by String Removals (SISR) for the CVRP.
//!
//! Each iteration removes strings of consecutive customers from routes near a random seed
//! customer (sometimes keeping a middle part: the "split string"), reinserts them greedily at
//! their cheapest feasible position while skipping positions at random ("blinks"), and accepts
//! the result by simulated annealing with an exponentially cooling temperature.

use std::time::Instant;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::problem::{CvrpProblem, CvrpSolution};

/// How long to search.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Budget {
    /// A fixed number of iterations: the same seed gives the same solution.
    Iterations(u64),
    /// Wall-clock seconds: results vary with the machine's speed.
    Seconds(f64),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SolveOptions {
    pub seed: u64,
    pub budget: Budget,
    /// Stop early once a solution of this cost or better is found.
    pub target_cost: Option<f64>,
}

/// Average number of customers removed per iteration, maximum string length, blink rate,
/// split-string parameters (the paper's values).
const AVG_REMOVED: f64 = 10.0;
const MAX_STRING: f64 = 10.0;
const BLINK_RATE: f64 = 0.01;
const SPLIT_ALPHA: f64 = 0.01;

#[derive(Clone)]
struct State {
    routes: Vec<Vec<usize>>,
    loads: Vec<u32>,
    /// Per route: its length (for the duration limit).
    lengths: Vec<f64>,
    cost: f64,
}

impl State {
    fn route_of(&self, n: usize) -> Vec<usize> {
        let mut of = vec![usize::MAX; n];
        for (r, route) in self.routes.iter().enumerate() {
            for &c in route {
                of[c] = r;
            }
        }
        of
    }
}

/// Search for a good solution; every solution returned has passed [`CvrpProblem::check`].
pub fn solve(p: &CvrpProblem, options: &SolveOptions) -> CvrpSolution {
    let started = Instant::now();
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let n = p.n;
    // Neighbours of each customer by distance (customers only).
    let neighbours: Vec<Vec<usize>> = (0..n)
        .map(|c| {
            let mut v: Vec<usize> = (1..n).filter(|&o| o != c).collect();
            v.sort_by(|&a, &b| p.d(c, a).total_cmp(&p.d(c, b)).then(a.cmp(&b)));
            v
        })
        .collect();
    let mean_depot: f64 = (1..n).map(|c| p.d(0, c)).sum::<f64>() / (n.max(2) - 1) as f64;
    let t_start = (mean_depot / 4.0).max(1e-3);
    let t_end = t_start / 100.0;

    let mut current = State {
        routes: Vec::new(),
        loads: Vec::new(),
        lengths: Vec::new(),
        cost: 0.0,
    };
    let mut all: Vec<usize> = (1..n).collect();
    all.shuffle(&mut rng);
    recreate(p, &mut current, &mut all, &mut rng);
    let mut best = CvrpSolution {
        routes: current.routes.clone(),
        cost: current.cost,
    };

    let mut iteration: u64 = 0;
    let mut removed: Vec<usize> = Vec::new();
    let mut progress = 0.0;
    loop {
        progress = match options.budget {
            Budget::Iterations(total) => iteration as f64 / total.max(1) as f64,
            // Reading the clock costs more than an iteration of a small instance: every 64th.
            Budget::Seconds(s) if iteration.is_multiple_of(64) => {
                started.elapsed().as_secs_f64() / s.max(1e-9)
            }
            Budget::Seconds(_) => progress,
        };
        if progress >= 1.0 || options.target_cost.is_some_and(|t| best.cost <= t + 1e-9) {
            break;
        }
        let temperature = t_start * (t_end / t_start).powf(progress.min(1.0));
        iteration += 1;

        let mut candidate = current.clone();
        removed.clear();
        ruin(p, &mut candidate, &neighbours, &mut removed, &mut rng);
        sort_removed(p, &mut removed, &mut rng);
        recreate(p, &mut candidate, &mut removed, &mut rng);
        let threshold = current.cost - temperature * rng.random::<f64>().max(1e-300).ln();
        if candidate.cost < threshold {
            current = candidate;
            if current.cost < best.cost - 1e-9 {
                best = CvrpSolution {
                    routes: current.routes.clone(),
                    cost: current.cost,
                };
            }
        }
    }
    // Recompute the cost exactly (incremental sums drift) and check the solution.
    best.routes.retain(|r| !r.is_empty());
    best.cost = best.routes.iter().map(|r| p.route_cost(r)).sum();
    p.check_routes(&best)
        .expect("SISR keeps every route feasible");
    best
}

/// Remove strings of customers near a random seed customer.
fn ruin(
    p: &CvrpProblem,
    s: &mut State,
    neighbours: &[Vec<usize>],
    removed: &mut Vec<usize>,
    rng: &mut ChaCha8Rng,
) {
    let customers = p.n - 1;
    if customers == 0 || s.routes.is_empty() {
        return;
    }
    let avg_route = customers as f64 / s.routes.len() as f64;
    let l_s_max = MAX_STRING.min(avg_route);
    let k_s_max = 4.0 * AVG_REMOVED / (1.0 + l_s_max) - 1.0;
    let k_s = (rng.random_range(1.0..k_s_max.max(1.0) + 1.0)).floor() as usize;
    let seed = rng.random_range(1..p.n);
    let route_of = s.route_of(p.n);
    let mut ruined: Vec<usize> = Vec::new();
    for &c in std::iter::once(&seed).chain(neighbours[seed].iter()) {
        if ruined.len() >= k_s {
            break;
        }
        let r = route_of[c];
        if r == usize::MAX || ruined.contains(&r) {
            continue;
        }
        let route_len = s.routes[r].len();
        let l_max = (route_len as f64).min(l_s_max);
        let l = (rng.random_range(1.0..l_max + 1.0)).floor() as usize;
        let pos = s.routes[r]
            .iter()
            .position(|&x| x == c)
            .expect("c is on its route");
        if l >= route_len || rng.random_bool(0.5) || route_len <= l + 1 {
            remove_string(p, s, r, pos, l.min(route_len), 0, removed, rng);
        } else {
            // Split string: remove l customers of a string of l + m, keeping m in the middle.
            let mut m = 1;
            while l + m < route_len && rng.random::<f64>() >= SPLIT_ALPHA && rng.random_bool(0.5) {
                m += 1;
            }
            remove_string(p, s, r, pos, l + m, m, removed, rng);
        }
        ruined.push(r);
    }
}

/// Remove a string of `len` customers of route `r` containing position `pos`, keeping `keep`
/// consecutive customers inside it.
#[allow(clippy::too_many_arguments)]
fn remove_string(
    p: &CvrpProblem,
    s: &mut State,
    r: usize,
    pos: usize,
    len: usize,
    keep: usize,
    removed: &mut Vec<usize>,
    rng: &mut ChaCha8Rng,
) {
    let route_len = s.routes[r].len();
    let len = len.min(route_len);
    let first_min = (pos + 1).saturating_sub(len);
    let first_max = pos.min(route_len - len);
    let start = rng.random_range(first_min..=first_max);
    let kept_at = if keep > 0 && len > keep {
        rng.random_range(0..=len - keep)
    } else {
        len
    };
    let old_cost = p.route_cost(&s.routes[r]);
    let mut remaining = Vec::with_capacity(route_len);
    for (k, &c) in s.routes[r].iter().enumerate() {
        let inside = k >= start && k < start + len;
        let kept = inside && k - start >= kept_at && k - start < kept_at + keep;
        if inside && !kept {
            removed.push(c);
            s.loads[r] -= p.demand[c];
        } else {
            remaining.push(c);
        }
    }
    let new_length = p.route_cost(&remaining);
    s.cost += new_length - old_cost;
    s.lengths[r] = new_length;
    s.routes[r] = remaining;
}

/// Order removed customers: random, by demand, far from or close to the depot (weights 4:4:2:1).
fn sort_removed(p: &CvrpProblem, removed: &mut [usize], rng: &mut ChaCha8Rng) {
    match rng.random_range(0..11) {
        0..=3 => removed.shuffle(rng),
        4..=7 => removed.sort_by(|&a, &b| p.demand[b].cmp(&p.demand[a]).then(a.cmp(&b))),
        8..=9 => removed.sort_by(|&a, &b| p.d(0, b).total_cmp(&p.d(0, a)).then(a.cmp(&b))),
        _ => removed.sort_by(|&a, &b| p.d(0, a).total_cmp(&p.d(0, b)).then(a.cmp(&b))),
    }
}

/// Insert each removed customer at its cheapest feasible position (skipping positions with
/// probability BLINK_RATE), opening a new route when none fits.
fn recreate(p: &CvrpProblem, s: &mut State, removed: &mut Vec<usize>, rng: &mut ChaCha8Rng) {
    for &c in removed.iter() {
        let mut best: Option<(f64, usize, usize)> = None;
        for (r, route) in s.routes.iter().enumerate() {
            if s.loads[r] + p.demand[c] > p.capacity {
                continue;
            }
            let mut prev = 0;
            for i in 0..=route.len() {
                let next = if i < route.len() { route[i] } else { 0 };
                if rng.random::<f64>() >= BLINK_RATE {
                    let delta = p.d(prev, c) + p.d(c, next) - p.d(prev, next);
                    if best.is_none_or(|(b, _, _)| delta < b)
                        && p.within_duration(s.lengths[r] + delta, route.len() + 1)
                    {
                        best = Some((delta, r, i));
                    }
                }
                prev = next;
            }
        }
        match best {
            Some((delta, r, i)) => {
                s.routes[r].insert(i, c);
                s.loads[r] += p.demand[c];
                s.lengths[r] += delta;
                s.cost += delta;
            }
            None => {
                let length = p.d(0, c) + p.d(c, 0);
                s.routes.push(vec![c]);
                s.loads.push(p.demand[c]);
                s.lengths.push(length);
                s.cost += length;
            }
        }
    }
    removed.clear();
    // Drop emptied routes (their loads with them).
    let mut k = 0;
    while k < s.routes.len() {
        if s.routes[k].is_empty() {
            s.routes.swap_remove(k);
            s.loads.swap_remove(k);
            s.lengths.swap_remove(k);
        } else {
            k += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn random_problem(points: &[(f64, f64, u32)], capacity: u32) -> CvrpProblem {
        let n = points.len() + 1;
        let mut coords = vec![(50.0, 50.0)];
        coords.extend(points.iter().map(|p| (p.0, p.1)));
        let mut dist = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                dist[i * n + j] =
                    ((coords[i].0 - coords[j].0).hypot(coords[i].1 - coords[j].1) + 0.5).floor();
            }
        }
        let mut demand = vec![0];
        demand.extend(points.iter().map(|p| p.2.min(capacity)));
        CvrpProblem {
            name: "random".into(),
            n,
            capacity,
            demand,
            dist,
            file_index: (0..n).collect(),
            service_time: 0.0,
            max_route_duration: None,
            vehicles: None,
        }
    }

    /// The best cost over every assignment of customers to routes and every order (small n).
    fn brute_force(p: &CvrpProblem) -> f64 {
        fn go(
            p: &CvrpProblem,
            left: &mut Vec<usize>,
            routes: &mut Vec<Vec<usize>>,
            best: &mut f64,
        ) {
            let Some(c) = left.pop() else {
                let feasible = routes.iter().all(|r| {
                    r.iter().map(|&c| p.demand[c]).sum::<u32>() <= p.capacity
                        && p.within_duration(p.route_cost(r), r.len())
                });
                if feasible {
                    *best = best.min(routes.iter().map(|r| p.route_cost(r)).sum());
                }
                return;
            };
            for r in 0..=routes.len() {
                if r == routes.len() {
                    routes.push(vec![c]);
                    go(p, left, routes, best);
                    routes.pop();
                } else {
                    for i in 0..=routes[r].len() {
                        routes[r].insert(i, c);
                        go(p, left, routes, best);
                        routes[r].remove(i);
                    }
                }
            }
            left.push(c);
        }
        let mut best = f64::INFINITY;
        go(p, &mut (1..p.n).collect(), &mut Vec::new(), &mut best);
        best
    }

    #[test]
    fn a_duration_limit_and_service_times_are_honoured_to_the_optimum() {
        // Six customers on a line and a ring: with no limit one route serves all; with the
        // limit and service times, more (and longer in total) routes are needed.
        let points = [
            (60.0, 50.0, 1),
            (70.0, 50.0, 1),
            (80.0, 50.0, 1),
            (50.0, 70.0, 1),
            (30.0, 50.0, 1),
            (50.0, 30.0, 1),
        ];
        let mut p = random_problem(&points, 100);
        let free = solve(
            &p,
            &SolveOptions {
                seed: 1,
                budget: Budget::Iterations(3000),
                target_cost: None,
            },
        );
        assert_eq!(free.cost, brute_force(&p));
        p.service_time = 5.0;
        p.max_route_duration = Some(75.0);
        let limited = solve(
            &p,
            &SolveOptions {
                seed: 1,
                budget: Budget::Iterations(3000),
                target_cost: None,
            },
        );
        assert!(p.check(&limited).is_ok());
        assert_eq!(limited.cost, brute_force(&p));
        assert!(limited.cost > free.cost && limited.routes.len() > free.routes.len());
        for r in &limited.routes {
            assert!(p.route_duration(r) <= 75.0, "{r:?}");
        }
        p.vehicles = Some(1);
        assert!(matches!(
            p.check(&limited),
            Err(crate::routing::problem::SolutionError::Fleet { .. })
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        #[test]
        fn routes_are_always_feasible_and_deterministic(
            points in proptest::collection::vec((0.0f64..100.0, 0.0f64..100.0, 1u32..40), 1..40),
            capacity in 40u32..120,
            seed in 0u64..1000,
        ) {
            let mut p = random_problem(&points, capacity);
            if seed % 2 == 1 {
                // A duration limit every customer can meet alone, and service times.
                p.service_time = 3.0;
                let longest = (1..p.n).map(|c| p.route_duration(&[c])).fold(0.0, f64::max);
                p.max_route_duration = Some(longest * 1.5);
            }
            let options = SolveOptions { seed, budget: Budget::Iterations(300), target_cost: None };
            let a = solve(&p, &options);
            prop_assert!(p.check(&a).is_ok());
            let b = solve(&p, &options);
            prop_assert_eq!(a, b);
        }
    }
}
