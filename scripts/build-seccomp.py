#!/usr/bin/python3
"""Builds Vivarium's seccomp filter: a classic BPF program bubblewrap loads with `--seccomp FD`.

Usage: /usr/bin/python3 scripts/build-seccomp.py OUTPUT

Needs Debian's `python3-seccomp` (libseccomp's bindings; `apt-get install -y python3-seccomp`),
hence `/usr/bin/python3` rather than whatever `python3` is first on PATH.

The filter is a second layer under the namespaces and mounts of the bubblewrap profile (see
SANDBOX-NOTES point 11). It allows by default and denies a short list of kernel surfaces that
Python code has no business with: an allowlist breaks C extensions, which make syscalls nobody
lists. Denied calls fail with EPERM (clone3 with ENOSYS, so that libc falls back to clone, whose
flags a classic BPF filter can see); syscalls of any non-native ABI (i386 or x32 on x86_64) kill
the process.

Syscalls are named, never numbered: libseccomp resolves them for the native architecture, so the
same script builds the x86_64 and the aarch64 filter. The output is deterministic (same
libseccomp, same bytes) and written atomically (temporary file, then rename).
"""

import errno
import hashlib
import os
import sys

try:
    import seccomp
except ImportError:  # pragma: no cover - depends on the host
    sys.stderr.write(
        "build-seccomp: the libseccomp Python bindings are missing; install them with:\n"
        "  apt-get install -y python3-seccomp\n"
        "and run this script with /usr/bin/python3 (the bindings are Debian's).\n"
    )
    sys.exit(1)

from seccomp import ALLOW, ERRNO, KILL_PROCESS, MASKED_EQ, NE, GT, Arg, Attr, SyscallFilter

#: Largest program the kernel accepts (BPF_MAXINSNS); each instruction is 8 bytes.
MAX_INSTRUCTIONS = 4096
INSTRUCTION_BYTES = 8

#: Denied outright with EPERM.
DENIED_SYSCALLS = (
    # namespaces: a new user namespace gives "root" over fresh mount/net/... namespaces, the
    # start of most container escapes and kernel exploits (bwrap's --disable-userns is layer one)
    "unshare",
    "setns",
    # mounts, old and new API
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "move_mount",
    "open_tree",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    # other processes' memory
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    # large kernel attack surfaces with no use in a Python cell
    "bpf",
    "keyctl",
    "add_key",
    "request_key",
    "perf_event_open",
    "userfaultfd",
    # io_uring performs operations (sockets included) without their syscalls, past any filter
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    # the machine itself
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "reboot",
    "swapon",
    "swapoff",
    "acct",
    "quotactl",
    "open_by_handle_at",
    "name_to_handle_at",
    "lookup_dcookie",
    "syslog",
)

#: clone() flags that create namespaces (bit values from <linux/sched.h>, the same on every arch).
CLONE_NAMESPACE_FLAGS = {
    "CLONE_NEWNS": 0x00020000,
    "CLONE_NEWCGROUP": 0x02000000,
    "CLONE_NEWUTS": 0x04000000,
    "CLONE_NEWIPC": 0x08000000,
    "CLONE_NEWUSER": 0x10000000,
    "CLONE_NEWPID": 0x20000000,
    "CLONE_NEWNET": 0x40000000,
}

#: ioctl requests that push input into a terminal or the console (<asm-generic/ioctls.h>).
TIOCSTI = 0x5412
TIOCLINUX = 0x541C

AF_NETLINK = 16
NETLINK_ROUTE = 0
#: The kernel reads `int` / `unsigned int` arguments from the low 32 bits of the register: compare
#: those bits only, or a value with junk in the high half would slip past an exact comparison
#: (CVE-2019-10063, Flatpak's TIOCSTI filter).
LOW_32_BITS = 0xFFFFFFFF
#: personality(0xffffffff) only reads the current persona.
PERSONALITY_QUERY = 0xFFFFFFFF
PER_LINUX = 0


def build_filter() -> SyscallFilter:
    """The filter for the native architecture, with no other ABI admitted."""
    syscall_filter = SyscallFilter(defaction=ALLOW)
    # A new SyscallFilter holds the native architecture only; any other (i386 or x32 syscalls
    # from an x86_64 process: `int 0x80`, __X32_SYSCALL_BIT) takes the bad-arch action.
    syscall_filter.set_attr(Attr.ACT_BADARCH, KILL_PROCESS)
    eperm = ERRNO(errno.EPERM)

    for name in DENIED_SYSCALLS:
        syscall_filter.add_rule(eperm, name)

    # clone3 passes its flags in a struct a classic BPF filter cannot read: refuse it as if the
    # kernel were too old, and glibc retries with clone, filtered on its flags (argument 0 on
    # x86_64 and aarch64).
    syscall_filter.add_rule(ERRNO(errno.ENOSYS), "clone3")
    for flag in CLONE_NAMESPACE_FLAGS.values():
        syscall_filter.add_rule(eperm, "clone", Arg(0, MASKED_EQ, flag, flag))

    for request in (TIOCSTI, TIOCLINUX):
        syscall_filter.add_rule(eperm, "ioctl", Arg(1, MASKED_EQ, LOW_32_BITS, request))

    # Netlink: NETLINK_ROUTE only (socket.if_nameindex() and getaddrinfo need it); audit,
    # netfilter, uevent, crypto, ... are refused. The protocol comparison is on all 64 bits: junk
    # in the high half is refused too, which errs on the safe side.
    syscall_filter.add_rule(
        eperm,
        "socket",
        Arg(0, MASKED_EQ, LOW_32_BITS, AF_NETLINK),
        Arg(2, NE, NETLINK_ROUTE),
    )

    # personality: only PER_LINUX (the default) and the read-only query 0xffffffff pass;
    # ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC and the other personas are refused. libseccomp allows a
    # single comparison per argument and rule, so "neither 0 nor 0xffffffff" is written as a union:
    # above 32 bits, or some pair of neighbouring low bits that differ (a 32-bit value whose
    # neighbouring bits are all equal is all zeros or all ones).
    syscall_filter.add_rule(eperm, "personality", Arg(0, GT, PERSONALITY_QUERY))
    for bit in range(31):
        pair = 0b11 << bit
        for value in (0b01 << bit, 0b10 << bit):
            syscall_filter.add_rule(eperm, "personality", Arg(0, MASKED_EQ, pair, value))
    return syscall_filter


def export(syscall_filter: SyscallFilter, output: str) -> bytes:
    directory = os.path.dirname(os.path.abspath(output))
    os.makedirs(directory, exist_ok=True)
    temporary = f"{output}.tmp-{os.getpid()}"
    try:
        with open(temporary, "wb") as stream:
            syscall_filter.export_bpf(stream)
        with open(temporary, "rb") as stream:
            program = stream.read()
        check(program)
        os.chmod(temporary, 0o644)
        os.replace(temporary, output)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return program


def check(program: bytes) -> None:
    if len(program) == 0 or len(program) % INSTRUCTION_BYTES != 0:
        raise SystemExit(f"build-seccomp: libseccomp exported {len(program)} bytes, not a BPF program")
    if len(program) // INSTRUCTION_BYTES > MAX_INSTRUCTIONS:
        raise SystemExit(
            f"build-seccomp: the filter has {len(program) // INSTRUCTION_BYTES} instructions, "
            f"more than the kernel's {MAX_INSTRUCTIONS}"
        )


def main(argv: list) -> int:
    if len(argv) != 2 or argv[1].startswith("-"):
        sys.stderr.write("usage: /usr/bin/python3 scripts/build-seccomp.py OUTPUT\n")
        return 2
    program = export(build_filter(), argv[1])
    print(
        f"build-seccomp: wrote {argv[1]} ({len(program) // INSTRUCTION_BYTES} instructions, "
        f"libseccomp API {seccomp.get_api()}, sha256 {hashlib.sha256(program).hexdigest()})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
