//! Extended thread information (`qThreadExtraInfo`): which thread is the main one and which
//! stopped last, as `info threads` shows beside each recorded thread id.

use gdbstub::common::Tid;
use gdbstub::target::ext::thread_extra_info::ThreadExtraInfo;

use crate::base::recorded_tid;
use crate::error::Error;
use crate::target::ReplayTarget;

impl ThreadExtraInfo for ReplayTarget {
    fn thread_extra_info(&self, tid: Tid, buf: &mut [u8]) -> Result<usize, Error> {
        let t = recorded_tid(tid);
        let threads = self.session.threads();
        let mut info = format!("recorded tid {}", t.0);
        if threads.first() == Some(&t) {
            info.push_str(", main");
        }
        let n = info.len().min(buf.len());
        buf[..n].copy_from_slice(&info.as_bytes()[..n]);
        Ok(n)
    }
}
