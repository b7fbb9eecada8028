//! The queries of the review page ([`crate::review`]): every face of an output directory's
//! photos with its embedding, one face's thumbnail, and taking back a rejection.

use rusqlite::{params, OptionalExtension};

use super::{blob_to_f32s, Cache, CacheError, FaceKey};

/// A face as the review page needs it: no geometry, no thumbnail bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewFace {
    pub key: FaceKey,
    pub embedding: Vec<f32>,
    pub animal: bool,
}

impl Cache {
    /// The content hash the cache holds for a library path.
    pub fn sha_of_path(&self, path: &std::path::Path) -> Result<Option<String>, CacheError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT sha256 FROM files WHERE path = ?1")?;
        Ok(stmt
            .query_row(params![path.to_string_lossy()], |r| r.get(0))
            .optional()?)
    }

    /// The model key most of the collection's assignments are under (a run with other models
    /// leaves the old key's rows behind); `None` before anyone was assigned.
    pub fn main_model_key(&self, collection: &str) -> Result<Option<String>, CacheError> {
        Ok(self
            .conn
            .query_row(
                "SELECT model_key FROM assignments WHERE collection = ?1
                 GROUP BY model_key ORDER BY COUNT(*) DESC, model_key LIMIT 1",
                params![collection],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// The model key the photo `sha256` was analysed under, when there is one.
    pub fn model_key_of(&self, sha256: &str) -> Result<Option<String>, CacheError> {
        Ok(self
            .conn
            .query_row(
                "SELECT model_key FROM analyses WHERE sha256 = ?1 ORDER BY model_key LIMIT 1",
                params![sha256],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// The faces of photo `sha256` under `model_key`, in index order; a face whose embedding is
    /// damaged is left out.
    pub fn review_faces(
        &self,
        sha256: &str,
        model_key: &str,
    ) -> Result<Vec<ReviewFace>, CacheError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT idx, embedding, animal FROM faces WHERE sha256 = ?1 AND model_key = ?2
             ORDER BY idx",
        )?;
        let rows = stmt
            .query_map(params![sha256, model_key], |r| {
                Ok((
                    r.get::<_, u32>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, Option<bool>>(2)?.unwrap_or(false),
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows
            .into_iter()
            .filter_map(|(idx, blob, animal)| {
                let embedding = blob_to_f32s(&blob).filter(|e| !e.is_empty())?;
                Some(ReviewFace {
                    key: (sha256.to_string(), idx),
                    embedding,
                    animal,
                })
            })
            .collect())
    }

    /// The stored JPEG thumbnail of one face.
    pub fn face_thumb(
        &self,
        face: &FaceKey,
        model_key: &str,
    ) -> Result<Option<Vec<u8>>, CacheError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT thumb FROM faces WHERE sha256 = ?1 AND model_key = ?2 AND idx = ?3",
        )?;
        Ok(stmt
            .query_row(params![face.0, model_key, face.1], |r| {
                r.get::<_, Option<Vec<u8>>>(0)
            })
            .optional()?
            .flatten())
    }

    /// Forgets that `face` was rejected from `person` (the user gave it to them after all).
    pub fn unreject(
        &mut self,
        collection: &str,
        face: &FaceKey,
        person: u32,
    ) -> Result<(), CacheError> {
        self.conn.execute(
            "DELETE FROM rejections WHERE collection = ?1 AND sha256 = ?2 AND idx = ?3 AND person = ?4",
            params![collection, face.0, face.1, person],
        )?;
        Ok(())
    }
}
