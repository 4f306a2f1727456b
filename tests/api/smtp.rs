//! A real SMTP server for the tests, over TCP on a free port, recording what arrives. It can be told
//! to refuse messages with a temporary failure (451), as a relay that is down for mail does.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// One received message, parsed.
#[derive(Debug, Clone)]
pub struct Received {
    pub to: Vec<String>,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub message_id: String,
    pub auto_submitted: String,
    pub has_date: bool,
}

/// One SMTP session: enough of RFC 5321 for a client like lettre (EHLO, MAIL, RCPT, DATA with
/// dot-unstuffing, RSET, NOOP, QUIT), answering each command as a relay would.
fn session(stream: TcpStream, inbox: &Mutex<Vec<Received>>, refuse: &AtomicBool) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    writer.write_all(b"220 smtp.test ESMTP\r\n")?;
    let mut to = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_ascii_uppercase();
        let reply: &[u8] = if command.starts_with("EHLO") || command.starts_with("HELO") {
            b"250-smtp.test\r\n250 8BITMIME\r\n"
        } else if command.starts_with("MAIL FROM") || command.starts_with("RSET") {
            to.clear();
            b"250 OK\r\n"
        } else if command.starts_with("RCPT TO") {
            let address = line.trim_end()[8..].trim().trim_start_matches(':').trim().trim_matches(['<', '>']);
            to.push(address.to_owned());
            b"250 OK\r\n"
        } else if command == "DATA" {
            writer.write_all(b"354 end with <CRLF>.<CRLF>\r\n")?;
            let mut data = Vec::new();
            loop {
                let mut data_line = Vec::new();
                if reader.read_until(b'\n', &mut data_line)? == 0 {
                    return Ok(());
                }
                if data_line == b".\r\n" {
                    break;
                }
                let unstuffed = if data_line.starts_with(b"..") { &data_line[1..] } else { &data_line[..] };
                data.extend_from_slice(unstuffed);
            }
            if refuse.load(Ordering::SeqCst) {
                b"451 4.3.0 try again later\r\n"
            } else {
                inbox.lock().unwrap().push(parse(&to, &data));
                b"250 OK queued\r\n"
            }
        } else if command.starts_with("NOOP") {
            b"250 OK\r\n"
        } else if command.starts_with("QUIT") {
            writer.write_all(b"221 bye\r\n")?;
            return Ok(());
        } else {
            b"502 command not implemented\r\n"
        };
        writer.write_all(reply)?;
    }
}

fn parse(to: &[String], data: &[u8]) -> Received {
    let parsed = mail_parser::MessageParser::default().parse(data).expect("a parsable message");
    let header = |name: &str| parsed.header_raw(name).map(|v| v.trim().to_owned()).unwrap_or_default();
    Received {
        to: to.to_vec(),
        subject: parsed.subject().unwrap_or_default().to_owned(),
        text: parsed.body_text(0).map(|t| t.into_owned()).unwrap_or_default(),
        html: parsed.body_html(0).map(|t| t.into_owned()).unwrap_or_default(),
        message_id: header("Message-ID"),
        auto_submitted: header("Auto-Submitted"),
        has_date: parsed.date().is_some(),
    }
}

pub struct SmtpServer {
    pub port: u16,
    inbox: Arc<Mutex<Vec<Received>>>,
    refuse: Arc<AtomicBool>,
}

impl SmtpServer {
    pub fn start() -> Self {
        Self::start_on(TcpListener::bind("127.0.0.1:0").unwrap())
    }

    pub fn start_on(listener: TcpListener) -> Self {
        let port = listener.local_addr().unwrap().port();
        let inbox = Arc::new(Mutex::new(Vec::new()));
        let refuse = Arc::new(AtomicBool::new(false));
        let (shared_inbox, shared_refuse) = (Arc::clone(&inbox), Arc::clone(&refuse));
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (inbox, refuse) = (Arc::clone(&shared_inbox), Arc::clone(&shared_refuse));
                std::thread::spawn(move || session(stream, &inbox, &refuse));
            }
        });
        Self { port, inbox, refuse }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn refuse(&self, refuse: bool) {
        self.refuse.store(refuse, Ordering::SeqCst);
    }

    /// Everything received so far, and forgets it.
    pub fn take(&self) -> Vec<Received> {
        std::mem::take(&mut *self.inbox.lock().unwrap())
    }
}
