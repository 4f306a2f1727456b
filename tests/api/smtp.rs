//! A real SMTP server for the tests, over TCP on a free port, recording what arrives. It can be told
//! to refuse messages with a temporary failure (451), as a relay that is down for mail does, or to
//! take its time before accepting each one, as a busy relay does (so a test can crash a sender mid-way).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One received message, parsed.
#[derive(Debug, Clone)]
pub struct Received {
    /// The envelope sender (MAIL FROM).
    pub from: String,
    pub to: Vec<String>,
    /// The `To` header as a mail reader shows it: (display name, address) of each.
    pub to_header: Vec<(String, String)>,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub message_id: String,
    pub auto_submitted: String,
    pub has_date: bool,
}

/// What the server received and how it behaves, shared by its sessions and the test.
#[derive(Default)]
struct Shared {
    inbox: Mutex<Vec<Received>>,
    refuse: AtomicBool,
    /// Recipients answered with a permanent failure, as a relay answers an unknown mailbox.
    unknown: Mutex<Vec<String>>,
    /// Milliseconds to wait before answering the end of each message.
    delay_ms: AtomicU64,
    /// Messages between their end of data and our answer now, and the most there were at once.
    answering: AtomicUsize,
    most_answering: AtomicUsize,
}

/// One SMTP session: enough of RFC 5321 for a client like lettre (EHLO, MAIL, RCPT, DATA with
/// dot-unstuffing, RSET, NOOP, QUIT), answering each command as a relay would.
fn session(stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    writer.write_all(b"220 smtp.test ESMTP\r\n")?;
    let mut from = String::new();
    let mut to = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_ascii_uppercase();
        let reply: &[u8] = if command.starts_with("EHLO") || command.starts_with("HELO") {
            b"250-smtp.test\r\n250 8BITMIME\r\n"
        } else if command.starts_with("MAIL FROM") {
            from = address_in(&line, 9);
            to.clear();
            b"250 OK\r\n"
        } else if command.starts_with("RSET") {
            from.clear();
            to.clear();
            b"250 OK\r\n"
        } else if command.starts_with("RCPT TO") {
            let address = address_in(&line, 7);
            if shared.unknown.lock().unwrap().contains(&address) {
                b"550 5.1.1 no such mailbox\r\n"
            } else {
                to.push(address);
                b"250 OK\r\n"
            }
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
            let answering = shared.answering.fetch_add(1, Ordering::SeqCst) + 1;
            shared.most_answering.fetch_max(answering, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(shared.delay_ms.load(Ordering::SeqCst)));
            shared.answering.fetch_sub(1, Ordering::SeqCst);
            if shared.refuse.load(Ordering::SeqCst) {
                b"451 4.3.0 try again later\r\n"
            } else {
                shared.inbox.lock().unwrap().push(parse(&from, &to, &data));
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

/// The address of `MAIL FROM:<a@b> …` or `RCPT TO:<a@b>`, whose verb is `verb_len` characters long.
fn address_in(line: &str, verb_len: usize) -> String {
    let rest = line.trim_end()[verb_len..].trim().trim_start_matches(':').trim();
    rest.split_whitespace().next().unwrap_or_default().trim_matches(['<', '>']).to_owned()
}

fn parse(from: &str, to: &[String], data: &[u8]) -> Received {
    let parsed = mail_parser::MessageParser::default().parse(data).expect("a parsable message");
    let header = |name: &str| parsed.header_raw(name).map(|v| v.trim().to_owned()).unwrap_or_default();
    Received {
        from: from.to_owned(),
        to: to.to_vec(),
        to_header: parsed
            .to()
            .map(|to| {
                to.iter()
                    .map(|a| (a.name().unwrap_or_default().to_owned(), a.address().unwrap_or_default().to_owned()))
                    .collect()
            })
            .unwrap_or_default(),
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
    shared: Arc<Shared>,
}

impl SmtpServer {
    pub fn start() -> Self {
        Self::start_on(TcpListener::bind("127.0.0.1:0").unwrap())
    }

    pub fn start_on(listener: TcpListener) -> Self {
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared::default());
        let accepting = Arc::clone(&shared);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = Arc::clone(&accepting);
                std::thread::spawn(move || session(stream, &shared));
            }
        });
        Self { port, shared }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn refuse(&self, refuse: bool) {
        self.shared.refuse.store(refuse, Ordering::SeqCst);
    }

    /// Answers mail to `address` with a permanent failure from now on.
    pub fn unknown_mailbox(&self, address: &str) {
        self.shared.unknown.lock().unwrap().push(address.to_owned());
    }

    /// Accepts mail to `address` again.
    pub fn known_mailbox(&self, address: &str) {
        self.shared.unknown.lock().unwrap().retain(|known| known != address);
    }

    /// Waits `delay` before answering the end of each message from now on (zero: answers at once).
    pub fn slow(&self, delay: Duration) {
        self.shared.delay_ms.store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// How many messages were accepted so far (and not yet taken).
    pub fn count(&self) -> usize {
        self.shared.inbox.lock().unwrap().len()
    }

    /// The most messages that were waiting for our answer at the same time: the conversations a client
    /// had in flight at once.
    pub fn most_messages_at_once(&self) -> usize {
        self.shared.most_answering.load(Ordering::SeqCst)
    }

    /// Everything received so far, and forgets it.
    pub fn take(&self) -> Vec<Received> {
        std::mem::take(&mut *self.shared.inbox.lock().unwrap())
    }
}
