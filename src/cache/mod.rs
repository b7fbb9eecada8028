//! The SQLite store (`<cache>/library.sqlite`): file identity by content hash, each photo's
//! faces per model key (detector, embedder, threshold and preprocessing version, so vector
//! spaces never mix), and per output directory ("collection") the people: ids, names, which
//! face belongs to whom, and faces the user rejected. Writes are grouped in transactions per
//! batch, so a killed run keeps every batch it finished.

mod migrations;
mod people;
mod review;

use std::{
    path::{Path, PathBuf},
    time::{Duration, UNIX_EPOCH},
};

use rusqlite::{params, Connection, OptionalExtension};

pub use migrations::MigrationError;
pub use review::ReviewFace;

pub const DB_NAME: &str = "library.sqlite";

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error(
        "cannot open {path} (check that it is readable and writable, or pass another --cache-dir)"
    )]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("{path} is damaged ({why}) and could not be moved aside (move or delete it yourself, or pass another --cache-dir)")]
    Damaged {
        path: PathBuf,
        why: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Migration(#[from] MigrationError),
    #[error(
        "cache database error (if it persists, move {} aside or pass another --cache-dir)",
        DB_NAME
    )]
    Sql(#[from] rusqlite::Error),
}

/// A face as stored: everything but the photo it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredFace {
    pub bbox: [f32; 4],
    pub score: f32,
    pub landmarks: [[f32; 2]; 5],
    pub embedding: Vec<f32>,
    /// A small JPEG of the face for the report.
    pub thumb: Option<Vec<u8>>,
    /// Not a person's face (a pet's, as far as the check can tell): never part of a person.
    pub animal: bool,
}

/// One photo's analysis under one model key.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredAnalysis {
    pub width: u32,
    pub height: u32,
    pub date_taken: Option<String>,
    pub faces: Vec<StoredFace>,
    /// The second detector that checked the faces for pets ([`crate::faces::animals::CHECK_RECORD`]),
    /// or `None` when none could.
    pub face_check: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PersonStats {
    pub id: u32,
    pub name: Option<String>,
    pub faces: usize,
    pub sample_sha256: Option<String>,
}

/// A face's identity across runs: content hash of its photo and its index in that photo.
pub type FaceKey = (String, u32);

pub struct Cache {
    conn: Connection,
    recovery_note: Option<String>,
}

enum Opened {
    /// The file is not a readable, consistent database: move it aside.
    Damaged(String),
    /// Anything else (permissions, a newer schema): an error for the user.
    Failed(CacheError),
}

fn is_damage(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
    )
}

/// Opens `path`, sets it up, checks it (`PRAGMA quick_check`: every page read once, indexes not
/// cross-checked) and migrates it.
fn open_checked(path: &Path) -> Result<Connection, Opened> {
    let classify = |source: rusqlite::Error| {
        if is_damage(&source) {
            Opened::Damaged(source.to_string())
        } else {
            Opened::Failed(CacheError::Open {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let mut conn = Connection::open(path).map_err(classify)?;
    // Another run using the same cache waits for the lock instead of failing.
    conn.busy_timeout(Duration::from_secs(60))
        .map_err(classify)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(classify)?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(classify)?;
    let check: String = conn
        .query_row("PRAGMA quick_check(1)", [], |r| r.get(0))
        .map_err(classify)?;
    if check != "ok" {
        return Err(Opened::Damaged(format!("integrity check: {check}")));
    }
    match migrations::migrate(&mut conn) {
        Ok(()) => Ok(conn),
        Err(MigrationError::Sql(e)) => Err(classify(e)),
        Err(e) => Err(Opened::Failed(e.into())),
    }
}

/// Renames a damaged database (and its WAL and shared-memory files) to
/// `<name>.damaged-<unix time>`, never replacing an earlier one.
fn move_aside(path: &Path) -> std::io::Result<PathBuf> {
    let secs = std::time::SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut n = 0;
    let aside = loop {
        let suffix = if n == 0 {
            format!("damaged-{secs}")
        } else {
            format!("damaged-{secs}-{n}")
        };
        let candidate = path.with_extension(format!("sqlite.{suffix}"));
        if candidate.symlink_metadata().is_err() {
            break candidate;
        }
        n += 1;
    };
    std::fs::rename(path, &aside)?;
    for side in ["-wal", "-shm"] {
        let mut from = path.as_os_str().to_owned();
        from.push(side);
        let mut to = aside.as_os_str().to_owned();
        to.push(side);
        let from = PathBuf::from(from);
        if from.exists() {
            std::fs::rename(&from, PathBuf::from(to))?;
        }
    }
    Ok(aside)
}

fn f32s_to_blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// `None` unless `b` is a whole number of finite little-endian f32s.
fn blob_to_f32s(b: &[u8]) -> Option<Vec<f32>> {
    if !b.len().is_multiple_of(4) {
        return None;
    }
    let v: Vec<f32> = b
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    v.iter().all(|x| x.is_finite()).then_some(v)
}

/// A face's bbox, landmarks and embedding as decoded from the cache.
pub type DecodedFace = ([f32; 4], [[f32; 2]; 5], Vec<f32>);

/// A face's geometry and embedding from their stored blobs: `None` for any blob of the wrong
/// length, a non-finite value or an empty embedding, so that damaged cache content is a miss
/// (the photo is analysed again), never a panic or a poisoned clustering.
pub fn decode_face_blobs(bbox: &[u8], landmarks: &[u8], embedding: &[u8]) -> Option<DecodedFace> {
    let bbox: [f32; 4] = blob_to_f32s(bbox)?.try_into().ok()?;
    let lm: [f32; 10] = blob_to_f32s(landmarks)?.try_into().ok()?;
    let embedding = blob_to_f32s(embedding)?;
    if embedding.is_empty() {
        return None;
    }
    Some((
        bbox,
        std::array::from_fn(|i| [lm[2 * i], lm[2 * i + 1]]),
        embedding,
    ))
}

/// Whether a query failed on what a row holds (a value of the wrong type or range) rather than
/// on the database itself.
fn is_content_error(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::InvalidColumnType(..)
            | rusqlite::Error::FromSqlConversionFailure(..)
            | rusqlite::Error::IntegralValueOutOfRange(..)
    )
}

fn mtime_ns(mtime: Option<std::time::SystemTime>) -> i64 {
    mtime
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(-1, |d: Duration| d.as_nanos() as i64)
}

impl Cache {
    /// Opens (or creates) the store in `dir`. A damaged database (one SQLite cannot read, that
    /// fails `PRAGMA quick_check`, or an empty file where a database was) is moved aside to
    /// `library.sqlite.damaged-<unix time>` and a new one started: [`Cache::recovery_note`]
    /// then says so. People's names and decisions come back from each output directory's
    /// `people.json` ([`crate::people::decisions`]).
    pub fn open(dir: &Path) -> Result<Self, CacheError> {
        let path = dir.join(DB_NAME);
        std::fs::create_dir_all(dir).map_err(|e| CacheError::Open {
            path: path.clone(),
            source: rusqlite::Error::ToSqlConversionFailure(Box::new(e)),
        })?;
        let empty = std::fs::metadata(&path).is_ok_and(|m| m.len() == 0);
        let damage = if empty {
            Some("it is empty (0 bytes)".to_string())
        } else {
            match open_checked(&path) {
                Ok(conn) => {
                    return Ok(Self {
                        conn,
                        recovery_note: None,
                    })
                }
                Err(Opened::Damaged(why)) => Some(why),
                Err(Opened::Failed(e)) => return Err(e),
            }
        };
        let why = damage.unwrap_or_default();
        let aside = move_aside(&path).map_err(|e| CacheError::Damaged {
            path: path.clone(),
            why: why.clone(),
            source: e,
        })?;
        let conn = match open_checked(&path) {
            Ok(conn) => conn,
            Err(Opened::Damaged(why)) => {
                return Err(CacheError::Open {
                    path,
                    source: rusqlite::Error::ToSqlConversionFailure(why.into()),
                })
            }
            Err(Opened::Failed(e)) => return Err(e),
        };
        Ok(Self {
            conn,
            recovery_note: Some(format!(
                "the cache database {} was damaged ({why}); it was moved to {} and a new one started (photos are analysed again; names and decisions come back from each output's people.json)",
                path.display(),
                aside.display()
            )),
        })
    }

    /// Set when [`Cache::open`] found the database damaged and started a new one: what
    /// happened and where the old one went, for the user.
    pub fn recovery_note(&self) -> Option<&str> {
        self.recovery_note.as_deref()
    }

    /// In-memory store, for tests.
    pub fn in_memory() -> Result<Self, CacheError> {
        let mut conn = Connection::open_in_memory()?;
        migrations::migrate(&mut conn)?;
        Ok(Self {
            conn,
            recovery_note: None,
        })
    }

    /// The content hash recorded for `path` if its size and modification time are unchanged.
    pub fn known_hash(
        &self,
        path: &Path,
        size: u64,
        mtime: Option<std::time::SystemTime>,
    ) -> Result<Option<String>, CacheError> {
        Ok(self
            .conn
            .query_row(
                "SELECT sha256 FROM files WHERE path = ?1 AND size = ?2 AND mtime_ns = ?3",
                params![path.to_string_lossy(), size as i64, mtime_ns(mtime)],
                |r| r.get(0),
            )
            .optional()?)
    }

    pub fn put_hashes(
        &mut self,
        entries: &[(PathBuf, u64, Option<std::time::SystemTime>, String)],
    ) -> Result<(), CacheError> {
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT OR REPLACE INTO files (path, size, mtime_ns, sha256) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for (path, size, mtime, sha) in entries {
                stmt.execute(params![
                    path.to_string_lossy(),
                    *size as i64,
                    mtime_ns(*mtime),
                    sha
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The stored analysis, or `None` when there is none or what is stored is damaged (then the
    /// photo is analysed again and the damaged rows replaced).
    pub fn analysis(
        &self,
        sha256: &str,
        model_key: &str,
    ) -> Result<Option<StoredAnalysis>, CacheError> {
        match self.stored_analysis(sha256, model_key) {
            Err(CacheError::Sql(e)) if is_content_error(&e) => Ok(None),
            other => other,
        }
    }

    fn stored_analysis(
        &self,
        sha256: &str,
        model_key: &str,
    ) -> Result<Option<StoredAnalysis>, CacheError> {
        let head = self
            .conn
            .query_row(
                "SELECT width, height, date_taken, face_check FROM analyses
                 WHERE sha256 = ?1 AND model_key = ?2",
                params![sha256, model_key],
                |r| {
                    Ok((
                        r.get::<_, u32>(0)?,
                        r.get::<_, u32>(1)?,
                        r.get::<_, Option<String>>(2)?,
                        r.get::<_, Option<String>>(3)?,
                    ))
                },
            )
            .optional()?;
        let Some((width, height, date_taken, face_check)) = head else {
            return Ok(None);
        };
        let mut stmt = self.conn.prepare_cached(
            "SELECT bbox, score, landmarks, embedding, thumb, animal FROM faces
             WHERE sha256 = ?1 AND model_key = ?2 ORDER BY idx",
        )?;
        let faces = stmt
            .query_map(params![sha256, model_key], |r| {
                let blobs = decode_face_blobs(
                    &r.get::<_, Vec<u8>>(0)?,
                    &r.get::<_, Vec<u8>>(2)?,
                    &r.get::<_, Vec<u8>>(3)?,
                );
                let score: f32 = r.get(1)?;
                Ok(blobs
                    .filter(|_| score.is_finite())
                    .map(|(bbox, landmarks, embedding)| StoredFace {
                        bbox,
                        score,
                        landmarks,
                        embedding,
                        thumb: r.get(4).ok().flatten(),
                        animal: r.get::<_, Option<bool>>(5).ok().flatten().unwrap_or(false),
                    }))
            })?
            .collect::<Result<Option<Vec<_>>, _>>()?;
        // One damaged face makes the whole photo a miss: its faces are numbered by position.
        Ok(faces.map(|faces| StoredAnalysis {
            width,
            height,
            date_taken,
            faces,
            face_check,
        }))
    }

    /// Stores a batch of analyses in one transaction.
    pub fn put_analyses(
        &mut self,
        model_key: &str,
        batch: &[(String, StoredAnalysis)],
    ) -> Result<(), CacheError> {
        let tx = self.conn.transaction()?;
        {
            let mut head = tx.prepare_cached(
                "INSERT OR REPLACE INTO analyses
                 (sha256, model_key, width, height, date_taken, face_check)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            let mut clear =
                tx.prepare_cached("DELETE FROM faces WHERE sha256 = ?1 AND model_key = ?2")?;
            let mut face = tx.prepare_cached(
                "INSERT INTO faces (sha256, model_key, idx, bbox, score, landmarks, embedding, thumb, animal)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            for (sha, a) in batch {
                head.execute(params![
                    sha,
                    model_key,
                    a.width,
                    a.height,
                    a.date_taken,
                    a.face_check
                ])?;
                clear.execute(params![sha, model_key])?;
                for (i, f) in a.faces.iter().enumerate() {
                    let lm: Vec<f32> = f.landmarks.iter().flatten().copied().collect();
                    face.execute(params![
                        sha,
                        model_key,
                        i as i64,
                        f32s_to_blob(&f.bbox),
                        f.score,
                        f32s_to_blob(&lm),
                        f32s_to_blob(&f.embedding),
                        f.thumb,
                        f.animal
                    ])?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// A library path known to have this content, for messages and samples.
    pub fn path_of(&self, sha256: &str) -> Result<Option<PathBuf>, CacheError> {
        Ok(self
            .conn
            .query_row(
                "SELECT path FROM files WHERE sha256 = ?1 ORDER BY path LIMIT 1",
                params![sha256],
                |r| r.get::<_, String>(0),
            )
            .optional()?
            .map(PathBuf::from))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn analysis(n: usize) -> StoredAnalysis {
        StoredAnalysis {
            width: 640,
            height: 480,
            date_taken: Some("2009-09-09T20:27:09".into()),
            faces: (0..n)
                .map(|i| StoredFace {
                    bbox: [1.0, 2.0, 3.0, i as f32],
                    score: 0.9,
                    landmarks: [[i as f32, 0.5]; 5],
                    embedding: vec![0.25, -0.5, i as f32],
                    thumb: Some(vec![1, 2, 3]),
                    animal: i == 1,
                })
                .collect(),
            face_check: (n > 0).then(|| "checker".into()),
        }
    }

    #[test]
    fn analyses_round_trip_per_model_key() {
        let mut c = Cache::in_memory().unwrap();
        c.put_analyses(
            "m1",
            &[("aa".into(), analysis(2)), ("bb".into(), analysis(0))],
        )
        .unwrap();
        assert_eq!(c.analysis("aa", "m1").unwrap(), Some(analysis(2)));
        assert_eq!(c.analysis("bb", "m1").unwrap(), Some(analysis(0)));
        // Another model never sees these vectors.
        assert_eq!(c.analysis("aa", "m2").unwrap(), None);
        // Re-storing replaces, never duplicates, the faces.
        c.put_analyses("m1", &[("aa".into(), analysis(1))]).unwrap();
        assert_eq!(c.analysis("aa", "m1").unwrap().unwrap().faces.len(), 1);
    }

    #[test]
    fn hashes_are_reused_only_while_size_and_mtime_match() {
        let mut c = Cache::in_memory().unwrap();
        let t = Some(UNIX_EPOCH + Duration::from_secs(1000));
        c.put_hashes(&[("/l/a.jpg".into(), 10, t, "aa".into())])
            .unwrap();
        assert_eq!(
            c.known_hash(Path::new("/l/a.jpg"), 10, t)
                .unwrap()
                .as_deref(),
            Some("aa")
        );
        assert_eq!(c.known_hash(Path::new("/l/a.jpg"), 11, t).unwrap(), None);
        let later = Some(UNIX_EPOCH + Duration::from_secs(1001));
        assert_eq!(
            c.known_hash(Path::new("/l/a.jpg"), 10, later).unwrap(),
            None
        );
    }

    #[test]
    fn people_names_merges_and_rejections() {
        let mut c = Cache::in_memory().unwrap();
        let a = ("aa".to_string(), 0);
        let b = ("bb".to_string(), 0);
        c.save_assignments("out", "m", &[(a.clone(), 1), (b.clone(), 2)])
            .unwrap();
        c.set_name("out", 1, Some("Ada")).unwrap();
        assert_eq!(
            c.people("out").unwrap(),
            vec![(1, Some("Ada".into())), (2, None)]
        );
        c.merge("out", 1, 2).unwrap();
        assert_eq!(c.people("out").unwrap(), vec![(1, Some("Ada".into()))]);
        let mut asg = c.assignments("out", "m").unwrap();
        asg.sort();
        assert_eq!(asg, vec![(a.clone(), 1), (b.clone(), 1)]);
        c.reject("out", &b, 1).unwrap();
        assert_eq!(c.assignments("out", "m").unwrap(), vec![(a, 1)]);
        assert_eq!(c.rejections("out").unwrap(), vec![(b, 1)]);
        // Other collections are separate.
        assert!(c.people("elsewhere").unwrap().is_empty());
    }

    #[test]
    fn newer_schema_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        assert!(matches!(
            migrations::migrate(&mut conn),
            Err(MigrationError::TooNew { found: 99, .. })
        ));
    }
}
