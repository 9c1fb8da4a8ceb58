//! OSM XML (API 0.6) reader on quick-xml: nodes with coordinates, ways with node references
//! and tags. A truncated or malformed file is an error with the line where reading stopped.
//!
//! As editors and APIs write it: JOSM's `action="delete"` objects and `visible="false"` ones
//! are skipped and counted, `action="modify"` and negative (new) ids are ordinary objects;
//! Overpass `out geom` coordinates on a way's `<nd lat lon>` place nodes the file does not
//! list; `<bounds>` (any number), `<meta>`, `<note>` and changeset attributes are harmless;
//! relations are counted and not used (the road graph has no turn restrictions).

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use super::{OsmData, OsmWay};
use crate::geometry::LonLat;

/// Parse OSM XML. Errors are `(line, message)`; the caller adds the file name.
pub fn parse_osm_xml(bytes: &[u8]) -> Result<OsmData, (usize, String)> {
    let mut reader = Reader::from_reader(bytes);
    reader.config_mut().trim_text(true);
    let mut data = OsmData::default();
    let mut buf = Vec::new();
    let mut current_way: Option<OsmWay> = None;
    let mut open: Vec<Vec<u8>> = Vec::new();
    let mut saw_osm = false;
    // Inside a skipped (deleted) object: the depth of its element in `open`.
    let mut skip_depth: Option<usize> = None;
    let line_at = |pos: u64| {
        1 + bytes[..(pos as usize).min(bytes.len())]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
    };
    loop {
        let event = reader.read_event_into(&mut buf).map_err(|e| {
            (
                line_at(reader.error_position()),
                format!("malformed XML: {e}"),
            )
        })?;
        // The end of the event just read: the line of a one-line tag.
        let pos = reader.buffer_position().saturating_sub(1);
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let is_empty = matches!(event, Event::Empty(_));
                let name = e.name().as_ref().to_vec();
                let deleted = attr_raw(e, b"action").is_ok_and(|a| a == "delete")
                    || attr_raw(e, b"visible").is_ok_and(|v| v == "false");
                match name.as_slice() {
                    b"osm" => saw_osm = true,
                    b"node" | b"way" | b"relation" if deleted => {
                        data.deleted_skipped += 1;
                        if !is_empty {
                            skip_depth = Some(open.len());
                        }
                    }
                    _ if skip_depth.is_some() => {}
                    b"relation" => data.relations_ignored += 1,
                    b"node" => {
                        let id = attr_i64(e, b"id").map_err(|m| (line_at(pos), m))?;
                        let lat = attr_f64(e, b"lat").map_err(|m| (line_at(pos), m))?;
                        let lon = attr_f64(e, b"lon").map_err(|m| (line_at(pos), m))?;
                        let p = LonLat::new(lon, lat);
                        if !p.is_valid() {
                            return Err((
                                line_at(pos),
                                format!("node {id} has invalid coordinates {lat}, {lon}"),
                            ));
                        }
                        data.nodes.insert(id, p);
                    }
                    b"way" => {
                        let id = attr_i64(e, b"id").map_err(|m| (line_at(pos), m))?;
                        let way = OsmWay {
                            id,
                            nodes: Vec::new(),
                            tags: Vec::new(),
                        };
                        if is_empty {
                            data.ways.push(way);
                        } else {
                            current_way = Some(way);
                        }
                    }
                    b"nd" => {
                        if let Some(way) = current_way.as_mut() {
                            let id = attr_i64(e, b"ref").map_err(|m| (line_at(pos), m))?;
                            // Overpass `out geom`: the node's place is on the reference.
                            if let (Ok(lat), Ok(lon)) = (attr_f64(e, b"lat"), attr_f64(e, b"lon")) {
                                let p = LonLat::new(lon, lat);
                                if !p.is_valid() {
                                    return Err((
                                        line_at(pos),
                                        format!("node {id} has invalid coordinates {lat}, {lon}"),
                                    ));
                                }
                                data.nodes.entry(id).or_insert(p);
                            }
                            way.nodes.push(id);
                        }
                    }
                    b"tag" => {
                        if let Some(way) = current_way.as_mut() {
                            let k = attr_string(e, b"k").map_err(|m| (line_at(pos), m))?;
                            let v = attr_string(e, b"v").map_err(|m| (line_at(pos), m))?;
                            way.tags.push((k, v));
                        }
                    }
                    _ => {}
                }
                if !is_empty {
                    open.push(name);
                }
            }
            Event::End(e) => {
                let name = e.name().as_ref().to_vec();
                if skip_depth == Some(open.len().saturating_sub(1)) {
                    skip_depth = None;
                }
                if open.pop().as_deref() != Some(name.as_slice()) {
                    return Err((
                        line_at(pos),
                        format!(
                            "unexpected closing tag </{}>",
                            String::from_utf8_lossy(&name)
                        ),
                    ));
                }
                if name == b"way"
                    && let Some(way) = current_way.take()
                {
                    data.ways.push(way);
                }
            }
            Event::Eof => {
                if let Some(unclosed) = open.last() {
                    return Err((
                        line_at(bytes.len() as u64),
                        format!(
                            "file ends inside <{}>: truncated?",
                            String::from_utf8_lossy(unclosed)
                        ),
                    ));
                }
                if !saw_osm {
                    return Err((1, "no <osm> element: not an OSM XML file".into()));
                }
                break;
            }
            _ => {}
        }
        buf.clear();
    }
    Ok(data)
}

fn attr_raw(e: &BytesStart, key: &[u8]) -> Result<String, String> {
    for a in e.attributes() {
        let a = a.map_err(|err| format!("bad attribute: {err}"))?;
        if a.key.as_ref() == key {
            return a
                .unescape_value()
                .map(|v| v.into_owned())
                .map_err(|err| format!("bad attribute value: {err}"));
        }
    }
    Err(format!(
        "<{}> has no `{}` attribute",
        String::from_utf8_lossy(e.name().as_ref()),
        String::from_utf8_lossy(key)
    ))
}

fn attr_string(e: &BytesStart, key: &[u8]) -> Result<String, String> {
    attr_raw(e, key)
}

fn attr_i64(e: &BytesStart, key: &[u8]) -> Result<i64, String> {
    let s = attr_raw(e, key)?;
    s.parse().map_err(|_| {
        format!(
            "`{}` = `{s}` is not an integer",
            String::from_utf8_lossy(key)
        )
    })
}

fn attr_f64(e: &BytesStart, key: &[u8]) -> Result<f64, String> {
    let s = attr_raw(e, key)?;
    s.parse()
        .map_err(|_| format!("`{}` = `{s}` is not a number", String::from_utf8_lossy(key)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = r#"<?xml version="1.0"?>
<osm version="0.6">
  <node id="1" lat="44.86" lon="24.86"/>
  <node id="2" lat="44.87" lon="24.87"/>
  <way id="10">
    <nd ref="1"/>
    <nd ref="2"/>
    <tag k="highway" v="residential"/>
    <tag k="name" v="Strada &amp; Test"/>
  </way>
</osm>
"#;

    #[test]
    fn reads_nodes_ways_and_tags() {
        let data = parse_osm_xml(SMALL.as_bytes()).unwrap();
        assert_eq!(data.nodes.len(), 2);
        assert_eq!(data.ways[0].nodes, vec![1, 2]);
        assert_eq!(data.ways[0].tag("name"), Some("Strada & Test"));
    }

    #[test]
    fn josm_and_overpass_files_are_read_as_their_editors_mean() {
        let josm = r#"<?xml version="1.0"?>
<osm version="0.6" generator="JOSM">
  <bounds minlat="44.8" minlon="24.8" maxlat="44.9" maxlon="24.9"/>
  <bounds minlat="44.7" minlon="24.7" maxlat="44.8" maxlon="24.8"/>
  <node id="1" lat="44.86" lon="24.86"/>
  <node id="-5" action="modify" lat="44.87" lon="24.87"/>
  <node id="3" action="delete" lat="44.88" lon="24.88"/>
  <way id="10" action="delete" visible="true">
    <nd ref="1"/>
    <nd ref="3"/>
    <tag k="highway" v="residential"/>
  </way>
  <way id="-11" action="modify">
    <nd ref="1"/>
    <nd ref="-5"/>
    <tag k="highway" v="residential"/>
  </way>
  <way id="12" visible="false"><nd ref="1"/><nd ref="-5"/></way>
  <relation id="7"><member type="way" ref="-11" role=""/><tag k="type" v="restriction"/></relation>
</osm>
"#;
        let data = parse_osm_xml(josm.as_bytes()).unwrap();
        assert_eq!(data.ways.len(), 1, "{:?}", data.ways);
        assert_eq!(data.ways[0].id, -11);
        assert_eq!(data.ways[0].nodes, vec![1, -5]);
        assert!(!data.nodes.contains_key(&3));
        assert_eq!(data.deleted_skipped, 3);
        assert_eq!(data.relations_ignored, 1);
        // Overpass `out geom`: coordinates on the way's node references, no <node> elements.
        let geom = r#"<osm version="0.6" generator="Overpass API"><note>data</note><meta osm_base="x"/>
  <way id="20"><bounds minlat="44.8" minlon="24.8" maxlat="44.9" maxlon="24.9"/>
    <nd ref="100" lat="44.861" lon="24.861"/><nd ref="101" lat="44.862" lon="24.862"/>
    <tag k="highway" v="primary"/></way></osm>"#;
        let data = parse_osm_xml(geom.as_bytes()).unwrap();
        assert_eq!(data.ways[0].nodes, vec![100, 101]);
        assert_eq!(data.nodes.len(), 2);
    }

    #[test]
    fn a_byte_order_mark_and_crlf_are_accepted() {
        let windows = format!("\u{feff}{}", SMALL.replace('\n', "\r\n"));
        let data = parse_osm_xml(windows.as_bytes()).unwrap();
        assert_eq!(data.ways[0].nodes, vec![1, 2]);
    }

    #[test]
    fn truncated_file_names_the_line() {
        let cut = &SMALL[..SMALL.find("<nd ref=\"2\"").unwrap()];
        let (line, message) = parse_osm_xml(cut.as_bytes()).unwrap_err();
        assert_eq!(line, 7, "{message}");
        assert!(message.contains("truncated"), "{message}");
    }

    #[test]
    fn bad_coordinates_name_the_line() {
        let bad = SMALL.replace(r#"lat="44.87""#, r#"lat="north""#);
        let (line, message) = parse_osm_xml(bad.as_bytes()).unwrap_err();
        assert_eq!(line, 4);
        assert!(message.contains("`lat` = `north`"), "{message}");
    }

    proptest::proptest! {
        #![proptest_config(crate::formats::mutate::config(100))]
        /// Mutated real extracts (the first 400 lines of data/osm-samples/neukolln) give a
        /// clean error or data, never a panic.
        #[test]
        fn mutated_real_extracts_give_an_error_or_data(edits in crate::formats::mutate::edits()) {
            let real: String = include_str!("../../../data/osm-samples/neukolln/input.osm")
                .lines()
                .take(400)
                .collect::<Vec<_>>()
                .join("\n");
            let text = crate::formats::mutate::apply(&real, &edits);
            let _ = parse_osm_xml(text.as_bytes());
        }
    }
}
