//! The stepper's stop reasons as gdb's. A finished step, an event reached and an interrupt
//! are signals of the stopped thread (SIGTRAP, SIGTRAP, SIGINT), as a live gdbserver reports
//! them; the ends of the trace are the replay log's ends.

use gdbstub::common::Signal;
use gdbstub::stub::MultiThreadStopReason;
use gdbstub::target::ext::base::reverse_exec::ReplayLogPosition;
use replayer::StopReason;

use crate::base::gdb_tid;

pub(crate) fn to_gdb(r: StopReason) -> MultiThreadStopReason<u64> {
    match r {
        StopReason::Breakpoint { tid, .. } => MultiThreadStopReason::SwBreak(gdb_tid(tid)),
        StopReason::Watchpoint { tid, addr, kind } => MultiThreadStopReason::Watch {
            tid: gdb_tid(tid),
            kind: crate::watchpoints::to_gdb(kind),
            addr,
        },
        StopReason::Stepped { tid } | StopReason::Event { tid, .. } => {
            MultiThreadStopReason::SignalWithThread {
                tid: gdb_tid(tid),
                signal: Signal::SIGTRAP,
            }
        }
        StopReason::Signal { tid, signo } => MultiThreadStopReason::SignalWithThread {
            tid: gdb_tid(tid),
            signal: Signal(signo as u8),
        },
        StopReason::Interrupted { tid } => MultiThreadStopReason::SignalWithThread {
            tid: gdb_tid(tid),
            signal: Signal::SIGINT,
        },
        StopReason::HistoryEnd { tid } => MultiThreadStopReason::ReplayLog {
            tid: Some(gdb_tid(tid)),
            pos: ReplayLogPosition::End,
        },
        StopReason::HistoryStart { tid } => MultiThreadStopReason::ReplayLog {
            tid: Some(gdb_tid(tid)),
            pos: ReplayLogPosition::Begin,
        },
    }
}
