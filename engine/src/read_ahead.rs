//! Reading an input file ahead of the import, so that its reads find the
//! page cache filled.
//!
//! The import reads its input on a thread of its own, one chunk ahead of
//! parsing; with the file on disk (not yet cached), the kernel's own
//! readahead left that thread waiting in `read` for 0.85 s of a 2.6 s
//! 1M-event import (0.19 s with the file cached; `strace -T`). Asking the
//! kernel for the next window of the file before it is needed
//! (`posix_fadvise(WILLNEED)`, which starts the reads and returns) keeps the
//! disk busy while the earlier bytes are parsed.

use std::fs::File;
use std::io::{self, Read};

/// How far ahead of the reader the kernel is asked to read by default.
const WINDOW: u64 = 64 << 20;

/// A file read front to back, each window of it announced to the kernel
/// when the reader is half way into the one before. The bytes are the
/// file's, as [`File`]'s `read` gives them; the announcements are hints.
///
/// ```no_run
/// use std::io::BufReader;
/// let file = std::fs::File::open("events.ndjson")?;
/// let input = BufReader::with_capacity(1 << 20, trail_engine::ReadAhead::new(file));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct ReadAhead {
    file: File,
    window: u64,
    /// Bytes read so far.
    position: u64,
    /// Bytes announced so far, from the start of the file.
    announced: u64,
}

impl ReadAhead {
    /// Reads `file`, opened at its start, announcing 64 MiB at a time.
    pub fn new(file: File) -> Self {
        Self::with_window(file, WINDOW)
    }

    fn with_window(file: File, window: u64) -> Self {
        Self {
            file,
            window,
            position: 0,
            announced: 0,
        }
    }

    fn announce(&mut self) {
        while self.position + self.window / 2 >= self.announced {
            advise_will_need(&self.file, self.announced, self.window);
            self.announced += self.window;
        }
    }
}

/// Asks the kernel to start reading `len` bytes of `file` from `offset`. A
/// hint: if the kernel declines it, reads are as they would have been.
#[cfg(target_os = "linux")]
fn advise_will_need(file: &File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    let (Ok(offset), Ok(len)) = (libc::off_t::try_from(offset), libc::off_t::try_from(len)) else {
        return;
    };
    // SAFETY: posix_fadvise takes a descriptor and two integers and touches
    // no memory of ours; the descriptor is open for as long as `file` lives.
    unsafe {
        libc::posix_fadvise(file.as_raw_fd(), offset, len, libc::POSIX_FADV_WILLNEED);
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_will_need(_file: &File, _offset: u64, _len: u64) {}

impl Read for ReadAhead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.announce();
        let n = self.file.read(buf)?;
        self.position += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Through a small window, over many windows: the file's bytes, in
    /// order, and every byte read was announced first.
    #[test]
    fn reads_the_file_announcing_ahead() {
        let text: String = (0..20_000).map(|i| format!("line {i}\n")).collect();
        let mut written = tempfile::NamedTempFile::new().unwrap();
        written.write_all(text.as_bytes()).unwrap();
        let mut reader = ReadAhead::with_window(File::open(written.path()).unwrap(), 4096);
        let mut read = Vec::new();
        let mut buf = [0u8; 1000];
        loop {
            let n = reader.read(&mut buf).unwrap();
            assert!(reader.position <= reader.announced);
            if n == 0 {
                break;
            }
            read.extend_from_slice(&buf[..n]);
        }
        assert_eq!(read, text.as_bytes());
        assert!(
            reader.announced >= text.len() as u64,
            "{}",
            reader.announced
        );
    }
}
