//! The traffic model's calibration on Pitești: the morning peak hour loses the share of travel
//! time to congestion on the main axes that Romanian county seats of its size lose on a weekday
//! (the Institute for Visionary Cities' Traffic Index 2025: 15–30 %), and the main axes carry
//! most of the traffic, as in a town.

use twin_core::entity::Asset;
use twin_core::traffic::city::{RoadChanges, build_city_traffic, excess_travel_time_ratio};
use twin_core::traffic::{AssignmentOptions, assign};

#[test]
fn the_morning_peak_loses_what_a_county_seat_loses_on_its_main_axes() {
    let city = twin_core::builtin::load_pitesti().expect("the built-in city");
    let traffic = build_city_traffic(&city, &RoadChanges::default()).expect("traffic model");
    let r = assign(
        &traffic.network,
        &traffic.demand,
        &AssignmentOptions::default(),
        &mut |_| {},
    )
    .expect("assignment");
    assert!(r.converged, "relative gap {}", r.relative_gap);
    let main = excess_travel_time_ratio(&city, &traffic, &r.flows, &r.costs, |s| {
        s.road_class.is_main_axis()
    });
    assert!(
        (0.15..=0.30).contains(&main),
        "excess travel time on the main axes at the morning peak: {main:.3}"
    );
    // Vehicle-km by whether the street is a main axis.
    let (mut on_main, mut total) = (0.0, 0.0);
    for (a, seg) in traffic.link_segment.iter().enumerate() {
        let Some(seg) = *seg else { continue };
        let Asset::StreetSegment(s) = &city.entities()[seg].asset else {
            continue;
        };
        let vkm = r.flows[a] * traffic.network.links[a].length;
        total += vkm;
        if s.road_class.is_main_axis() {
            on_main += vkm;
        }
    }
    assert!(
        on_main > 0.6 * total,
        "main axes carry {on_main:.0} of {total:.0} vehicle-km"
    );
}
