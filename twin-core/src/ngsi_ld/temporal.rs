//! The NGSI-LD temporal query and aggregation (ETSI GS CIM 009 V1.8.1 clauses 4.11 and
//! 4.5.19): time windows from `timerel`, ISO 8601 periods, and the aggregation methods over an
//! attribute's instances.

use serde_json::{Value as Json, json};

/// A temporal window `[from_ms, to_ms]`, both inclusive, from `timerel`/`timeAt`/`endTimeAt`
/// (clause 4.11): `before` is `t < timeAt`, `after` is `t ≥ timeAt`, `between` is
/// `timeAt ≤ t < endTimeAt`. Without `timerel` every instance.
/// Errors: a missing or unknown parameter, named.
pub fn window(
    timerel: Option<&str>,
    time_at: Option<i64>,
    end_time_at: Option<i64>,
) -> Result<(i64, i64), String> {
    let at = || time_at.ok_or_else(|| "timerel needs timeAt".to_string());
    match timerel {
        None if time_at.is_some() || end_time_at.is_some() => {
            Err("timeAt and endTimeAt need timerel (before, after or between)".into())
        }
        None => Ok((i64::MIN, i64::MAX)),
        Some("before") => Ok((i64::MIN, at()?.saturating_sub(1))),
        Some("after") => Ok((at()?, i64::MAX)),
        Some("between") => {
            let end = end_time_at.ok_or("timerel=between needs endTimeAt")?;
            let start = at()?;
            if end <= start {
                return Err("endTimeAt must be after timeAt".into());
            }
            Ok((start, end - 1))
        }
        Some(other) => Err(format!("timerel `{other}` is not before, after or between")),
    }
}

/// An ISO 8601 duration (`P1D`, `PT15M`, `P1W`, `PT1H30M`, `PT0.5S`) in milliseconds; `None`
/// for a zero duration (`PT0S`, `P0D`: one period over the whole window, clause 4.5.19).
/// Errors: malformed text, or years and months, whose length depends on the calendar (refused
/// rather than approximated).
pub fn duration_ms(text: &str) -> Result<Option<i64>, String> {
    let bad = || format!("`{text}` is not an ISO 8601 duration such as P1D, PT15M or P1W");
    let rest = text.strip_prefix('P').ok_or_else(bad)?;
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) if !t.is_empty() => (d, t),
        Some(_) => return Err(bad()),
        None => (rest, ""),
    };
    if date.is_empty() && time.is_empty() {
        return Err(bad());
    }
    let mut total = 0f64;
    for (part, units) in [
        (
            date,
            &[
                ('Y', 0.0),
                ('M', 0.0),
                ('W', 604_800_000.0),
                ('D', 86_400_000.0),
            ][..],
        ),
        (
            time,
            &[('H', 3_600_000.0), ('M', 60_000.0), ('S', 1000.0)][..],
        ),
    ] {
        let mut number = String::new();
        let mut next_unit = 0;
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' {
                number.push(c);
                continue;
            }
            let at = units[next_unit..]
                .iter()
                .position(|(u, _)| *u == c)
                .ok_or_else(bad)?;
            let (unit, ms) = units[next_unit + at];
            next_unit += at + 1;
            let n: f64 = number.parse().map_err(|_| bad())?;
            number.clear();
            if ms == 0.0 {
                if n != 0.0 {
                    return Err(format!(
                        "`{text}`: years and months have no fixed length; give weeks, days, hours, minutes or seconds ({unit})"
                    ));
                }
                continue;
            }
            total += n * ms;
        }
        if !number.is_empty() {
            return Err(bad());
        }
    }
    if !total.is_finite() || total > 1e15 {
        return Err(bad());
    }
    Ok((total >= 1.0).then_some(total.round() as i64))
}

/// The aggregation methods of clause 4.5.19.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    TotalCount,
    DistinctCount,
    Sum,
    Avg,
    Min,
    Max,
    StdDev,
    SumSq,
}

impl Method {
    /// A method from its NGSI-LD name. Errors: an unknown name.
    pub fn parse(name: &str) -> Result<Method, String> {
        Ok(match name {
            "totalCount" => Method::TotalCount,
            "distinctCount" => Method::DistinctCount,
            "sum" => Method::Sum,
            "avg" => Method::Avg,
            "min" => Method::Min,
            "max" => Method::Max,
            "stddev" => Method::StdDev,
            "sumsq" => Method::SumSq,
            other => {
                return Err(format!(
                    "aggrMethods `{other}` is not one of totalCount, distinctCount, sum, avg, min, max, stddev, sumsq"
                ));
            }
        })
    }

    /// The NGSI-LD name.
    pub fn name(self) -> &'static str {
        match self {
            Method::TotalCount => "totalCount",
            Method::DistinctCount => "distinctCount",
            Method::Sum => "sum",
            Method::Avg => "avg",
            Method::Min => "min",
            Method::Max => "max",
            Method::StdDev => "stddev",
            Method::SumSq => "sumsq",
        }
    }

    /// The method over some values, or None where it does not apply (an average of text:
    /// Table 4.5.19.1-1). Numbers take every method; booleans count as 0 and 1 for sums and
    /// averages; text takes the counts and, lexically, min and max.
    pub fn apply(self, values: &[&Json]) -> Option<Json> {
        if values.is_empty() {
            return None;
        }
        let numbers: Option<Vec<f64>> = values
            .iter()
            .map(|v| match v {
                Json::Number(n) => n.as_f64(),
                Json::Bool(b) => Some(f64::from(u8::from(*b))),
                _ => None,
            })
            .collect();
        let n = values.len() as f64;
        match (self, numbers) {
            (Method::TotalCount, _) => Some(json!(values.len())),
            (Method::DistinctCount, _) => {
                let mut seen: Vec<String> = values.iter().map(|v| v.to_string()).collect();
                seen.sort();
                seen.dedup();
                Some(json!(seen.len()))
            }
            (Method::Sum, Some(x)) => Some(json!(x.iter().sum::<f64>())),
            (Method::Avg, Some(x)) => Some(json!(x.iter().sum::<f64>() / n)),
            (Method::SumSq, Some(x)) => Some(json!(x.iter().map(|v| v * v).sum::<f64>())),
            (Method::StdDev, Some(x)) => {
                let mean = x.iter().sum::<f64>() / n;
                let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
                Some(json!(var.sqrt()))
            }
            (Method::Min, Some(x)) => x.iter().copied().reduce(f64::min).map(|v| json!(v)),
            (Method::Max, Some(x)) => x.iter().copied().reduce(f64::max).map(|v| json!(v)),
            (Method::Min | Method::Max, None) => {
                let mut texts: Vec<&str> = values.iter().filter_map(|v| v.as_str()).collect();
                if texts.len() != values.len() {
                    return None;
                }
                texts.sort_unstable();
                let pick = if self == Method::Min {
                    texts.first()
                } else {
                    texts.last()
                };
                pick.map(|t| json!(t))
            }
            _ => None,
        }
    }
}

/// Aggregate time-ordered `(ms, value)` instances over periods of `period_ms` from `start_ms`
/// (one period to `end_ms` when None): per period that holds instances, `[value, period start,
/// period end]` with times in ms (clause 4.5.19's shape, times converted by the caller).
pub fn aggregate(
    points: &[(i64, &Json)],
    method: Method,
    start_ms: i64,
    end_ms: i64,
    period_ms: Option<i64>,
) -> Vec<(Json, i64, i64)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < points.len() {
        let (period_start, period_end) = match period_ms {
            None => (start_ms, end_ms),
            Some(p) => {
                let k = (points[i].0 - start_ms).div_euclid(p);
                let s = start_ms + k * p;
                (s, s.saturating_add(p))
            }
        };
        let mut j = i;
        while j < points.len() && (period_ms.is_none() || points[j].0 < period_end) {
            j += 1;
        }
        let values: Vec<&Json> = points[i..j].iter().map(|(_, v)| *v).collect();
        if let Some(v) = method.apply(&values) {
            out.push((v, period_start, period_end));
        }
        i = j.max(i + 1);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_follow_clause_4_11() {
        assert_eq!(window(None, None, None), Ok((i64::MIN, i64::MAX)));
        assert_eq!(window(Some("before"), Some(100), None), Ok((i64::MIN, 99)));
        assert_eq!(window(Some("after"), Some(100), None), Ok((100, i64::MAX)));
        assert_eq!(
            window(Some("between"), Some(100), Some(200)),
            Ok((100, 199))
        );
        assert!(window(Some("between"), Some(100), None).is_err());
        assert!(window(Some("between"), Some(200), Some(100)).is_err());
        assert!(window(Some("during"), Some(100), None).is_err());
        assert!(window(None, Some(100), None).is_err());
    }

    #[test]
    fn iso_8601_durations_in_ms_and_calendar_units_refused() {
        assert_eq!(duration_ms("PT15M"), Ok(Some(900_000)));
        assert_eq!(duration_ms("P1D"), Ok(Some(86_400_000)));
        assert_eq!(duration_ms("P1W"), Ok(Some(604_800_000)));
        assert_eq!(duration_ms("P1DT1H30M"), Ok(Some(91_800_000)));
        assert_eq!(duration_ms("PT0.5S"), Ok(Some(500)));
        assert_eq!(duration_ms("PT0S"), Ok(None));
        assert_eq!(duration_ms("P0D"), Ok(None));
        assert!(duration_ms("P1M").unwrap_err().contains("months"));
        for bad in [
            "", "P", "PT", "1D", "P1H", "PT1D", "P1DT", "PT1H1H", "PTxS", "P1.2.3D",
        ] {
            assert!(duration_ms(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn methods_over_numbers_booleans_and_text() {
        let nums = [json!(1.0), json!(2.0), json!(3.0), json!(2.0)];
        let refs: Vec<&Json> = nums.iter().collect();
        assert_eq!(Method::Avg.apply(&refs), Some(json!(2.0)));
        assert_eq!(Method::Sum.apply(&refs), Some(json!(8.0)));
        assert_eq!(Method::Min.apply(&refs), Some(json!(1.0)));
        assert_eq!(Method::Max.apply(&refs), Some(json!(3.0)));
        assert_eq!(Method::TotalCount.apply(&refs), Some(json!(4)));
        assert_eq!(Method::DistinctCount.apply(&refs), Some(json!(3)));
        assert_eq!(Method::SumSq.apply(&refs), Some(json!(18.0)));
        assert_eq!(Method::StdDev.apply(&refs), Some(json!(0.5f64.sqrt())));
        let texts = [json!("ok"), json!("full"), json!("ok")];
        let refs: Vec<&Json> = texts.iter().collect();
        assert_eq!(Method::Avg.apply(&refs), None);
        assert_eq!(Method::Max.apply(&refs), Some(json!("ok")));
        assert_eq!(Method::DistinctCount.apply(&refs), Some(json!(2)));
        let flags = [json!(true), json!(false), json!(true), json!(true)];
        let refs: Vec<&Json> = flags.iter().collect();
        assert_eq!(Method::Avg.apply(&refs), Some(json!(0.75)));
    }

    #[test]
    fn aggregation_periods_hold_only_their_instances() {
        let values = [json!(1.0), json!(3.0), json!(10.0), json!(20.0)];
        let points: Vec<(i64, &Json)> = [0, 500, 1000, 2999]
            .into_iter()
            .zip(values.iter())
            .collect();
        assert_eq!(
            aggregate(&points, Method::Avg, 0, 3000, Some(1000)),
            vec![
                (json!(2.0), 0, 1000),
                (json!(10.0), 1000, 2000),
                (json!(20.0), 2000, 3000)
            ]
        );
        assert_eq!(
            aggregate(&points, Method::Max, 0, 3000, None),
            vec![(json!(20.0), 0, 3000)]
        );
        assert!(aggregate(&[], Method::Sum, 0, 1, None).is_empty());
    }
}
