"""Developer tools run in a side kernel on a session's workspace (see src/tools/sandbox-tool.ts).

Each module exposes `main(args: dict) -> dict`; the result must be JSON-serializable.
"""
