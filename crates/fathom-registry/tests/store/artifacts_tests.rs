//! The local artifact store: content addressing, atomic writes, checks.

use fathom_registry::RegistryError;
use fathom_registry::artifacts::{ArtifactStore, LocalArtifactStore, hash_file, uri_path};

#[test]
fn artifacts_are_content_addressed_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalArtifactStore::new(dir.path().join("artifacts")).unwrap();
    let a = store.put_bytes(b"abc").unwrap();
    // SHA-256("abc") from FIPS 180-2, appendix B.1.
    let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    assert_eq!(a.sha256, abc);
    assert_eq!(a.size_bytes, 3);
    let path = uri_path(&a.uri).unwrap();
    assert!(path.ends_with(format!("sha256/ba/{abc}")));
    assert_eq!(std::fs::read(&path).unwrap(), b"abc");
    // The same content again is the same file.
    let src = dir.path().join("model.bin");
    std::fs::write(&src, b"abc").unwrap();
    assert_eq!(store.put_file(&src).unwrap(), a);
    // Nothing is left in the staging folder.
    assert_eq!(
        std::fs::read_dir(store.root().join("tmp")).unwrap().count(),
        0
    );
    assert_eq!(store.read_verified(&a.uri, abc).unwrap(), b"abc");
    store.verify(&a.uri, abc).unwrap();
    assert_eq!(hash_file(&path).unwrap(), (abc.to_string(), 3));

    std::fs::write(&path, b"abd").unwrap();
    for err in [
        store.verify(&a.uri, abc).unwrap_err(),
        store.read_verified(&a.uri, abc).unwrap_err(),
    ] {
        match err {
            RegistryError::ChecksumMismatch {
                expected, actual, ..
            } => {
                assert_eq!(expected, abc);
                assert_ne!(actual, abc);
            }
            other => panic!("expected a mismatch, got {other:?}"),
        }
    }
    // Storing the content again repairs the damaged copy.
    let again = store.put_bytes(b"abc").unwrap();
    store.verify(&again.uri, abc).unwrap();

    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
    let b = store.put_bytes(&big).unwrap();
    assert_eq!(b.size_bytes, big.len() as u64);
    assert_eq!(store.read_verified(&b.uri, &b.sha256).unwrap(), big);
    assert!(matches!(
        store.verify("s3://bucket/x", abc),
        Err(RegistryError::InvalidInput { .. })
    ));
}
