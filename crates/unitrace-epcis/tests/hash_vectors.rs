//! Event hash IDs against the reference vectors in `../shared/epcis-event-hash-vectors`.

use std::path::{Path, PathBuf};

const VECTORS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/epcis-event-hash-vectors"
);

fn dir(sub: &str) -> PathBuf {
    let d = Path::new(VECTORS).join(sub);
    assert!(
        d.is_dir(),
        "reference data missing: {} (the tests read ../shared/epcis-event-hash-vectors next to the project)",
        d.display()
    );
    d
}

fn files(sub: &str, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir(sub))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    v.sort();
    v
}

fn check_expected_hashes(ext: &str) -> (usize, usize, Vec<String>) {
    let mut matched = 0;
    let mut total = 0;
    let mut failures = Vec::new();
    for input in files("examples", ext) {
        let expected_path = input.with_extension("hashes");
        let Ok(expected) = std::fs::read_to_string(&expected_path) else {
            continue;
        };
        let expected: Vec<&str> = expected.lines().filter(|l| !l.trim().is_empty()).collect();
        let prehashes =
            std::fs::read_to_string(input.with_extension("prehashes")).unwrap_or_default();
        let prehashes: Vec<&str> = prehashes.lines().collect();
        let bytes = std::fs::read(&input).unwrap();
        let name = input.file_name().unwrap().to_string_lossy().into_owned();
        match unitrace_epcis::pre_hash_document(&bytes) {
            Ok(pre) => {
                total += expected.len();
                if pre.len() != expected.len() {
                    failures.push(format!(
                        "{name}: {} events, {} expected hashes",
                        pre.len(),
                        expected.len()
                    ));
                }
                for (i, (p, e)) in pre.iter().zip(&expected).enumerate() {
                    let got = unitrace_epcis::hash::hash_id(p);
                    if got == *e {
                        matched += 1;
                    } else {
                        failures.push(format!(
                            "{name} event {i}: got {got}, expected {e}\n  ours: {p}\n  ref:  {}",
                            prehashes.get(i).unwrap_or(&"-")
                        ));
                    }
                }
            }
            Err(err) => {
                total += expected.len();
                failures.push(format!("{name}: {err}"));
            }
        }
    }
    (matched, total, failures)
}

#[test]
fn jsonld_inputs_hash_like_the_reference() {
    let (matched, total, failures) = check_expected_hashes("jsonld");
    eprintln!("JSON-LD hash vectors matched {matched}/{total}");
    assert!(total >= 40, "too few vectors found: {total}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn xml_inputs_hash_like_the_reference() {
    if !unitrace_epcis::xml_supported() {
        eprintln!("XML reader not available in this build: XML hash vectors skipped");
        return;
    }
    let (matched, total, failures) = check_expected_hashes("xml");
    eprintln!("XML hash vectors matched {matched}/{total}");
    assert!(total >= 46, "too few XML vectors: {total}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn expected_equal_groups_hash_the_same() {
    let mut checked = 0;
    let mut failures = Vec::new();
    for ext in ["json", "xml"] {
        if ext == "xml" && !unitrace_epcis::xml_supported() {
            eprintln!("XML reader not available in this build: XML expected_equal groups skipped");
            continue;
        }
        for input in files("expected_equal", ext) {
            let bytes = std::fs::read(&input).unwrap();
            let name = input.file_name().unwrap().to_string_lossy().into_owned();
            match unitrace_epcis::hash_document(&bytes) {
                Ok(h) => {
                    checked += 1;
                    if h.len() < 2 || h.iter().any(|x| *x != h[0]) {
                        let pre = unitrace_epcis::pre_hash_document(&bytes).unwrap_or_default();
                        failures.push(format!("{name}: {h:?}\n{}", pre.join("\n")));
                    }
                }
                Err(e) => failures.push(format!("{name}: {e}")),
            }
        }
    }
    assert!(checked >= 1);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Where the reference vectors hold the same example as JSON-LD and as XML (same basename, one
/// `.hashes` file), both renderings give the same hashes, and those are the expected ones.
#[test]
fn json_and_xml_twins_hash_the_same() {
    let mut twins = 0;
    for xml in files("examples", "xml") {
        let json = xml.with_extension("jsonld");
        if !json.is_file() {
            continue;
        }
        let expected = std::fs::read_to_string(xml.with_extension("hashes")).unwrap();
        let expected: Vec<&str> = expected.lines().filter(|l| !l.trim().is_empty()).collect();
        let x = unitrace_epcis::hash_document(&std::fs::read(&xml).unwrap()).unwrap();
        let j = unitrace_epcis::hash_document(&std::fs::read(&json).unwrap()).unwrap();
        assert_eq!(x, j, "{}: XML and JSON-LD hashes differ", xml.display());
        assert_eq!(x, expected, "{}", xml.display());
        twins += 1;
    }
    assert!(twins >= 10, "too few JSON/XML twins: {twins}");
}
