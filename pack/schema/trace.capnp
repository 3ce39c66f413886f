# The on-disk trace format of cargo-record-test (DESIGN.md section 7).
#
# A trace directory holds:
#   header  8-byte magic "crtrace\0", u32 LE format version, u32 LE zero, then one
#           standard-framed Cap'n Proto message whose root is `Header`.
#   events  brotli stream of packed Cap'n Proto messages (capnp::serialize_packed), root
#           `Event`, one per event; an event's number is its index in this stream.
#   data    brotli stream of raw bytes: the contents of every memory write, in event order
#           and, within an event, in list order; an event only records (addr, len).
#
# Regenerate the Rust code with pack/schema/regen.sh after editing this file.

@0xac9d8d3ebe31cb14;

struct CpuidLeaf {
  leaf @0 :UInt32;
  subleaf @1 :UInt32;
  eax @2 :UInt32;
  ebx @3 :UInt32;
  ecx @4 :UInt32;
  edx @5 :UInt32;
}

struct ExitStatus {
  union {
    exited @0 :Int32;
    signaled :group {
      signal @1 :Int32;
      coreDumped @2 :Bool;
    }
  }
}

struct KeyValue {
  key @0 :Text;
  value @1 :Text;
}

struct ChaosParams {
  seed @0 :UInt64;
  params @1 :List(KeyValue);
  points @2 :List(UInt64);      # the chaos points patched at the first exec
}

struct Header {
  formatVersion @0 :UInt32;
  toolVersion @1 :Text;
  program @2 :Data;
  argv @3 :List(Data);
  env @4 :List(Data);
  cwd @5 :Data;
  startTimeNs @6 :UInt64;
  durationNs @7 :UInt64;
  cpuid @8 :List(CpuidLeaf);
  xcr0 @9 :UInt64;
  kernelRelease @10 :Text;
  chaos @11 :ChaosParams;       # null when absent
  exit @12 :ExitStatus;         # null while unknown
  complete @13 :Bool;
  incompleteReason @14 :Text;
}

# A memory write: its bytes are the next `len` bytes of the data stream.
struct MemWrite {
  addr @0 :UInt64;
  len @1 :UInt64;
}

struct FileRef {
  hash @0 :Text;                # lowercase hex BLAKE3, 64 characters
  len @1 :UInt64;
}

struct Position {
  pc @0 :UInt64;
  hasHits @1 :Bool;
  hits @2 :UInt64;
  regs @3 :List(UInt64);
  digest @4 :Data;              # empty when absent, else exactly 16 bytes
}

struct Syscall {
  no @0 :UInt32;
  args @1 :List(UInt64);        # exactly 6
  result @2 :Int64;
  writes @3 :List(MemWrite);
  file @4 :FileRef;             # null when absent
  output @5 :Output;            # null when it sent nothing to the recording's stdout or stderr
}

struct Output {
  stream @0 :UInt8;             # 1: stdout, 2: stderr
  copied @1 :Data;              # bytes the kernel copied (sendfile, splice, tee, copy_file_range);
                                # empty when they are in the program's memory (write, writev)
}

struct Rdtsc {
  value @0 :UInt64;
  hasAux @1 :Bool;
  aux @2 :UInt32;
}

struct Signal {
  signo @0 :Int32;
  siginfo @1 :Data;
  synchronous @2 :Bool;
  position @3 :Position;        # null when absent
}

struct Schedule {
  position @0 :Position;        # null when absent
}

struct Event {
  tid @0 :Int32;
  kind :union {
    exec @1 :List(MemWrite);
    syscall @2 :Syscall;
    rdtsc @3 :Rdtsc;
    signal @4 :Signal;
    schedule @5 :Schedule;
    exit @6 :ExitStatus;
    external @7 :Output;        # bytes untraced processes (the program's children) sent to the
                                # recording's stdout or stderr, observed at this point
  }
}
