//! Embeds the dashboard (`dashboard/`, plain files served as they are) in the binary: generates a
//! table of `(name, bytes, etag)` with `include_bytes!`, so the server needs no files at run time.
//! Nothing is fetched or generated beyond this table.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboard");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|rd| rd.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_file()).collect())
        .unwrap_or_default();
    files.sort();
    let mut out = String::from("/// `(file name, contents, strong ETag)` of every dashboard file.\n");
    out.push_str("pub static FILES: &[(&str, &[u8], &str)] = &[\n");
    for path in files {
        let name = path.file_name().and_then(|n| n.to_str()).expect("dashboard file names are UTF-8");
        if name.starts_with('.') {
            continue;
        }
        let bytes = std::fs::read(&path).expect("reading a dashboard file");
        println!("cargo:rerun-if-changed={}", path.display());
        writeln!(out, "    ({name:?}, include_bytes!({:?}), \"\\\"{:016x}\\\"\"),", path.display(), fnv1a(&bytes))
            .unwrap();
    }
    out.push_str("];\n");
    let dest = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("dashboard_files.rs");
    std::fs::write(dest, out).expect("writing dashboard_files.rs");
}

/// 64-bit FNV-1a: a content hash for ETags (not a security boundary).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}
