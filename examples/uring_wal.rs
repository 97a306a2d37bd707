//! A correct log that appends and fsyncs through io_uring: the writer the tracer cannot
//! see into (issue 12). Each record is one `Write` at the log's end linked to an `Fsync`,
//! submitted together; the ack comes after both completed. Replay reads the log back.
//!
//! Usage: CRASHTEST_DIR=DIR uring_wal write|replay (target protocol v1).
//!
//! A record is `[u32 length][u32 crc32c of the length bytes and the payload][payload]`,
//! little-endian. Replay stops at the first record that is short or fails its CRC, and
//! cuts the log there, so a resumed writer appends after the last good record. The log's
//! name is made durable with an ordinary fsync of the folder when the log is created.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, Read, Write};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::ExitCode;

use io_uring::{IoUring, opcode, squeue, types};

fn log_path() -> PathBuf {
    PathBuf::from(std::env::var_os("CRASHTEST_DIR").expect("CRASHTEST_DIR is set")).join("wal.log")
}

fn record(payload: &[u8]) -> Vec<u8> {
    let len = (payload.len() as u32).to_le_bytes();
    let crc = crc32c::crc32c_append(crc32c::crc32c(&len), payload);
    [&len[..], &crc.to_le_bytes(), payload].concat()
}

fn write() -> std::io::Result<()> {
    let path = log_path();
    let fresh = !path.exists();
    let file = OpenOptions::new().create(true).append(true).open(&path)?;
    if fresh {
        File::open(path.parent().expect("a folder"))?.sync_all()?;
    }
    let mut offset = file.metadata()?.len();
    let mut ring = IoUring::new(8)?;
    let fd = types::Fd(file.as_raw_fd());
    let mut out = std::io::stdout().lock();
    for (i, line) in std::io::stdin().lock().lines().enumerate() {
        let payload = hex(&line?)?;
        let bytes = record(&payload);
        let write = opcode::Write::new(fd, bytes.as_ptr(), bytes.len() as u32)
            .offset(offset)
            .build()
            .flags(squeue::Flags::IO_LINK)
            .user_data(1);
        let fsync = opcode::Fsync::new(fd).build().user_data(2);
        // SAFETY: `bytes` outlives the submission: both entries complete before the loop
        // goes on.
        unsafe {
            ring.submission()
                .push(&write)
                .expect("room for two entries");
            ring.submission()
                .push(&fsync)
                .expect("room for two entries");
        }
        ring.submit_and_wait(2)?;
        for done in ring.completion() {
            if done.result() < 0 {
                return Err(std::io::Error::from_raw_os_error(-done.result()));
            }
            if done.user_data() == 1 && done.result() as usize != bytes.len() {
                return Err(std::io::Error::other("short write"));
            }
        }
        offset += bytes.len() as u64;
        writeln!(out, "{i}")?;
        out.flush()?;
    }
    Ok(())
}

fn replay() -> std::io::Result<()> {
    let path = log_path();
    let mut data = Vec::new();
    match File::open(&path) {
        Ok(mut f) => f.read_to_end(&mut data)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut out = std::io::stdout().lock();
    let mut at = 0;
    while at + 8 <= data.len() {
        let len = u32::from_le_bytes(data[at..at + 4].try_into().expect("4 bytes")) as usize;
        let Some(payload) = data.get(at + 8..at + 8 + len) else {
            break;
        };
        if record(payload) != data[at..at + 8 + len] {
            break;
        }
        let line: String = payload.iter().map(|b| format!("{b:02x}")).collect();
        writeln!(out, "{line}")?;
        at += 8 + len;
    }
    if at < data.len() {
        let f = OpenOptions::new().write(true).open(&path)?;
        f.set_len(at as u64)?;
        f.sync_all()?;
    }
    Ok(())
}

fn hex(line: &str) -> std::io::Result<Vec<u8>> {
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "a line that is not hex");
    if !line.len().is_multiple_of(2) {
        return Err(bad());
    }
    (0..line.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(line.get(i..i + 2).ok_or_else(bad)?, 16).map_err(|_| bad()))
        .collect()
}

fn main() -> ExitCode {
    let result = match std::env::args().nth(1).as_deref() {
        Some("write") => write(),
        Some("replay") => replay(),
        _ => {
            eprintln!("usage: uring_wal write|replay");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("uring_wal: {e}");
            ExitCode::FAILURE
        }
    }
}
