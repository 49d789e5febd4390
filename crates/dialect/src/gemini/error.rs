//! Gemini's error replies: Google's error body ([`crate::google`]) reported with its status name
//! as both type and code, and the text of a body in any other shape.

use crate::google;
use crate::UpstreamErrorBody;

pub fn decode(status: http::StatusCode, body: &[u8]) -> UpstreamErrorBody {
    let Some(err) = google::Status::read(body) else {
        let text = String::from_utf8_lossy(body);
        let message = if text.trim().is_empty() {
            format!("upstream answered {status}")
        } else {
            text.chars().take(500).collect()
        };
        return UpstreamErrorBody { message, ..Default::default() };
    };
    UpstreamErrorBody {
        message: err.message.unwrap_or_else(|| "upstream error".to_owned()),
        error_type: err.status.clone(),
        code: err.status,
        param: None,
    }
}
