//! The store's test suite. Every test in `conformance!` runs against both
//! back ends: `sqlite::NAME` on a temporary file, `postgres::NAME` on the
//! server named by `FATHOM_TEST_POSTGRES_URL` (skipped, and saying so,
//! without it).

mod artifacts_tests;
mod concurrency_tests;
mod events_tests;
mod fixture;
mod helpers;
mod log_segments_tests;
mod migration_tests;
mod registry_tests;
mod sqlite_tests;
mod tracking_tests;

macro_rules! conformance {
    ($($module:ident :: $name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $name() {
                    let f = crate::fixture::Fixture::new(crate::fixture::Kind::Sqlite, stringify!($name))
                        .expect("sqlite fixture");
                    crate::$module::$name(&f);
                }
            )*
        }
        mod postgres {
            $(
                #[test]
                fn $name() {
                    if let Some(f) = crate::fixture::Fixture::new(crate::fixture::Kind::Postgres, stringify!($name)) {
                        crate::$module::$name(&f);
                    }
                }
            )*
        }
    };
}

conformance!(
    tracking_tests::migrations_apply_once,
    tracking_tests::newer_schema_is_refused_and_store_left_unchanged,
    migration_tests::store_from_an_older_schema_is_migrated_and_keeps_its_data,
    migration_tests::a_migration_failing_halfway_leaves_the_store_unchanged,
    migration_tests::a_failing_first_migration_leaves_an_empty_database_empty,
    tracking_tests::run_records_everything_it_logged,
    tracking_tests::bad_logging_is_refused_and_batches_are_atomic,
    tracking_tests::listing_filters_sorts_and_pages_like_a_reference,
    tracking_tests::filter_values_are_data_not_sql,
    tracking_tests::compare_puts_runs_side_by_side,
    tracking_tests::a_run_ends_when_its_work_ended,
    registry_tests::versions_are_numbered_and_first_promotion_passes,
    registry_tests::gate_refuses_with_each_failed_rule_and_force_is_audited,
    registry_tests::rollback_walks_back_through_promotions,
    registry_tests::archive_keeps_rollback_targets_within_retention,
    registry_tests::changed_artifact_is_refused,
    registry_tests::unknown_names_give_clear_errors,
    registry_tests::audit_log_is_append_only,
    registry_tests::lineage_and_model_card,
    registry_tests::describing_a_model_fills_its_card_and_is_audited,
    concurrency_tests::threads_promoting_at_once_lose_no_update,
    concurrency_tests::processes_promoting_at_once_lose_no_update,
    concurrency_tests::kill_during_promotions_leaves_old_or_new_alias,
    events_tests::every_change_writes_one_event_in_its_transaction,
    events_tests::deliveries_retry_with_backoff_then_fail_visibly,
    events_tests::webhooks_get_the_kinds_they_ask_for_from_when_they_are_seen,
    events_tests::a_failing_webhook_waits_without_holding_up_others,
    log_segments_tests::shipped_files_are_recorded_once_and_found_by_window,
    log_segments_tests::bad_log_segments_are_refused_with_the_field,
    log_segments_tests::garbage_collection_keeps_recorded_log_files,
);
