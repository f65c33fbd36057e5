//! `hostile` guardrail (test-only): misbehaves on demand so the host's sandbox limits
//! (deadline, memory, traps, malformed output) can be tested.

use core::hint::black_box;

use tollgate_sdk::guardrail::{
    GuardrailInfo, Guest, PassThroughGuard, Redaction, Stage, TextPart, Verdict,
};

/// What the concatenated text asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Mode {
    Loop,
    Alloc,
    Trap,
    Malformed,
    /// Report what the sandbox lets the plugin reach (it should be nothing).
    Probe,
    Allow,
}

/// Pick the misbehaviour from the text (first marker found in this order).
pub fn mode(parts: &[TextPart]) -> Mode {
    let text: String = parts.iter().map(|p| p.text.as_str()).collect();
    if text.contains("HOSTILE:loop") {
        Mode::Loop
    } else if text.contains("HOSTILE:alloc") {
        Mode::Alloc
    } else if text.contains("HOSTILE:trap") {
        Mode::Trap
    } else if text.contains("HOSTILE:malformed") {
        Mode::Malformed
    } else if text.contains("HOSTILE:probe") {
        Mode::Probe
    } else {
        Mode::Allow
    }
}

/// Spin forever; `black_box` keeps the optimizer from proving the loop side-effect free.
fn spin() -> ! {
    let mut x: u64 = 1;
    loop {
        x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
}

/// Allocate 1 MiB buffers forever, touching each so the pages are really used.
fn hog() -> ! {
    let mut all: Vec<Vec<u8>> = Vec::new();
    loop {
        let chunk = black_box(vec![0xA5u8; 1 << 20]);
        all.push(chunk);
        black_box(&mut all);
    }
}

fn malformed(parts: &[TextPart]) -> Verdict {
    let len = parts.iter().map(|p| p.text.len()).max().unwrap_or(0) as u32;
    Verdict::Redact(vec![Redaction {
        part: parts.len() as u32 + 7,
        start: len + 10,
        end: len + 5,
        replacement: "x".to_string(),
        category: "hostile".to_string(),
    }])
}

/// Try the filesystem, environment, arguments, clocks and network, and report
/// what worked as a JSON rationale of a block verdict.
fn probe() -> Verdict {
    use std::time::{SystemTime, UNIX_EPOCH};
    let outcome = |r: std::io::Result<()>| match r {
        Ok(()) => "allowed".to_string(),
        Err(e) => format!("denied: {e}"),
    };
    let report = serde_json::json!({
        "read_dir_root": outcome(std::fs::read_dir("/").map(|_| ())),
        "read_file": outcome(std::fs::read("/etc/hostname").map(|_| ())),
        "read_dir_cwd": outcome(std::fs::read_dir(".").map(|_| ())),
        "write_file": outcome(std::fs::write("probe.txt", b"x")),
        "env_vars": std::env::vars().count(),
        "args": std::env::args().count(),
        "wall_clock_secs": SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(u64::MAX),
        "tcp_connect": outcome(std::net::TcpStream::connect("127.0.0.1:9").map(|_| ())),
    });
    Verdict::Block(tollgate_sdk::guardrail::BlockInfo {
        category: "probe".to_string(),
        rationale: report.to_string(),
    })
}

struct Hostile;

impl Guest for Hostile {
    type StreamGuard = PassThroughGuard;

    fn describe() -> GuardrailInfo {
        GuardrailInfo {
            id: "hostile".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            stages: vec![Stage::Request],
        }
    }

    fn configure(_config: String) -> Result<(), String> {
        Ok(())
    }

    fn check(_stage: Stage, parts: Vec<TextPart>) -> Verdict {
        match mode(&parts) {
            Mode::Loop => spin(),
            Mode::Alloc => hog(),
            Mode::Trap => panic!("hostile guardrail: trap requested"),
            Mode::Malformed => malformed(&parts),
            Mode::Probe => probe(),
            Mode::Allow => Verdict::Allow,
        }
    }
}

tollgate_sdk::export_guardrail!(Hostile);

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_sdk::guardrail::Role;

    fn part(text: &str) -> TextPart {
        TextPart {
            role: Role::User,
            message_index: 0,
            block_index: 0,
            system: false,
            text: text.to_string(),
        }
    }

    #[test]
    fn modes() {
        assert_eq!(mode(&[part("hi")]), Mode::Allow);
        assert_eq!(mode(&[part("HOSTILE:"), part("loop")]), Mode::Loop);
        assert_eq!(mode(&[part("HOSTILE:trap")]), Mode::Trap);
        let Verdict::Redact(r) = malformed(&[part("abc")]) else {
            panic!()
        };
        assert!(r[0].part >= 1 && r[0].start > 3);
    }
}
