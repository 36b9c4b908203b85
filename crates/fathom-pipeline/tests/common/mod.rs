//! A fresh store per test on either back end: an SQLite file in a
//! temporary folder, or a fresh schema in the PostgreSQL database named by
//! `FATHOM_TEST_POSTGRES_URL` (without it, the PostgreSQL case prints
//! SKIPPED and returns; `. .ci/pg-setup.sh` starts a local server).

#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use fathom_pipeline::{Runner, RunnerOptions, Sleeper};
use fathom_registry::{Clock, ManualClock, SqliteOptions, Store, StoreLocation};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
}

pub struct Fixture {
    pub kind: Kind,
    pub dir: tempfile::TempDir,
    pub clock: Arc<ManualClock>,
    pub location: String,
    pg: Option<(String, String)>,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Noon, 4 March 2026 (a Wednesday), UTC.
pub fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 4, 12, 0, 0).unwrap()
}

impl Fixture {
    pub fn new(kind: Kind, test: &str) -> Option<Fixture> {
        let dir = tempfile::tempdir().expect("temp dir");
        let clock = Arc::new(ManualClock::new(start_time()));
        match kind {
            Kind::Sqlite => {
                let location = dir.path().join("store/fathom.db").display().to_string();
                Some(Fixture {
                    kind,
                    dir,
                    clock,
                    location,
                    pg: None,
                })
            }
            Kind::Postgres => {
                let Ok(base) = std::env::var("FATHOM_TEST_POSTGRES_URL") else {
                    {
                        use std::io::Write as _;
                        let _ = writeln!(
                            std::io::stderr(),
                            "SKIPPED {test} on PostgreSQL: FATHOM_TEST_POSTGRES_URL is not set (run `. .ci/pg-setup.sh` to start a local server)"
                        );
                    }
                    return None;
                };
                let schema = format!(
                    "pl_{}_{}_{}",
                    test.to_ascii_lowercase(),
                    std::process::id(),
                    COUNTER.fetch_add(1, Ordering::Relaxed)
                );
                let mut admin = postgres::Client::connect(&base, postgres::NoTls)
                    .expect("connect to the test PostgreSQL");
                admin
                    .batch_execute(&format!(
                        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
                    ))
                    .expect("create test schema");
                let sep = if base.contains('?') { '&' } else { '?' };
                let location = format!("{base}{sep}options=-c%20search_path%3D{schema}");
                Some(Fixture {
                    kind,
                    dir,
                    clock,
                    location,
                    pg: Some((base, schema)),
                })
            }
        }
    }

    /// A new connection to the store, on the test clock.
    pub fn open(&self) -> Store {
        let location = StoreLocation::parse(&self.location).expect("location");
        Store::open_location(&location, &SqliteOptions::default())
            .expect("open store")
            .with_clock(self.clock.clone())
    }

    /// A runner on a new connection that records its waits instead of
    /// sleeping.
    pub fn runner(&self, holder: &str) -> (Runner, Arc<RecordingSleeper>) {
        let sleeper = Arc::new(RecordingSleeper::default());
        let runner = Runner::new(self.open())
            .with_sleeper(sleeper.clone())
            .with_options(RunnerOptions {
                holder: holder.into(),
                lease_ttl: Duration::from_secs(120),
                cancel_grace: Duration::from_secs(5),
            });
        (runner, sleeper)
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Some((base, schema)) = &self.pg
            && let Ok(mut c) = postgres::Client::connect(base, postgres::NoTls)
        {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
        }
    }
}

/// Records each wait instead of sleeping.
#[derive(Debug, Default)]
pub struct RecordingSleeper(pub Mutex<Vec<Duration>>);

impl Sleeper for RecordingSleeper {
    fn sleep(&self, d: Duration) {
        self.0.lock().unwrap().push(d);
    }
}

impl RecordingSleeper {
    pub fn waits(&self) -> Vec<Duration> {
        self.0.lock().unwrap().clone()
    }
}

/// Declares each test function for both back ends.
#[macro_export]
macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $name() {
                    let f = $crate::common::Fixture::new($crate::common::Kind::Sqlite, stringify!($name))
                        .expect("sqlite fixture");
                    $crate::$name(&f);
                }
            )*
        }
        mod postgres {
            $(
                #[test]
                fn $name() {
                    if let Some(f) = $crate::common::Fixture::new($crate::common::Kind::Postgres, stringify!($name)) {
                        $crate::$name(&f);
                    }
                }
            )*
        }
    };
}

/// Waits by moving the test clock forward (for the scheduler's loop).
#[derive(Debug)]
pub struct ClockSleeper {
    pub clock: Arc<ManualClock>,
    pub slept: Mutex<Duration>,
}

impl ClockSleeper {
    pub fn new(clock: Arc<ManualClock>) -> Self {
        ClockSleeper {
            clock,
            slept: Mutex::new(Duration::ZERO),
        }
    }

    pub fn total(&self) -> Duration {
        *self.slept.lock().unwrap()
    }
}

impl Sleeper for ClockSleeper {
    fn sleep(&self, d: Duration) {
        *self.slept.lock().unwrap() += d;
        self.clock
            .advance(chrono::Duration::from_std(d).expect("a short wait"));
    }
}
