//! Walking a stopped thread's stack with the `.eh_frame` call-frame information of the mapped
//! ELF files (gimli): the return addresses of its callers, outermost last. The recorder uses them
//! to move a preemption out of a hot loop to an instruction the thread passes rarely (DESIGN.md
//! 6.2), so that replay reaches it in a few stops.

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;

use gimli::{
    BaseAddresses, CfaRule, EhFrame, EhFrameHdr, NativeEndian, RegisterRule, UnwindContext,
    UnwindSection, X86_64,
};
use object::{Object, ObjectSection};

use crate::regs::Regs;
use crate::remote_ptr::RemotePtr;
use crate::spin::{exec_mappings, ExecMapping};
use crate::task::Task;

/// A caller's frame: where the thread returns to, and the canonical frame address (the stack
/// pointer right after that return).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame {
    pub return_address: u64,
    pub cfa: u64,
}

/// One ELF file's unwind tables.
struct Module {
    image: crate::elf::Image,
    eh_frame: Option<(u64, Range<usize>)>,
    eh_frame_hdr: Option<(u64, Range<usize>)>,
    text: u64,
}

impl Module {
    fn read(path: &Path) -> Option<Module> {
        let image = crate::elf::Image::read(path)?;
        let (eh_frame, eh_frame_hdr, text) = {
            let obj = object::File::parse(&*image.data).ok()?;
            let section = |name: &str| {
                let s = obj.section_by_name(name)?;
                let (off, size) = s.file_range()?;
                Some((s.address(), off as usize..(off + size) as usize))
            };
            let text = obj
                .section_by_name(".text")
                .map(|s| s.address())
                .unwrap_or(0);
            (section(".eh_frame"), section(".eh_frame_hdr"), text)
        };
        Some(Module {
            image,
            eh_frame,
            eh_frame_hdr,
            text,
        })
    }

    /// The caller's CFA and return address for link-time address `vaddr`, given the registers
    /// (rsp, rbp) of this frame; also this frame's saved rbp when the CFI says where it is.
    fn step(
        &self,
        ctx: &mut UnwindContext<usize>,
        vaddr: u64,
        rsp: u64,
        rbp: u64,
        read: &mut dyn FnMut(u64) -> Option<u64>,
    ) -> Option<(u64, u64, u64)> {
        let (eh_addr, eh_range) = self.eh_frame.clone()?;
        let eh = EhFrame::new(self.image.data.get(eh_range)?, NativeEndian);
        let mut bases = BaseAddresses::default()
            .set_eh_frame(eh_addr)
            .set_text(self.text);
        let row = match self.eh_frame_hdr.clone() {
            Some((hdr_addr, hdr_range)) => {
                bases = bases.set_eh_frame_hdr(hdr_addr);
                let hdr = EhFrameHdr::new(self.image.data.get(hdr_range)?, NativeEndian)
                    .parse(&bases, 8)
                    .ok()?;
                let table = hdr.table()?;
                let fde = table
                    .fde_for_address(&eh, &bases, vaddr, EhFrame::cie_from_offset)
                    .ok()?;
                fde.unwind_info_for_address(&eh, &bases, ctx, vaddr)
                    .ok()?
                    .clone()
            }
            None => eh
                .unwind_info_for_address(&bases, ctx, vaddr, EhFrame::cie_from_offset)
                .ok()?
                .clone(),
        };
        let cfa = match row.cfa() {
            CfaRule::RegisterAndOffset { register, offset } => {
                let base = if *register == X86_64::RSP {
                    rsp
                } else if *register == X86_64::RBP {
                    rbp
                } else {
                    return None;
                };
                base.wrapping_add(*offset as u64)
            }
            CfaRule::Expression(_) => return None,
        };
        let ra = match row.register(X86_64::RA) {
            RegisterRule::Offset(o) => read(cfa.wrapping_add(o as u64))?,
            _ => return None,
        };
        let saved_rbp = match row.register(X86_64::RBP) {
            RegisterRule::Offset(o) => read(cfa.wrapping_add(o as u64))?,
            _ => rbp,
        };
        Some((cfa, ra, saved_rbp))
    }
}

/// Unwind tables of the files a process maps, read once per file.
#[derive(Default)]
pub struct Unwinder {
    modules: HashMap<String, Option<Module>>,
}

impl Unwinder {
    /// Forget every file (after an exec).
    pub fn clear(&mut self) {
        self.modules.clear();
    }

    /// The caller frames of a thread stopped with registers `regs`, innermost first, at most
    /// `max`. Stops early where call-frame information is missing.
    pub fn frames(&mut self, task: &mut Task, regs: &Regs, max: usize) -> Vec<Frame> {
        let Ok(maps) = exec_mappings(task.tid.as_raw()) else {
            return Vec::new();
        };
        let mut ctx = UnwindContext::new();
        let mut out = Vec::new();
        let (mut pc, mut rsp, mut rbp) = (regs.pc(), regs.sp(), regs.0.rbp);
        // The innermost frame is at `pc` itself; callers' return addresses point after the
        // call, so look them up one byte earlier.
        let mut lookup = pc;
        while out.len() < max {
            let Some(m) = maps.iter().find(|m| lookup >= m.start && lookup < m.end) else {
                break;
            };
            let Some(module) = self.module(m) else {
                break;
            };
            let Some(vaddr) = module.image.vaddr_of_offset(lookup - m.start + m.offset) else {
                break;
            };
            let mut read = |a: u64| task.read_u64(RemotePtr::new(a)).ok();
            let Some((cfa, ra, saved_rbp)) = module.step(&mut ctx, vaddr, rsp, rbp, &mut read)
            else {
                break;
            };
            if ra == 0 || cfa <= rsp {
                break;
            }
            out.push(Frame {
                return_address: ra,
                cfa,
            });
            pc = ra;
            lookup = pc.wrapping_sub(1);
            rsp = cfa;
            rbp = saved_rbp;
        }
        let _ = pc;
        out
    }

    fn module(&mut self, m: &ExecMapping) -> Option<&Module> {
        self.modules
            .entry(m.path.clone())
            .or_insert_with(|| Module::read(Path::new(&m.path)))
            .as_ref()
    }
}
