//! The dialect tests' fixtures under `crates/dialect/fixtures/`: reading one, and comparing a
//! value with a checked-in JSON file (rewritten from the value when `BLESS` is set, for review).

use serde_json::Value;

fn path(rel: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(rel)
}

/// The text of `fixtures/<rel>`.
pub(crate) fn read(rel: &str) -> String {
    let full = path(rel);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// The JSON of `fixtures/<rel>`.
pub(crate) fn json(rel: &str) -> Value {
    serde_json::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// `actual` equals the JSON in `fixtures/<rel>`; with `BLESS` set, the file is rewritten instead.
pub(crate) fn assert_matches(actual: &Value, rel: &str) {
    if std::env::var_os("BLESS").is_some() {
        // Arrays of events read best one event per line.
        let text = match actual {
            Value::Array(items) => {
                let lines: Vec<String> = items.iter().map(|v| format!("  {v}")).collect();
                format!("[\n{}\n]\n", lines.join(",\n"))
            }
            other => serde_json::to_string_pretty(other).unwrap() + "\n",
        };
        let full = path(rel);
        if let Some(dir) = full.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(full, text).unwrap();
        return;
    }
    let expected = json(rel);
    assert_eq!(actual, &expected, "{rel}\nactual: {}", serde_json::to_string_pretty(actual).unwrap());
}
