"""Safe file I/O for everything a user points us at.

- Outputs: `check_output_path` refuses a bad target *before* any expensive work (a missing or read-only folder,
  a directory, a symlink, a device node or FIFO at the target); `atomic_write_bytes` writes beside the target,
  fsyncs, then renames over it, so a file already there stays byte-identical unless the new one is complete.
  It never replaces anything but a regular file (`--json-out /dev/null` must not turn /dev/null into a file).
- Inputs: `read_capped` opens regular files only (a FIFO would block forever, a device never ends) and
  bounds the bytes actually read, not `st_size` (0 for /dev/zero); `read_json` adds a nesting-depth bound.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from pathlib import Path

from initscope.core.errors import UserError

MAX_JSON_BYTES = 16 * 2**20  # configs and scenarios are a few kB
MAX_JSON_DEPTH = 64  # the deepest real config is 4 levels; deeper is hostile (and would hit RecursionError)


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def check_output_path(path: str | Path, what: str = "output") -> Path:
    """Refuse an output target that could not be written, or must not be replaced; call before training.

    The target must be absent or a regular file (not a symlink, directory, device or FIFO), in an existing
    folder we may write to (the atomic write creates a temporary file beside it). Returns the path.
    """
    p = Path(path)
    try:
        st = os.lstat(p)
    except FileNotFoundError:
        st = None
    except NotADirectoryError:
        raise UserError(f"{what} {path}: {_file_on_the_way(p)} is a file, not a folder") from None
    except OSError as e:
        raise UserError(f"{what} {path}: cannot check ({e.strerror or e})") from None
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise UserError(f"{what} {path}: is {_kind(st.st_mode)}; give a regular file name")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        if parent.exists():
            raise UserError(f"{what} {path}: {parent} is a file, not a folder")
        raise UserError(f"{what} {path}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"{what} {path}: folder {parent} is not writable")
    if st is not None and (not os.access(p, os.W_OK) or _immutable(p)):  # the rename would fail after the work
        raise UserError(f"{what} {path}: the file there is read-only or immutable; give another name")
    # the atomic write's temporary file is ".NAME.XXXXXXXX.tmp": it must fit the file system's name limit too
    longest = _name_max(parent) - len(".") - len(".12345678.tmp")
    if len(os.fsencode(p.name)) > longest:
        raise UserError(f"{what} {path}: the name is {len(os.fsencode(p.name))} bytes long; at most {longest} here")
    return p


def _file_on_the_way(p: Path) -> Path:
    for q in reversed(p.parents):
        if q.exists() and not q.is_dir():
            return q
    return p.parent


def _name_max(folder: Path) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255


def _immutable(path: Path) -> bool:
    """Linux's immutable or append-only attribute (chattr +i / +a): even root cannot replace such a file."""
    try:
        import array
        import fcntl

        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except (ImportError, OSError):
        return False
    try:
        flags = array.array("l", [0])
        fcntl.ioctl(fd, 0x80086601, flags, True)  # FS_IOC_GETFLAGS
        return bool(flags[0] & (0x10 | 0x20))  # FS_IMMUTABLE_FL, FS_APPEND_FL
    except OSError:
        return False
    finally:
        os.close(fd)


_PENDING: set[str] = set()  # temporary files being written now: a hard exit on a signal removes them


def remove_pending_temporaries() -> None:
    for tmp in list(_PENDING):
        try:
            os.unlink(tmp)
        except OSError:
            pass


def same_file(a: str | Path, b: str | Path) -> bool:
    """The same file by inode (hard links, linked folders) or by resolved path (one not written yet)."""
    try:
        if os.path.samefile(a, b):
            return True
    except (OSError, ValueError):
        pass
    return os.path.realpath(a) == os.path.realpath(b)


def _mode_for(path: Path) -> int:
    """Keep an existing file's permissions; a new file gets the usual 0666 less the umask (mkstemp uses 0600)."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically; any failure is a UserError and leaves the old file untouched."""
    path = Path(path)
    check_output_path(path, "cannot write")
    mode = _mode_for(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise UserError(f"cannot write {path}: {e.strerror or e}") from None
    _PENDING.add(tmp)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        # re-check: the target may have become a link or a node while we wrote
        try:
            st = os.lstat(path)
            if not stat.S_ISREG(st.st_mode):
                raise UserError(f"cannot write {path}: is {_kind(st.st_mode)}; give a regular file name")
        except FileNotFoundError:
            pass
        os.replace(tmp, path)  # a crash before this line leaves the old file untouched
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise UserError(f"cannot write {path}: {e.strerror or e}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        _PENDING.discard(tmp)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def check_input_file(path: str | Path, error: type[Exception], what: str = "file") -> os.stat_result:
    """A readable regular file, or `error` with one line: missing, unreadable, a directory, FIFO or device."""
    name = str(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise error(f"{name}: no such file") from None
    except OSError as e:
        raise error(f"{name}: cannot read ({e.strerror or e})") from None
    if not stat.S_ISREG(st.st_mode):
        raise error(f"{name}: is {_kind(st.st_mode)}, not a {what}")
    if not os.access(path, os.R_OK):
        raise error(f"{name}: cannot read (permission denied)")
    return st


def read_capped(path: str | Path, cap: int, error: type[Exception], what: str = "file") -> bytes:
    """The bytes of a regular file, at most `cap` of them (counted as read, not from st_size).

    A missing file, a directory, a FIFO or device, an unreadable file or one over the cap raises `error`
    with one line. The size is what `read` returns, so /dev/zero-like files and growing files are bounded too.
    """
    name = str(path)
    check_input_file(path, error, what)
    try:
        # O_NONBLOCK: if the path was swapped for a FIFO since the stat, open does not wait for a writer
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise error(f"{name}: is not a regular file, not a {what}")
            data = f.read(cap + 1)
    except OSError as e:
        raise error(f"{name}: cannot read ({e.strerror or e})") from None
    if len(data) > cap:
        raise error(f"{name}: larger than {cap / 2**20:.0f} MB; a {what} is limited to that")
    return data


def json_depth_ok(obj, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when `obj` nests lists/dicts at most `limit` deep (iterative: a hostile depth cannot recurse)."""
    stack = [(obj, 1)]
    while stack:
        o, d = stack.pop()
        if isinstance(o, dict):
            children = o.values()
        elif isinstance(o, list):
            children = o
        else:
            continue
        if d > limit:
            return False
        stack.extend((c, d + 1) for c in children)
    return True


def parse_json_bytes(raw: bytes, name: str, error: type[Exception]):
    """Parse JSON bytes with every failure (encoding, syntax, depth) as one line naming `name`."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise error(f"{name}: not a UTF-8 JSON file") from None
    try:
        d = json.loads(text)
    except json.JSONDecodeError as e:
        raise error(f"{name}: not valid JSON (line {e.lineno}: {e.msg})") from None
    except RecursionError:
        raise error(f"{name}: nested too deeply (more than {MAX_JSON_DEPTH} levels)") from None
    except ValueError as e:  # Python refuses to parse an integer of more than 4,300 digits
        raise error(f"{name}: not valid JSON ({str(e).split(':')[0]})") from None
    if not json_depth_ok(d):
        raise error(f"{name}: nested too deeply (more than {MAX_JSON_DEPTH} levels)")
    if not valid_unicode(d):
        raise error(f"{name}: holds text that is not valid Unicode (a lone surrogate escape such as \\ud800)")
    return d


def valid_unicode(obj) -> bool:
    """False when a string in parsed JSON (a key or a value) holds a lone surrogate ("\\ud800" parses to one):
    printing or saving it would raise UnicodeEncodeError far from where it came in. Iterative, like json_depth_ok."""
    stack = [obj]
    while stack:
        o = stack.pop()
        if isinstance(o, str):
            if not o.isascii():
                try:
                    o.encode("utf-8")
                except UnicodeEncodeError:
                    return False
        elif isinstance(o, dict):
            stack.extend(o.keys())
            stack.extend(o.values())
        elif isinstance(o, list):
            stack.extend(o)
    return True


def read_json(path: str | Path, error: type[Exception]):
    """Parse a JSON file; a missing, unreadable, non-regular, huge, binary, malformed or too deeply nested
    file raises `error` with a one-line message."""
    return parse_json_bytes(read_capped(path, MAX_JSON_BYTES, error, "JSON file"), str(path), error)
