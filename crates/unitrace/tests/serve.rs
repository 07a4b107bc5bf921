//! `unitrace serve --demo`: the binary loads the demo dataset through the capture path, prints the
//! URL it serves and three example commands, answers them, and stops cleanly on SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

/// A minimal HTTP/1.1 GET: (status, body).
fn get(addr: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text[9..12].parse().unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map(|x| x.1)
        .unwrap_or("")
        .to_string();
    (status, body)
}

#[test]
fn serve_demo_answers_its_example_commands() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("demo.sqlite").display());
    let mut child = Command::new(env!("CARGO_BIN_EXE_unitrace"))
        .args(["serve", "--demo", "--db", &db, "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    for _ in 0..5 {
        let mut l = String::new();
        if out.read_line(&mut l).unwrap() == 0 {
            break;
        }
        lines.push(l.trim().to_string());
    }
    let first = lines.first().cloned().unwrap_or_default();
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {lines:?}"))
        .to_string();
    let addr = url.trim_start_matches("http://").to_string();
    let mut answered = 0;
    for l in &lines[2..] {
        let u = l
            .split_whitespace()
            .last()
            .unwrap()
            .trim_matches('\'')
            .to_string();
        let path = u.trim_start_matches(&url);
        let (status, body) = get(&addr, path);
        assert_eq!(status, 200, "{path}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert!(!v.is_null());
        answered += 1;
    }
    assert_eq!(answered, 3, "{lines:?}");
    let (status, _) = get(&addr, "/readyz");
    assert_eq!(status, 200);
    // SIGTERM: a clean exit.
    #[cfg(unix)]
    {
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let st = child.wait().unwrap();
        assert!(st.success(), "{st:?}");
    }
    #[cfg(not(unix))]
    {
        let _ = child.kill();
    }
}
