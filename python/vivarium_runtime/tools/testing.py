"""Test runs with coverage, as data (see src/tools/run-tests.ts).

Three roles in one module, all stdlib plus what the interpreter has (pytest, pytest-cov, coverage):

- `main(args)`: the tool. Runs pytest (or the unittest worker below) as a subprocess of the side
  kernel, so a crashing or hanging suite cannot take the tool down, then parses the machine-readable
  reports it wrote under `.vivarium/reports/` (JUnit XML, coverage JSON) — never console text.
- A pytest plugin (`-p vivarium_runtime.tools.testing`): marks xpassed tests with a JUnit property,
  which pytest's XML otherwise reports as plain passes.
- A unittest worker (`python -m vivarium_runtime.tools.testing --unittest ARGS.json`): runs unittest
  discovery programmatically and writes each result structurally to a JSON report.
"""
import collections
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
import xml.etree.ElementTree as ElementTree

# The reserved folder of the workspace: inline tests and reports, out of the user's way.
RESERVED_DIR = ".vivarium"
REPORTS_DIR = ".vivarium/reports"
INLINE_TEST_PATH = ".vivarium/tests/test_inline.py"

# Bounds of the result: it travels back as one display payload.
MAX_TESTS_LISTED = 5_000
MAX_MESSAGE_CHARS = 4_000
MAX_DIFF_CHARS = 8_000
MAX_TRACEBACK_CHARS = 8_000
TRACEBACK_HEAD_LINES = 15
TRACEBACK_TAIL_LINES = 35
MAX_OUTPUT_TAIL_BYTES = 8_000
MAX_COVERAGE_FILES = 2_000
# Time `coverage json` may take after the tests.
COVERAGE_REPORT_TIMEOUT_SEC = 60

# pytest's exit codes (pytest.ExitCode), for the reason of a failed run.
PYTEST_EXIT_MEANINGS = {2: "interrupted", 3: "internal error", 4: "usage error", 5: "no tests collected"}
EXIT_NO_TESTS_COLLECTED = 5

XPASSED_PROPERTY = "vivarium_outcome"


class ToolInputError(Exception):
    """A bad argument found inside the sandbox (a missing path): reported as data, not a crash."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


# ---------------------------------------------------------------------------------------------
# pytest plugin


if "_pytest" in sys.modules:  # imported by pytest as a plugin (`-p`): register the hook
    import pytest

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(item, call):
        outcome = yield
        report = outcome.get_result()
        if report.when == "call" and report.passed and hasattr(report, "wasxfail"):
            # Copied into the teardown report, whose user_properties pytest writes to the XML.
            item.user_properties.append((XPASSED_PROPERTY, "xpassed"))


# ---------------------------------------------------------------------------------------------
# shared helpers


def _workspace():
    return os.getcwd()


def _check_relative_path(name, path, workspace):
    """A relative path inside the workspace, no `..`; returns the absolute path."""
    if not isinstance(path, str) or path == "" or "\0" in path:
        raise ToolInputError("INVALID_ARGUMENT", "Expected `%s` to be a relative path, got %r" % (name, path))
    if os.path.isabs(path) or "\\" in path:
        raise ToolInputError(
            "INVALID_ARGUMENT", "Expected `%s` to be a path relative to the workspace, got %r" % (name, path)
        )
    if any(part == ".." for part in path.split("/")):
        raise ToolInputError("INVALID_ARGUMENT", "Expected `%s` to stay inside the workspace, got %r" % (name, path))
    full = os.path.realpath(os.path.join(workspace, path))
    root = os.path.realpath(workspace)
    if full != root and not full.startswith(root + os.sep):
        raise ToolInputError(
            "PATH_INVALID", "Expected `%s` to stay inside the workspace, got %r (it leads outside)" % (name, path)
        )
    return full


def _cut(text, limit):
    if text is None:
        return None
    return text if len(text) <= limit else text[: limit - 1] + "…"


def trim_traceback(text):
    """Head and tail of a long traceback, with the number of lines left out between them."""
    if not text:
        return None
    lines = text.rstrip("\n").split("\n")
    if len(lines) > TRACEBACK_HEAD_LINES + TRACEBACK_TAIL_LINES:
        omitted = len(lines) - TRACEBACK_HEAD_LINES - TRACEBACK_TAIL_LINES
        lines = (
            lines[:TRACEBACK_HEAD_LINES]
            + ["... (%d lines omitted) ..." % omitted]
            + lines[-TRACEBACK_TAIL_LINES:]
        )
    text = "\n".join(lines)
    if len(text) > MAX_TRACEBACK_CHARS:
        half = MAX_TRACEBACK_CHARS // 2
        text = text[:half] + "\n... (cut) ...\n" + text[-half:]
    return text


def split_message(message):
    """(first line, the rest) of a failure message: the rest is the comparison pytest or unittest wrote."""
    if not message:
        return None, None
    message = message.rstrip()
    first, _, rest = message.partition("\n")
    rest = rest.strip("\n")
    if rest.strip() == "":
        return _cut(first, MAX_MESSAGE_CHARS), None
    # Dedent by the common indentation of the explanation lines (pytest indents them by two).
    lines = rest.split("\n")
    indents = [len(line) - len(line.lstrip(" ")) for line in lines if line.strip()]
    common = min(indents) if indents else 0
    diff = "\n".join(line[common:] for line in lines)
    return _cut(first, MAX_MESSAGE_CHARS), _cut(diff, MAX_DIFF_CHARS)


def is_assertion(message):
    """True for an assertion's message, whose following lines are the comparison (the diff)."""
    return bool(message) and (message.startswith("AssertionError") or message.startswith("assert "))


def _relative(path, workspace):
    if not path:
        return path
    root = os.path.realpath(workspace)
    absolute = os.path.realpath(path if os.path.isabs(path) else os.path.join(workspace, path))
    if absolute.startswith(root + os.sep):
        return os.path.relpath(absolute, root)
    return path


class _TailReader(threading.Thread):
    """Drains a pipe, keeping only its last bytes: a suite that prints gigabytes costs nothing."""

    def __init__(self, stream, limit):
        super().__init__(daemon=True)
        self.stream = stream
        self.limit = limit
        self.chunks = collections.deque()
        self.size = 0
        self.total = 0

    def run(self):
        while True:
            chunk = self.stream.read1(65536) if hasattr(self.stream, "read1") else self.stream.read(65536)
            if not chunk:
                break
            self.total += len(chunk)
            self.chunks.append(chunk)
            self.size += len(chunk)
            while self.size - len(self.chunks[0]) >= self.limit:
                self.size -= len(self.chunks.popleft())

    def text(self):
        data = b"".join(self.chunks)[-self.limit :]
        return data.decode("utf-8", "replace")


def _run_subprocess(command, env, timeout_sec):
    """Runs `command` in its own process group; returns (exit code or None on timeout, output tail, ms)."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        cwd=_workspace(),
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    reader = _TailReader(process.stdout, MAX_OUTPUT_TAIL_BYTES)
    reader.start()
    timed_out = False
    try:
        process.wait(timeout=timeout_sec)
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:
        # The whole group: a test's leftover children go too.
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        process.wait()
        reader.join(timeout=5)
    duration_ms = (time.perf_counter() - started) * 1000
    return (None if timed_out else process.returncode), reader.text(), duration_ms


def _child_env(reports_dir):
    env = dict(os.environ)
    runtime_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = os.pathsep.join(p for p in [runtime_root, env.get("PYTHONPATH", "")] if p)
    # No __pycache__ in the user's folders, no .coverage next to their code.
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["COVERAGE_FILE"] = os.path.join(reports_dir, ".coverage")
    env.pop("PYTEST_ADDOPTS", None)
    return env


def _module_available(name):
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


# ---------------------------------------------------------------------------------------------
# parsing the reports


def _nodeid(classname, name, file):
    """The pytest node id from JUnit xunit1 attributes (`classname` is the dotted module + classes)."""
    if file:
        module = re.sub(r"\.py$", "", file.replace("/", "."))
        if classname == module or classname == "":
            return "%s::%s" % (file, name) if classname == module else file
        if classname.startswith(module + "."):
            return "%s::%s::%s" % (file, classname[len(module) + 1 :].replace(".", "::"), name)
    return "::".join(part for part in (classname, name) if part)


def parse_junit(path):
    """Tests and suite time (seconds) from pytest's JUnit XML (xunit1 family)."""
    tree = ElementTree.parse(path)
    root = tree.getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    tests = []
    suite_seconds = 0.0
    for suite in suites:
        try:
            suite_seconds += float(suite.get("time") or 0)
        except ValueError:
            pass
        for case in suite.iter("testcase"):
            tests.append(_parse_case(case))
    return tests, suite_seconds


def _parse_case(case):
    classname = case.get("classname") or ""
    name = case.get("name") or ""
    file = case.get("file")
    try:
        duration_ms = float(case.get("time") or 0) * 1000
    except ValueError:
        duration_ms = 0.0
    failure = case.find("failure")
    error = case.find("error")
    skipped = case.find("skipped")
    properties = {
        prop.get("name"): prop.get("value") for prop in case.iter("property") if prop.get("name") is not None
    }
    test = {"nodeid": _nodeid(classname, name, file), "outcome": "passed", "durationMs": round(duration_ms, 3)}
    element = None
    if failure is not None:
        test["outcome"] = "failed"
        element = failure
    elif error is not None:
        test["outcome"] = "error"
        element = error
    elif skipped is not None:
        test["outcome"] = "xfailed" if skipped.get("type") == "pytest.xfail" else "skipped"
        reason = skipped.get("message") or ""
        if reason:
            test["message"] = _cut(reason, MAX_MESSAGE_CHARS)
    elif properties.get(XPASSED_PROPERTY) == "xpassed":
        test["outcome"] = "xpassed"
    if element is not None:
        message, diff = split_message(element.get("message") or "")
        if message:
            test["message"] = message
        if diff and test["outcome"] == "failed" and is_assertion(message):
            test["diff"] = diff
        traceback = trim_traceback(element.text or "")
        if traceback:
            test["traceback"] = traceback
    return test


def parse_coverage(path, workspace, excluded):
    """Per-file coverage from coverage's JSON report; `excluded` (test modules) left out of the total."""
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    files = []
    covered_total = 0
    statements_total = 0
    for name, entry in (data.get("files") or {}).items():
        relative = _relative(name, workspace)
        if relative in excluded or relative.startswith(RESERVED_DIR + "/"):
            continue
        summary = entry.get("summary") or {}
        statements = int(summary.get("num_statements") or 0)
        covered = int(summary.get("covered_lines") or 0)
        missing_lines = sorted(int(line) for line in entry.get("missing_lines") or [])
        branches = int(summary.get("num_branches") or 0)
        covered_branches = int(summary.get("covered_branches") or 0)
        percent = summary.get("percent_covered")
        if percent is None:
            percent = 100.0 if statements == 0 else 100.0 * covered / statements
        files.append(
            {
                "path": relative,
                "percent": round(float(percent), 2),
                "statements": statements,
                "missing": len(missing_lines),
                "missingLines": missing_lines,
            }
        )
        covered_total += covered + covered_branches
        statements_total += statements + branches
    files.sort(key=lambda item: item["path"])
    percent_total = 100.0 if statements_total == 0 else 100.0 * covered_total / statements_total
    truncated = len(files) > MAX_COVERAGE_FILES
    return {
        "percent": round(percent_total, 2),
        "files": files[:MAX_COVERAGE_FILES],
        "filesTruncated": truncated,
    }


def _test_modules(tests):
    modules = set()
    for test in tests:
        path = test["nodeid"].split("::", 1)[0]
        if path.endswith(".py"):
            modules.add(path)
    return modules


def _is_test_file(path):
    base = os.path.basename(path)
    return base == "conftest.py" or (base.startswith("test_") and base.endswith(".py")) or base.endswith("_test.py")


# ---------------------------------------------------------------------------------------------
# the tool


def _prepare(args, workspace):
    paths = args.get("paths") or []
    checked = []
    for index, path in enumerate(paths):
        file_part = path.split("::", 1)[0]
        full = _check_relative_path("paths[%d]" % index, file_part, workspace)
        if not os.path.exists(full):
            raise ToolInputError("FILE_NOT_FOUND", "No such file or directory in the workspace: `%s`" % file_part)
        checked.append(path)
    reports_dir = os.path.join(workspace, REPORTS_DIR)
    os.makedirs(reports_dir, exist_ok=True)
    code = args.get("code")
    if code is not None:
        inline = os.path.join(workspace, INLINE_TEST_PATH)
        os.makedirs(os.path.dirname(inline), exist_ok=True)
        with open(inline, "w", encoding="utf-8") as handle:
            handle.write(code)
        checked.append(INLINE_TEST_PATH)
    return checked, reports_dir


def _finish(result, args):
    counts = collections.Counter(test["outcome"] for test in result["tests"])
    for outcome in ("passed", "failed", "error", "skipped", "xfailed", "xpassed"):
        key = "errors" if outcome == "error" else outcome
        result[key] = counts.get(outcome, 0)
    if len(result["tests"]) > MAX_TESTS_LISTED:
        # Problems first, so the ones that matter survive the cut.
        rank = {"failed": 0, "error": 1, "xpassed": 2}
        ordered = sorted(result["tests"], key=lambda test: rank.get(test["outcome"], 3))
        result["tests"] = ordered[:MAX_TESTS_LISTED]
        result["testsTruncated"] = True
    reasons = result.pop("_reasons")
    if result["failed"]:
        reasons.append("%d test%s failed" % (result["failed"], "" if result["failed"] == 1 else "s"))
    if result["errors"]:
        reasons.append("%d error%s" % (result["errors"], "" if result["errors"] == 1 else "s"))
    threshold = args.get("coverageThreshold")
    coverage = result.get("coverage")
    if threshold is not None and coverage is not None and coverage["percent"] < threshold:
        reasons.append("coverage %.2f%% is below the threshold of %s%%" % (coverage["percent"], _number(threshold)))
    if threshold is not None and coverage is None and args.get("coverage", True):
        reasons.append("coverage could not be measured, so the threshold of %s%% is not met" % _number(threshold))
    result["success"] = not reasons
    if reasons:
        result["reason"] = "; ".join(reasons)
    return result


def _number(value):
    return ("%f" % value).rstrip("0").rstrip(".")


def _new_result():
    return {
        "runner": "pytest",
        "passed": 0,
        "failed": 0,
        "errors": 0,
        "skipped": 0,
        "xfailed": 0,
        "xpassed": 0,
        "durationMs": 0,
        "success": False,
        "tests": [],
        "coverage": None,
        "testsTruncated": False,
        "timedOut": False,
        "exitCode": None,
        "warnings": [],
        "output": "",
        "reports": {},
        "_reasons": [],
    }


def _fail_reason(result, text):
    result["_reasons"].append(text)


def _publish(temporary, stable):
    """Moves a per-run report to its stable name (the last run's reports stay for people to open)."""
    try:
        os.replace(temporary, stable)
        return stable
    except OSError:
        return temporary


def run_pytest(args, workspace):
    result = _new_result()
    if not _module_available("pytest"):
        raise ToolInputError(
            "TOOL_FAILED",
            "pytest is not installed for the sandbox interpreter (Debian: apt-get install python3-pytest)",
        )
    paths, reports_dir = _prepare(args, workspace)
    run_id = uuid.uuid4().hex[:12]
    junit = os.path.join(reports_dir, "junit-%s.xml" % run_id)
    coverage_json = os.path.join(reports_dir, "coverage-%s.json" % run_id)
    extra = [str(arg) for arg in args.get("args") or []]
    want_coverage = args.get("coverage", True)
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-p",
        "vivarium_runtime.tools.testing",
        "--rootdir",
        workspace,
        "--junitxml",
        junit,
        "-o",
        "junit_family=xunit1",
        "--color=no",
        # Full assertion diffs (pytest cuts them at default verbosity); bounded by MAX_DIFF_CHARS.
        "-vv",
    ]
    if want_coverage:
        if _module_available("pytest_cov"):
            if not any(arg == "--cov" or arg.startswith("--cov=") for arg in extra):
                command.append("--cov=.")
            # pytest-cov 4.0 (Debian 12) has no JSON report: no report here, `coverage json` after.
            command.append("--cov-report=")
        else:
            want_coverage = False
            result["warnings"].append(
                "coverage needs pytest-cov (Debian: python3-pytest-cov), which is not installed; ran without it"
            )
    if args.get("k"):
        command += ["-k", args["k"]]
    command += extra
    command += paths
    timeout_ms = args.get("timeoutMs") or 120_000
    data_file = os.path.join(reports_dir, ".coverage-%s" % run_id)
    env = _child_env(reports_dir)
    env["COVERAGE_FILE"] = data_file
    try:
        exit_code, output, wall_ms = _run_subprocess(command, env, timeout_ms / 1000)
        result["output"] = output
        result["exitCode"] = exit_code
        result["durationMs"] = round(wall_ms, 3)
        if exit_code is None:
            result["timedOut"] = True
            _fail_reason(result, "the test run timed out after %d ms" % timeout_ms)
        elif want_coverage and os.path.exists(data_file):
            _coverage_json(data_file, coverage_json, env, result)
    finally:
        _remove(data_file)
    if os.path.exists(junit):
        tests, suite_seconds = parse_junit(junit)
        result["tests"] = tests
        if suite_seconds:
            result["durationMs"] = round(suite_seconds * 1000, 3)
        result["reports"]["junitXml"] = os.path.relpath(
            _publish(junit, os.path.join(reports_dir, "junit.xml")), workspace
        )
    if want_coverage and os.path.exists(coverage_json):
        excluded = {path for path in _test_modules(result["tests"])}
        for path in paths:
            file_part = path.split("::", 1)[0]
            if file_part.endswith(".py"):
                excluded.add(os.path.normpath(file_part))
        excluded |= {path for path in _coverage_names(coverage_json, workspace) if _is_test_file(path)}
        result["coverage"] = parse_coverage(coverage_json, workspace, excluded)
        result["reports"]["coverageJson"] = os.path.relpath(
            _publish(coverage_json, os.path.join(reports_dir, "coverage.json")), workspace
        )
    if exit_code is not None and not result["_reasons"]:
        if "junitXml" not in result["reports"]:
            _fail_reason(result, "pytest %s without writing its report; its console text is in `output`" % _ended(exit_code))
        elif exit_code == EXIT_NO_TESTS_COLLECTED:
            _fail_reason(result, "no tests were collected")
        elif exit_code not in (0, 1) and not any(t["outcome"] in ("failed", "error") for t in result["tests"]):
            _fail_reason(result, "pytest %s; its console text is in `output`" % _ended(exit_code))
    return _finish(result, args)


def _ended(exit_code, meanings=PYTEST_EXIT_MEANINGS):
    """How a process ended, for a reason: `exited with code 3 (…)`, `was killed by SIGSEGV`."""
    if exit_code < 0:
        try:
            return "was killed by %s" % signal.Signals(-exit_code).name
        except ValueError:
            return "was killed by signal %d" % -exit_code
    meaning = meanings.get(exit_code)
    return "exited with code %d%s" % (exit_code, " (%s)" % meaning if meaning else "")


def _coverage_json(data_file, out, env, result):
    """`coverage json` from the run's data file, honouring the user's coverage config (.coveragerc …)."""
    command = [
        sys.executable,
        "-m",
        "coverage",
        "json",
        "--data-file",
        data_file,
        "-o",
        out,
        "--ignore-errors",
        "--quiet",
        "--omit",
        RESERVED_DIR + "/*",
    ]
    exit_code, output, _ = _run_subprocess(command, env, COVERAGE_REPORT_TIMEOUT_SEC)
    if exit_code != 0:
        result["warnings"].append("the coverage report failed: %s" % output.strip()[-500:])


def _coverage_names(path, workspace):
    try:
        with open(path, encoding="utf-8") as handle:
            return [_relative(name, workspace) for name in (json.load(handle).get("files") or {})]
    except (OSError, ValueError):
        return []


UNITTEST_OPTIONS = {"-p": "pattern", "--pattern": "pattern", "-f": "failfast", "--failfast": "failfast"}


def _unittest_options(extra):
    options = {"pattern": "test*.py", "failfast": False}
    index = 0
    while index < len(extra):
        arg = extra[index]
        key = UNITTEST_OPTIONS.get(arg.split("=", 1)[0])
        if key == "pattern":
            if "=" in arg:
                options["pattern"] = arg.split("=", 1)[1]
            elif index + 1 < len(extra):
                index += 1
                options["pattern"] = extra[index]
            else:
                raise ToolInputError("INVALID_ARGUMENT", "Expected a pattern after `%s`" % arg)
        elif key == "failfast":
            options["failfast"] = True
        else:
            raise ToolInputError(
                "INVALID_ARGUMENT",
                "Expected `args` of the unittest runner to be among -p/--pattern PATTERN, -f/--failfast, got %r" % arg,
            )
        index += 1
    return options


def run_unittest(args, workspace):
    result = _new_result()
    result["runner"] = "unittest"
    paths, reports_dir = _prepare(args, workspace)
    options = _unittest_options([str(arg) for arg in args.get("args") or []])
    run_id = uuid.uuid4().hex[:12]
    report = os.path.join(reports_dir, "unittest-%s.json" % run_id)
    coverage_json = os.path.join(reports_dir, "coverage-%s.json" % run_id)
    want_coverage = args.get("coverage", True)
    if want_coverage and not _module_available("coverage"):
        want_coverage = False
        result["warnings"].append(
            "coverage needs coverage.py (Debian: python3-coverage), which is not installed; ran without it"
        )
    worker_args = {
        "paths": paths or ["."],
        "pattern": options["pattern"],
        "failfast": options["failfast"],
        "k": args.get("k"),
        "report": report,
        "coverageJson": coverage_json if want_coverage else None,
        "dataFile": os.path.join(reports_dir, ".coverage-%s" % run_id),
    }
    worker_args_path = os.path.join(reports_dir, "unittest-args-%s.json" % run_id)
    with open(worker_args_path, "w", encoding="utf-8") as handle:
        json.dump(worker_args, handle)
    command = [sys.executable, "-m", "vivarium_runtime.tools.testing", "--unittest", worker_args_path]
    timeout_ms = args.get("timeoutMs") or 120_000
    try:
        exit_code, output, wall_ms = _run_subprocess(command, _child_env(reports_dir), timeout_ms / 1000)
    finally:
        _remove(worker_args_path)
        _remove(worker_args["dataFile"])
    result["output"] = output
    result["exitCode"] = exit_code
    result["durationMs"] = round(wall_ms, 3)
    if exit_code is None:
        result["timedOut"] = True
        _fail_reason(result, "the test run timed out after %d ms" % timeout_ms)
    if os.path.exists(report):
        with open(report, encoding="utf-8") as handle:
            data = json.load(handle)
        result["tests"] = data.get("tests") or []
        if data.get("durationMs") is not None:
            result["durationMs"] = data["durationMs"]
        if data.get("error"):
            _fail_reason(result, data["error"])
        _remove(report)
    elif exit_code is not None:
        _fail_reason(result, "the unittest runner %s without writing its report" % _ended(exit_code, {}))
    if want_coverage and os.path.exists(coverage_json):
        excluded = {path for path in _test_modules(result["tests"])}
        excluded |= {path for path in _coverage_names(coverage_json, workspace) if _is_test_file(path)}
        result["coverage"] = parse_coverage(coverage_json, workspace, excluded)
        result["reports"]["coverageJson"] = os.path.relpath(
            _publish(coverage_json, os.path.join(reports_dir, "coverage.json")), workspace
        )
    if not result["tests"] and not result["_reasons"]:
        _fail_reason(result, "no tests were collected")
    return _finish(result, args)


def _remove(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def main(args):
    workspace = _workspace()
    try:
        if args.get("runner", "pytest") == "unittest":
            return run_unittest(args, workspace)
        return run_pytest(args, workspace)
    except ToolInputError as error:
        return {"inputError": {"code": error.code, "message": error.message}}


# ---------------------------------------------------------------------------------------------
# the unittest worker (a subprocess of the tool)


def _unittest_nodeid(test, workspace):
    """`path/to/test_file.py::Class::method` when the source file is known, else unittest's id."""
    import inspect

    test_id = test.id()
    if type(test).__name__ == "_FailedTest":
        # A module unittest could not import: name it by the module.
        return getattr(test, "_testMethodName", None) or test_id
    try:
        source = inspect.getsourcefile(type(test))
    except (TypeError, OSError):
        source = None
    method = getattr(test, "_testMethodName", None)
    if source and method:
        relative = _relative(source, workspace)
        if not os.path.isabs(relative):
            return "%s::%s::%s" % (relative, type(test).__qualname__.replace(".", "::"), method)
    return test_id


def _unittest_worker(args_path):
    import unittest

    workspace = _workspace()
    with open(args_path, encoding="utf-8") as handle:
        args = json.load(handle)

    class StructuredResult(unittest.TestResult):
        def __init__(self):
            super().__init__()
            self.records = []
            self._started = {}

        def startTest(self, test):
            super().startTest(test)
            self._started[id(test)] = time.perf_counter()

        def _record(self, test, outcome, err=None, message=None):
            started = self._started.pop(id(test), None)
            duration = 0.0 if started is None else (time.perf_counter() - started) * 1000
            record = {"nodeid": _unittest_nodeid(test, workspace), "outcome": outcome, "durationMs": round(duration, 3)}
            if err is not None:
                exc_type, value, _ = err
                text = "%s: %s" % (exc_type.__name__, value) if str(value) else exc_type.__name__
                first, diff = split_message(text)
                record["message"] = first
                if diff and outcome == "failed":
                    record["diff"] = diff
                record["traceback"] = trim_traceback(self._exc_info_to_string(err, test))
            elif message:
                record["message"] = _cut(message, MAX_MESSAGE_CHARS)
            self.records.append(record)

        def addSuccess(self, test):
            super().addSuccess(test)
            self._record(test, "passed")

        def addFailure(self, test, err):
            super().addFailure(test, err)
            self._record(test, "failed", err)

        def addError(self, test, err):
            super().addError(test, err)
            self._record(test, "error", err)

        def addSkip(self, test, reason):
            super().addSkip(test, reason)
            self._record(test, "skipped", message=reason)

        def addExpectedFailure(self, test, err):
            super().addExpectedFailure(test, err)
            self._record(test, "xfailed", message="%s: %s" % (err[0].__name__, err[1]))

        def addUnexpectedSuccess(self, test):
            super().addUnexpectedSuccess(test)
            self._record(test, "xpassed")

        def addSubTest(self, test, subtest, err):
            super().addSubTest(test, subtest, err)
            if err is not None:
                outcome = "failed" if issubclass(err[0], test.failureException) else "error"
                self._record(subtest, outcome, err)

    cov = None
    if args.get("coverageJson"):
        import coverage

        cov = coverage.Coverage(
            data_file=args["dataFile"],
            source=[workspace],
            omit=[os.path.join(workspace, RESERVED_DIR, "*")],
        )
        cov.start()
    loader = unittest.TestLoader()
    if args.get("k"):
        pattern = args["k"]
        loader.testNamePatterns = [pattern if "*" in pattern else "*%s*" % pattern]
    suite = unittest.TestSuite()
    report = {"tests": [], "durationMs": None, "error": None}
    started = time.perf_counter()
    try:
        for path in args["paths"]:
            full = os.path.join(workspace, path)
            if os.path.isdir(full):
                start_dir, pattern = full, args["pattern"]
            else:
                start_dir, pattern = os.path.dirname(full) or workspace, os.path.basename(full)
            is_package = os.path.isfile(os.path.join(start_dir, "__init__.py"))
            top = workspace if is_package and start_dir != workspace else None
            suite.addTests(loader.discover(start_dir, pattern=pattern, top_level_dir=top))
        result = StructuredResult()
        result.failfast = bool(args.get("failfast"))
        suite.run(result)
        # Modules that failed to import are in the suite as failing `_FailedTest`s: errors, recorded.
        report["tests"] = result.records
    except Exception as error:  # noqa: BLE001 - reported as data
        report["error"] = "the unittest run failed: %s: %s" % (type(error).__name__, error)
    finally:
        report["durationMs"] = round((time.perf_counter() - started) * 1000, 3)
        if cov is not None:
            cov.stop()
            cov.save()
            try:
                cov.json_report(outfile=args["coverageJson"])
            except Exception as error:  # noqa: BLE001 - no data is not a crash
                report["coverageError"] = str(error)
    with open(args["report"], "w", encoding="utf-8") as handle:
        json.dump(report, handle)


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "--unittest":
    _unittest_worker(sys.argv[2])
