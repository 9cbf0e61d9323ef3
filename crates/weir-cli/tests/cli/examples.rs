//! The examples at the repository's root stay valid pipeline files.

use crate::common::{run_to_end, stderr};

#[test]
fn every_example_validates_without_warnings() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("examples/") {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|ext| ext == "toml") {
            let output = run_to_end(&[&"validate", &path]);
            let err = stderr(&output);
            assert_eq!(output.status.code(), Some(0), "{}: {err}", path.display());
            assert!(err.contains(", 0 warnings)"), "{}: {err}", path.display());
            checked += 1;
        }
    }
    assert!(checked >= 3, "found {checked} examples");
}
