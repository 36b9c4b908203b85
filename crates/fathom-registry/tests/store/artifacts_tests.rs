//! The artifact stores' conformance suite: the local folder and an
//! S3-compatible bucket pass the same checks (content addressing, repeated
//! puts, verified reads, missing and damaged artifacts, listing, deletion),
//! and the registry refuses a damaged artifact wherever it is stored.

use fathom_registry::RegistryError;
use fathom_registry::artifacts::{
    ArtifactLocation, ArtifactStore, LocalArtifactStore, hash_file, open_artifact_store, uri_path,
};

#[cfg(feature = "s3")]
#[path = "s3_fixture.rs"]
pub mod s3_fixture;

// SHA-256 of "abc" from FIPS 180-2, appendix B.1; of "abd" from Python's
// hashlib.
const ABC: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
const ABD: &str = "a52d159f262b2c6ddb724a61840befc36eb30c88877a4030b65cbe86298449c9";

/// What differs between stores: how a test damages a stored artifact and
/// drops an unrelated object beside them.
struct Backdoor<'a> {
    overwrite: &'a dyn Fn(&str, &[u8]),
    stray: &'a dyn Fn(),
}

fn conformance(store: &dyn ArtifactStore, dir: &std::path::Path, back: &Backdoor<'_>) {
    let loc = store.location();
    let a = store.put_bytes(b"abc").unwrap();
    assert_eq!(a.sha256, ABC);
    assert_eq!(a.size_bytes, 3);
    assert!(a.uri.starts_with(&loc), "{} in {loc}", a.uri);
    assert!(a.uri.ends_with(&format!("/sha256/ba/{ABC}")), "{}", a.uri);
    assert!(store.owns(&a.uri));
    // The same content again, from a file, is the same artifact.
    let src = dir.join("model.bin");
    std::fs::write(&src, b"abc").unwrap();
    assert_eq!(store.put_file(&src).unwrap(), a);
    assert_eq!(store.read_verified(&a.uri, ABC).unwrap(), b"abc");
    store.verify(&a.uri, ABC).unwrap();
    if a.uri.starts_with("file://") {
        // Through the scheme dispatch as well.
        assert_eq!(
            fathom_registry::artifacts::read_verified(&a.uri, ABC).unwrap(),
            b"abc"
        );
    }

    // A wrong expectation is a mismatch naming both checksums.
    match store.read_verified(&a.uri, ABD).unwrap_err() {
        RegistryError::ChecksumMismatch {
            expected, actual, ..
        } => {
            assert_eq!(expected, ABD);
            assert_eq!(actual, ABC);
        }
        other => panic!("expected a mismatch, got {other:?}"),
    }

    // A missing artifact says so.
    let missing = a.uri.replace(ABC, ABD).replace("/ba/", "/a5/");
    assert!(store.owns(&missing));
    for err in [
        store.verify(&missing, ABD).unwrap_err(),
        store.read_verified(&missing, ABD).unwrap_err(),
    ] {
        assert!(
            matches!(&err, RegistryError::ArtifactMissing { uri } if *uri == missing),
            "{err:?}"
        );
        assert!(err.to_string().contains("artifact not found"), "{err}");
    }

    // Damaged bytes are refused on every read.
    let b = store.put_bytes(b"second artifact").unwrap();
    (back.overwrite)(&b.uri, b"abd");
    for err in [
        store.verify(&b.uri, &b.sha256).unwrap_err(),
        store.read_verified(&b.uri, &b.sha256).unwrap_err(),
    ] {
        match err {
            RegistryError::ChecksumMismatch {
                uri,
                expected,
                actual,
            } => {
                assert_eq!(uri, b.uri);
                assert_eq!(expected, b.sha256);
                assert_eq!(actual, ABD);
            }
            other => panic!("expected a mismatch, got {other:?}"),
        }
    }

    // A large artifact (several upload parts on S3) round-trips.
    let big: Vec<u8> = (0..20_000_000u32).map(|i| (i % 251) as u8).collect();
    let big_file = dir.join("big.bin");
    std::fs::write(&big_file, &big).unwrap();
    let c = store.put_file(&big_file).unwrap();
    assert_eq!(c.size_bytes, big.len() as u64);
    assert_eq!(store.put_bytes(&big).unwrap(), c);
    assert_eq!(store.read_verified(&c.uri, &c.sha256).unwrap(), big);
    store.verify(&c.uri, &c.sha256).unwrap();

    // Listing shows exactly the artifacts, not other objects nearby.
    (back.stray)();
    let listed = store.list().unwrap();
    let mut uris: Vec<&str> = listed.iter().map(|l| l.uri.as_str()).collect();
    uris.sort();
    let mut expected = vec![a.uri.as_str(), b.uri.as_str(), c.uri.as_str()];
    expected.sort();
    assert_eq!(uris, expected);
    let big_listed = listed.iter().find(|l| l.uri == c.uri).unwrap();
    assert_eq!(big_listed.sha256, c.sha256);
    assert_eq!(big_listed.size_bytes, c.size_bytes);

    // Deleting removes one artifact; deleting it again is fine; only the
    // store's own artifacts can be deleted.
    store.delete(&b.uri).unwrap();
    store.delete(&b.uri).unwrap();
    assert!(matches!(
        store.read_verified(&b.uri, &b.sha256),
        Err(RegistryError::ArtifactMissing { .. })
    ));
    assert_eq!(store.list().unwrap().len(), 2);
    let foreign = if a.uri.starts_with("s3://") {
        "file:///tmp/sha256/ba/x".to_string()
    } else {
        format!("s3://other-bucket/sha256/ba/{ABC}")
    };
    assert!(!store.owns(&foreign));
    assert!(matches!(
        store.delete(&foreign),
        Err(RegistryError::InvalidInput { .. })
    ));
    store.read_verified(&a.uri, ABC).unwrap();
}

#[test]
fn local_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalArtifactStore::new(dir.path().join("artifacts")).unwrap();
    let root = store.root().to_path_buf();
    conformance(
        &store,
        dir.path(),
        &Backdoor {
            overwrite: &|uri, bytes| std::fs::write(uri_path(uri).unwrap(), bytes).unwrap(),
            stray: &|| {
                std::fs::create_dir_all(root.join("sha256/zz")).unwrap();
                std::fs::write(root.join("sha256/zz/notes.txt"), b"x").unwrap();
                std::fs::write(root.join("sha256").join(ABD), b"abd").unwrap();
            },
        },
    );
    // Nothing is left in the staging folder.
    assert_eq!(std::fs::read_dir(root.join("tmp")).unwrap().count(), 0);
    // Locally, storing the content again repairs a damaged copy.
    let a = store.put_bytes(b"abc").unwrap();
    let path = uri_path(&a.uri).unwrap();
    std::fs::write(&path, b"abd").unwrap();
    assert!(store.verify(&a.uri, ABC).is_err());
    store.put_bytes(b"abc").unwrap();
    store.verify(&a.uri, ABC).unwrap();
    assert_eq!(hash_file(&path).unwrap(), (ABC.to_string(), 3));
    assert!(matches!(
        store.verify("s3://bucket/x", ABC),
        Err(RegistryError::InvalidInput { .. })
    ));
    // Opened by location.
    let by_location = open_artifact_store(&format!("file://{}", root.display())).unwrap();
    assert_eq!(by_location.location(), store.location());
    assert!(by_location.owns(&a.uri));
}

#[cfg(feature = "s3")]
#[test]
fn s3_store_conforms() {
    let Some(bucket) = s3_fixture::bucket("s3_store_conforms") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut options = bucket.options();
    // Files over 8 MiB go up in parts, so the 20 MB artifact takes three.
    options.multipart_threshold = 8 << 20;
    let store =
        fathom_registry::artifacts::S3ArtifactStore::open(&bucket.bucket, "fathom/prod", &options)
            .unwrap();
    assert_eq!(
        store.location(),
        format!("s3://{}/fathom/prod", bucket.bucket)
    );
    let prefix = format!("s3://{}/", bucket.bucket);
    conformance(
        &store,
        dir.path(),
        &Backdoor {
            overwrite: &|uri, bytes| {
                let key = uri.strip_prefix(&prefix).unwrap();
                bucket.raw_put(key, bytes);
            },
            stray: &|| {
                bucket.raw_put("fathom/prod/sha256/zz/notes.txt", b"x");
                bucket.raw_put(&format!("fathom/prod/sha256/{ABD}"), b"abd");
                bucket.raw_put(&format!("fathom/other/sha256/ba/{ABC}"), b"abc");
            },
        },
    );
    // A second store on the same bucket without a prefix sees none of it.
    assert!(bucket.store("").list().unwrap().is_empty());
}

#[cfg(feature = "s3")]
#[test]
fn s3_errors_are_clear() {
    use fathom_registry::artifacts::S3ArtifactStore;
    // A plain-HTTP endpoint is refused unless allowed.
    let options = fathom_registry::artifacts::S3Options {
        endpoint: Some("http://127.0.0.1:9".into()),
        allow_http: None,
        ..Default::default()
    };
    let e = S3ArtifactStore::open("models", "", &options).unwrap_err();
    assert!(e.to_string().contains("AWS_ALLOW_HTTP=true"), "{e}");
    // Nothing listening: an object-storage error naming the place, after
    // no retries.
    let options = fathom_registry::artifacts::S3Options {
        endpoint: Some("http://127.0.0.1:9".into()),
        allow_http: Some(true),
        access_key_id: Some("k".into()),
        secret_access_key: Some("s".into()),
        max_retries: 0,
        ..Default::default()
    };
    let store = S3ArtifactStore::open("models", "p", &options).unwrap();
    let e = store.put_bytes(b"abc").unwrap_err();
    assert!(
        matches!(&e, RegistryError::ObjectStore { location, .. } if location.starts_with("s3://models/p/sha256/ba/")),
        "{e:?}"
    );
    assert!(e.to_string().contains("AWS_ENDPOINT_URL"), "{e}");
    // Called from inside a runtime (as from a blocking task of an async
    // server): the same answer, not a refusal, hang or panic.
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let store = std::sync::Arc::new(store);
    let inside = store.clone();
    let e = rt
        .block_on(async { tokio::task::spawn_blocking(move || inside.list().unwrap_err()).await })
        .unwrap();
    assert!(matches!(&e, RegistryError::ObjectStore { .. }), "{e:?}");
    let e = rt.block_on(async { store.list().unwrap_err() });
    assert!(matches!(&e, RegistryError::ObjectStore { .. }), "{e:?}");
    // A bucket that does not exist.
    if let Some(bucket) = s3_fixture::bucket("s3_errors_are_clear") {
        let mut o = bucket.options();
        o.max_retries = 0;
        let store = S3ArtifactStore::open(&format!("{}-absent", bucket.bucket), "", &o).unwrap();
        let e = store.put_bytes(b"abc").unwrap_err();
        assert!(matches!(e, RegistryError::ObjectStore { .. }), "{e:?}");
    }
}

#[cfg(not(feature = "s3"))]
#[test]
fn s3_without_the_feature_is_a_clear_error() {
    crate::fixture::skipped(format_args!(
        "SKIPPED the S3 store tests: built without the `s3` feature"
    ));
    let e = open_artifact_store("s3://models/fathom").unwrap_err();
    assert!(e.to_string().contains("feature `s3`"), "{e}");
    let e = fathom_registry::artifacts::read_verified("s3://models/sha256/ba/x", ABC).unwrap_err();
    assert!(e.to_string().contains("without S3 support"), "{e}");
}

#[test]
fn locations_name_the_accepted_forms() {
    assert!(matches!(
        ArtifactLocation::parse("s3://models/a").unwrap(),
        ArtifactLocation::S3 { .. }
    ));
    let e = open_artifact_store("gs://models/a")
        .unwrap_err()
        .to_string();
    assert!(e.contains("s3://bucket/prefix"), "{e}");
}

/// The registry over an S3 artifact store: registration checks the object,
/// loading reads it verified, and a damaged object is refused at
/// promotion (even forced) with the checksum error, changing nothing.
#[cfg(feature = "s3")]
#[test]
fn registry_refuses_a_damaged_s3_artifact() {
    use fathom_registry::{NewVersion, Promotion, PromotionPolicy};
    use std::sync::Arc;
    let Some(bucket) = s3_fixture::bucket("registry_refuses_a_damaged_s3_artifact") else {
        return;
    };
    let s3: Arc<dyn ArtifactStore> = Arc::new(bucket.store("models"));
    let f = crate::fixture::Fixture::new(crate::fixture::Kind::Sqlite, "s3_registry").unwrap();
    let mut store = f.open().with_artifact_store(s3.clone());
    let me = crate::helpers::actor();
    let policy = PromotionPolicy::default();
    let mut register = |bytes: &[u8], auc: f64| {
        let a = s3.put_bytes(bytes).unwrap();
        store
            .register_version(
                &NewVersion {
                    model: "fraud".into(),
                    artifact_uri: a.uri,
                    artifact_sha256: a.sha256,
                    schema_hash: "s".into(),
                    holdout_snapshot: Some("h".into()),
                    metrics: [("auc_pr".to_string(), auc)].into(),
                    ..NewVersion::default()
                },
                &me,
                "test",
            )
            .unwrap()
    };
    let v1 = register(b"model one", 0.70);
    let v2 = register(b"model two", 0.71);
    assert!(
        v1.artifact_uri
            .starts_with(&format!("s3://{}/models/sha256/", bucket.bucket))
    );
    let promote = |store: &mut fathom_registry::Store, version: i64| {
        store.promote(
            &Promotion {
                model: "fraud".into(),
                version,
                alias: "production".into(),
                force: true,
            },
            &policy,
            &me,
            "test",
        )
    };
    promote(&mut store, 1).unwrap();
    assert_eq!(store.load_artifact("fraud", 1).unwrap(), b"model one");
    let key = v2
        .artifact_uri
        .strip_prefix(&format!("s3://{}/", bucket.bucket))
        .unwrap();
    bucket.raw_put(key, b"abd");
    let err = promote(&mut store, 2).unwrap_err();
    match &err {
        RegistryError::ChecksumMismatch {
            uri,
            expected,
            actual,
        } => {
            assert_eq!(uri, &v2.artifact_uri);
            assert_eq!(expected, &v2.artifact_sha256);
            assert_eq!(actual, ABD);
        }
        other => panic!("expected a checksum mismatch, got {other:?}"),
    }
    assert!(err.to_string().contains("changed or damaged"), "{err}");
    assert_eq!(store.resolve("fraud").unwrap().version, 1);
    assert!(matches!(
        store.load_artifact("fraud", 2),
        Err(RegistryError::ChecksumMismatch { .. })
    ));
    // A version whose object is gone cannot be registered.
    let gone = s3.put_bytes(b"model three").unwrap();
    s3.delete(&gone.uri).unwrap();
    let err = store
        .register_version(
            &NewVersion {
                model: "fraud".into(),
                artifact_uri: gone.uri.clone(),
                artifact_sha256: gone.sha256.clone(),
                schema_hash: "s".into(),
                ..NewVersion::default()
            },
            &me,
            "test",
        )
        .unwrap_err();
    assert!(
        matches!(&err, RegistryError::ArtifactMissing { uri } if *uri == gone.uri),
        "{err:?}"
    );
}
