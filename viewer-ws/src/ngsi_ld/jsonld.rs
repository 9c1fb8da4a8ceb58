//! User @contexts (ETSI GS CIM 009 clauses 5.5.7 and 6.3.5): a request may name its own
//! @context (in a `Link` header, or in an `application/ld+json` body); its terms are expanded
//! to IRIs with that context and the answer is compacted with it again.
//!
//! The twin keeps every name in one form, its **internal name**: the term's IRI compacted
//! with the core context. A term of the core context's default vocabulary stays the short
//! name the twin has always used (`fillingLevel` is
//! `https://uri.etsi.org/ngsi-ld/default-context/fillingLevel`), any other IRI is kept whole
//! (`https://example.org/height`). So a request's term becomes internal by expanding it with
//! the request's context and compacting the IRI with the core context, and an internal name
//! goes out by the reverse. Both steps are the JSON-LD 1.1 algorithms of the `json-ld` crate
//! (context processing, expansion, compaction with its term selection), run on a one-node
//! document whose properties are the names; values never go through them (NGSI-LD expands
//! names and types, not values). Names of the core context itself (`id`, `type`, `value`,
//! `observedAt`, …) are protected and never translated. What a context maps is memoised per
//! context.
//!
//! Context documents come from, in order: the core context bundled in the binary (under every
//! URL clients name it by), those fetched already (kept in memory), a folder of pre-loaded
//! documents (`--ngsi-ld-contexts DIR`, laid out as `DIR/<host>/<path>`, for machines without
//! internet), and an HTTP GET. One that cannot be had answers 503 `LdContextNotAvailable`; a
//! document that is not a valid JSON-LD context answers 400 `BadRequestData` with the
//! processor's reason.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::StatusCode;
use iref::{Iri, IriBuf};
use json_ld::syntax::Parse;
use json_ld::{JsonLdProcessor, LoadError, Loader, RemoteContextReference, RemoteDocument};
use serde_json::{Map, Value as Json, json};

use super::CORE_CONTEXT;
use super::problem::Problem;

/// The NGSI-LD core context (v1.8, ETSI GS CIM 009 Annex B), bundled.
const CORE_TEXT: &str = include_str!("../../../data/smart-data-models/ngsi-ld-core-context.jsonld");
/// The IRI under which a request's own context is handed to the JSON-LD processor.
const USER_CONTEXT: &str = "urn:citytwin:context:request";
/// Context documents and term maps kept at most; past that the cache starts again.
const MOST_CACHED: usize = 256;
/// Names remembered per context and direction; past that the memo starts again.
const MOST_NAMES: usize = 10_000;
/// How long a context that could not be had is answered as unavailable without trying again.
/// (Shorter than the notifications' retries, which may then find it.)
const FAILED_FOR: std::time::Duration = std::time::Duration::from_secs(10);
/// Context documents one request may fetch (those a context names, and theirs).
const MOST_FETCHES: usize = 8;

/// Whether a context URL names the NGSI-LD core context (any version: the twin answers with
/// v1.8, whose terms every later version keeps).
pub(super) fn is_core(url: &str) -> bool {
    let Some(file) = url
        .strip_prefix("https://uri.etsi.org/ngsi-ld/")
        .or_else(|| url.strip_prefix("http://uri.etsi.org/ngsi-ld/"))
        .and_then(|rest| rest.rsplit('/').next())
    else {
        return false;
    };
    let Some(version) = file
        .strip_prefix("ngsi-ld-core-context")
        .and_then(|f| f.strip_suffix(".jsonld"))
    else {
        return false;
    };
    // `-v1.8`, or nothing for the unversioned URL.
    version.is_empty()
        || version
            .strip_prefix("-v")
            .is_some_and(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_digit() || c == '.'))
}

/// The context documents the twin can use and what each context maps.
pub struct Contexts {
    /// Pre-loaded context documents, `DIR/<host>/<path>`.
    folder: Option<PathBuf>,
    /// Context documents by URL: fetched or read from the folder.
    documents: Mutex<HashMap<String, Arc<str>>>,
    /// Term maps by context (its JSON text).
    maps: Mutex<HashMap<String, Arc<TermMap>>>,
    /// Context URLs that could not be had lately, and why.
    failed: Mutex<HashMap<String, (std::time::Instant, Problem)>>,
    /// The terms of the core context: never translated.
    core_terms: HashSet<String>,
}

impl Contexts {
    /// Contexts with pre-loaded documents in `folder`, if given.
    pub fn new(folder: Option<PathBuf>) -> Contexts {
        let core: Json = serde_json::from_str(CORE_TEXT).unwrap_or_default();
        let core_terms = core["@context"]
            .as_object()
            .map(|terms| terms.keys().cloned().collect())
            .unwrap_or_default();
        Contexts {
            folder,
            documents: Mutex::default(),
            maps: Mutex::default(),
            failed: Mutex::default(),
            core_terms,
        }
    }

    /// The term map of a request's `context` (a URL, an object or a list), or None when the
    /// context is the core context alone (names are internal already).
    pub(super) fn terms(&self, context: &Json) -> Result<Option<Arc<TermMap>>, Problem> {
        let entries: Vec<&Json> = match context {
            Json::Array(items) => items.iter().collect(),
            one => vec![one],
        };
        if let Some(bad) = entries
            .iter()
            .find(|e| !matches!(e, Json::String(_) | Json::Object(_)))
        {
            return Err(Problem::bad_request(format!(
                "@context entry {bad}: a context is a URL, an object or a list of them"
            )));
        }
        if entries.iter().all(|e| e.as_str().is_some_and(is_core)) {
            return Ok(None);
        }
        let key = context.to_string();
        let mut maps = lock(&self.maps);
        if maps.len() >= MOST_CACHED {
            maps.clear();
        }
        let map = maps.entry(key).or_insert_with(|| {
            Arc::new(TermMap {
                context: context.clone(),
                to_internal: Mutex::default(),
                to_external: Mutex::default(),
            })
        });
        Ok(Some(map.clone()))
    }

    /// The internal names of `names` (terms of `map`'s context), in order.
    pub(super) async fn internal(
        &self,
        map: &TermMap,
        names: &[String],
    ) -> Result<Vec<String>, Problem> {
        self.translate(map, names, Direction::Internal).await
    }

    /// The terms of `map`'s context for internal `names`, in order.
    pub(super) async fn external(
        &self,
        map: &TermMap,
        names: &[String],
    ) -> Result<Vec<String>, Problem> {
        self.translate(map, names, Direction::External).await
    }

    async fn translate(
        &self,
        map: &TermMap,
        names: &[String],
        direction: Direction,
    ) -> Result<Vec<String>, Problem> {
        let memo = match direction {
            Direction::Internal => &map.to_internal,
            Direction::External => &map.to_external,
        };
        let unknown: Vec<String> = {
            let memo = lock(memo);
            let mut unknown: Vec<String> = names
                .iter()
                .filter(|n| !self.core_terms.contains(*n) && !memo.contains_key(*n))
                .cloned()
                .collect();
            unknown.sort_unstable();
            unknown.dedup();
            unknown
        };
        if !unknown.is_empty() {
            let translated = self.run(map, unknown.clone(), direction).await?;
            let mut memo = lock(memo);
            if memo.len() + unknown.len() > MOST_NAMES {
                memo.clear();
            }
            memo.extend(unknown.into_iter().zip(translated));
        }
        let memo = lock(memo);
        Ok(names
            .iter()
            .map(|n| memo.get(n).cloned().unwrap_or_else(|| n.clone()))
            .collect())
    }

    /// Run the JSON-LD processor on `names`, fetching the context documents it asks for.
    async fn run(
        &self,
        map: &TermMap,
        names: Vec<String>,
        direction: Direction,
    ) -> Result<Vec<String>, Problem> {
        // The core context is always the last one in force (clause 5.5.7): its terms cannot be
        // redefined, and its default vocabulary takes every term the request's does not map.
        let mut entries = match &map.context {
            Json::Array(items) => items.clone(),
            one => vec![one.clone()],
        };
        entries.retain(|e| !e.as_str().is_some_and(is_core));
        entries.push(json!(CORE_CONTEXT));
        let user_document = Arc::<str>::from(json!({"@context": entries}).to_string());
        for _ in 0..=MOST_FETCHES {
            let mut documents = lock(&self.documents).clone();
            documents.insert(USER_CONTEXT.into(), user_document.clone());
            let names = names.clone();
            let outcome = tokio::task::spawn_blocking(move || {
                let loader = DocumentLoader {
                    documents,
                    missing: Mutex::default(),
                };
                let result = match direction {
                    Direction::Internal => {
                        translate_names(&loader, USER_CONTEXT, CORE_CONTEXT, &names)
                    }
                    Direction::External => {
                        translate_names(&loader, CORE_CONTEXT, USER_CONTEXT, &names)
                    }
                };
                (result, lock(&loader.missing).take())
            })
            .await
            .map_err(|e| Problem::internal(format!("the JSON-LD processor failed: {e}")))?;
            match outcome {
                (Ok(translated), _) => return Ok(translated),
                (Err(_), Some(url)) => self.load(&url).await?,
                (Err(why), None) => {
                    return Err(Problem::bad_request(format!(
                        "@context {}: {why}",
                        map.context
                    )));
                }
            }
        }
        Err(Problem::bad_request(format!(
            "@context {}: it needs more than {MOST_FETCHES} other context documents",
            map.context
        )))
    }

    /// Get the context document at `url` into the cache: from the folder, else over HTTP.
    async fn load(&self, url: &str) -> Result<(), Problem> {
        if let Some((at, problem)) = lock(&self.failed).get(url)
            && at.elapsed() < FAILED_FOR
        {
            return Err(problem.clone());
        }
        let result = self.load_now(url).await;
        if let Err(problem) = &result {
            let mut failed = lock(&self.failed);
            if failed.len() >= MOST_CACHED {
                failed.clear();
            }
            failed.insert(
                url.to_string(),
                (std::time::Instant::now(), problem.clone()),
            );
        }
        result
    }

    /// [`Contexts::load`] without the memory of failures.
    async fn load_now(&self, url: &str) -> Result<(), Problem> {
        let file = self.folder_file(url);
        let from_folder = match file {
            Some(path) => tokio::task::spawn_blocking(move || read_context_file(&path))
                .await
                .ok()
                .flatten(),
            None => None,
        };
        let text = match from_folder {
            Some(text) => text,
            None => fetch(url).await?,
        };
        let mut documents = lock(&self.documents);
        if documents.len() >= MOST_CACHED {
            documents.clear();
        }
        documents.insert(url.to_string(), Arc::from(text));
        Ok(())
    }

    /// Where the pre-loaded copy of an `http(s)://host/path` URL would be:
    /// `DIR/<host>/<path>`. Only plain names go into the path (no `..`, `.`, empty or absolute
    /// parts, no backslashes), so a URL cannot name a file outside the folder.
    fn folder_file(&self, url: &str) -> Option<PathBuf> {
        let folder = self.folder.as_ref()?;
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))?;
        let rest = rest.split(['?', '#']).next()?;
        let mut path = folder.clone();
        for part in rest.split('/') {
            let plain =
                !part.is_empty() && part != "." && part != ".." && !part.contains(['\\', '\0']);
            if !plain {
                return None;
            }
            path.push(part);
        }
        Some(path)
    }
}

/// The most a context document may weigh (the core context is 14 kB; the Smart Data Models'
/// are a few hundred).
const MOST_CONTEXT_BYTES: u64 = 1 << 20;

/// Read a pre-loaded context file: a regular file of at most [`MOST_CONTEXT_BYTES`].
fn read_context_file(path: &std::path::Path) -> Option<String> {
    use std::io::Read;
    let file = std::fs::File::open(path).ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() || meta.len() > MOST_CONTEXT_BYTES {
        return None;
    }
    let mut text = String::new();
    file.take(MOST_CONTEXT_BYTES)
        .read_to_string(&mut text)
        .ok()?;
    Some(text)
}

/// Which way names go.
#[derive(Debug, Clone, Copy)]
enum Direction {
    /// A request's terms to internal names.
    Internal,
    /// Internal names to a request's terms.
    External,
}

/// What one context maps, memoised both ways.
pub struct TermMap {
    /// The context as the request gave it.
    pub(super) context: Json,
    to_internal: Mutex<HashMap<String, String>>,
    to_external: Mutex<HashMap<String, String>>,
}

/// HTTP GET of a context document (the twin carries no TLS stack: `https://` contexts must
/// be pre-loaded).
async fn fetch(url: &str) -> Result<String, Problem> {
    let unavailable = |why: String| {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "LdContextNotAvailable",
            format!("@context {url}: {why}"),
        )
    };
    if !url.starts_with("http://") {
        return Err(unavailable(
            "not pre-loaded, and the twin fetches only http:// contexts (put a copy in the --ngsi-ld-contexts folder as <host>/<path>)".into(),
        ));
    }
    let (status, body) = super::delivery::send(
        hyper::Method::GET,
        url,
        Bytes::new(),
        "application/ld+json",
        None,
        None,
    )
    .await
    .map_err(unavailable)?;
    if status != 200 {
        return Err(unavailable(format!("answered {status}")));
    }
    if body.len() as u64 > MOST_CONTEXT_BYTES {
        return Err(unavailable(format!(
            "larger than {MOST_CONTEXT_BYTES} bytes"
        )));
    }
    String::from_utf8(body.to_vec()).map_err(|_| unavailable("not UTF-8".into()))
}

/// The processor's loader: the documents at hand; a missing one is noted for fetching.
struct DocumentLoader {
    documents: HashMap<String, Arc<str>>,
    missing: Mutex<Option<String>>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct NotLoaded(String);

impl Loader for DocumentLoader {
    async fn load(&self, url: &Iri) -> Result<RemoteDocument<IriBuf>, LoadError> {
        let text = if is_core(url.as_str()) {
            Some(CORE_TEXT)
        } else {
            self.documents.get(url.as_str()).map(|t| &**t)
        };
        let Some(text) = text else {
            *lock(&self.missing) = Some(url.as_str().to_string());
            return Err(LoadError::new(
                url.to_owned(),
                NotLoaded("not loaded yet".into()),
            ));
        };
        let (value, _) = json_ld::syntax::Value::parse_str(text)
            .map_err(|e| LoadError::new(url.to_owned(), NotLoaded(format!("not JSON: {e}"))))?;
        Ok(RemoteDocument::new(Some(url.to_owned()), None, value))
    }
}

/// Expand `names` with the context at `from` and compact the IRIs with the context at `to`.
/// A name the processor drops (a term mapped to null) is kept as it is.
fn translate_names(
    loader: &DocumentLoader,
    from: &str,
    to: &str,
    names: &[String],
) -> Result<Vec<String>, String> {
    // Each name is a property whose value is a node `urn:citytwin:term:<n>`, as an NGSI-LD
    // attribute is a node: the compaction's term selection sees what it sees in an entity.
    let node_id = |n: usize| format!("urn:citytwin:term:{n}");
    let index_of = |id: &str| id.strip_prefix("urn:citytwin:term:")?.parse::<usize>().ok();
    let mut document = Map::new();
    document.insert("@context".into(), json!(from));
    document.insert("@id".into(), json!("urn:citytwin:terms"));
    for (n, name) in names.iter().enumerate() {
        document.insert(name.clone(), json!({"@id": node_id(n)}));
    }
    let (value, _) = json_ld::syntax::Value::parse_str(&Json::Object(document).to_string())
        .map_err(|e| e.to_string())?;
    let expanded =
        futures_executor::block_on(RemoteDocument::new(None, None, value).expand(loader))
            .map_err(|e| e.to_string())?;
    let mut iris: Vec<Option<String>> = vec![None; names.len()];
    for object in expanded.into_iter() {
        let Some(node) = object.as_node() else {
            continue;
        };
        for (property, values) in node.properties().iter() {
            for v in values {
                let n = v
                    .as_node()
                    .and_then(|n| n.id.as_ref())
                    .and_then(|id| index_of(id.as_str()));
                if let Some(n) = n {
                    iris[n] = Some(property.as_str().to_string());
                }
            }
        }
    }
    let mut node = Map::new();
    node.insert("@id".into(), json!("urn:citytwin:terms"));
    // Several names may expand to one IRI (`height`, `ex:height`): each keeps its node.
    for (n, iri) in iris.iter().enumerate() {
        if let Some(iri) = iri {
            let nodes = node.entry(iri.clone()).or_insert_with(|| json!([]));
            if let Some(list) = nodes.as_array_mut() {
                list.push(json!({"@id": node_id(n)}));
            }
        }
    }
    let (value, _) =
        json_ld::syntax::Value::parse_str(&json!([node]).to_string()).map_err(|e| e.to_string())?;
    let context = RemoteContextReference::iri(IriBuf::new(to.to_string()).map_err(|e| e.0)?);
    let compacted =
        futures_executor::block_on(RemoteDocument::new(None, None, value).compact(context, loader))
            .map_err(|e| e.to_string())?;
    let compacted: Json =
        serde_json::from_str(&compacted.to_string()).map_err(|e| e.to_string())?;
    let mut out: Vec<String> = names.to_vec();
    let id_of = |value: &Json| -> Option<usize> {
        value
            .as_str()
            .or_else(|| value.get("id").and_then(Json::as_str))
            .or_else(|| value.get("@id").and_then(Json::as_str))
            .and_then(index_of)
    };
    for (key, value) in compacted.as_object().into_iter().flatten() {
        let values: Vec<&Json> = match value {
            Json::Array(items) => items.iter().collect(),
            one => vec![one],
        };
        for n in values.into_iter().filter_map(id_of) {
            out[n] = key.clone();
        }
    }
    Ok(out)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> Json {
        json!({
            "Building": "https://example.org/Building",
            "height": "https://example.org/height",
            "ex": "https://example.org/",
            "Bin": "https://uri.etsi.org/ngsi-ld/default-context/WasteContainer",
            "refOwner": {"@id": "https://example.org/owner", "@type": "@id"},
        })
    }

    #[test]
    fn only_the_core_contexts_urls_are_the_core_context() {
        assert!(is_core(
            "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld"
        ));
        assert!(is_core(
            "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"
        ));
        assert!(!is_core(
            "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-non-existing.jsonld"
        ));
        assert!(!is_core("https://example.org/ngsi-ld-core-context.jsonld"));
    }

    #[tokio::test]
    async fn terms_expand_to_internal_names_and_back() {
        let contexts = Contexts::new(None);
        let map = contexts
            .terms(&context())
            .expect("a context")
            .expect("not the core one");
        let names: Vec<String> = [
            "Building",
            "height",
            "ex:width",
            "Bin",
            "colour",
            "refOwner",
            "observedAt",
        ]
        .map(str::to_string)
        .to_vec();
        let internal = contexts.internal(&map, &names).await.expect("internal");
        assert_eq!(
            internal,
            [
                "https://example.org/Building",
                "https://example.org/height",
                "https://example.org/width",
                "WasteContainer",
                "colour",
                "https://example.org/owner",
                "observedAt"
            ]
        );
        let external = contexts.external(&map, &internal).await.expect("external");
        assert_eq!(
            external,
            [
                "Building",
                "height",
                "ex:width",
                "Bin",
                "colour",
                "refOwner",
                "observedAt"
            ]
        );
        assert!(
            contexts
                .terms(&json!(CORE_CONTEXT))
                .expect("core")
                .is_none()
        );
        // Two names of one IRI in one batch: each is translated.
        let both = contexts
            .internal(&map, &["height".to_string(), "ex:height".to_string()])
            .await
            .expect("internal");
        assert_eq!(
            both,
            ["https://example.org/height", "https://example.org/height"]
        );
    }

    #[test]
    fn the_folder_holds_only_what_urls_name_inside_it() {
        let contexts = Contexts::new(Some(PathBuf::from("/srv/contexts")));
        assert_eq!(
            contexts.folder_file("https://example.org/a/b.jsonld"),
            Some(PathBuf::from("/srv/contexts/example.org/a/b.jsonld"))
        );
        for bad in [
            "file:///etc/passwd",
            "http:///etc/passwd",
            "https://example.org/../../etc/passwd",
            "https://example.org//etc/passwd",
            "https://example.org/./x",
        ] {
            assert_eq!(contexts.folder_file(bad), None, "{bad}");
        }
    }

    #[tokio::test]
    async fn a_context_that_cannot_be_had_is_not_available() {
        let contexts = Contexts::new(None);
        let map = contexts
            .terms(&json!("https://nowhere.example/ctx.jsonld"))
            .expect("a context")
            .expect("not the core one");
        let problem = contexts
            .internal(&map, &["x".to_string()])
            .await
            .expect_err("unavailable");
        assert_eq!(
            problem.details()["type"],
            "https://uri.etsi.org/ngsi-ld/errors/LdContextNotAvailable"
        );
    }
}
