//! Reliability indices of IEEE 1366 over a set of interruptions: SAIFI, SAIDI, CAIDI and the
//! energy not supplied (ENS). Interruptions no longer than the threshold (3 min, as EN 50160
//! counts long interruptions; IEEE 1366 uses 5 min) are momentary and not counted.

/// Customers interrupted together for the same duration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interruption {
    pub customers: u32,
    pub duration_min: f64,
    /// Load those customers would have drawn meanwhile, in kW.
    pub load_kw: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReliabilityIndices {
    /// Sustained interruptions per customer served.
    pub saifi: f64,
    /// Interruption minutes per customer served.
    pub saidi_min: f64,
    /// Minutes per interruption of an interrupted customer (SAIDI / SAIFI).
    pub caidi_min: f64,
    /// Energy not supplied, kWh.
    pub ens_kwh: f64,
    /// Momentary interruptions (at most `threshold_min` long, more than none) per customer
    /// served: IEEE 1366-2012's MAIFI. They count in no other index.
    pub maifi: f64,
    /// Customer interruptions longer than `threshold_min` (the numerator of SAIFI).
    pub customers_sustained: f64,
    /// Customer interruptions of at most `threshold_min` (the numerator of MAIFI).
    pub customers_momentary: f64,
    pub customers_served: u32,
    /// Interruptions this long or shorter were not counted.
    pub threshold_min: f64,
}

/// EN 50160's boundary between short and long interruptions.
pub const SUSTAINED_THRESHOLD_MIN: f64 = 3.0;

pub fn reliability_indices(
    interruptions: &[Interruption],
    customers_served: u32,
    threshold_min: f64,
) -> ReliabilityIndices {
    let (mut ci, mut cmi, mut ens, mut momentary) = (0.0, 0.0, 0.0, 0.0);
    for i in interruptions.iter().filter(|i| i.customers > 0) {
        if i.duration_min > threshold_min {
            ci += f64::from(i.customers);
            cmi += f64::from(i.customers) * i.duration_min;
            ens += i.load_kw * i.duration_min / 60.0;
        } else if i.duration_min > 0.0 {
            momentary += f64::from(i.customers);
        }
    }
    let n = f64::from(customers_served.max(1));
    let saifi = ci / n;
    let saidi = cmi / n;
    ReliabilityIndices {
        saifi,
        saidi_min: saidi,
        caidi_min: if saifi > 0.0 { saidi / saifi } else { 0.0 },
        ens_kwh: ens,
        maifi: momentary / n,
        customers_sustained: ci,
        customers_momentary: momentary,
        customers_served,
        threshold_min,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ieee_1366_definitions() {
        // 1,000 customers; 100 out for 60 min, 50 out for 2 min (momentary), 200 out for 30 min.
        let events = [
            Interruption {
                customers: 100,
                duration_min: 60.0,
                load_kw: 120.0,
            },
            Interruption {
                customers: 50,
                duration_min: 2.0,
                load_kw: 60.0,
            },
            Interruption {
                customers: 200,
                duration_min: 30.0,
                load_kw: 240.0,
            },
        ];
        let r = reliability_indices(&events, 1_000, SUSTAINED_THRESHOLD_MIN);
        assert!((r.saifi - 0.3).abs() < 1e-12);
        assert!((r.saidi_min - 12.0).abs() < 1e-12);
        assert!((r.caidi_min - 40.0).abs() < 1e-12);
        assert!((r.ens_kwh - (120.0 + 120.0)).abs() < 1e-9);
        assert!((r.maifi - 0.05).abs() < 1e-12);
        assert_eq!(
            (r.customers_sustained, r.customers_momentary),
            (300.0, 50.0)
        );
    }
}
