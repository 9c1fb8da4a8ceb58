//! Reading only under given folders: what a researcher's script or a batch worker (whose jobs
//! anyone who can publish on the queue writes) may open. A path counts as inside when it
//! resolves, links followed, under one of the folders; a scenario counts as inside when every
//! file it would read does: the scenario file, its city's manifest and every file the manifest
//! names (layers, boundary, and the EV sessions when it runs the EV model), and its snapshot.
//! The built-in Pitești is in the binary: a scenario on it reads no city file.

use std::path::{Path, PathBuf};

use twin_core::bundle::{BundleSource, CityManifest};

use crate::file::{Model, Scenario};

/// The resolved path of `path`, when it exists and lies under one of `roots`.
pub fn within(path: &Path, roots: &[PathBuf]) -> Option<PathBuf> {
    let full = path.canonicalize().ok()?;
    roots
        .iter()
        .any(|root| root.canonicalize().is_ok_and(|r| full.starts_with(r)))
        .then_some(full)
}

/// Every file the scenario at `file` would read. Errors name what cannot be read.
pub fn files_of_scenario(file: &Path) -> Result<Vec<PathBuf>, String> {
    let (scenario, _, _) = Scenario::read(file).map_err(|e| e.to_string())?;
    let mut files = vec![file.to_path_buf()];
    if let Some((snapshot, _)) = &scenario.snapshot {
        files.push(snapshot.clone());
    }
    let Some(city_dir) = &scenario.city_dir else {
        return Ok(files);
    };
    let source = BundleSource::dir(city_dir);
    let manifest_path = source.path_of(source.manifest());
    files.push(manifest_path.clone());
    // Unreadable here means outside or missing: the caller's check says which it cares for.
    if let Ok(text) = source.read_text(source.manifest())
        && let Ok(manifest) = CityManifest::parse(&text, &manifest_path)
    {
        let l = &manifest.layers;
        let named = [
            &manifest.boundary,
            &l.streets,
            &l.intersections,
            &l.power,
            &l.power_buses,
            &l.water,
            &l.water_valves,
            &l.bins,
            &l.chargers,
        ];
        files.extend(named.into_iter().flatten().map(|n| source.path_of(n)));
        if scenario.runs(Model::Ev)
            && let Some(s) = manifest.ev.as_ref().and_then(|e| e.sessions.as_ref())
        {
            files.push(source.path_of(s));
        }
    }
    Ok(files)
}

/// The first file the scenario at `file` would read that is not under `roots`, if any.
pub fn outside_of(file: &Path, roots: &[PathBuf]) -> Result<Option<PathBuf>, String> {
    if within(file, roots).is_none() {
        return Ok(Some(file.to_path_buf()));
    }
    Ok(files_of_scenario(file)?
        .into_iter()
        .find(|f| within(f, roots).is_none()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_city_layer_outside_the_folders_makes_the_scenario_outside() {
        let top = tempfile::tempdir().expect("temp dir");
        let (inside, outside) = (top.path().join("inside"), top.path().join("outside"));
        std::fs::create_dir_all(inside.join("city")).expect("dirs");
        std::fs::create_dir_all(&outside).expect("dirs");
        std::fs::write(outside.join("streets.geojson"), "{}").expect("layer");
        std::fs::write(
            inside.join("city/city.toml"),
            "name = \"X\"\npopulation = 1\ntimezone = \"UTC\"\ncentre = [24.0, 45.0]\n\
             [layers]\nstreets = \"../../outside/streets.geojson\"\n",
        )
        .expect("manifest");
        let scenario = inside.join("s.toml");
        std::fs::write(
            &scenario,
            "name = \"s\"\ncity = \"city\"\nstart = \"2026-03-02T00:00\"\nhorizon = \"1h\"\n",
        )
        .expect("scenario");
        let roots = [inside.clone()];
        let found = outside_of(&scenario, &roots).expect("readable");
        assert_eq!(
            found,
            Some(inside.join("city/../../outside/streets.geojson"))
        );
        // With both folders allowed, nothing is outside.
        let roots = [inside, outside];
        assert_eq!(outside_of(&scenario, &roots).expect("readable"), None);
    }
}
