//! A stand-in of Masdif (SDiFI's dialogue server), its REST shape: `POST /conversations` opens
//! conversation `c42`, `PUT /conversations/c42` answers with one message whose attachment is an
//! audio URL on this server, `GET /audio/m1.wav` serves that audio. Every request is recorded
//! as `"<request line> <body>"`. Bounded: 40 connections, 5 s reads, then the thread ends.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Starts the stand-in replying with `audio` (a WAV file's bytes); returns its base URL and
/// the requests seen.
pub fn standin(audio: Vec<u8>) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (seen2, base2) = (seen.clone(), base.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming().take(40) {
            let Ok(mut s) = stream else { return };
            s.set_read_timeout(Some(Duration::from_secs(5))).ok();
            let Ok(read_half) = s.try_clone() else {
                continue;
            };
            let mut r = BufReader::new(read_half);
            let mut first = String::new();
            let _ = r.read_line(&mut first);
            let mut len = 0;
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0).min(1 << 20);
                }
            }
            let mut body = vec![0; len];
            let _ = r.read_exact(&mut body);
            let body = String::from_utf8_lossy(&body).to_string();
            let line = first.trim().to_string();
            seen2.lock().unwrap().push(format!("{line} {body}"));
            let (status, ctype, reply): (&str, &str, Vec<u8>) = if line
                .starts_with("POST /conversations ")
            {
                (
                    "201 Created",
                    "application/json",
                    br#"{"conversation_id":"c42"}"#.to_vec(),
                )
            } else if line.starts_with("PUT /conversations/c42 ") {
                let json = serde_json::json!([{
                    "text": "Opið er frá níu til fimm.",
                    "message_id": "m1",
                    "data": {"attachment": [{"type": "audio", "payload": {"src": format!("{base2}/audio/m1.wav")}}]}
                }]);
                ("200 OK", "application/json", json.to_string().into_bytes())
            } else if line.starts_with("GET /audio/m1.wav ") {
                ("200 OK", "audio/wav", audio.clone())
            } else {
                ("404 Not Found", "text/plain", b"no".to_vec())
            };
            let _ = write!(
                s,
                "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                reply.len()
            );
            let _ = s.write_all(&reply);
        }
    });
    (base, seen)
}

/// The JSON body of the first `PUT /conversations/c42` seen.
pub fn put_body(seen: &[String]) -> Option<serde_json::Value> {
    let put = seen
        .iter()
        .find(|l| l.starts_with("PUT /conversations/c42 "))?;
    // "PUT /conversations/c42 HTTP/1.1 {json}"
    let json = put.splitn(4, ' ').nth(3)?;
    serde_json::from_str(json).ok()
}
