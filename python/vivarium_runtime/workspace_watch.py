"""Which files in the workspace a cell created, modified or deleted."""
import os

MAX_ENTRIES = 20_000
RESERVED = {".vivarium"}


def snapshot(root):
    """`({relative path: (size, mtime_ns)}, truncated)`; symlinks are recorded, never followed."""
    entries = {}
    stack = [("", root)]
    while stack:
        prefix, directory = stack.pop()
        try:
            iterator = os.scandir(directory)
        except OSError:
            continue
        with iterator:
            for entry in iterator:
                if not prefix and entry.name in RESERVED:
                    continue
                relative = prefix + entry.name
                try:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append((relative + "/", entry.path))
                        continue
                    info = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                entries[relative] = (info.st_size, info.st_mtime_ns)
                if len(entries) >= MAX_ENTRIES:
                    return entries, True
    return entries, False


def diff(before, after):
    changes = []
    for path, (size, mtime) in after.items():
        previous = before.get(path)
        if previous is None:
            changes.append({"path": path, "sizeBytes": size, "change": "created"})
        elif previous != (size, mtime):
            changes.append({"path": path, "sizeBytes": size, "change": "modified"})
    for path, (size, _mtime) in before.items():
        if path not in after:
            changes.append({"path": path, "sizeBytes": 0, "change": "deleted"})
    changes.sort(key=lambda change: change["path"])
    return changes
