//! SQLite files: locked, read-only, corrupt; locations. (Older schemas
//! are in the shared suite, `migration_tests`.)

use std::path::PathBuf;
use std::time::Duration;

use fathom_registry::{RegistryError, SqliteOptions, Store, StoreLocation};

fn quick() -> SqliteOptions {
    SqliteOptions {
        busy_timeout: Duration::from_millis(100),
    }
}

#[test]
fn locked_store_gives_locked_error_and_waits_no_longer_than_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fathom.db");
    let mut store = Store::open_sqlite(&path, &quick()).unwrap();
    store.create_experiment("e", "").unwrap();
    let holder = rusqlite::Connection::open(&path).unwrap();
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let err = store.create_experiment("f", "").unwrap_err();
    assert!(
        matches!(err, RegistryError::Locked { waited_ms: 100, .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("locked by another fathom process"),
        "{err}"
    );
    // Opening also needs the lock (to check migrations).
    let err = Store::open_sqlite(&path, &quick()).unwrap_err();
    assert!(matches!(err, RegistryError::Locked { .. }), "{err}");
    holder.execute_batch("ROLLBACK").unwrap();
    store.create_experiment("f", "").unwrap();
    assert_eq!(store.experiments().unwrap().len(), 2);
}

#[test]
fn read_only_file_is_refused_and_left_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fathom.db");
    Store::open_sqlite(&path, &quick())
        .unwrap()
        .create_experiment("e", "")
        .unwrap();
    // Fold the WAL into the file so its bytes are the whole store.
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .unwrap();
    let before = std::fs::read(&path).unwrap();
    let mut perms = std::fs::metadata(&path).unwrap().permissions();
    perms.set_readonly(true);
    std::fs::set_permissions(&path, perms.clone()).unwrap();
    let err = Store::open_sqlite(&path, &quick()).unwrap_err();
    assert!(matches!(err, RegistryError::ReadOnly { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("make the file and its folder writable"),
        "{err}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), before);
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&path, perms).unwrap();
}

#[test]
fn corrupt_file_is_refused_and_left_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fathom.db");
    let garbage: Vec<u8> = (0..8192u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&path, &garbage).unwrap();
    let err = Store::open_sqlite(&path, &quick()).unwrap_err();
    assert!(matches!(err, RegistryError::Corrupt { .. }), "{err}");
    assert!(
        err.to_string().contains("restore it from a backup"),
        "{err}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), garbage);
    // A database truncated mid-page: also refused, not silently used.
    let good = dir.path().join("good.db");
    let mut s = Store::open_sqlite(&good, &quick()).unwrap();
    for i in 0..200 {
        s.create_experiment(&format!("experiment-{i}"), &"x".repeat(200))
            .unwrap();
    }
    drop(s);
    rusqlite::Connection::open(&good)
        .unwrap()
        .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let cut = dir.path().join("cut.db");
    let mut damaged = bytes[..bytes.len() / 2].to_vec();
    for b in damaged.iter_mut().skip(4096).take(4096) {
        *b = 0xA5;
    }
    std::fs::write(&cut, &damaged).unwrap();
    let result = Store::open_sqlite(&cut, &quick()).and_then(|mut s| s.experiments());
    match result {
        Err(RegistryError::Corrupt { .. }) => {}
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[test]
fn store_settings_are_wal_foreign_keys_and_busy_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deep/er/fathom.db");
    let store = Store::open_sqlite(&path, &quick()).unwrap();
    drop(store);
    let c = rusqlite::Connection::open(&path).unwrap();
    let mode: String = c
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    // Foreign keys are enforced by the store's connections.
    let mut store = Store::open_sqlite(&path, &quick()).unwrap();
    let err = store.log_param(424242, "k", "v").unwrap_err();
    assert!(matches!(err, RegistryError::NotFound { .. }), "{err}");
}

#[test]
fn locations_are_parsed_by_form() {
    let p = |s: &str| StoreLocation::parse(s).unwrap();
    assert_eq!(
        p(".fathom"),
        StoreLocation::Sqlite(PathBuf::from(".fathom/fathom.db"))
    );
    assert_eq!(
        p("runs.db"),
        StoreLocation::Sqlite(PathBuf::from("runs.db"))
    );
    assert_eq!(
        p("sqlite:/x/y.sqlite"),
        StoreLocation::Sqlite(PathBuf::from("/x/y.sqlite"))
    );
    assert_eq!(
        p("postgres://u:secret@db:5432/fathom"),
        StoreLocation::Postgres("postgres://u:secret@db:5432/fathom".into())
    );
    assert_eq!(
        p("postgres://u:secret@db:5432/fathom").to_string(),
        "postgres://u:***@db:5432/fathom"
    );
    assert!(matches!(
        StoreLocation::parse("mysql://x"),
        Err(RegistryError::BadLocation { .. })
    ));
    assert!(matches!(
        StoreLocation::parse(" "),
        Err(RegistryError::BadLocation { .. })
    ));
}

#[test]
fn unreachable_postgres_is_a_clear_error() {
    // Port 1 on the loopback address: nothing listens there.
    let err = Store::open("postgres://fathom:pw@127.0.0.1:1/fathom?connect_timeout=2").unwrap_err();
    assert!(matches!(err, RegistryError::Unreachable { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("cannot connect to PostgreSQL"), "{text}");
    assert!(!text.contains(":pw@"), "password leaked: {text}");
}
