"""Which addresses a tree of processes listens on, read from /proc (Linux): each process's socket
inodes from /proc/<pid>/fd, matched with the listening TCP sockets of /proc/net/tcp and tcp6."""

import contextlib
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

TCP_LISTEN = "0A"


@dataclass(frozen=True)
class Listener:
    pid: int
    name: str
    address: str
    port: int

    @property
    def loopback_only(self) -> bool:
        address = ipaddress.ip_address(self.address)
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return address.is_loopback


def _address(hex_address: str) -> str:
    """/proc/net/tcp's address: the bytes of the address in the host's order, 32 bits at a time."""
    raw = bytes.fromhex(hex_address)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(words))


def listening_inodes(pid: int) -> dict[int, tuple[str, int]]:
    """Listening TCP sockets of pid's network namespace: inode -> (address, port)."""
    found: dict[int, tuple[str, int]] = {}
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(FileNotFoundError):
            for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] != TCP_LISTEN:
                    continue
                hex_address, hex_port = fields[1].split(":")
                found[int(fields[9])] = (_address(hex_address), int(hex_port, 16))
    return found


def socket_inodes(pid: int) -> set[int]:
    inodes: set[int] = set()
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(int(target[8:-1]))
    return inodes


def listeners(pids: set[int]) -> list[Listener]:
    """Every listening TCP socket that one of pids holds open."""
    found: list[Listener] = []
    for pid in sorted(pids):
        sockets = listening_inodes(pid)
        try:
            name = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            continue
        for inode in socket_inodes(pid) & set(sockets):
            address, port = sockets[inode]
            found.append(Listener(pid, name, address, port))
    return found
