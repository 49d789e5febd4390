//! Chat request and reply bodies written out, for every dialect: into a buffer sized for a
//! typical chat body up front, where `serde_json::to_vec` starts at 128 bytes and copies a
//! reply through every doubling.

/// Room for a typical chat request or reply; a larger one grows from here.
const BODY_CAPACITY: usize = 1024;

/// `value` as compact JSON.
pub(crate) fn to_body(value: &impl serde::Serialize) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(BODY_CAPACITY);
    serde_json::to_writer(&mut out, value)?;
    Ok(out)
}
