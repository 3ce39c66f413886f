//! `qXfer:libraries-svr4:read`: the shared libraries of the replayed process, from the dynamic
//! linker's list (`r_debug` via the executable's DT_DEBUG), each named by the file the replay
//! actually mapped: the trace's stored copy (what /proc/PID/maps shows), not the recorded path,
//! so gdb reads the recorded bytes' symbols. Before the dynamic linker has set up its list, the
//! dynamic linker itself (at AT_BASE) is the one library. A copy is shown under the library's
//! own file name through a symlink in a temporary directory of the server's ([`Names`]): the
//! trace stays read-only.

use std::fs::File;
use std::os::unix::fs::FileExt;

use gdbstub::target::ext::libraries::LibrariesSvr4;
use gdbstub::target::{TargetError, TargetResult};

use crate::exec_file::copy_part;
use crate::target::ReplayTarget;

const AT_PHDR: u64 = 3;
const AT_PHNUM: u64 = 5;
const AT_BASE: u64 = 7;
const PT_DYNAMIC: u32 = 2;
const PT_PHDR: u32 = 6;
const DT_DEBUG: u64 = 21;

/// One library as gdb's SVR4 list describes it.
#[derive(Debug, PartialEq)]
pub(crate) struct Library {
    pub name: String,
    /// The `link_map` entry (0 when there is none yet).
    pub lm: u64,
    pub l_addr: u64,
    pub l_ld: u64,
}

/// A mapped file range of /proc/PID/maps.
struct Mapping {
    start: u64,
    end: u64,
    path: String,
}

fn maps(pid: i32) -> std::io::Result<Vec<Mapping>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/maps"))?;
    Ok(text.lines().filter_map(parse_maps_line).collect())
}

/// `start-end perms offset dev inode path` with a file path (not `[stack]` and the like).
fn parse_maps_line(line: &str) -> Option<Mapping> {
    let mut rest = line;
    let mut fields = Vec::new();
    for _ in 0..5 {
        let t = rest.trim_start();
        let end = t.find(' ').unwrap_or(t.len());
        fields.push(&t[..end]);
        rest = &t[end..];
    }
    let path = rest.trim_start();
    if !path.starts_with('/') {
        return None;
    }
    let (s, e) = fields[0].split_once('-')?;
    Some(Mapping {
        start: u64::from_str_radix(s, 16).ok()?,
        end: u64::from_str_radix(e, 16).ok()?,
        path: path.trim_end_matches(" (deleted)").to_string(),
    })
}

/// Reads the stopped process's memory through /proc/PID/mem (we are its tracer).
struct Mem(File);

impl Mem {
    fn u64(&self, addr: u64) -> std::io::Result<u64> {
        let mut b = [0u8; 8];
        self.0.read_exact_at(&mut b, addr)?;
        Ok(u64::from_le_bytes(b))
    }

    fn u32(&self, addr: u64) -> std::io::Result<u32> {
        let mut b = [0u8; 4];
        self.0.read_exact_at(&mut b, addr)?;
        Ok(u32::from_le_bytes(b))
    }

    fn cstr(&self, addr: u64) -> String {
        let mut out = Vec::new();
        let mut b = [0u8; 64];
        while out.len() < 4096 {
            let Ok(n) = self.0.read_at(&mut b, addr + out.len() as u64) else {
                break;
            };
            if n == 0 {
                break;
            }
            if let Some(z) = b[..n].iter().position(|c| *c == 0) {
                out.extend_from_slice(&b[..z]);
                break;
            }
            out.extend_from_slice(&b[..n]);
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// The address of the PT_DYNAMIC segment of the ELF image whose program headers are at
    /// `phdr` (`phnum` of them), with `bias` added.
    fn dynamic(&self, phdr: u64, phnum: u64, bias: Option<u64>) -> std::io::Result<Option<u64>> {
        let mut dynamic = None;
        let mut bias = bias;
        for i in 0..phnum.min(256) {
            let h = phdr + i * 56;
            let p_type = self.u32(h)?;
            let p_vaddr = self.u64(h + 16)?;
            match p_type {
                PT_PHDR if bias.is_none() => bias = Some(phdr.wrapping_sub(p_vaddr)),
                PT_DYNAMIC => dynamic = Some(p_vaddr),
                _ => {}
            }
        }
        Ok(dynamic.map(|d| d.wrapping_add(bias.unwrap_or(0))))
    }
}

fn auxv_entry(auxv: &[u8], key: u64) -> Option<u64> {
    auxv.chunks_exact(16).find_map(|p| {
        let k = u64::from_le_bytes(p[..8].try_into().ok()?);
        (k == key).then(|| u64::from_le_bytes(p[8..].try_into().unwrap_or_default()))
    })
}

/// A temporary directory of symlinks `HASH/NAME` to stored copies, removed when dropped.
pub(crate) struct Names {
    dir: std::path::PathBuf,
}

impl Names {
    pub(crate) fn new() -> Names {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("crt-gdb-libs-{}-{n}", std::process::id()));
        Names { dir }
    }
}

impl Drop for Names {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The libraries of process `pid` and its main `link_map` entry (0 before the linker's list).
pub(crate) fn list(pid: i32, names: &Names) -> std::io::Result<(u64, Vec<Library>)> {
    let auxv = crate::auxv::read(pid)?;
    let mem = Mem(File::open(format!("/proc/{pid}/mem"))?);
    let maps = maps(pid)?;
    let file_at = |addr: u64| {
        maps.iter()
            .find(|m| m.start <= addr && addr < m.end)
            .map(|m| m.path.clone())
    };
    let (phdr, phnum) = (auxv_entry(&auxv, AT_PHDR), auxv_entry(&auxv, AT_PHNUM));
    let Some((phdr, phnum)) = phdr.zip(phnum) else {
        return Ok((0, Vec::new()));
    };
    let Some(dynamic) = mem.dynamic(phdr, phnum, None)? else {
        return Ok((0, Vec::new())); // static
    };
    let mut r_debug = 0;
    for i in 0..4096 {
        let tag = mem.u64(dynamic + 16 * i)?;
        if tag == 0 {
            break;
        }
        if tag == DT_DEBUG {
            r_debug = mem.u64(dynamic + 16 * i + 8)?;
        }
    }
    let r_map = if r_debug == 0 {
        0
    } else {
        mem.u64(r_debug + 8)?
    };
    if r_map == 0 {
        // Only the dynamic linker so far.
        let base = auxv_entry(&auxv, AT_BASE).unwrap_or(0);
        let Some(name) = (base != 0).then(|| file_at(base)).flatten() else {
            return Ok((0, Vec::new()));
        };
        // Its ELF header: e_phoff at 32, e_phnum (16 bits) at 56.
        let phoff = mem.u64(base + 32)?;
        let phnum = u64::from(mem.u32(base + 56)? & 0xffff);
        let l_ld = mem.dynamic(base + phoff, phnum, Some(base))?.unwrap_or(0);
        return Ok((
            0,
            vec![Library {
                name,
                lm: 0,
                l_addr: base,
                l_ld,
            }],
        ));
    }
    let mut libs = Vec::new();
    let mut lm = mem.u64(r_map + 24)?; // the main program's l_next
    let mut guard = 0;
    while lm != 0 && guard < 4096 {
        guard += 1;
        let l_addr = mem.u64(lm)?;
        let l_name = mem.u64(lm + 8)?;
        let l_ld = mem.u64(lm + 16)?;
        let next = mem.u64(lm + 24)?;
        // The file the replay mapped there, else the name the linker has.
        let linker_name = mem.cstr(l_name);
        let name = match file_at(l_ld).or_else(|| file_at(l_addr)) {
            Some(stored) => named(names, &stored, &linker_name),
            None => linker_name,
        };
        if name.starts_with('/') {
            libs.push(Library {
                name,
                lm,
                l_addr,
                l_ld,
            });
        }
        lm = next;
    }
    Ok((r_map, libs))
}

/// A stored copy (named by its hash) under the library's own file name, so that gdb's `info
/// sharedlibrary` and backtraces say `libc.so.6`: a symlink `HASH/NAME` in `names`. The copy's
/// own path when the link cannot be made.
fn named(names: &Names, stored: &str, linker_name: &str) -> String {
    let stored_path = std::path::Path::new(stored);
    let (Some(hash), Some(base)) = (
        stored_path.file_name(),
        std::path::Path::new(linker_name).file_name(),
    ) else {
        return stored.to_string();
    };
    if hash == base {
        return stored.to_string();
    }
    let link_dir = names.dir.join(hash);
    let link = link_dir.join(base);
    if std::fs::symlink_metadata(&link).is_err() {
        let made = std::fs::create_dir_all(&link_dir)
            .and_then(|_| std::os::unix::fs::symlink(stored_path, &link));
        if made.is_err() && std::fs::symlink_metadata(&link).is_err() {
            return stored.to_string();
        }
    }
    link.to_string_lossy().into_owned()
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The list as gdb's `library-list-svr4` document.
pub(crate) fn to_xml(main_lm: u64, libs: &[Library]) -> String {
    let mut x = String::from("<library-list-svr4 version=\"1.0\"");
    if main_lm != 0 {
        x.push_str(&format!(" main-lm=\"{main_lm:#x}\""));
    }
    x.push('>');
    for l in libs {
        x.push_str(&format!(
            "<library name=\"{}\" lm=\"{:#x}\" l_addr=\"{:#x}\" l_ld=\"{:#x}\" lmid=\"0x0\"/>",
            xml_escape(&l.name),
            l.lm,
            l.l_addr,
            l.l_ld
        ));
    }
    x.push_str("</library-list-svr4>");
    x
}

impl LibrariesSvr4 for ReplayTarget {
    fn get_libraries_svr4(
        &self,
        offset: u64,
        length: usize,
        buf: &mut [u8],
    ) -> TargetResult<usize, Self> {
        let (main_lm, libs) =
            list(self.session.real_pid(), &self.library_names).map_err(TargetError::Io)?;
        Ok(copy_part(
            to_xml(main_lm, &libs).as_bytes(),
            offset,
            length,
            buf,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_lines_with_files_are_parsed_and_others_skipped() {
        let m = parse_maps_line(
            "7ffff7dd3000-7ffff7df9000 r-xp 00000000 08:01 1234   /t/x.trace/files/ab cd (deleted)",
        )
        .unwrap();
        assert_eq!((m.start, m.end), (0x7ffff7dd3000, 0x7ffff7df9000));
        assert_eq!(m.path, "/t/x.trace/files/ab cd");
        assert!(
            parse_maps_line("7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0 [stack]").is_none()
        );
        assert!(parse_maps_line("7ffff7dd3000-7ffff7df9000 rw-p 00000000 00:00 0").is_none());
    }

    #[test]
    fn the_xml_names_each_library_escaped() {
        let x = to_xml(
            0x10,
            &[Library {
                name: "/a&b/libc.so.6".into(),
                lm: 0x20,
                l_addr: 0x30,
                l_ld: 0x40,
            }],
        );
        assert_eq!(
            x,
            "<library-list-svr4 version=\"1.0\" main-lm=\"0x10\"><library name=\"/a&amp;b/libc.so.6\" lm=\"0x20\" l_addr=\"0x30\" l_ld=\"0x40\" lmid=\"0x0\"/></library-list-svr4>"
        );
    }
}
