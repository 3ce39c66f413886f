//! Addresses in the tracee's address space, kept apart from the recorder's own pointers.

use std::fmt;
use std::marker::PhantomData;

/// A pointer into the tracee's memory to a `T` (or to bytes, for `RemotePtr<u8>`).
pub struct RemotePtr<T> {
    addr: u64,
    _marker: PhantomData<fn() -> T>,
}

impl<T> RemotePtr<T> {
    pub const fn new(addr: u64) -> Self {
        RemotePtr {
            addr,
            _marker: PhantomData,
        }
    }
    pub const fn null() -> Self {
        Self::new(0)
    }
    pub const fn addr(self) -> u64 {
        self.addr
    }
    pub const fn is_null(self) -> bool {
        self.addr == 0
    }
    /// The address `bytes` further on, as a pointer to `U`.
    pub const fn byte_add<U>(self, bytes: u64) -> RemotePtr<U> {
        RemotePtr::new(self.addr.wrapping_add(bytes))
    }
    /// The `n`th element after this one.
    pub const fn add(self, n: u64) -> Self {
        Self::new(
            self.addr
                .wrapping_add(n.wrapping_mul(std::mem::size_of::<T>() as u64)),
        )
    }
    pub const fn cast<U>(self) -> RemotePtr<U> {
        RemotePtr::new(self.addr)
    }
}

impl<T> Clone for RemotePtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for RemotePtr<T> {}
impl<T> PartialEq for RemotePtr<T> {
    fn eq(&self, other: &Self) -> bool {
        self.addr == other.addr
    }
}
impl<T> Eq for RemotePtr<T> {}
impl<T> std::hash::Hash for RemotePtr<T> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.addr.hash(state)
    }
}
impl<T> fmt::Debug for RemotePtr<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RemotePtr({:#x})", self.addr)
    }
}
impl<T> fmt::Display for RemotePtr<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.addr)
    }
}
