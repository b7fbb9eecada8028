//! The people of each output directory ("collection"): their ids and names, which face the
//! last run put in whom, and what the user said (hidden people, pinned faces, merges, rejected
//! faces), with each person's face count for `people`.

use rusqlite::params;

use super::{Cache, CacheError, FaceKey, PersonStats};

impl Cache {
    /// People of a collection: id and name.
    pub fn people(&self, collection: &str) -> Result<Vec<(u32, Option<String>)>, CacheError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, name FROM people WHERE collection = ?1 ORDER BY id")?;
        let rows = stmt
            .query_map(params![collection], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Which person each face belonged to after the last run.
    pub fn assignments(
        &self,
        collection: &str,
        model_key: &str,
    ) -> Result<Vec<(FaceKey, u32)>, CacheError> {
        let mut stmt = self.conn.prepare(
            "SELECT sha256, idx, person FROM assignments WHERE collection = ?1 AND model_key = ?2",
        )?;
        let rows = stmt
            .query_map(params![collection, model_key], |r| {
                Ok(((r.get(0)?, r.get(1)?), r.get(2)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Every assignment of a collection, under every model key: (model key, face, person).
    pub fn all_assignments(
        &self,
        collection: &str,
    ) -> Result<Vec<(String, FaceKey, u32)>, CacheError> {
        let mut stmt = self.conn.prepare(
            "SELECT model_key, sha256, idx, person FROM assignments WHERE collection = ?1
             ORDER BY model_key, sha256, idx",
        )?;
        let rows = stmt
            .query_map(params![collection], |r| {
                Ok((r.get(0)?, (r.get(1)?, r.get(2)?), r.get(3)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Replaces the collection's assignments and makes sure every assigned person exists.
    pub fn save_assignments(
        &mut self,
        collection: &str,
        model_key: &str,
        assignments: &[(FaceKey, u32)],
    ) -> Result<(), CacheError> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "DELETE FROM assignments WHERE collection = ?1 AND model_key = ?2",
            params![collection, model_key],
        )?;
        {
            let mut put = tx.prepare_cached(
                "INSERT INTO assignments (collection, model_key, sha256, idx, person)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            let mut person = tx.prepare_cached(
                "INSERT OR IGNORE INTO people (collection, id, name) VALUES (?1, ?2, NULL)",
            )?;
            for ((sha, idx), p) in assignments {
                put.execute(params![collection, model_key, sha, idx, p])?;
                person.execute(params![collection, p])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Creates a person (or renames it) in a collection.
    pub fn set_name(
        &mut self,
        collection: &str,
        id: u32,
        name: Option<&str>,
    ) -> Result<(), CacheError> {
        self.conn.execute(
            "INSERT INTO people (collection, id, name) VALUES (?1, ?2, ?3)
             ON CONFLICT (collection, id) DO UPDATE SET name = excluded.name",
            params![collection, id, name],
        )?;
        Ok(())
    }

    /// Moves every face of `from` to `into` (all models) and forgets `from`.
    /// Hides (or shows again) person `id`: a hidden person keeps their faces and id but gets
    /// no folder (a stranger, a poster, a TV).
    pub fn set_hidden(
        &mut self,
        collection: &str,
        id: u32,
        hidden: bool,
    ) -> Result<(), CacheError> {
        self.conn.execute(
            "INSERT INTO people (collection, id, name, hidden) VALUES (?1, ?2, NULL, ?3)
             ON CONFLICT (collection, id) DO UPDATE SET hidden = excluded.hidden",
            params![collection, id, hidden],
        )?;
        Ok(())
    }

    /// The hidden people of a collection.
    pub fn hidden(&self, collection: &str) -> Result<Vec<u32>, CacheError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id FROM people WHERE collection = ?1 AND hidden != 0 ORDER BY id")?;
        let rows = stmt
            .query_map(params![collection], |r| r.get(0))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Gives `face` to `person` for good (`people split`), and rejects it from `from`.
    pub fn pin(
        &mut self,
        collection: &str,
        face: &FaceKey,
        person: u32,
        from: Option<u32>,
    ) -> Result<(), CacheError> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO pins (collection, sha256, idx, person) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (collection, sha256, idx) DO UPDATE SET person = excluded.person",
            params![collection, face.0, face.1, person],
        )?;
        if let Some(from) = from {
            tx.execute(
                "INSERT OR IGNORE INTO rejections (collection, sha256, idx, person) VALUES (?1, ?2, ?3, ?4)",
                params![collection, face.0, face.1, from],
            )?;
        }
        tx.execute(
            "UPDATE assignments SET person = ?4 WHERE collection = ?1 AND sha256 = ?2 AND idx = ?3",
            params![collection, face.0, face.1, person],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Faces pinned to a person by `people split`.
    pub fn pins(&self, collection: &str) -> Result<Vec<(FaceKey, u32)>, CacheError> {
        self.face_person_rows(
            "SELECT sha256, idx, person FROM pins WHERE collection = ?1",
            collection,
        )
    }

    /// An id no person of the collection has had (in names, assignments or pins).
    pub fn new_person_id(&self, collection: &str) -> Result<u32, CacheError> {
        let max: Option<u32> = self.conn.query_row(
            "SELECT MAX(m) FROM (
                SELECT MAX(id) AS m FROM people WHERE collection = ?1
                UNION ALL SELECT MAX(person) FROM assignments WHERE collection = ?1
                UNION ALL SELECT MAX(person) FROM pins WHERE collection = ?1)",
            params![collection],
            |r| r.get(0),
        )?;
        Ok(max.map_or(1, |m| m + 1))
    }

    pub fn merge(&mut self, collection: &str, into: u32, from: u32) -> Result<(), CacheError> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "UPDATE pins SET person = ?2 WHERE collection = ?1 AND person = ?3",
            params![collection, into, from],
        )?;
        tx.execute(
            "UPDATE assignments SET person = ?2 WHERE collection = ?1 AND person = ?3",
            params![collection, into, from],
        )?;
        tx.execute(
            "DELETE FROM rejections WHERE collection = ?1 AND person = ?2",
            params![collection, from],
        )?;
        tx.execute(
            "DELETE FROM people WHERE collection = ?1 AND id = ?2",
            params![collection, from],
        )?;
        tx.commit()?;
        Ok(())
    }

    pub fn reject(
        &mut self,
        collection: &str,
        face: &FaceKey,
        person: u32,
    ) -> Result<(), CacheError> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT OR IGNORE INTO rejections (collection, sha256, idx, person) VALUES (?1, ?2, ?3, ?4)",
            params![collection, face.0, face.1, person],
        )?;
        tx.execute(
            "DELETE FROM assignments WHERE collection = ?1 AND sha256 = ?2 AND idx = ?3 AND person = ?4",
            params![collection, face.0, face.1, person],
        )?;
        tx.commit()?;
        Ok(())
    }

    pub fn rejections(&self, collection: &str) -> Result<Vec<(FaceKey, u32)>, CacheError> {
        self.face_person_rows(
            "SELECT sha256, idx, person FROM rejections WHERE collection = ?1",
            collection,
        )
    }

    /// `(face, person)` rows of `sql`, which selects sha256, idx, person for collection ?1.
    fn face_person_rows(
        &self,
        sql: &str,
        collection: &str,
    ) -> Result<Vec<(FaceKey, u32)>, CacheError> {
        let mut stmt = self.conn.prepare(sql)?;
        let rows = stmt
            .query_map(params![collection], |r| {
                Ok(((r.get(0)?, r.get(1)?), r.get(2)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Every person of a collection with their assigned face count and a sample photo hash.
    pub fn person_stats(&self, collection: &str) -> Result<Vec<PersonStats>, CacheError> {
        let mut stmt = self.conn.prepare(
            "SELECT p.id, p.name, COUNT(a.sha256), MIN(a.sha256) FROM people p
             LEFT JOIN assignments a ON a.collection = p.collection AND a.person = p.id
             WHERE p.collection = ?1 GROUP BY p.id ORDER BY p.id",
        )?;
        let rows = stmt
            .query_map(params![collection], |r| {
                Ok(PersonStats {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    faces: r.get::<_, i64>(2)? as usize,
                    sample_sha256: r.get(3)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// The faces of one photo that are assigned to someone: (face index, person).
    pub fn assigned_faces(
        &self,
        collection: &str,
        sha256: &str,
    ) -> Result<Vec<(u32, u32)>, CacheError> {
        let mut stmt = self.conn.prepare(
            "SELECT DISTINCT idx, person FROM assignments WHERE collection = ?1 AND sha256 = ?2 ORDER BY idx",
        )?;
        let rows = stmt
            .query_map(params![collection, sha256], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }
}
