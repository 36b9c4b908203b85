//! Schema migrations on both back ends: a store left by an older schema is
//! brought up to date with its data, and a migration that fails halfway
//! leaves the store exactly as it was.

use fathom_registry::backend::{Backend, Executor, Migration, TxMode};
use fathom_registry::{EventQuery, RegistryError, Store};

use crate::fixture::Fixture;

/// A real back end with another list of migrations: the production ones
/// followed by test migrations.
struct WithMigrations {
    inner: Box<dyn Backend>,
    migrations: &'static [Migration],
}

impl Backend for WithMigrations {
    fn dialect(&self) -> fathom_registry::backend::Dialect {
        self.inner.dialect()
    }

    fn location(&self) -> String {
        self.inner.location()
    }

    fn migrations(&self) -> &'static [Migration] {
        self.migrations
    }

    fn transaction(
        &mut self,
        mode: TxMode,
        body: &mut dyn FnMut(&mut dyn Executor) -> fathom_registry::Result<()>,
    ) -> fathom_registry::Result<()> {
        self.inner.transaction(mode, body)
    }
}

/// The production migrations, then a migration 6 that works (a table with
/// a row, a new column, a changed row) and a migration 7 whose second
/// statement fails.
fn failing_migrations(f: &Fixture) -> &'static [Migration] {
    let mut list = f.migrations().to_vec();
    let next = list.len() as i64 + 1;
    list.push(Migration {
        version: next,
        name: "works",
        sql: "CREATE TABLE half_done (id BIGINT);
              INSERT INTO half_done (id) VALUES (1);
              ALTER TABLE experiments ADD COLUMN note TEXT;
              UPDATE experiments SET description = 'changed by a migration'",
    });
    list.push(Migration {
        version: next + 1,
        name: "fails",
        sql: "CREATE TABLE never_kept (id BIGINT);
              INSERT INTO no_such_table (id) VALUES (1)",
    });
    Box::leak(list.into_boxed_slice())
}

pub fn store_from_an_older_schema_is_migrated_and_keeps_its_data(f: &Fixture) {
    // A store as the first schema version left it.
    let first = &f.migrations()[0];
    f.raw(
        "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
    )
    .unwrap();
    f.raw(first.sql).unwrap();
    f.raw(
        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (1, 'tracking', 0);
         INSERT INTO experiments (name, description, created_at) VALUES ('old', 'kept', 0)",
    )
    .unwrap();
    let mut store = f.open();
    let latest = store.latest_schema_version();
    assert_eq!(store.schema_version().unwrap(), latest);
    assert_eq!(f.raw_int("SELECT COUNT(*) FROM schema_migrations"), latest);
    let old = store.experiment("old").unwrap();
    assert_eq!(
        (old.name.as_str(), old.description.as_str()),
        ("old", "kept")
    );
    assert!(store.models().unwrap().is_empty());
    assert!(store.events(&EventQuery::default()).unwrap().is_empty());
    // The migrated store works: a run in the old experiment.
    let run = store
        .start_run(&fathom_registry::NewRun::new("old", "after"))
        .unwrap();
    store.finish_run(run).unwrap();
    assert_eq!(store.run(run).unwrap().info.experiment, "old");
}

pub fn a_migration_failing_halfway_leaves_the_store_unchanged(f: &Fixture) {
    let mut store = f.open();
    let latest = store.latest_schema_version();
    store.create_experiment("kept", "as it was").unwrap();
    drop(store);

    let backend = WithMigrations {
        inner: f.backend(),
        migrations: failing_migrations(f),
    };
    let err = Store::from_backend(Box::new(backend)).unwrap_err();
    match &err {
        RegistryError::Database { detail, .. } => {
            assert!(detail.contains("no_such_table"), "{err}");
        }
        other => panic!("expected a database error, got {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains(&format!("schema migration {} (fails) failed", latest + 2)),
        "{text}"
    );
    assert!(text.contains("the store is as it was"), "{text}");

    // Neither migration 6 (which worked) nor the first half of 7 is kept.
    assert_eq!(f.raw_int("SELECT COUNT(*) FROM schema_migrations"), latest);
    assert!(f.raw("SELECT id FROM half_done").is_err());
    assert!(f.raw("SELECT id FROM never_kept").is_err());
    assert!(f.raw("SELECT note FROM experiments").is_err());
    let mut store = f.open();
    assert_eq!(store.schema_version().unwrap(), latest);
    assert_eq!(store.experiment("kept").unwrap().description, "as it was");
    assert_eq!(store.experiments().unwrap().len(), 1);
}

pub fn a_failing_first_migration_leaves_an_empty_database_empty(f: &Fixture) {
    let mut list = f.migrations()[..1].to_vec();
    list.push(Migration {
        version: 2,
        name: "fails",
        sql: "INSERT INTO no_such_table (id) VALUES (1)",
    });
    let backend = WithMigrations {
        inner: f.backend(),
        migrations: Box::leak(list.into_boxed_slice()),
    };
    let err = Store::from_backend(Box::new(backend)).unwrap_err();
    assert!(
        err.to_string()
            .contains("schema migration 2 (fails) failed"),
        "{err}"
    );
    // Not even the migrations table or migration 1's tables were created.
    assert!(f.raw("SELECT version FROM schema_migrations").is_err());
    assert!(f.raw("SELECT id FROM experiments").is_err());
    // The production migrations then apply normally.
    let mut store = f.open();
    assert_eq!(
        store.schema_version().unwrap(),
        store.latest_schema_version()
    );
}
