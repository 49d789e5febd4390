//! A misbehaving upstream on a raw socket: it reads each request, then answers the way a
//! broken or hostile provider would — resets, garbage, HTML, a drip of bytes, a stream that
//! never ends, a line that never ends, a body larger than anyone should buffer.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Clone)]
pub enum Misbehaviour {
    /// Closes the connection with a TCP reset right after reading the request.
    Reset,
    /// Bytes that are not HTTP at all.
    Garbage,
    /// `200 OK` with an HTML page, as a captive portal or a misrouted proxy sends.
    Html200,
    /// Headers at once, then one body byte every `every`, forever.
    Drip { every: Duration, content_type: &'static str },
    /// An SSE stream of valid OpenAI chunks, one every `every`, never finished.
    EndlessStream { every: Duration },
    /// SSE headers, then `bytes` of one line with no newline, sent in 64 KiB writes.
    HugeLine { bytes: usize },
    /// A chunked `200 OK` JSON body of `bytes` (without Content-Length).
    HugeBody { bytes: usize },
}

pub struct HostileUpstream {
    pub addr: std::net::SocketAddr,
    connections: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl HostileUpstream {
    pub async fn start(how: Misbehaviour) -> HostileUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind hostile upstream");
        let addr = listener.local_addr().expect("addr");
        let connections = Arc::new(AtomicUsize::new(0));
        let count = connections.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let how = how.clone();
                tokio::spawn(async move {
                    let _ = misbehave(stream, how).await;
                });
            }
        });
        HostileUpstream { addr, connections, task }
    }

    /// The base URL of an OpenAI-compatible provider at this upstream.
    pub fn v1(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for HostileUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads one request: headers up to the blank line, then Content-Length bytes of body.
async fn read_request(stream: &mut TcpStream) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let length: usize =
        head.lines().find_map(|l| l.strip_prefix("content-length:")).and_then(|v| v.trim().parse().ok()).unwrap_or(0);
    let mut have = buf.len() - head_end;
    while have < length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        have += n;
    }
    Ok(())
}

async fn misbehave(mut stream: TcpStream, how: Misbehaviour) -> std::io::Result<()> {
    read_request(&mut stream).await?;
    match how {
        Misbehaviour::Reset => {
            // A zero linger closes with RST at once; nothing blocks on drop.
            #[allow(deprecated, reason = "SO_LINGER 0 is the point: a reset, not a graceful close")]
            stream.set_linger(Some(Duration::ZERO))?;
            drop(stream);
        }
        Misbehaviour::Garbage => {
            stream.write_all(b"\x00\x01\x02 not http at all \xff\xfe\r\n\r\n").await?;
        }
        Misbehaviour::Html200 => {
            let body = "<html><body><h1>Welcome to the hotel Wi-Fi</h1></body></html>";
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            stream.write_all(head.as_bytes()).await?;
            stream.write_all(body.as_bytes()).await?;
        }
        Misbehaviour::Drip { every, content_type } => {
            let head = format!("HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncontent-length: 1000000\r\n\r\n");
            stream.write_all(head.as_bytes()).await?;
            loop {
                stream.write_all(b" ").await?;
                tokio::time::sleep(every).await;
            }
        }
        Misbehaviour::EndlessStream { every } => {
            let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
            stream.write_all(head.as_bytes()).await?;
            loop {
                let event = crate::openai_wire::data(&crate::openai_wire::chunk(
                    "m",
                    serde_json::json!({"content": "la "}),
                    None,
                ));
                stream.write_all(format!("{:x}\r\n{event}\r\n", event.len()).as_bytes()).await?;
                tokio::time::sleep(every).await;
            }
        }
        Misbehaviour::HugeLine { bytes } => {
            let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
            stream.write_all(head.as_bytes()).await?;
            stream.write_all(b"6\r\ndata: \r\n").await?;
            write_chunked(&mut stream, b'a', bytes).await?;
        }
        Misbehaviour::HugeBody { bytes } => {
            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
            stream.write_all(head.as_bytes()).await?;
            write_chunked(&mut stream, b' ', bytes).await?;
        }
    }
    Ok(())
}

/// `bytes` of `fill` as 64 KiB chunks of a chunked body, then its end.
async fn write_chunked(stream: &mut TcpStream, fill: u8, bytes: usize) -> std::io::Result<()> {
    let piece = vec![fill; 64 * 1024];
    let mut sent = 0;
    while sent < bytes {
        stream.write_all(format!("{:x}\r\n", piece.len()).as_bytes()).await?;
        stream.write_all(&piece).await?;
        stream.write_all(b"\r\n").await?;
        sent += piece.len();
    }
    stream.write_all(b"0\r\n\r\n").await
}
