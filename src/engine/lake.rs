//! JSON documents built from deltas (the `lake` type behind `LAKE.*`): a catalog keeps its current
//! document materialized, the ordered deltas that built it, snapshots of the document every few
//! deltas, and a metadata object. Knows no RESP and no clock: writes are given `now` (Unix ms).
//!
//! - **Versions.** Version 0 is the empty document `{}`; each delta makes the next version. A
//!   delta is `(version, time ms, mode, path, body, meta)`; its time never goes below the one
//!   before it, so "the document as of a moment" is a binary search.
//! - **Modes.** `Replace` sets the value at the path (missing parents are created as objects);
//!   `Merge` applies an RFC 7396 merge patch to the value at the path (a missing target counts as
//!   `{}`); `Patch` applies an RFC 6902 patch relative to the value at the path, all or nothing
//!   (a failing `test` or a missing target leaves the document as it was). RFC 7396 and 6902 are
//!   the `json-patch` crate's.
//! - **Paths** (Lake V2's rules): `/` is the root; otherwise `/seg/seg...`, no trailing `/`, each
//!   segment starts with a letter, `_` or `$` and goes on with letters, digits, `_`, `$` or `.`.
//!   Paths walk objects only: a parent that exists and is not an object is an error.
//! - **History.** Deltas `horizon+1..=version` are kept in order. Every `snapshot_interval` deltas
//!   the document is snapshotted (as JSON text), so any version `v >= horizon` is the nearest
//!   snapshot at or below `v` plus at most `snapshot_interval` deltas. Compaction moves the horizon
//!   up to a snapshot and drops what lies below it.
//! - **Limits.** A document nests at most [`MAX_DEPTH`] levels and its compact JSON text is at most
//!   the `max_document_bytes` it is given; a write past either is refused whole.
//!
//! Every change is one of four records, which the seam mutators in `tracked` report: a delta
//! added, a snapshot added, a delta or snapshot dropped, the head ([`LakeHead`]: version, horizon,
//! time of the last update, metadata). Persistence and replay need nothing else.

use std::collections::{BTreeMap, VecDeque};

use serde_json::{Map, Value as Json};

/// How deeply a document may nest (objects and arrays), the path's segments included.
pub const MAX_DEPTH: usize = 128;

/// The three ways a delta changes the document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Replace,
    Merge,
    Patch,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Replace => "replace",
            Mode::Merge => "merge",
            Mode::Patch => "patch",
        }
    }

    pub fn from_name(name: &[u8]) -> Option<Mode> {
        [Mode::Replace, Mode::Merge, Mode::Patch].into_iter().find(|mode| name.eq_ignore_ascii_case(mode.name().as_bytes()))
    }

    /// The byte a delta record stores.
    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn of_code(code: u8) -> Option<Mode> {
        [Mode::Replace, Mode::Merge, Mode::Patch].into_iter().find(|mode| mode.code() == code)
    }
}

/// A path that follows Lake's rules (see the module documentation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Path(Box<str>);

impl Path {
    pub fn root() -> Path {
        Path("/".into())
    }

    pub fn parse(text: &[u8]) -> Result<Path, LakeError> {
        let invalid = || LakeError::InvalidPath(String::from_utf8_lossy(text).into_owned());
        let text = std::str::from_utf8(text).map_err(|_| invalid())?;
        if text == "/" {
            return Ok(Path::root());
        }
        let rest = text.strip_prefix('/').ok_or_else(invalid)?;
        let segment_ok = |segment: &str| {
            let mut chars = segment.chars();
            chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
                && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '$' | '.'))
        };
        if !rest.split('/').all(segment_ok) {
            return Err(invalid());
        }
        Ok(Path(text.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_root(&self) -> bool {
        &*self.0 == "/"
    }

    /// The object keys the path walks through (none for the root).
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('/').skip(1).filter(|segment| !segment.is_empty())
    }

    fn depth(&self) -> usize {
        self.segments().count()
    }

    /// The prefix of the path made of its first `n` segments.
    fn prefix(&self, n: usize) -> String {
        let mut out = String::new();
        for segment in self.segments().take(n) {
            out.push('/');
            out.push_str(segment);
        }
        if out.is_empty() {
            out.push('/');
        }
        out
    }
}

/// Why a write or a read was refused; the text is the error's message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LakeError {
    InvalidPath(String),
    /// A value on the way to the path exists and is not an object.
    NotAnObject(String),
    /// PATCH at a path that holds nothing.
    MissingTarget(String),
    /// The RFC 6902 patch failed (its operation index and what failed).
    PatchFailed(String),
    InvalidPatch(String),
    TooDeep,
    TooBig {
        limit: usize,
    },
    /// A version below the compaction horizon (or a moment before it).
    BeforeHorizon {
        horizon: u64,
    },
    NoSuchVersion {
        version: u64,
        current: u64,
    },
    /// Stored history that does not replay (damaged records).
    Damaged(String),
}

impl std::fmt::Display for LakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LakeError::InvalidPath(path) => write!(
                f,
                "invalid path '{path}': a path is '/' or '/seg/seg...' where each segment starts with a letter, '_' or '$' and goes on with letters, digits, '_', '$' or '.'"
            ),
            LakeError::NotAnObject(at) => write!(f, "the value at {at} is not an object"),
            LakeError::MissingTarget(at) => write!(f, "no value at {at} to patch"),
            LakeError::PatchFailed(why) => write!(f, "patch failed, nothing written: {why}"),
            LakeError::InvalidPatch(why) => write!(f, "invalid JSON patch: {why}"),
            LakeError::TooDeep => write!(f, "the document would nest deeper than {MAX_DEPTH} levels"),
            LakeError::TooBig { limit } => write!(f, "the document would exceed lake-max-document-size ({limit} bytes)"),
            LakeError::BeforeHorizon { horizon } => {
                write!(f, "history before version {horizon} was compacted away")
            }
            LakeError::NoSuchVersion { version, current } => write!(f, "version {version} does not exist (current version is {current})"),
            LakeError::Damaged(why) => write!(f, "the catalog's history is damaged: {why}"),
        }
    }
}

/// One delta: what a write did.
#[derive(Clone, Debug, PartialEq)]
pub struct Delta {
    pub version: u64,
    pub time_ms: u64,
    pub mode: Mode,
    pub path: Path,
    pub body: Json,
    /// The META given with the write, if any.
    pub meta: Option<Map<String, Json>>,
}

/// The document as of `version` (compact JSON text), taken at `time_ms` (the time of that
/// version's delta).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub version: u64,
    pub time_ms: u64,
    pub doc: Box<str>,
}

/// What is not history: the current version, the compaction horizon, the time of the last change
/// and the metadata object.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct LakeHead {
    pub version: u64,
    pub horizon: u64,
    pub updated_ms: u64,
    pub meta: Map<String, Json>,
}

/// A write as LAKE.WRITE asks for it (already parsed).
#[derive(Clone, Debug)]
pub struct Write {
    pub mode: Mode,
    pub path: Path,
    /// `None`: an empty MERGE or PATCH body, which writes no delta.
    pub body: Option<Json>,
    pub meta: Option<Map<String, Json>>,
}

/// Settings a write obeys.
#[derive(Clone, Copy, Debug)]
pub struct LakeLimits {
    pub snapshot_interval: u64,
    pub max_document_bytes: usize,
}

impl Default for LakeLimits {
    fn default() -> LakeLimits {
        LakeLimits { snapshot_interval: 100, max_document_bytes: 64 << 20 }
    }
}

/// What a write did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Written {
    /// A delta was added (false: only metadata, or nothing).
    pub delta: bool,
    pub snapshot: bool,
    pub meta: bool,
}

/// What a compaction dropped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Compacted {
    pub deltas: Vec<u64>,
    pub snapshots: Vec<u64>,
}

/// LAKE.INFO's figures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LakeInfo {
    pub version: u64,
    pub horizon: u64,
    pub deltas: usize,
    pub deltas_since_snapshot: u64,
    pub snapshots: usize,
    pub document_bytes: usize,
    pub history_bytes: usize,
    pub updated_ms: u64,
}

/// The current document's JSON text, made on the first read after a change and shared by the
/// reads until the next one (a read of a current document copies no bytes).
#[derive(Clone, Default)]
struct TextCache(std::sync::OnceLock<bytes::Bytes>);

/// A catalog. See the module documentation.
#[derive(Clone, Default)]
pub struct Lake {
    doc: Json,
    text: TextCache,
    /// At least the size of the document's JSON text (see [`apply`]); exact after a restore.
    size_bound: usize,
    head: LakeHead,
    /// Versions `head.horizon + 1 ..= head.version`, in order.
    deltas: VecDeque<Delta>,
    /// By version; holds the horizon's when the horizon is above 0.
    snapshots: BTreeMap<u64, Snapshot>,
    /// Bytes of the delta bodies and snapshot texts kept.
    history_bytes: usize,
}

impl std::fmt::Debug for Lake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lake")
            .field("doc", &self.doc)
            .field("head", &self.head)
            .field("deltas", &self.deltas)
            .field("snapshots", &self.snapshots)
            .field("history_bytes", &self.history_bytes)
            .finish()
    }
}

impl PartialEq for Lake {
    fn eq(&self, other: &Lake) -> bool {
        self.doc == other.doc && self.head == other.head && self.deltas == other.deltas && self.snapshots == other.snapshots
    }
}

/// Counts bytes written to it: the length of a value's compact JSON text without building it.
struct Counter(usize);

impl std::io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The length of `value`'s compact JSON text.
pub fn json_size(value: &Json) -> usize {
    let mut counter = Counter(0);
    // Serializing a `serde_json::Value` into a writer that never fails cannot fail.
    let _ = serde_json::to_writer(&mut counter, value);
    counter.0
}

/// How deeply `value` nests: 0 for a scalar, 1 for an array or object of scalars.
pub fn json_depth(value: &Json) -> usize {
    match value {
        Json::Array(items) => 1 + items.iter().map(json_depth).max().unwrap_or(0),
        Json::Object(map) => 1 + map.values().map(json_depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Compact JSON text.
pub fn to_text(value: &Json) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

fn empty_doc() -> Json {
    Json::Object(Map::new())
}

/// The value at `path` in `doc`.
pub fn value_at<'a>(doc: &'a Json, path: &Path) -> Option<&'a Json> {
    path.segments().try_fold(doc, |node, segment| node.as_object()?.get(segment))
}

/// How a write reaches its target: `existing` segments lead to values that are there; the ones
/// after are missing and will be created. Refuses a path through a value that is not an object.
fn reach(doc: &Json, path: &Path) -> Result<(usize, bool), LakeError> {
    let mut node = doc;
    let mut existing = 0;
    for segment in path.segments() {
        let map = node.as_object().ok_or_else(|| LakeError::NotAnObject(path.prefix(existing)))?;
        match map.get(segment) {
            Some(next) => {
                node = next;
                existing += 1;
            }
            None => return Ok((existing, map.is_empty())),
        }
    }
    Ok((existing, false))
}

/// The value at `path`, created as `null` (with missing parents as objects) if missing. The caller
/// checked the path with [`reach`].
fn slot_at<'a>(doc: &'a mut Json, path: &Path) -> Option<&'a mut Json> {
    let mut node = doc;
    let mut segments = path.segments().peekable();
    while let Some(segment) = segments.next() {
        let fill = if segments.peek().is_some() { empty_doc() } else { Json::Null };
        node = node.as_object_mut()?.entry(segment).or_insert(fill);
    }
    Some(node)
}

/// The new size bound of a document whose bound becomes `total`, if it fits in `max`. A bound
/// past `max` is checked against the exact size (`exact` of the document's current exact size)
/// before the write is refused.
fn fitting(doc: &Json, total: usize, max: usize, exact: impl FnOnce(usize) -> usize) -> Result<usize, LakeError> {
    if total <= max {
        return Ok(total);
    }
    match exact(json_size(doc)) {
        fits if fits <= max => Ok(fits),
        _ => Err(LakeError::TooBig { limit: max }),
    }
}

/// Applies one delta's change to `doc`. `bound` is an upper bound of the document's size (its
/// compact JSON text), kept without serializing the document on every write: a MERGE adds its
/// patch's size (a merge grows a document by at most that), REPLACE and PATCH the difference
/// between the new and the old value. Checks limits before it changes anything: an error leaves
/// `doc` as it was.
fn apply(doc: &mut Json, bound: &mut usize, mode: Mode, path: &Path, body: &Json, max_bytes: usize) -> Result<(), LakeError> {
    let (existing, parent_empty) = reach(doc, path)?;
    let depth = path.depth();
    let found = existing == depth;
    // Bytes that creating the missing part of the path adds: per created key `"key":` and a
    // comma when its object already had entries, `{}` per created parent object.
    let created = if found {
        0
    } else {
        let keys: usize = path.segments().skip(existing).map(|segment| segment.len() + 3).sum();
        keys + usize::from(!parent_empty) + 2 * (depth - existing - 1)
    };
    let old_size = |doc: &Json| if found { value_at(doc, path).map_or(0, json_size) } else { 0 };
    let (replacement, total) = match mode {
        Mode::Replace => {
            if depth + json_depth(body) > MAX_DEPTH {
                return Err(LakeError::TooDeep);
            }
            let (old, new) = (old_size(doc), json_size(body));
            // A new root is measured whole: the bound is exact again.
            let bound = if depth == 0 { new } else { (*bound + created + new).saturating_sub(old) };
            let total = fitting(doc, bound, max_bytes, |now| now - old + created + new)?;
            (body.clone(), total)
        }
        Mode::Merge => {
            if depth + json_depth(body) > MAX_DEPTH {
                return Err(LakeError::TooDeep);
            }
            let total = *bound + created + json_size(body);
            if total <= max_bytes {
                let target = slot_at(doc, path).ok_or_else(|| LakeError::NotAnObject(path.as_str().into()))?;
                json_patch::merge(target, body);
                *bound = total;
                return Ok(());
            }
            // Near the limit: merge a copy and measure exactly.
            let mut merged = value_at(doc, path).cloned().unwrap_or(Json::Null);
            json_patch::merge(&mut merged, body);
            let (old, new) = (old_size(doc), json_size(&merged));
            let total = fitting(doc, total, max_bytes, |now| now - old + created + new)?;
            (merged, total)
        }
        Mode::Patch => {
            if !found {
                return Err(LakeError::MissingTarget(path.as_str().into()));
            }
            let operations: json_patch::Patch =
                serde_json::from_value(body.clone()).map_err(|error| LakeError::InvalidPatch(error.to_string()))?;
            let mut patched = value_at(doc, path).cloned().unwrap_or(Json::Null);
            // On a copy: a failed operation leaves the document exactly as it was (json-patch's
            // own undo would reorder keys it had removed and put back, and can panic on some
            // failing patches).
            json_patch::patch_unsafe(&mut patched, &operations).map_err(|error| LakeError::PatchFailed(error.to_string()))?;
            if depth + json_depth(&patched) > MAX_DEPTH {
                return Err(LakeError::TooDeep);
            }
            let (old, new) = (old_size(doc), json_size(&patched));
            let total = fitting(doc, (*bound + new).saturating_sub(old), max_bytes, |now| now - old + new)?;
            (patched, total)
        }
    };
    let target = slot_at(doc, path).ok_or_else(|| LakeError::NotAnObject(path.as_str().into()))?;
    *target = replacement;
    *bound = total;
    Ok(())
}

/// Shallow-merges `patch` into `meta`: its keys replace the metadata's, `null` removes one.
fn merge_meta(meta: &mut Map<String, Json>, patch: &Map<String, Json>) {
    for (key, value) in patch {
        if value.is_null() {
            meta.shift_remove(key);
        } else {
            meta.insert(key.clone(), value.clone());
        }
    }
}

impl Lake {
    pub fn new() -> Lake {
        let doc = empty_doc();
        Lake { size_bound: json_size(&doc), doc, ..Lake::default() }
    }

    /// A catalog from its stored parts: the head, the deltas after the horizon and the snapshots.
    /// The current document is rebuilt from the latest snapshot and the deltas after it.
    pub fn restore(head: LakeHead, deltas: Vec<Delta>, snapshots: Vec<Snapshot>) -> Result<Lake, LakeError> {
        let mut lake = Lake { head, ..Lake::new() };
        let expected = lake.head.version.saturating_sub(lake.head.horizon);
        if deltas.len() as u64 != expected || deltas.iter().zip(lake.head.horizon + 1..).any(|(d, v)| d.version != v) {
            return Err(LakeError::Damaged(format!(
                "{} deltas stored for versions {}..={}",
                deltas.len(),
                lake.head.horizon + 1,
                lake.head.version
            )));
        }
        lake.history_bytes =
            deltas.iter().map(|d| json_size(&d.body)).sum::<usize>() + snapshots.iter().map(|s| s.doc.len()).sum::<usize>();
        lake.deltas = deltas.into();
        lake.snapshots = snapshots.into_iter().map(|s| (s.version, s)).collect();
        if lake.head.horizon > 0 && !lake.snapshots.contains_key(&lake.head.horizon) {
            return Err(LakeError::Damaged(format!("no snapshot at the horizon {}", lake.head.horizon)));
        }
        lake.doc = lake.replay(lake.head.version)?;
        lake.size_bound = json_size(&lake.doc);
        Ok(lake)
    }

    pub fn head(&self) -> &LakeHead {
        &self.head
    }

    /// The current version (0 before the first delta).
    pub fn current_version(&self) -> u64 {
        self.head.version
    }

    pub fn document(&self) -> &Json {
        &self.doc
    }

    /// The current document as compact JSON text (shared: cloning it copies nothing).
    pub fn text(&self) -> bytes::Bytes {
        self.text.0.get_or_init(|| bytes::Bytes::from(to_text(&self.doc))).clone()
    }

    pub fn meta(&self) -> &Map<String, Json> {
        &self.head.meta
    }

    pub fn deltas(&self) -> impl Iterator<Item = &Delta> {
        self.deltas.iter()
    }

    pub fn snapshots(&self) -> impl Iterator<Item = &Snapshot> {
        self.snapshots.values()
    }

    pub fn info(&self) -> LakeInfo {
        LakeInfo {
            version: self.head.version,
            horizon: self.head.horizon,
            deltas: self.deltas.len(),
            deltas_since_snapshot: self.head.version - self.last_snapshot_version(),
            snapshots: self.snapshots.len(),
            document_bytes: self.text().len(),
            history_bytes: self.history_bytes,
            updated_ms: self.head.updated_ms,
        }
    }

    pub fn heap_size(&self) -> usize {
        // A parsed value takes a few times its text.
        4 * self.size_bound + 2 * self.history_bytes + 64 * self.deltas.len()
    }

    fn last_snapshot_version(&self) -> u64 {
        self.snapshots.keys().next_back().copied().unwrap_or(0)
    }

    /// The delta that made `version` (`horizon < version <= current`).
    fn delta(&self, version: u64) -> Option<&Delta> {
        let index = version.checked_sub(self.head.horizon + 1)?;
        self.deltas.get(usize::try_from(index).ok()?)
    }

    /// The deltas from version `from` on, at most `count`.
    pub fn history(&self, from: u64, count: usize) -> impl Iterator<Item = &Delta> {
        let skip = from.saturating_sub(self.head.horizon + 1);
        self.deltas.iter().skip(usize::try_from(skip).unwrap_or(usize::MAX)).take(count)
    }

    /// The document as of `version`: the nearest snapshot at or below it plus the deltas after.
    pub fn rebuild(&self, version: u64) -> Result<Json, LakeError> {
        if version > self.head.version {
            return Err(LakeError::NoSuchVersion { version, current: self.head.version });
        }
        if version < self.head.horizon {
            return Err(LakeError::BeforeHorizon { horizon: self.head.horizon });
        }
        if version == self.head.version {
            return Ok(self.doc.clone());
        }
        self.replay(version)
    }

    /// The document as of `version` (which the caller checked), replayed from the snapshot nearest
    /// below it.
    fn replay(&self, version: u64) -> Result<Json, LakeError> {
        let (mut doc, from) = match self.snapshots.range(..=version).next_back() {
            Some((&at, snapshot)) => (serde_json::from_str(&snapshot.doc).map_err(|e| LakeError::Damaged(e.to_string()))?, at),
            None => (empty_doc(), 0),
        };
        let mut bytes = json_size(&doc);
        for at in from + 1..=version {
            let delta = self.delta(at).ok_or_else(|| LakeError::Damaged(format!("delta {at} is missing")))?;
            apply(&mut doc, &mut bytes, delta.mode, &delta.path, &delta.body, usize::MAX)
                .map_err(|e| LakeError::Damaged(format!("delta {at} does not apply: {e}")))?;
        }
        Ok(doc)
    }

    /// The version current at `time_ms`: the last delta written at or before it.
    pub fn version_at(&self, time_ms: u64) -> Result<u64, LakeError> {
        let after = self.deltas.partition_point(|delta| delta.time_ms <= time_ms);
        if after > 0 {
            return Ok(self.head.horizon + after as u64);
        }
        match self.snapshots.get(&self.head.horizon) {
            _ if self.head.horizon == 0 => Ok(0),
            Some(snapshot) if snapshot.time_ms <= time_ms => Ok(self.head.horizon),
            _ => Err(LakeError::BeforeHorizon { horizon: self.head.horizon }),
        }
    }

    /// Applies `write` at `now_ms` (see the module documentation); nothing changes on an error. The
    /// write's body and META become the delta's (no copy).
    pub fn write(&mut self, write: Write, limits: &LakeLimits, now_ms: u64) -> Result<Written, LakeError> {
        let Write { mode, path, body, meta } = write;
        let mut written = Written { delta: false, snapshot: false, meta: meta.is_some() };
        let Some(body) = body else {
            if let Some(meta) = &meta {
                merge_meta(&mut self.head.meta, meta);
            }
            if written.meta {
                self.head.updated_ms = now_ms.max(self.head.updated_ms);
            }
            return Ok(written);
        };
        apply(&mut self.doc, &mut self.size_bound, mode, &path, &body, limits.max_document_bytes)?;
        self.text = TextCache::default();
        if let Some(meta) = &meta {
            merge_meta(&mut self.head.meta, meta);
        }
        let time_ms = now_ms.max(self.deltas.back().map_or(0, |d| d.time_ms));
        self.head.version += 1;
        self.history_bytes += json_size(&body);
        self.deltas.push_back(Delta { version: self.head.version, time_ms, mode, path, body, meta });
        written.delta = true;
        if self.head.version - self.last_snapshot_version() >= limits.snapshot_interval.max(1) {
            written.snapshot = self.take_snapshot();
        }
        self.head.updated_ms = now_ms.max(self.head.updated_ms);
        Ok(written)
    }

    /// Snapshots the current version unless it has a snapshot already (or is version 0, which is
    /// always `{}`). Whether it took one.
    pub fn take_snapshot(&mut self) -> bool {
        let version = self.head.version;
        if version == 0 || self.snapshots.contains_key(&version) {
            return false;
        }
        let time_ms = self.deltas.back().map_or(self.head.updated_ms, |d| d.time_ms);
        let doc: Box<str> = String::from_utf8_lossy(&self.text()).into();
        self.history_bytes += doc.len();
        self.snapshots.insert(version, Snapshot { version, time_ms, doc });
        true
    }

    /// Moves the horizon up to the `keep`-th snapshot below the latest (the latest itself when
    /// `keep` is 0) and drops the deltas at or below it and the snapshots below it.
    pub fn compact(&mut self, keep: usize) -> Compacted {
        let Some(&horizon) = self.snapshots.keys().rev().nth(keep) else {
            return Compacted::default();
        };
        let mut dropped = Compacted::default();
        while self.deltas.front().is_some_and(|d| d.version <= horizon) {
            if let Some(delta) = self.deltas.pop_front() {
                self.history_bytes -= json_size(&delta.body).min(self.history_bytes);
                dropped.deltas.push(delta.version);
            }
        }
        let below: Vec<u64> = self.snapshots.range(..horizon).map(|(&v, _)| v).collect();
        for version in below {
            if let Some(snapshot) = self.snapshots.remove(&version) {
                self.history_bytes -= snapshot.doc.len().min(self.history_bytes);
                dropped.snapshots.push(version);
            }
        }
        self.head.horizon = horizon;
        dropped
    }

    fn insert_delta(&mut self, delta: Delta) -> Result<(), LakeError> {
        if delta.version != self.head.version + 1 {
            return Err(LakeError::Damaged(format!("delta {} after version {}", delta.version, self.head.version)));
        }
        apply(&mut self.doc, &mut self.size_bound, delta.mode, &delta.path, &delta.body, usize::MAX)?;
        self.text = TextCache::default();
        self.history_bytes += json_size(&delta.body);
        self.head.version = delta.version;
        self.deltas.push_back(delta);
        Ok(())
    }
}

mod tracked {
    use super::super::mutation::{LakeMember, Mutation};
    use super::super::write::Tracked;
    use super::*;

    /// The mutators of a stored catalog: each records the deltas and snapshots it added or dropped
    /// and the head.
    impl Tracked<'_, Lake> {
        fn record_head(&mut self) {
            let head = &self.value.head;
            self.log.member(|key| Mutation::LakeHead { key, head });
        }

        fn record_snapshot(&mut self, version: u64) {
            if let Some(snapshot) = self.value.snapshots.get(&version) {
                self.log.member(|key| Mutation::LakeSnapshot { key, snapshot });
            }
        }

        /// [`Lake::write`], recorded.
        pub fn write(&mut self, write: Write, limits: &LakeLimits, now_ms: u64) -> Result<Written, LakeError> {
            let written = self.value.write(write, limits, now_ms)?;
            if written.delta {
                if let Some(delta) = self.value.deltas.back() {
                    self.log.member(|key| Mutation::LakeDelta { key, delta });
                }
            }
            if written.snapshot {
                self.record_snapshot(self.value.head.version);
            }
            if written.delta || written.meta {
                self.record_head();
            }
            Ok(written)
        }

        /// [`Lake::take_snapshot`], recorded.
        pub fn take_snapshot(&mut self) -> bool {
            let taken = self.value.take_snapshot();
            if taken {
                self.record_snapshot(self.value.head.version);
            }
            taken
        }

        /// [`Lake::compact`], recorded.
        pub fn compact(&mut self, keep: usize) -> Compacted {
            let dropped = self.value.compact(keep);
            for &version in &dropped.deltas {
                self.log.member(|key| Mutation::LakeDrop { key, member: LakeMember::Delta(version) });
            }
            for &version in &dropped.snapshots {
                self.log.member(|key| Mutation::LakeDrop { key, member: LakeMember::Snapshot(version) });
            }
            if dropped != Compacted::default() {
                self.record_head();
            }
            dropped
        }

        /// The replay of [`Mutation::LakeDelta`].
        pub fn replay_delta(&mut self, delta: &Delta) -> Result<(), LakeError> {
            self.value.insert_delta(delta.clone())?;
            if let Some(delta) = self.value.deltas.back() {
                self.log.member(|key| Mutation::LakeDelta { key, delta });
            }
            Ok(())
        }

        /// The replay of [`Mutation::LakeSnapshot`].
        pub fn replay_snapshot(&mut self, snapshot: &Snapshot) {
            self.value.history_bytes += snapshot.doc.len();
            self.value.snapshots.insert(snapshot.version, snapshot.clone());
            self.record_snapshot(snapshot.version);
        }

        /// The replay of [`Mutation::LakeDrop`].
        pub fn replay_drop(&mut self, member: LakeMember) {
            let value = &mut *self.value;
            match member {
                LakeMember::Delta(version) => {
                    if value.deltas.front().is_some_and(|d| d.version == version) {
                        if let Some(delta) = value.deltas.pop_front() {
                            value.history_bytes -= json_size(&delta.body).min(value.history_bytes);
                        }
                    }
                }
                LakeMember::Snapshot(version) => {
                    if let Some(snapshot) = value.snapshots.remove(&version) {
                        value.history_bytes -= snapshot.doc.len().min(value.history_bytes);
                    }
                }
            }
            self.log.member(|key| Mutation::LakeDrop { key, member });
        }

        /// The replay of [`Mutation::LakeHead`].
        pub fn replay_head(&mut self, head: &LakeHead) {
            self.value.head = head.clone();
            self.record_head();
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn write(mode: Mode, path: &str, body: Json) -> Write {
        Write { mode, path: Path::parse(path.as_bytes()).unwrap(), body: Some(body), meta: None }
    }

    fn limits(interval: u64) -> LakeLimits {
        LakeLimits { snapshot_interval: interval, ..LakeLimits::default() }
    }

    #[test]
    fn paths_follow_lakes_rules() {
        for good in ["/", "/a", "/user/profile", "/user.info", "/$config", "/_x/y9", "/a.b.c/$d"] {
            assert!(Path::parse(good.as_bytes()).is_ok(), "{good}");
        }
        for bad in ["", "user", "/user/", "/123", "/user-name", "//", "/a//b", "/a b", "/é", "/a/1b"] {
            assert!(matches!(Path::parse(bad.as_bytes()), Err(LakeError::InvalidPath(_))), "{bad}");
        }
        assert_eq!(Path::parse(b"/a/b").unwrap().segments().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(Path::root().segments().count(), 0);
    }

    #[test]
    fn modes_change_the_value_at_the_path() {
        let mut lake = Lake::new();
        let l = limits(100);
        lake.write(write(Mode::Replace, "/user/name", json!("Alice")), &l, 10).unwrap();
        assert_eq!(lake.document(), &json!({"user": {"name": "Alice"}}));
        lake.write(write(Mode::Merge, "/user", json!({"city": "NYC", "name": null})), &l, 11).unwrap();
        assert_eq!(lake.document(), &json!({"user": {"city": "NYC"}}));
        lake.write(write(Mode::Merge, "/settings", json!({"theme": "dark"})), &l, 12).unwrap();
        assert_eq!(lake.document()["settings"], json!({"theme": "dark"}));
        let patch = json!([{"op": "add", "path": "/zip", "value": "10001"}, {"op": "move", "from": "/city", "path": "/town"}]);
        lake.write(write(Mode::Patch, "/user", patch), &l, 13).unwrap();
        assert_eq!(lake.document()["user"], json!({"zip": "10001", "town": "NYC"}));
        assert_eq!(lake.current_version(), 4);
        assert_eq!(lake.info().document_bytes, to_text(lake.document()).len());
    }

    #[test]
    fn patch_is_all_or_nothing() {
        let mut lake = Lake::new();
        let l = limits(100);
        lake.write(write(Mode::Replace, "/", json!({"a": 1, "b": 2, "c": 3})), &l, 1).unwrap();
        let before = to_text(lake.document());
        let failing = json!([{"op": "remove", "path": "/a"}, {"op": "test", "path": "/b", "value": 5}]);
        let error = lake.write(write(Mode::Patch, "/", failing), &l, 2).unwrap_err();
        assert!(matches!(error, LakeError::PatchFailed(_)), "{error}");
        assert_eq!(to_text(lake.document()), before, "same text: key order kept too");
        assert_eq!(lake.current_version(), 1);
        // A failing move into itself after a change: the copy is dropped, nothing to undo (json-patch's
        // own undo can panic on some failing patches, which the model test met).
        let into_itself = json!([{"op": "remove", "path": "/a"}, {"op": "move", "from": "/b", "path": "/b/x"}]);
        assert!(matches!(lake.write(write(Mode::Patch, "/", into_itself), &l, 2), Err(LakeError::PatchFailed(_))));
        assert_eq!(to_text(lake.document()), before);
        let missing = lake.write(write(Mode::Patch, "/nope", json!([])), &l, 3).unwrap_err();
        assert_eq!(missing, LakeError::MissingTarget("/nope".into()));
        let invalid = lake.write(write(Mode::Patch, "/", json!({"op": "add"})), &l, 3).unwrap_err();
        assert!(matches!(invalid, LakeError::InvalidPatch(_)));
    }

    #[test]
    fn parents_must_be_objects() {
        let mut lake = Lake::new();
        let l = limits(100);
        lake.write(write(Mode::Replace, "/a", json!(5)), &l, 1).unwrap();
        let error = lake.write(write(Mode::Replace, "/a/b/c", json!(1)), &l, 2).unwrap_err();
        assert_eq!(error, LakeError::NotAnObject("/a".into()));
        lake.write(write(Mode::Replace, "/", json!([1, 2])), &l, 3).unwrap();
        assert_eq!(lake.write(write(Mode::Merge, "/x", json!({})), &l, 4).unwrap_err(), LakeError::NotAnObject("/".into()));
    }

    #[test]
    fn size_bounds_hold_through_creation_and_removal() {
        let mut lake = Lake::new();
        let l = limits(100);
        let steps = [
            write(Mode::Replace, "/a/b/c", json!("x\"y")),
            write(Mode::Replace, "/a/d", json!([1, 2.5, null])),
            write(Mode::Merge, "/a", json!({"b": null, "e": {"f": true}})),
            write(Mode::Merge, "/n/m", json!({"k": 1})),
            write(Mode::Patch, "/a", json!([{"op": "remove", "path": "/d"}])),
            write(Mode::Replace, "/", json!({})),
            write(Mode::Merge, "/", json!({"q": "\u{1}"})),
        ];
        for (time, step) in steps.iter().enumerate() {
            lake.write(step.clone(), &l, time as u64).unwrap();
            let exact = to_text(lake.document()).len();
            assert_eq!(lake.info().document_bytes, exact);
            assert!(lake.size_bound >= exact, "after {step:?}: {} < {exact}", lake.size_bound);
            if step.mode == Mode::Replace && step.path.is_root() {
                assert_eq!(lake.size_bound, exact, "a new root is measured whole");
            }
        }
    }

    #[test]
    fn limits_refuse_the_whole_write() {
        let mut lake = Lake::new();
        let small = LakeLimits { snapshot_interval: 100, max_document_bytes: 40 };
        lake.write(write(Mode::Replace, "/a", json!("0123456789")), &small, 1).unwrap();
        let error = lake.write(write(Mode::Merge, "/", json!({"b": "01234567890123456789"})), &small, 2).unwrap_err();
        assert_eq!(error, LakeError::TooBig { limit: 40 });
        let error = lake.write(write(Mode::Replace, "/b", json!("01234567890123456789012")), &small, 2).unwrap_err();
        assert_eq!(error, LakeError::TooBig { limit: 40 });
        assert_eq!(lake.document(), &json!({"a": "0123456789"}));
        let mut deep = json!(1);
        for _ in 0..MAX_DEPTH {
            deep = json!([deep]);
        }
        assert_eq!(lake.write(write(Mode::Replace, "/x", deep), &limits(100), 3).unwrap_err(), LakeError::TooDeep);
        assert_eq!(lake.current_version(), 1);
    }

    #[test]
    fn empty_bodies_merge_only_metadata() {
        let mut lake = Lake::new();
        let meta = |v: Json| v.as_object().cloned();
        let w = Write { mode: Mode::Merge, path: Path::root(), body: None, meta: meta(json!({"owner": "ann", "tmp": 1})) };
        let done = lake.write(w, &limits(100), 5).unwrap();
        assert_eq!(done, Written { delta: false, snapshot: false, meta: true });
        let w = Write { mode: Mode::Replace, path: Path::root(), body: Some(json!({"a": 1})), meta: meta(json!({"tmp": null, "n": 2})) };
        lake.write(w, &limits(100), 6).unwrap();
        assert_eq!(Json::Object(lake.meta().clone()), json!({"owner": "ann", "n": 2}));
        assert_eq!(lake.current_version(), 1);
        assert_eq!(lake.deltas().next().unwrap().meta, meta(json!({"tmp": null, "n": 2})));
    }

    #[test]
    fn any_version_rebuilds_from_a_snapshot_and_few_deltas() {
        let mut lake = Lake::new();
        let l = limits(3);
        let mut docs = vec![lake.document().clone()];
        for i in 0..10u64 {
            lake.write(write(Mode::Merge, "/", json!({ format!("k{}", i % 4): i })), &l, 100 + i * 10).unwrap();
            docs.push(lake.document().clone());
        }
        assert_eq!(lake.snapshots().map(|s| s.version).collect::<Vec<_>>(), [3, 6, 9]);
        assert_eq!(lake.info().deltas_since_snapshot, 1);
        for (version, doc) in docs.iter().enumerate() {
            assert_eq!(&lake.rebuild(version as u64).unwrap(), doc, "version {version}");
        }
        assert_eq!(lake.rebuild(11), Err(LakeError::NoSuchVersion { version: 11, current: 10 }));
        assert_eq!(lake.version_at(99), Ok(0));
        assert_eq!(lake.version_at(100), Ok(1));
        assert_eq!(lake.version_at(125), Ok(3));
        assert_eq!(lake.version_at(u64::MAX), Ok(10));
        assert_eq!(lake.history(9, 5).map(|d| d.version).collect::<Vec<_>>(), [9, 10]);
    }

    #[test]
    fn times_never_go_back() {
        let mut lake = Lake::new();
        lake.write(write(Mode::Replace, "/a", json!(1)), &limits(100), 50).unwrap();
        lake.write(write(Mode::Replace, "/a", json!(2)), &limits(100), 40).unwrap();
        assert_eq!(lake.deltas().map(|d| d.time_ms).collect::<Vec<_>>(), [50, 50]);
    }

    #[test]
    fn compaction_moves_the_horizon_to_a_snapshot() {
        let mut lake = Lake::new();
        let l = limits(2);
        let mut docs = vec![lake.document().clone()];
        for i in 0..9u64 {
            lake.write(write(Mode::Replace, "/n", json!(i)), &l, 10 + i).unwrap();
            docs.push(lake.document().clone());
        }
        assert_eq!(lake.compact(1), Compacted { deltas: (1..=6).collect(), snapshots: vec![2, 4] });
        assert_eq!(lake.info().horizon, 6);
        assert_eq!(lake.rebuild(5), Err(LakeError::BeforeHorizon { horizon: 6 }));
        assert_eq!(lake.version_at(14), Err(LakeError::BeforeHorizon { horizon: 6 }));
        assert_eq!(lake.version_at(15), Ok(6));
        for version in 6..=9 {
            assert_eq!(lake.rebuild(version).unwrap(), docs[version as usize]);
        }
        assert_eq!(lake.compact(0).deltas, vec![7, 8]);
        assert_eq!(lake.compact(0), Compacted::default());
        let restored = Lake::restore(lake.head().clone(), lake.deltas().cloned().collect(), lake.snapshots().cloned().collect()).unwrap();
        assert_eq!(restored, lake);
        assert_eq!(restored.info(), lake.info());
    }

    #[test]
    fn restore_refuses_gaps() {
        let mut lake = Lake::new();
        for i in 0..3 {
            lake.write(write(Mode::Replace, "/n", json!(i)), &limits(100), i).unwrap();
        }
        let mut deltas: Vec<Delta> = lake.deltas().cloned().collect();
        deltas.remove(1);
        assert!(matches!(Lake::restore(lake.head().clone(), deltas, vec![]), Err(LakeError::Damaged(_))));
    }
}
