//! Reads a request body with a size cap and a deadline, so huge or trickling bodies get a
//! clear error instead of holding memory or a connection.

use std::time::Duration;

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use dialect::{ClientFacingError, ErrorKind};
use http::HeaderMap;
use http_body_util::BodyExt;

/// A client that has not sent its whole body by then is cut off.
const BODY_DEADLINE: Duration = Duration::from_secs(60);

pub async fn read(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, ClientFacingError> {
    let too_large = || {
        ClientFacingError::new(ErrorKind::RequestTooLarge, format!("The request body is larger than {limit} bytes."))
    };
    let declared = headers.get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let collect = async {
        let mut buf = BytesMut::with_capacity(declared.unwrap_or(0).min(limit));
        let mut body = body;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| {
                ClientFacingError::new(ErrorKind::InvalidRequest, format!("The request body could not be read: {e}"))
            })?;
            if let Ok(data) = frame.into_data() {
                if buf.len() + data.len() > limit {
                    return Err(too_large());
                }
                buf.extend_from_slice(&data);
            }
        }
        Ok(buf.freeze())
    };
    match tokio::time::timeout(BODY_DEADLINE, collect).await {
        Ok(r) => r,
        Err(_) => Err(ClientFacingError::new(ErrorKind::Timeout, "The request body was not received in time.")
            .with_status(http::StatusCode::REQUEST_TIMEOUT)),
    }
}
