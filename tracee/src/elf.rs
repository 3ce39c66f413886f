//! The few facts about an ELF file that code patching needs: where a virtual address lies in the
//! file, and the function symbols (from `.symtab` and `.dynsym`).

use std::path::Path;

use object::{Object, ObjectSegment, ObjectSymbol, SymbolKind};

/// A function symbol: link-time address, size, name.
pub struct Function {
    pub addr: u64,
    pub size: u64,
    pub name: String,
}

/// An ELF file read into memory.
pub struct Image {
    pub data: Vec<u8>,
    /// Segments: (vaddr, file offset, file size).
    segments: Vec<(u64, u64, u64)>,
    /// Functions sorted by address, one per address.
    pub functions: Vec<Function>,
}

impl Image {
    /// Read and parse `file`; `None` if it is not a readable ELF file.
    pub fn read(file: &Path) -> Option<Image> {
        let data = std::fs::read(file).ok()?;
        let (segments, mut functions) = {
            let obj = object::File::parse(&*data).ok()?;
            let segments = obj
                .segments()
                .map(|s| {
                    let (off, size) = s.file_range();
                    (s.address(), off, size)
                })
                .collect::<Vec<_>>();
            let functions = obj
                .symbols()
                .chain(obj.dynamic_symbols())
                .filter(|s| s.kind() == SymbolKind::Text && s.size() > 0)
                .map(|s| Function {
                    addr: s.address(),
                    size: s.size(),
                    name: s.name().unwrap_or("").to_string(),
                })
                .collect::<Vec<_>>();
            (segments, functions)
        };
        functions.sort_by_key(|f| f.addr);
        functions.dedup_by_key(|f| f.addr);
        Some(Image {
            data,
            segments,
            functions,
        })
    }

    /// The file offset of link-time address `vaddr`.
    pub fn file_offset(&self, vaddr: u64) -> Option<u64> {
        self.segments
            .iter()
            .find(|&&(va, _, sz)| vaddr >= va && vaddr < va + sz)
            .map(|&(va, off, _)| vaddr - va + off)
    }

    /// The link-time address at file offset `offset`.
    pub fn vaddr_of_offset(&self, offset: u64) -> Option<u64> {
        self.segments
            .iter()
            .find(|&&(_, off, sz)| offset >= off && offset < off + sz)
            .map(|&(va, off, _)| offset - off + va)
    }

    /// The bytes of a function.
    pub fn code(&self, f: &Function) -> Option<&[u8]> {
        let fo = self.file_offset(f.addr)?;
        self.data.get(fo as usize..(fo + f.size) as usize)
    }

    /// The name of the function starting at `addr`.
    pub fn name_at(&self, addr: u64) -> Option<&str> {
        self.functions
            .binary_search_by_key(&addr, |f| f.addr)
            .ok()
            .map(|i| self.functions[i].name.as_str())
    }
}
