//! Numbered schema migrations. Each runs once, in order, in its own transaction, and records
//! its number in `PRAGMA user_version`; a database newer than this binary is refused rather
//! than misread.

use rusqlite::Connection;

/// Migration N (1-based) is `MIGRATIONS[N - 1]`. Append only; never edit a released one.
pub const MIGRATIONS: &[&str] = &[
    // 1: file identity, per-model analyses and faces, per-collection people.
    "
    CREATE TABLE files (
        path TEXT PRIMARY KEY,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        sha256 TEXT NOT NULL
    );
    CREATE TABLE analyses (
        sha256 TEXT NOT NULL,
        model_key TEXT NOT NULL,
        width INTEGER NOT NULL,
        height INTEGER NOT NULL,
        date_taken TEXT,
        PRIMARY KEY (sha256, model_key)
    );
    CREATE TABLE faces (
        sha256 TEXT NOT NULL,
        model_key TEXT NOT NULL,
        idx INTEGER NOT NULL,
        bbox BLOB NOT NULL,
        score REAL NOT NULL,
        landmarks BLOB NOT NULL,
        embedding BLOB NOT NULL,
        thumb BLOB,
        PRIMARY KEY (sha256, model_key, idx)
    );
    CREATE TABLE people (
        collection TEXT NOT NULL,
        id INTEGER NOT NULL,
        name TEXT,
        PRIMARY KEY (collection, id)
    );
    CREATE TABLE assignments (
        collection TEXT NOT NULL,
        model_key TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        idx INTEGER NOT NULL,
        person INTEGER NOT NULL,
        PRIMARY KEY (collection, model_key, sha256, idx)
    );
    CREATE TABLE rejections (
        collection TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        idx INTEGER NOT NULL,
        person INTEGER NOT NULL,
        PRIMARY KEY (collection, sha256, idx, person)
    );
    ",
    // 2: people the user hid (`people hide`): kept, never exported.
    "ALTER TABLE people ADD COLUMN hidden INTEGER NOT NULL DEFAULT 0;",
    // 3: faces the user gave to a person (`people split`): theirs whatever the clustering says.
    "CREATE TABLE pins (
        collection TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        idx INTEGER NOT NULL,
        person INTEGER NOT NULL,
        PRIMARY KEY (collection, sha256, idx)
    );",
    // 4: a face that a second detector says is not a person's (a pet's: animals.rs).
    "ALTER TABLE faces ADD COLUMN animal INTEGER NOT NULL DEFAULT 0;",
    // 5: which second detector checked a photo's faces (animals.rs); NULL: none did.
    "ALTER TABLE analyses ADD COLUMN face_check TEXT;",
];

#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error("the cache database has schema version {found}, newer than this binary's {known}; upgrade photo_organizer or use another --cache-dir")]
    TooNew { found: i64, known: i64 },
    #[error(transparent)]
    Sql(#[from] rusqlite::Error),
}

pub fn migrate(conn: &mut Connection) -> Result<(), MigrationError> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if current > known {
        return Err(MigrationError::TooNew {
            found: current,
            known,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}
