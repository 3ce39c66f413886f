//! Memory the program shares with a child process: a writable shared mapping (`MAP_SHARED`,
//! anonymous or of a file) that exists when the program forks. The child runs untraced, so what
//! it writes there is an input of the program no trace holds: python's multiprocessing does this
//! with its semaphores (`sem_open` maps `/dev/shm/sem.*`), and such recordings diverge in replay.
//! Recording goes on, and the trace and the recorder's output say so.

/// The writable shared mappings of process `pid` (their `/proc/PID/maps` lines' names: a path,
/// `[anon]` for anonymous memory).
pub(crate) fn writable_shared_mappings(pid: i32) -> Vec<String> {
    let Ok(maps) = std::fs::read_to_string(format!("/proc/{pid}/maps")) else {
        return Vec::new();
    };
    maps.lines()
        .filter_map(|line| {
            let mut f = line.splitn(6, ' ');
            let perms = f.nth(1)?;
            let b = perms.as_bytes();
            if b.len() < 4 || b[1] != b'w' || b[3] != b's' {
                return None;
            }
            let name = f.nth(3).map(str::trim).unwrap_or("");
            Some(if name.is_empty() {
                "[anon]".to_string()
            } else {
                name.to_string()
            })
        })
        .collect()
}

/// What the recording found shared with child processes.
#[derive(Clone, Debug, Default)]
pub(crate) struct SharedWithChildren {
    /// Forks made while a writable shared mapping existed.
    pub(crate) forks: u64,
    /// The first such mapping seen, for the warning.
    pub(crate) example: Option<String>,
}

impl SharedWithChildren {
    /// The program (process `pid`) is about to fork: note its writable shared mappings.
    pub(crate) fn on_fork(&mut self, pid: i32) {
        let shared = writable_shared_mappings(pid);
        if let Some(first) = shared.into_iter().next() {
            self.forks += 1;
            self.example.get_or_insert(first);
        }
    }

    /// The one-line warning, when there is something to warn about.
    pub(crate) fn warning(&self) -> Option<String> {
        let example = self.example.as_ref()?;
        Some(format!(
            "the program forked {} time(s) while sharing writable memory ({example}) with the \
             child; what the child writes there is not recorded, so replay may diverge",
            self.forks
        ))
    }
}
