"""Describes one workspace file for prompts and people, inside the sandbox (src/tools/describe-file.ts).

`main({"path", "timeBudgetMs", "hardTimeBudgetMs", "maxBytesRead", "maxUncompressedBytes", "bombRatio"})` returns
`{"path", "sizeBytes", "kind", ...metadata, "partial", "warnings"}`. The file is identified by its
bytes first (magic numbers), its extension second. Everything is bounded: loops stop at the soft
time budget or after `maxBytesRead` bytes and report `partial: true`; a library call that runs past
the hard budget is interrupted by SIGALRM; archives are listed, never extracted; images are never
decoded. Third-party modules (pandas, openpyxl, xlrd, pypdf, python-docx, h5py, PIL, chardet,
scipy) are imported only when a file needs them, and their absence is reported, never fatal.
"""
import codecs
import csv
import io
import json
import math
import os
import re
import signal
import stat
import struct
import sys
import threading
import time
import warnings

# Defaults mirror src/tools/describe-file.ts; the host always sends its values.
DEFAULT_TIME_BUDGET_MS = 12_000
DEFAULT_MAX_BYTES_READ = 64 * 1024 * 1024
DEFAULT_MAX_UNCOMPRESSED_BYTES = 1024 * 1024 * 1024
#: Declared uncompressed / compressed size above which an archive is flagged as a possible bomb.
BOMB_RATIO = 100
#: Below this uncompressed size a high ratio is not worth a warning (a small, repetitive log).
BOMB_MIN_BYTES = 16 * 1024 * 1024
#: Bytes read from the start of a file to identify it and to sample text.
HEAD_SAMPLE_BYTES = 256 * 1024
#: Bytes given to chardet (pure Python: slow on big samples).
CHARDET_SAMPLE_BYTES = 32 * 1024
#: Bytes and lines given to csv.Sniffer.
SNIFF_SAMPLE_BYTES = 16 * 1024
SNIFF_SAMPLE_LINES = 40
#: Rows pandas reads to infer column types.
DTYPE_SAMPLE_ROWS = 1000
FIRST_ROWS = 5
HEAD_LINES = 20
MAX_CELL_CHARS = 200
MAX_LINE_CHARS = 200
MAX_TEXT_CHARS = 2000
MAX_PARAGRAPH_CHARS = 500
MAX_COLUMNS = 200
MAX_SHEETS = 50
MAX_HEADINGS = 100
MAX_KEYS = 50
MAX_LEAVES = 100
MAX_ARRAYS = 50
MAX_JSON_DEPTH = 32
#: Elements of each array the JSON walk looks at (lengths are still exact).
JSON_ITEMS_PER_ARRAY = 100
#: Largest JSON parsed as a whole; bigger ones are scanned as a token stream.
JSON_FULL_PARSE_BYTES = 32 * 1024 * 1024
#: Records of an NDJSON file parsed for keys and leaves.
NDJSON_SAMPLE_RECORDS = 1000
MAX_ENTRIES = 100
#: Zip central directories larger than this are not parsed (entry count from the end record only).
MAX_ZIP_DIRECTORY_BYTES = 64 * 1024 * 1024
#: Largest XML part of an Office file that is parsed (python-docx and openpyxl's shared strings load it whole).
MAX_OFFICE_PART_BYTES = 128 * 1024 * 1024
MAX_HDF5_NODES = 1000
MAX_DATASETS = 200
MAX_ATTRIBUTES = 20
MAX_WARNINGS = 20
READ_CHUNK_BYTES = 1024 * 1024


#: Every field of each kind, with the value it has when the file could not tell (a partial result).
#: Mirrors the zod schema of src/tools/describe-file.ts: a result always carries its kind's full shape.
KIND_DEFAULTS = {
    "csv": {"format": "csv", "encoding": "unknown", "encodingConfidence": 0.0, "delimiter": ",", "quoteChar": '"',
            "hasHeader": False, "columnCount": 0, "columns": [], "firstRows": [], "rowCount": None,
            "rowCountExact": False},
    "excel": {"format": "xlsx", "sheetCount": None, "sheets": []},
    "json": {"format": "json", "encoding": "unknown", "topLevelType": "unknown", "keys": [], "keyCount": 0,
             "length": None, "lengthExact": False, "arrays": [], "leaves": [], "maxDepth": 0},
    "text": {"format": "text", "encoding": "unknown", "encodingConfidence": 0.0, "head": [], "lineCount": None,
             "lineCountExact": False},
    "pdf": {"pageCount": None, "title": None, "author": None, "subject": None, "creator": None, "producer": None,
            "encrypted": False, "firstText": None, "firstTextPage": None},
    "docx": {"paragraphCount": None, "tableCount": None, "title": None, "author": None, "headings": [],
             "firstParagraphs": []},
    "image": {"format": "unknown", "width": None, "height": None, "mode": None, "frameCount": None},
    "hdf5": {"groupCount": 0, "datasetCount": 0, "datasets": [], "attributes": {}},
    "netcdf": {"format": "netcdf4", "dimensions": [], "variables": [], "attributes": {}},
    "archive": {"format": "zip", "entryCount": None, "entryCountExact": False, "entries": [],
                "compressedSizeBytes": 0, "uncompressedSizeBytes": None, "compressionRatio": None,
                "bombSuspected": False},
    "columnar": {"format": "parquet", "rowCount": None, "columnCount": 0, "columns": []},
    "unsupported": {"format": "unknown", "reason": "unsupported file type"},
    "unknown": {"reason": "the file could not be identified", "headHex": ""},
    "empty": {},
}


class BudgetExceeded(BaseException):
    """Raised by SIGALRM when a call runs past the hard budget. A BaseException, so that library code
    catching `Exception` cannot swallow it."""


class Budget:
    def __init__(self, args):
        self.started = time.monotonic()
        self.time_budget_s = max(_positive(args.get("timeBudgetMs"), DEFAULT_TIME_BUDGET_MS), 50) / 1000
        hard = _positive(args.get("hardTimeBudgetMs"), self.time_budget_s * 1000 * 1.3)
        self.hard_budget_s = max(hard / 1000, self.time_budget_s)
        self.max_bytes_read = int(_positive(args.get("maxBytesRead"), DEFAULT_MAX_BYTES_READ))
        self.max_uncompressed_bytes = int(_positive(args.get("maxUncompressedBytes"), DEFAULT_MAX_UNCOMPRESSED_BYTES))
        self.bomb_ratio = _positive(args.get("bombRatio"), BOMB_RATIO)

    def expired(self):
        return time.monotonic() - self.started > self.time_budget_s

    def elapsed_ms(self):
        return int((time.monotonic() - self.started) * 1000)


def _positive(value, default):
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 else default


class Describer:
    """Fills `out` as it learns; whatever is in it when something fails is still returned."""

    def __init__(self, path, fd, source, size, budget):
        self.path = path
        self.fd = fd
        self.source = source
        self.size = size
        self.budget = budget
        self.name = os.path.basename(path).lower()
        self.out = {"path": path, "sizeBytes": size, "kind": "unknown", "partial": False, "warnings": []}
        self._head = None
        self.stopped_by = "byte"  # which budget stopped the last count_lines()

    # -- helpers -----------------------------------------------------------------------------
    def warn(self, message):
        warnings_list = self.out["warnings"]
        if len(warnings_list) < MAX_WARNINGS and message not in warnings_list:
            warnings_list.append(message)

    def partial(self, message):
        self.out["partial"] = True
        self.warn(message)

    def head(self):
        if self._head is None:
            self._head = os.pread(self.fd, min(self.size, HEAD_SAMPLE_BYTES), 0)
        return self._head

    def reader(self):
        """A fresh binary file object on the opened inode (its own offset)."""
        return open(self.source, "rb")

    def extension(self):
        name = self.name
        for compound in ("tar.gz", "tar.bz2", "tar.xz"):
            if name.endswith("." + compound):
                return compound
        return name.rsplit(".", 1)[1] if "." in name else ""

    # -- dispatch ----------------------------------------------------------------------------
    def describe(self):
        if self.size == 0:
            self.out["kind"] = "empty"
            return
        head = self.head()
        ext = self.extension()
        if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
            return self.describe_zip_based(ext)
        if head.startswith(b"%PDF") or (ext == "pdf" and b"%PDF" in head[:1024]):
            return self.describe_pdf()
        if head.startswith(b"\x89HDF\r\n\x1a\n"):
            return self.describe_netcdf4() if ext in ("nc", "nc4", "cdf") else self.describe_hdf5()
        if head[:4] in (b"CDF\x01", b"CDF\x02", b"CDF\x05"):
            return self.describe_netcdf_classic(head[3])
        image_format = sniff_image(head)
        if image_format is not None:
            return self.describe_image(image_format)
        if head.startswith(b"\x1f\x8b"):
            return self.describe_compressed("gz", ext)
        if head.startswith(b"BZh"):
            return self.describe_compressed("bz2", ext)
        if head.startswith(b"\xfd7zXZ\x00"):
            return self.describe_compressed("xz", ext)
        if head.startswith(b"7z\xbc\xaf\x27\x1c"):
            return self.describe_7z()
        if head.startswith(b"Rar!\x1a\x07"):
            return self.unsupported("rar", "RAR archives cannot be listed in the sandbox (no RAR reader is installed)")
        if len(head) >= 262 and head[257:262] == b"ustar":
            return self.describe_tar("tar", None)
        if head.startswith(b"PAR1"):
            return self.describe_columnar("parquet")
        if head.startswith(b"ARROW1") or head.startswith(b"FEA1"):
            return self.describe_columnar("feather")
        if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
            if ext == "xls":
                return self.describe_xls()
            legacy = {"doc": "Word 97-2003 (.doc)", "ppt": "PowerPoint 97-2003 (.ppt)", "msg": "Outlook (.msg)"}
            return self.unsupported(
                "ole2", "%s files are not supported; convert to the Office Open XML format" % legacy.get(ext, "OLE2 compound")
            )
        if ext == "tar":
            return self.describe_tar("tar", None)
        if ext in ("parquet", "feather", "arrow"):
            return self.describe_columnar("parquet" if ext == "parquet" else "feather")
        if ext in ("xlsx", "xlsm", "docx", "zip"):
            return self.unknown("the extension says .%s but the file does not start like one (it is not a zip)" % ext)
        return self.describe_text_like(ext)

    def unsupported(self, fmt, reason):
        self.out.update({"kind": "unsupported", "format": fmt, "reason": reason})

    def unknown(self, reason):
        self.out.update({"kind": "unknown", "reason": reason, "headHex": self.head()[:32].hex()})

    # -- text-like: csv, json, text -------------------------------------------------------------
    def describe_text_like(self, ext):
        head = self.head()
        encoding, confidence = detect_encoding(head, self)
        if encoding is None:
            return self.unknown("binary data of an unrecognised type")
        if ext in ("csv", "tsv", "tab"):
            return self.describe_csv(encoding, confidence, "tsv" if ext in ("tsv", "tab") else "csv")
        if ext in ("ndjson", "jsonl"):
            return self.describe_ndjson(encoding)
        if ext in ("json", "geojson"):
            return self.describe_json(encoding)
        text = head.decode(_python_codec(encoding), errors="replace").lstrip("\ufeff").lstrip()
        if ext in ("", "dat", "txt") and text[:1] in ("{", "[") and self._looks_like_json(text):
            return self.describe_json(encoding)
        if ext in ("dat", "") and self._looks_like_table(text):
            return self.describe_csv(encoding, confidence, "csv")
        fmt = "markdown" if ext in ("md", "markdown", "mdown") else "log" if ext == "log" else "text"
        return self.describe_text(encoding, confidence, fmt)

    def _looks_like_json(self, text):
        try:
            json.loads(text if self.size <= len(self.head()) else "")
            return True
        except ValueError:
            pass
        first = text.split("\n", 1)[0].strip()
        try:
            json.loads(first)
            return True
        except ValueError:
            return self.size > len(self.head())  # a big one: let the scanner try

    def _looks_like_table(self, text):
        lines = [line for line in text.splitlines()[:20] if line.strip()]
        if len(lines) < 2:
            return False
        try:
            dialect = csv.Sniffer().sniff("\n".join(lines), delimiters=",;\t|")
        except csv.Error:
            return False
        counts = {line.count(dialect.delimiter) for line in lines}
        return len(counts) == 1 and counts.pop() > 0

    def count_lines(self, on_chunk=None):
        """Counts newlines in a streaming way. Returns (lines, bytes_seen, complete)."""
        lines = 0
        seen = 0
        last = b""
        limit = self.budget.max_bytes_read
        with self.reader() as handle:
            try:
                os.posix_fadvise(handle.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)
            except (AttributeError, OSError):
                pass
            while True:
                # The first chunk is always read: a late start still gives an estimate.
                if seen >= limit or (seen > 0 and self.budget.expired()):
                    self.stopped_by = "byte" if seen >= limit else "time"
                    return lines, seen, False
                chunk = handle.read(min(READ_CHUNK_BYTES, limit - seen))
                if not chunk:
                    break
                lines += chunk.count(b"\n")
                seen += len(chunk)
                last = chunk[-1:]
                if on_chunk is not None:
                    on_chunk(chunk)
        if seen > 0 and last != b"\n":
            lines += 1
        return lines, seen, True

    def describe_text(self, encoding, confidence, fmt):
        self.out.update({"kind": "text", "format": fmt, "encoding": encoding, "encodingConfidence": confidence})
        text = _decode_head(self.head(), encoding, self.size)
        lines = text.splitlines()
        self.out["head"] = [_cut(line, MAX_LINE_CHARS) for line in lines[:HEAD_LINES]]
        self.out["lineCount"] = None
        self.out["lineCountExact"] = False
        headings = [] if fmt == "markdown" else None
        scanner = _MarkdownHeadings(encoding, headings) if headings is not None else None
        count, seen, complete = self.count_lines(scanner.feed if scanner else None)
        if scanner is not None:
            scanner.finish(complete)
            self.out["headings"] = headings
        self._set_count("lineCount", "lineCountExact", count, seen, complete, "lines")

    def _set_count(self, field, exact_field, count, seen, complete, what, subtract=0, estimated=None):
        if complete:
            self.out[field] = max(count - subtract, 0)
            self.out[exact_field] = True
            return
        estimate = int(round(count * self.size / seen)) if seen > 0 else None
        self.out[field] = None if estimate is None else max(estimate - subtract, 0)
        self.out[exact_field] = False
        self.partial(
            "counted %d %s in the first %s of %s (%s budget reached); the %s count is an estimate"
            % (count, what, _human(seen), _human(self.size), self.stopped_by,
               estimated or what.rstrip("s"))
        )

    # -- CSV ---------------------------------------------------------------------------------------
    def describe_csv(self, encoding, confidence, fmt):
        self.out.update({"kind": "csv", "format": fmt, "encoding": encoding, "encodingConfidence": confidence})
        text = _decode_head(self.head(), encoding, self.size)
        sample_lines = text.splitlines(True)
        sniff_text = "".join(sample_lines[:SNIFF_SAMPLE_LINES])[:SNIFF_SAMPLE_BYTES]
        sniffer = csv.Sniffer()
        try:
            dialect = sniffer.sniff(sniff_text, delimiters="\t" if fmt == "tsv" else ",;\t|")
            delimiter, quotechar = dialect.delimiter, dialect.quotechar or '"'
        except csv.Error:
            delimiter, quotechar = ("\t" if fmt == "tsv" else ","), '"'
            self.warn("could not detect the delimiter; assumed %r" % delimiter)
        if fmt == "csv" and delimiter == "\t":
            self.out["format"] = "tsv"
        self.out.update({"delimiter": delimiter, "quoteChar": quotechar})
        records = list(csv.reader(io.StringIO(text), delimiter=delimiter, quotechar=quotechar))
        records_in_lines = len(records)
        lines_in_sample = text.count("\n") + (0 if text.endswith("\n") else 1)
        records = [row for row in records if any(cell.strip() for cell in row)]
        first_row = records[0] if records else []
        try:
            sniffed_header = sniffer.has_header(sniff_text)
        except csv.Error:
            sniffed_header = True
        has_header = bool(first_row) and (sniffed_header or not any(_looks_numeric(v) for v in first_row))
        self.out["hasHeader"] = has_header
        width = max((len(row) for row in records[:DTYPE_SAMPLE_ROWS]), default=0)
        names = (
            [_cut(v.strip() or "column_%d" % (i + 1), MAX_CELL_CHARS) for i, v in enumerate(first_row)]
            if has_header
            else []
        )
        names += ["column_%d" % (i + 1) for i in range(len(names), width)]
        body = records[1:] if has_header else records
        self.out["columnCount"] = len(names)
        self.out["columns"] = [{"name": name, "dtype": "unknown"} for name in names[:MAX_COLUMNS]]
        if len(names) > MAX_COLUMNS:
            self.warn("%d columns; the first %d are listed" % (len(names), MAX_COLUMNS))
        self.out["firstRows"] = [[_cut(cell, MAX_CELL_CHARS) for cell in row[:MAX_COLUMNS]] for row in body[:FIRST_ROWS]]
        self.out["rowCount"] = None
        self.out["rowCountExact"] = False
        # Rows first: with a short budget a row count matters more than pandas' dtypes.
        count, seen, complete = self.count_lines()
        multiline = records_in_lines < lines_in_sample - 1
        if multiline:
            # Quoted fields span lines: scale the line count by the sample's records per line.
            ratio = records_in_lines / max(lines_in_sample, 1)
            count = int(round(count * ratio))
        self._set_count("rowCount", "rowCountExact", count, seen, complete, "lines", subtract=1 if has_header else 0,
                        estimated="row")
        if multiline:
            self.out["rowCountExact"] = False
            self.warn("quoted fields span several lines; the row count is estimated from the line count")
        if self.budget.expired():
            self.warn("no time left for pandas; column types inferred by a simple rule")
            dtypes = _simple_dtypes(names, body[:DTYPE_SAMPLE_ROWS])
        else:
            dtypes = infer_dtypes(text, delimiter, quotechar, has_header, names, body, self)
        for column, dtype in zip(self.out["columns"], dtypes):
            column["dtype"] = dtype

    # -- JSON ------------------------------------------------------------------------------------
    def describe_json(self, encoding):
        self.out.update({"kind": "json", "format": "json", "encoding": encoding})
        collector = JsonCollector()
        invalid = False
        limit = min(self.budget.max_bytes_read, JSON_FULL_PARSE_BYTES)
        if self.size <= limit:
            data = os.pread(self.fd, self.size, 0)
            text = data.decode(_python_codec(encoding), errors="replace").lstrip("\ufeff")
            try:
                value = json.loads(text)
            except RecursionError:
                self.warn("nested too deeply for a full parse; scanned as a token stream")
            except ValueError as error:
                if self._try_ndjson(text, encoding):
                    return
                self.partial("invalid JSON: %s" % _cut(str(error), 200))
                invalid = True
            else:
                collector.walk(value, self.budget)
                if collector.stopped:
                    self.partial("the JSON walk stopped at the time budget")
                self.out.update(collector.result(complete=True))
                return
            scanned_all = True
        else:
            text = _decode_head(os.pread(self.fd, limit, 0), encoding, self.size).lstrip("\ufeff")
            scanned_all = False
            self.partial(
                "the file is %s; only the first %s were scanned (a token stream), so lengths are lower bounds"
                % (_human(self.size), _human(limit))
            )
        scanner = JsonScanner(collector, self.budget)
        scanner.scan(text, is_prefix=not scanned_all)
        if scanner.error and not invalid:
            self.partial(scanner.error)
        elif scanner.stopped:
            self.partial("the JSON scan stopped at the time budget")
        self.out.update(collector.result(complete=scanned_all and not scanner.stopped and not scanner.error))

    def _try_ndjson(self, text, encoding):
        lines = [line for line in text.splitlines()[:3] if line.strip()]
        if len(lines) < 2:
            return False
        try:
            for line in lines:
                json.loads(line)
        except ValueError:
            return False
        self.describe_ndjson(encoding)
        return True

    def describe_ndjson(self, encoding):
        self.out.update({"kind": "json", "format": "ndjson", "encoding": encoding})
        collector = JsonCollector(ndjson=True)
        sample = _decode_head(os.pread(self.fd, min(self.size, 8 * 1024 * 1024), 0), encoding, self.size)
        index = 0
        bad = 0
        for line in sample.splitlines():
            if index >= NDJSON_SAMPLE_RECORDS or self.budget.expired():
                break
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except (ValueError, RecursionError):
                bad += 1
                index += 1
                continue
            collector.walk_record(index, value, self.budget)
            index += 1
        if bad:
            self.warn("%d of the first %d records are not valid JSON" % (bad, index))
        result = collector.result(complete=True)
        count, seen, complete = self.count_lines()
        blank = sample.count("\n\n")
        result["length"] = None
        self.out.update(result)
        self._set_count("length", "lengthExact", count - blank if complete else count, seen, complete, "lines",
                        estimated="record")

    # -- zip-based: xlsx, docx, zip ---------------------------------------------------------------
    def describe_zip_based(self, ext):
        import zipfile

        end = _zip_end_record(self.fd, self.size)
        if end is None or end[1] > MAX_ZIP_DIRECTORY_BYTES:
            return self.describe_zip("zip")
        try:
            with self.reader() as handle, zipfile.ZipFile(handle) as archive:
                names = set(archive.namelist())
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as error:
            if ext in ("xlsx", "xlsm", "docx"):
                self.out.update({"kind": "docx"} if ext == "docx" else {"kind": "excel", "format": ext})
                self.partial("malformed %s (zip container): %s" % (ext, _cut(str(error), 200)))
                return
            return self.describe_zip("zip")
        if "word/document.xml" in names and ext not in ("zip",):
            return self.describe_docx()
        if "xl/workbook.xml" in names and ext not in ("zip",):
            return self.describe_xlsx(ext if ext in ("xlsx", "xlsm") else "xlsx")
        return self.describe_zip("zip")

    def _office_guard(self, parts):
        """Refuses Office files whose XML parts would be loaded whole and are too big (a zip bomb)."""
        import zipfile

        with self.reader() as handle, zipfile.ZipFile(handle) as archive:
            infos = archive.infolist()
        total = sum(info.file_size for info in infos)
        if total > self.budget.bomb_ratio * max(self.size, 1) and total > 64 * 1024 * 1024:
            self.out["bombSuspected"] = True
            self.warn(
                "possible zip bomb: %s of parts declared in %s" % (_human(total), _human(self.size))
            )
        for info in infos:
            if info.filename in parts and info.file_size > MAX_OFFICE_PART_BYTES:
                self.out["bombSuspected"] = True
                self.partial(
                    "%s declares %s uncompressed (limit %s); not parsed"
                    % (info.filename, _human(info.file_size), _human(MAX_OFFICE_PART_BYTES))
                )
                return False
        return True

    def describe_docx(self):
        self.out.update({"kind": "docx", "paragraphCount": None, "tableCount": None, "title": None, "author": None,
                         "headings": [], "firstParagraphs": []})
        if not self._office_guard({"word/document.xml", "word/styles.xml"}):
            return
        try:
            import docx
        except ImportError:
            return self.partial("python-docx is not installed in the sandbox")
        with self.reader() as handle:
            document = docx.Document(handle)
        try:
            core = document.core_properties
            self.out["title"] = _cut(core.title, MAX_LINE_CHARS) or None
            self.out["author"] = _cut(core.author, MAX_LINE_CHARS) or None
        except Exception as error:  # noqa: BLE001 - metadata is optional
            self.warn("could not read the document properties: %s" % _cut(str(error), 200))
        paragraphs = document.paragraphs
        self.out["paragraphCount"] = len(paragraphs)
        self.out["tableCount"] = len(document.tables)
        headings = self.out["headings"]
        first = self.out["firstParagraphs"]
        for paragraph in paragraphs:
            if self.budget.expired():
                self.partial("stopped reading paragraphs at the time budget")
                break
            text = paragraph.text.strip()
            if not text:
                continue
            style = ""
            try:
                style = paragraph.style.name or ""
            except Exception:  # noqa: BLE001 - a broken style reference
                pass
            level = _heading_level(style)
            if level is not None and len(headings) < MAX_HEADINGS:
                headings.append({"level": level, "text": _cut(text, MAX_LINE_CHARS)})
            if len(first) < FIRST_ROWS:
                first.append(_cut(text, MAX_PARAGRAPH_CHARS))

    def describe_xlsx(self, fmt):
        self.out.update({"kind": "excel", "format": fmt, "sheetCount": None, "sheets": []})
        if not self._office_guard({"xl/sharedStrings.xml", "xl/workbook.xml", "xl/styles.xml"}):
            return
        try:
            import openpyxl
        except ImportError:
            return self.partial("openpyxl is not installed in the sandbox")
        handle = self.reader()  # a file object: openpyxl judges a path by its extension
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                workbook = openpyxl.load_workbook(handle, read_only=True, data_only=True, keep_links=False)
        except BaseException:
            handle.close()
            raise
        try:
            names = workbook.sheetnames
            self.out["sheetCount"] = len(names)
            for name in names[:MAX_SHEETS]:
                if self.budget.expired():
                    self.partial("stopped at the time budget after %d sheets" % len(self.out["sheets"]))
                    break
                worksheet = workbook[name]
                sheet = {"name": name, "rowCount": None, "columnCount": None, "columns": [], "firstRows": []}
                self.out["sheets"].append(sheet)
                if not hasattr(worksheet, "iter_rows"):
                    sheet["type"] = "chartsheet"
                    continue
                rows = []
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    for row in worksheet.iter_rows(min_row=1, max_row=FIRST_ROWS + 1, values_only=True):
                        rows.append(row)
                    max_row, max_column = worksheet.max_row, worksheet.max_column
                if max_row is None or max_row < len(rows):
                    max_row = self._count_sheet_rows(worksheet, sheet)
                self._fill_sheet(sheet, rows, max_row, max_column)
            if len(names) > MAX_SHEETS:
                self.warn("%d sheets; the first %d are described" % (len(names), MAX_SHEETS))
        finally:
            workbook.close()
            handle.close()

    def _count_sheet_rows(self, worksheet, sheet):
        # The sheet has no (or a wrong) dimension record: count the rows, within the budget.
        count = 0
        for _ in worksheet.iter_rows(values_only=True):
            count += 1
            if count % 1000 == 0 and self.budget.expired():
                self.partial("sheet %r: stopped counting rows at the time budget" % sheet["name"])
                sheet["rowCountExact"] = False
                break
        return count

    def _fill_sheet(self, sheet, rows, max_row, max_column):
        rows = [list(row) for row in rows]
        while rows and all(value is None for value in rows[-1]):
            rows.pop()
        header = rows[0] if rows else []
        width = max_column or max((len(row) for row in rows), default=0)
        sheet["columnCount"] = width
        sheet["rowCount"] = max(int(max_row) - 1, 0) if max_row else 0
        sheet["columns"] = [
            _cut(_cell(value), MAX_CELL_CHARS) or "column_%d" % (index + 1)
            for index, value in enumerate(header[:MAX_COLUMNS])
        ]
        sheet["firstRows"] = [[_cut(_cell(value), MAX_CELL_CHARS) for value in row[:MAX_COLUMNS]] for row in rows[1:]]

    def describe_xls(self):
        self.out.update({"kind": "excel", "format": "xls", "sheetCount": None, "sheets": []})
        try:
            import xlrd
        except ImportError:
            return self.partial("xlrd is not installed in the sandbox")
        book = xlrd.open_workbook(self.source, on_demand=True, logfile=io.StringIO())
        try:
            names = book.sheet_names()
            self.out["sheetCount"] = len(names)
            for index, name in enumerate(names[:MAX_SHEETS]):
                if self.budget.expired():
                    self.partial("stopped at the time budget after %d sheets" % len(self.out["sheets"]))
                    break
                sheet = {"name": name, "rowCount": None, "columnCount": None, "columns": [], "firstRows": []}
                self.out["sheets"].append(sheet)
                worksheet = book.sheet_by_index(index)
                rows = []
                for row_index in range(min(worksheet.nrows, FIRST_ROWS + 1)):
                    row = []
                    for cell in worksheet.row(row_index):
                        value = cell.value
                        if cell.ctype == xlrd.XL_CELL_DATE:
                            try:
                                value = xlrd.xldate_as_datetime(value, book.datemode)
                            except Exception:  # noqa: BLE001 - an impossible date stays a number
                                pass
                        elif cell.ctype == xlrd.XL_CELL_EMPTY:
                            value = None
                        row.append(value)
                    rows.append(row)
                self._fill_sheet(sheet, rows, worksheet.nrows, worksheet.ncols)
                book.unload_sheet(index)
        finally:
            book.release_resources()

    # -- archives ----------------------------------------------------------------------------------
    def _archive(self, fmt):
        self.out.update({"kind": "archive", "format": fmt, "entryCount": None, "entryCountExact": False,
                         "entries": [], "compressedSizeBytes": self.size, "uncompressedSizeBytes": None,
                         "compressionRatio": None, "bombSuspected": False})

    def _judge_ratio(self, uncompressed):
        self.out["uncompressedSizeBytes"] = uncompressed
        if uncompressed is None:
            return
        ratio = uncompressed / max(self.size, 1)
        self.out["compressionRatio"] = round(ratio, 2)
        reasons = []
        if ratio > self.budget.bomb_ratio and uncompressed >= BOMB_MIN_BYTES:
            reasons.append("compression ratio %.0f:1 (over %d:1)" % (ratio, self.budget.bomb_ratio))
        if uncompressed > self.budget.max_uncompressed_bytes:
            reasons.append(
                "%s uncompressed (over the %s limit)" % (_human(uncompressed), _human(self.budget.max_uncompressed_bytes))
            )
        if reasons:
            self.out["bombSuspected"] = True
            self.warn("possible decompression bomb: %s; nothing was extracted" % "; ".join(reasons))

    def describe_zip(self, fmt):
        import zipfile

        self._archive(fmt)
        end = _zip_end_record(self.fd, self.size)
        if end is None:
            return self.partial("no zip end-of-central-directory record: truncated or not a zip")
        count, directory_size = end
        self.out["entryCount"] = count
        if directory_size > MAX_ZIP_DIRECTORY_BYTES:
            self.out["entryCountExact"] = True
            return self.partial(
                "the central directory is %s (limit %s); entries not listed"
                % (_human(directory_size), _human(MAX_ZIP_DIRECTORY_BYTES))
            )
        with self.reader() as handle, zipfile.ZipFile(handle) as archive:
            infos = archive.infolist()
        self.out["entryCount"] = len(infos)
        self.out["entryCountExact"] = True
        entries = self.out["entries"]
        for info in infos[:MAX_ENTRIES]:
            mode = (info.external_attr >> 16) & 0o170000
            kind = (
                "directory" if info.is_dir() else "symlink" if mode == stat.S_IFLNK else "file"
            )
            entry = {"name": _cut(info.filename, 512), "type": kind, "sizeBytes": info.file_size,
                     "compressedSizeBytes": info.compress_size}
            if info.flag_bits & 0x1:
                entry["encrypted"] = True
            entries.append(entry)
        if any(info.flag_bits & 0x1 for info in infos):
            self.warn("some entries are encrypted")
        if any(_unsafe_member(info.filename) for info in infos):
            self.warn("some entry names are absolute or contain '..' (path traversal if extracted naively)")
        # Entries whose data overlap: the trick of the non-recursive zip bombs.
        spans = sorted((info.header_offset, info.header_offset + 30 + len(info.filename) + info.compress_size) for info in infos)
        overlapping = any(spans[i + 1][0] < spans[i][1] for i in range(len(spans) - 1))
        uncompressed = sum(info.file_size for info in infos)
        self._judge_ratio(uncompressed)
        if overlapping:
            self.out["bombSuspected"] = True
            self.warn("possible zip bomb: entries overlap each other in the file")

    def describe_compressed(self, codec, ext):
        # A compressed tar, or one compressed file.
        if self._is_tar_inside(codec) or ext in ("tar.gz", "tgz", "tar.bz2", "tbz2", "tar.xz", "txz"):
            return self.describe_tar("tar." + codec, codec)
        self._archive(codec)
        inner = self.name[: -len(ext) - 1] if ext in (codec, "gzip") else self.name
        if codec == "gz":
            header_name, trailer_size = _gzip_header_name_and_size(self.fd, self.size)
            if header_name:
                inner = header_name
            self.out["entryCount"] = 1
            self.out["entryCountExact"] = True
            self.out["entries"] = [{"name": _cut(inner, 512), "type": "file", "sizeBytes": trailer_size,
                                    "compressedSizeBytes": self.size}]
            self.warn("the uncompressed size is the gzip trailer's (modulo 4 GiB, last member only)")
            self._judge_ratio(trailer_size)
            return
        # bz2 and xz carry no size: decompress and count, within the budgets, writing nothing.
        total, complete = self._count_decompressed(codec)
        self.out["entryCount"] = 1
        self.out["entryCountExact"] = True
        self.out["entries"] = [{"name": _cut(inner, 512), "type": "file", "sizeBytes": total if complete else None,
                                "compressedSizeBytes": self.size}]
        self._judge_ratio(total)
        if not complete:
            self.partial("decompressed %s and stopped (budget); the uncompressed size is a lower bound" % _human(total))

    def _open_decompressor(self, codec, handle):
        if codec == "gz":
            import gzip

            return gzip.GzipFile(fileobj=handle, mode="rb")
        if codec == "bz2":
            import bz2

            return bz2.BZ2File(handle, mode="rb")
        import lzma

        return lzma.LZMAFile(handle, mode="rb")

    def _count_decompressed(self, codec):
        total = 0
        limit = min(self.budget.max_uncompressed_bytes, max(self.budget.max_bytes_read, 1) * 16)
        with self.reader() as handle, self._open_decompressor(codec, handle) as stream:
            while True:
                if total >= limit or self.budget.expired():
                    return total, False
                chunk = stream.read(READ_CHUNK_BYTES)
                if not chunk:
                    return total, True
                total += len(chunk)

    def _is_tar_inside(self, codec):
        try:
            with self.reader() as handle, self._open_decompressor(codec, handle) as stream:
                block = stream.read(512)
        except Exception:  # noqa: BLE001 - a corrupt stream is described as one compressed file
            return False
        return len(block) >= 262 and block[257:262] == b"ustar"

    def describe_tar(self, fmt, codec):
        import tarfile

        self._archive(fmt)
        entries = self.out["entries"]
        count = 0
        declared = 0
        # Decompressed bytes the listing may go through (skipping member data means decompressing it).
        limit = self.budget.max_bytes_read if codec else None
        complete = True
        with self.reader() as handle:
            if codec:
                source = _LimitedReader(self._open_decompressor(codec, handle), limit, self.budget)
                archive = tarfile.open(fileobj=source, mode="r|")
            else:
                source = None
                archive = tarfile.open(fileobj=handle, mode="r:")
            try:
                while True:
                    if self.budget.expired():
                        complete = False
                        break
                    try:
                        member = archive.next()
                    except _StopReading:
                        complete = False
                        break
                    except tarfile.ReadError as error:
                        self.partial("the tar stream is damaged after %d entries: %s" % (count, _cut(str(error), 200)))
                        break
                    if member is None:
                        break
                    count += 1
                    declared += member.size
                    if len(entries) < MAX_ENTRIES:
                        kind = ("directory" if member.isdir() else "symlink" if member.issym() or member.islnk()
                                else "file" if member.isfile() else "other")
                        entries.append({"name": _cut(member.name, 512), "type": kind, "sizeBytes": member.size,
                                        "compressedSizeBytes": None})
                    if _unsafe_member(member.name) or ((member.issym() or member.islnk()) and _unsafe_member(member.linkname)):
                        self.warn("some entry names or link targets are absolute or contain '..'")
            finally:
                try:
                    archive.close()
                except Exception:  # noqa: BLE001 - closing a stopped stream
                    pass
        self.out["entryCount"] = count
        self.out["entryCountExact"] = complete
        self._judge_ratio(declared)
        if not complete:
            how = "time budget" if self.budget.expired() else "%s of decompressed data" % _human(limit or 0)
            self.partial(
                "stopped listing after %d entries (%s); counts and sizes are lower bounds" % (count, how)
            )

    def describe_7z(self):
        try:
            import py7zr
        except ImportError:
            return self.unsupported("7z", "listing 7z archives needs py7zr, which is not installed in the sandbox")

        self._archive("7z")
        with py7zr.SevenZipFile(self.source, mode="r") as archive:
            infos = archive.list()
        self.out["entryCount"] = len(infos)
        self.out["entryCountExact"] = True
        for info in infos[:MAX_ENTRIES]:
            self.out["entries"].append({"name": _cut(info.filename, 512),
                                        "type": "directory" if info.is_directory else "file",
                                        "sizeBytes": info.uncompressed, "compressedSizeBytes": info.compressed})
        self._judge_ratio(sum(info.uncompressed or 0 for info in infos))

    # -- documents, images, scientific formats ------------------------------------------------------
    def describe_pdf(self):
        self.out.update({"kind": "pdf", "pageCount": None, "title": None, "author": None, "subject": None,
                         "creator": None, "producer": None, "encrypted": False, "firstText": None,
                         "firstTextPage": None})
        try:
            import pypdf
        except ImportError:
            return self.partial("pypdf is not installed in the sandbox")
        import logging

        logging.getLogger("pypdf").setLevel(logging.CRITICAL)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                self._read_pdf(pypdf)
            except (BudgetExceeded, MemoryError):
                raise
            except Exception as error:  # noqa: BLE001 - pypdf raises many kinds on malformed input
                self.partial("malformed PDF: %s: %s" % (type(error).__name__, _cut(str(error), 200)))
            for warning in caught[:3]:
                self.warn("pypdf: %s" % _cut(str(warning.message), 200))

    def _read_pdf(self, pypdf):
        reader = pypdf.PdfReader(self.source, strict=False)
        if reader.is_encrypted:
            self.out["encrypted"] = True
            try:
                if not reader.decrypt(""):
                    return self.partial("the PDF is encrypted with a password; only its size is known")
            except Exception as error:  # noqa: BLE001 - unsupported encryption
                return self.partial("the PDF is encrypted (%s)" % _cut(str(error), 200))
        try:
            metadata = reader.metadata
        except Exception as error:  # noqa: BLE001 - a broken info dictionary
            metadata = None
            self.warn("could not read the document information: %s" % _cut(str(error), 200))
        if metadata:
            for key, field in (("/Title", "title"), ("/Author", "author"), ("/Subject", "subject"),
                               ("/Creator", "creator"), ("/Producer", "producer")):
                value = metadata.get(key)
                if value is not None:
                    self.out[field] = _cut(str(value), MAX_LINE_CHARS) or None
        pages = reader.pages
        self.out["pageCount"] = len(pages)
        for index in range(min(len(pages), 5)):
            if self.budget.expired():
                self.partial("stopped extracting text at the time budget")
                break
            try:
                text = pages[index].extract_text() or ""
            except (BudgetExceeded, MemoryError):
                raise
            except Exception as error:  # noqa: BLE001 - one broken page
                self.partial("page %d: could not extract text: %s" % (index + 1, _cut(str(error), 200)))
                continue
            text = re.sub(r"[ \t]+\n", "\n", text).strip()
            if text:
                self.out["firstText"] = _cut(text, MAX_TEXT_CHARS)
                self.out["firstTextPage"] = index + 1
                break
        if self.out["firstText"] is None and self.out["pageCount"]:
            self.warn("no text on the first pages (a scanned document without a text layer?)")

    def describe_image(self, image_format):
        self.out.update({"kind": "image", "format": image_format, "width": None, "height": None, "mode": None,
                         "frameCount": None})
        if image_format == "SVG":
            return self._describe_svg()
        header = image_header_size(self.head(), image_format)
        try:
            from PIL import Image
        except ImportError:
            Image = None
        if Image is None:
            if header is None:
                return self.partial("Pillow is not installed and the %s header could not be read" % image_format)
            self.out["width"], self.out["height"] = header
            self.warn("Pillow is not installed; the size comes from the file header")
            return self._check_pixels(header[0] * header[1], None)
        limit = Image.MAX_IMAGE_PIXELS
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            try:
                image = Image.open(self.source)  # reads the header only; pixels are never decoded
            except Image.DecompressionBombError:
                if header is not None:
                    self.out["width"], self.out["height"] = header
                self.out["bombSuspected"] = True
                return self.partial("decompression bomb: Pillow refused to open it (over %d pixels)" % (2 * limit))
            except (BudgetExceeded, MemoryError):
                raise
            except Exception as error:  # noqa: BLE001 - a malformed image
                if header is not None:
                    self.out["width"], self.out["height"] = header
                return self.partial("malformed %s: %s" % (image_format, _cut(str(error), 200)))
            with image:
                self.out["format"] = image.format or image_format
                self.out["width"], self.out["height"] = image.size
                self.out["mode"] = image.mode
                pixels = image.size[0] * image.size[1]
                if self._check_pixels(pixels, limit) and image.format in ("GIF", "TIFF", "WEBP", "PNG", "MPO"):
                    try:
                        self.out["frameCount"] = int(getattr(image, "n_frames", 1))
                    except (BudgetExceeded, MemoryError):
                        raise
                    except Exception:  # noqa: BLE001 - a damaged later frame
                        self.warn("could not count the frames")
                else:
                    self.out["frameCount"] = None
                if self.out["frameCount"] is None and image.format not in ("GIF", "TIFF", "WEBP", "PNG", "MPO"):
                    self.out["frameCount"] = 1

    def _check_pixels(self, pixels, limit):
        limit = limit or 89_478_485
        if pixels > limit:
            self.out["bombSuspected"] = True
            self.warn("%d pixels, over the %d-pixel decompression-bomb limit; never decoded" % (pixels, limit))
            return False
        return True

    def _describe_svg(self):
        text = self.head()[:16384].decode("utf-8", errors="replace")
        match = re.search(r"<svg\b([^>]*)>", text, re.S)
        if not match:
            return self.partial("no <svg> element in the first 16 KiB")
        attributes = match.group(1)

        def attribute(name):
            found = re.search(r"\b%s\s*=\s*[\"']([^\"']*)[\"']" % name, attributes)
            return found.group(1) if found else None

        def number(value):
            found = re.match(r"\s*([0-9.]+)", value or "")
            return int(float(found.group(1))) if found else None

        width, height = number(attribute("width")), number(attribute("height"))
        view_box = attribute("viewBox")
        if (width is None or height is None) and view_box:
            parts = re.split(r"[\s,]+", view_box.strip())
            if len(parts) == 4:
                width, height = width or number(parts[2]), height or number(parts[3])
        self.out.update({"width": width, "height": height, "frameCount": 1})

    def describe_hdf5(self):
        self.out.update({"kind": "hdf5", "groupCount": 0, "datasetCount": 0, "datasets": [], "attributes": {}})
        try:
            import h5py
        except ImportError:
            return self.partial("h5py is not installed in the sandbox")
        with h5py.File(self.source, "r") as handle:
            self.out["attributes"] = _attributes(handle.attrs)
            self._walk_hdf5(h5py, handle, self._add_dataset)

    def _add_dataset(self, path, dataset):
        self.out["datasetCount"] += 1
        if len(self.out["datasets"]) < MAX_DATASETS:
            entry = {"path": path, "shape": list(dataset.shape or ()), "dtype": str(dataset.dtype)}
            if dataset.chunks:
                entry["chunks"] = list(dataset.chunks)
            if dataset.compression:
                entry["compression"] = str(dataset.compression)
            self.out["datasets"].append(entry)

    def _walk_hdf5(self, h5py, root, on_dataset, on_group=None):
        queue = [("", root)]
        nodes = 0
        while queue:
            prefix, group = queue.pop(0)
            for name in group:
                nodes += 1
                if nodes > MAX_HDF5_NODES or self.budget.expired():
                    return self.partial(
                        "stopped walking after %d nodes (%s)"
                        % (nodes - 1, "time budget" if self.budget.expired() else "node limit")
                    )
                path = prefix + "/" + name
                link = group.get(name, getlink=True)
                if not isinstance(link, h5py.HardLink):
                    self.warn("links not followed (soft or external), e.g. %s" % path)
                    continue
                item = group.get(name)
                if isinstance(item, h5py.Dataset):
                    on_dataset(path, item)
                elif isinstance(item, h5py.Group):
                    if "groupCount" in self.out:
                        self.out["groupCount"] += 1
                    if on_group is not None:
                        on_group(path, item)
                    queue.append((path, item))

    def describe_netcdf4(self):
        self.out.update({"kind": "netcdf", "format": "netcdf4", "dimensions": [], "variables": [], "attributes": {}})
        try:
            import h5py
        except ImportError:
            return self.partial("h5py is not installed in the sandbox (NetCDF-4 files are read through it)")
        with h5py.File(self.source, "r") as handle:
            self.out["attributes"] = _attributes(handle.attrs, hidden=("_NCProperties",))
            self._walk_hdf5(h5py, handle, self._add_netcdf_node)

    def _add_netcdf_node(self, path, dataset):
        attrs = dataset.attrs
        name = path.lstrip("/")
        is_scale = _text(attrs.get("CLASS")) == "DIMENSION_SCALE"
        if is_scale:
            maxshape = dataset.maxshape or ()
            self.out["dimensions"].append({
                "name": name,
                "size": int(dataset.shape[0]) if dataset.shape else 0,
                "unlimited": bool(maxshape and maxshape[0] is None),
            })
            if _text(attrs.get("NAME")).startswith("This is a netCDF dimension but not a netCDF variable"):
                return
        if len(self.out["variables"]) >= MAX_DATASETS:
            return
        dimensions = []
        try:
            for axis in dataset.dims:
                dimensions.append(axis[0].name.rsplit("/", 1)[-1] if len(axis) else "")
        except Exception:  # noqa: BLE001 - dimension references that do not resolve
            dimensions = []
        if is_scale and not any(dimensions):
            dimensions = [name.rsplit("/", 1)[-1]]  # a coordinate variable is its own dimension
        variable = {"name": name, "shape": list(dataset.shape or ()), "dtype": str(dataset.dtype),
                    "dimensions": dimensions}
        for key, field in (("units", "units"), ("long_name", "longName"), ("standard_name", "standardName")):
            if key in attrs:
                variable[field] = _cut(_text(attrs[key]), MAX_LINE_CHARS)
        self.out["variables"].append(variable)

    def describe_netcdf_classic(self, version):
        self.out.update({"kind": "netcdf", "format": "netcdf3", "dimensions": [], "variables": [], "attributes": {}})
        if version == 5:
            return self.unsupported("netcdf5", "netCDF classic CDF-5 (64-bit data) files are not supported")
        try:
            from scipy.io import netcdf_file
        except ImportError:
            return self.unsupported("netcdf3", "netCDF classic files need scipy (python3-scipy), which is not installed")
        # mmap: the header is parsed, variable data is never read.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            handle = netcdf_file(self.source, "r", mmap=True)
            try:
                self.out["attributes"] = _attributes(handle._attributes)
                for name, size in list(handle.dimensions.items()):
                    self.out["dimensions"].append({"name": name, "size": size or 0, "unlimited": size is None})
                    if size is None:
                        self.out["dimensions"][-1]["size"] = int(handle._recs)
                for name, variable in list(handle.variables.items())[:MAX_DATASETS]:
                    entry = {"name": name, "shape": [int(n) for n in variable.shape],
                             "dtype": str(variable.data.dtype) if hasattr(variable, "data") else variable.typecode(),
                             "dimensions": list(variable.dimensions)}
                    for key, field in (("units", "units"), ("long_name", "longName"), ("standard_name", "standardName")):
                        if key in variable._attributes:
                            entry[field] = _cut(_text(variable._attributes[key]), MAX_LINE_CHARS)
                    self.out["variables"].append(entry)
                    del variable
            finally:
                try:
                    handle.close()
                except Exception:  # noqa: BLE001 - scipy warns about mmapped arrays still referenced
                    pass

    def describe_columnar(self, fmt):
        try:
            import pyarrow.parquet as parquet
        except ImportError:
            extra = ""
            if fmt == "parquet":
                tail = os.pread(self.fd, 8, max(self.size - 8, 0))
                if tail[-4:] != b"PAR1":
                    extra = " (and the file does not end with the Parquet footer: truncated?)"
            return self.unsupported(
                fmt, "reading %s needs pyarrow (python3-pyarrow), which is not installed in the sandbox%s"
                % ("Parquet" if fmt == "parquet" else "Feather/Arrow", extra)
            )
        self.out.update({"kind": "columnar", "format": fmt, "rowCount": None, "columns": []})
        if fmt == "parquet":
            metadata = parquet.ParquetFile(self.source).metadata
            schema = metadata.schema.to_arrow_schema()
            self.out["rowCount"] = metadata.num_rows
        else:
            import pyarrow.ipc as ipc

            reader = ipc.open_file(self.source)
            schema = reader.schema
        self.out["columnCount"] = len(schema)
        self.out["columns"] = [{"name": field.name, "dtype": str(field.type)} for field in list(schema)[:MAX_COLUMNS]]


# -- JSON structure ------------------------------------------------------------------------------------
def _json_type(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


_IDENTIFIER = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")


def _key_path(path, key):
    return path + "." + key if _IDENTIFIER.match(key) else path + "[" + json.dumps(key, ensure_ascii=False) + "]"


class JsonCollector:
    """Structure of a JSON value: keys, array lengths, one sample path per (path shape, leaf type)."""

    def __init__(self, ndjson=False):
        self.ndjson = ndjson
        self.top_type = None
        self.keys = []
        self.key_set = set()
        self.key_count = 0
        self.length = None
        self.length_exact = True
        self.arrays = []
        self.array_shapes = set()
        self.leaves = []
        self.leaf_shapes = set()
        self.max_depth = 0
        self.stopped = False
        self.nodes = 0

    def add_key(self, key):
        if key not in self.key_set:
            self.key_set.add(key)
            self.key_count += 1
            if len(self.keys) < MAX_KEYS:
                self.keys.append(_cut(key, MAX_CELL_CHARS))

    def leaf(self, path, shape, kind, depth):
        self.max_depth = max(self.max_depth, depth)
        marker = (shape, kind)
        if marker not in self.leaf_shapes and len(self.leaves) < MAX_LEAVES:
            self.leaf_shapes.add(marker)
            self.leaves.append({"path": _cut(path, 512), "type": kind})

    def array(self, path, shape, length, complete, depth):
        # Kept by shape, up to a bound; the shallowest are reported (a stream closes the deepest first).
        if shape not in self.array_shapes and len(self.arrays) < MAX_ARRAYS * 20:
            self.array_shapes.add(shape)
            self.arrays.append((depth, len(self.arrays), {"path": _cut(path, 512), "length": length, "complete": complete}))

    def walk(self, value, budget):
        self.top_type = _json_type(value)
        if isinstance(value, dict):
            for key in value:
                self.add_key(str(key))
            self.key_count = len(value)
        elif isinstance(value, list):
            self.length = len(value)
            if value and isinstance(value[0], dict):
                for key in list(value[0])[:MAX_KEYS * 4]:
                    self.add_key(str(key))
        self._walk(value, "$", "$", 0, budget)

    def walk_record(self, index, value, budget):
        if self.top_type is None:
            self.top_type = _json_type(value)
        if isinstance(value, dict):
            for key in list(value)[:MAX_KEYS * 4]:
                self.add_key(str(key))
        self._walk(value, "$[%d]" % index, "$[*]", 1, budget)

    def _walk(self, root, root_path, root_shape, root_depth, budget):
        # Iterative: deep nesting cannot exhaust the stack.
        stack = [(root, root_path, root_shape, root_depth)]
        while stack:
            value, path, shape, depth = stack.pop()
            self.nodes += 1
            if self.nodes % 4096 == 0 and budget.expired():
                self.stopped = True
                return
            if depth > MAX_JSON_DEPTH:
                self.leaf(path, shape, "…(deeper than %d)" % MAX_JSON_DEPTH, depth)
                continue
            if isinstance(value, dict):
                if not value:
                    self.leaf(path, shape, "object (empty)", depth)
                children = []
                for index, (key, child) in enumerate(value.items()):
                    if index >= 1000:
                        break
                    key = str(key)
                    children.append((child, _key_path(path, key), _key_path(shape, key), depth + 1))
                stack.extend(reversed(children))
            elif isinstance(value, list):
                self.array(path, shape, len(value), True, depth)
                if not value:
                    self.leaf(path, shape, "array (empty)", depth)
                children = [
                    (child, "%s[%d]" % (path, index), shape + "[*]", depth + 1)
                    for index, child in enumerate(value[:JSON_ITEMS_PER_ARRAY])
                ]
                stack.extend(reversed(children))
            else:
                self.leaf(path, shape, _json_type(value), depth)

    def result(self, complete):
        result = {
            "topLevelType": self.top_type or "unknown",
            "keys": self.keys,
            "keyCount": self.key_count,
            "length": self.length,
            "lengthExact": self.length_exact and complete if self.length is not None else True,
            "arrays": [entry for _, _, entry in sorted(self.arrays, key=lambda item: item[:2])[:MAX_ARRAYS]],
            "leaves": self.leaves,
            "maxDepth": self.max_depth,
        }
        return result


class _Frame:
    __slots__ = ("container", "path", "shape", "count", "key", "depth")

    def __init__(self, container, path, shape, depth):
        self.container = container
        self.path = path
        self.shape = shape
        self.count = 0
        self.key = None
        self.depth = depth


_JSON_TOKEN = re.compile(
    r'\s*(?:"([^"\\]*(?:\\.[^"\\]*)*)"|(-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?)|(true|false|null)|([{}\[\]:,]))',
    re.S,
)


_JSON_SPACE = re.compile(r"\s*")
_JSON_TOKEN_STARTS = set('"-0123456789tfn{}[],:')


class JsonScanner:
    """A token-stream walk over a JSON prefix: structure without building the value."""

    def __init__(self, collector, budget):
        self.collector = collector
        self.budget = budget
        self.error = None
        self.stopped = False

    def scan(self, text, is_prefix):
        collector = self.collector
        stack = []
        position = 0
        tokens = 0
        expect_key = False
        at_value = False  # inside an array, where the next token starts an element
        match_at = _JSON_TOKEN.match
        skip_space = _JSON_SPACE.match
        raw_decode = json.JSONDecoder().raw_decode
        while True:
            frame = stack[-1] if stack else None
            if at_value and frame.count >= JSON_ITEMS_PER_ARRAY:
                # Past the sampled elements: skip whole elements at C speed, counting them.
                start = skip_space(text, position).end()
                if start < len(text) and text[start] != "]":
                    try:
                        _, position = raw_decode(text, start)
                    except (ValueError, RecursionError):
                        pass  # cut at the end of the prefix, or invalid: the token loop finds out
                    else:
                        self._count_child(frame)
                        at_value = False
                        tokens += 64
                        if tokens % 65536 < 64 and self.budget.expired():
                            self.stopped = True
                            break
                        continue
            match = match_at(text, position)
            if match is None:
                rest = text[position:].lstrip()
                if rest and (not is_prefix or rest[0] not in _JSON_TOKEN_STARTS):
                    if stack or collector.top_type is None:
                        self.error = "invalid JSON near character %d" % (len(text) - len(rest))
                    else:
                        self.error = "extra data after the JSON value at character %d" % (len(text) - len(rest))
                break
            position = match.end()
            tokens += 1
            if tokens % 65536 == 0 and self.budget.expired():
                self.stopped = True
                break
            string, number, literal, punct = match.groups()
            if punct is not None:
                if punct == "{" or punct == "[":
                    path, shape, depth = self._child_position(frame)
                    if frame is None:
                        if collector.top_type is not None:
                            self.error = "extra data after the JSON value at character %d" % skip_space(text, match.start()).end()
                            break
                        collector.top_type = "object" if punct == "{" else "array"
                    stack.append(_Frame(punct, path, shape, depth))
                    if len(stack) > collector.max_depth:
                        collector.max_depth = len(stack)
                    expect_key = punct == "{"
                    at_value = punct == "["
                elif punct == "}" or punct == "]":
                    if frame is None:
                        self.error = "unbalanced %r at character %d" % (punct, match.start())
                        break
                    stack.pop()
                    if frame.container == "[":
                        if frame.count == 0:
                            collector.leaf(frame.path, frame.shape, "array (empty)", frame.depth)
                        collector.array(frame.path, frame.shape, frame.count, True, frame.depth)
                        if frame.depth == 0:
                            collector.length = frame.count
                    elif frame.count == 0:
                        collector.leaf(frame.path, frame.shape, "object (empty)", frame.depth)
                    self._count_child(stack[-1] if stack else None)
                    expect_key = False
                    at_value = False
                elif punct == ",":
                    expect_key = frame is not None and frame.container == "{"
                    at_value = frame is not None and frame.container == "["
                # ":" needs nothing: the key was recorded.
                continue
            at_value = False
            if frame is not None and frame.container == "{" and expect_key and string is not None:
                key = _unescape(string)
                frame.key = key
                if frame.depth == 0:
                    collector.add_key(key)
                elif frame.depth == 1 and stack[0].container == "[" and stack[0].count == 0:
                    collector.add_key(key)
                expect_key = False
                continue
            kind = "string" if string is not None else "number" if number is not None else (
                "null" if literal == "null" else "boolean")
            path, shape, depth = self._child_position(frame)
            if frame is None:
                if collector.top_type is not None:
                    self.error = "extra data after the JSON value at character %d" % skip_space(text, match.start()).end()
                    break
                collector.top_type = kind
            collector.leaf(path, shape, kind, depth)
            self._count_child(frame)
        # Containers still open: the prefix ended inside them.
        for frame in stack:
            if frame.container == "[":
                collector.array(frame.path, frame.shape, frame.count, False, frame.depth)
                if frame.depth == 0:
                    collector.length = frame.count
                    collector.length_exact = False
        if stack and not self.error and not self.stopped:
            collector.length_exact = False
            if not is_prefix:
                self.error = "the JSON ends early: %d containers are not closed" % len(stack)

    def _child_position(self, frame):
        if frame is None:
            return "$", "$", 0
        if frame.depth >= MAX_JSON_DEPTH:
            return frame.path, frame.shape, frame.depth + 1
        if frame.container == "[":
            return "%s[%d]" % (frame.path, frame.count), frame.shape + "[*]", frame.depth + 1
        key = frame.key if frame.key is not None else "?"
        return _key_path(frame.path, key), _key_path(frame.shape, key), frame.depth + 1

    def _count_child(self, frame):
        if frame is not None:
            frame.count += 1
            if frame.container == "[" and frame.depth == 0:
                self.collector.length = frame.count


def _unescape(raw):
    if "\\" not in raw:
        return raw
    try:
        return json.loads('"' + raw + '"')
    except ValueError:
        return raw


# -- helpers -----------------------------------------------------------------------------------------
class _StopReading(Exception):
    pass


class _LimitedReader:
    """A read-only stream that stops (raises `_StopReading`) after `limit` bytes or at the budget."""

    def __init__(self, stream, limit, budget):
        self.stream = stream
        self.limit = limit
        self.budget = budget
        self.seen = 0

    def read(self, size=-1):
        if (self.limit is not None and self.seen >= self.limit) or self.budget.expired():
            raise _StopReading()
        if size is None or size < 0:
            size = READ_CHUNK_BYTES
        chunk = self.stream.read(min(size, READ_CHUNK_BYTES))
        self.seen += len(chunk)
        return chunk

    def close(self):
        self.stream.close()


class _MarkdownHeadings:
    """Collects ATX headings (`# Title`) outside code fences, fed chunk by chunk."""

    def __init__(self, encoding, headings):
        self.decoder = codecs.getincrementaldecoder(_python_codec(encoding))(errors="replace")
        self.headings = headings
        self.rest = ""
        self.line = 0
        self.fenced = False

    def feed(self, chunk):
        text = self.rest + self.decoder.decode(chunk)
        lines = text.split("\n")
        self.rest = lines.pop()
        for line in lines:
            self._line(line)

    def finish(self, complete):
        if complete and self.rest:
            self._line(self.rest)

    def _line(self, line):
        self.line += 1
        stripped = line.strip()
        if stripped.startswith("```") or stripped.startswith("~~~"):
            self.fenced = not self.fenced
            return
        if self.fenced or not line.startswith("#") or len(self.headings) >= MAX_HEADINGS:
            return
        match = re.match(r"^(#{1,6})\s+(.*?)\s*#*\s*$", line)
        if match:
            self.headings.append({"level": len(match.group(1)), "text": _cut(match.group(2), MAX_LINE_CHARS),
                                  "line": self.line})


def detect_encoding(sample, describer):
    """(encoding, confidence) of a text sample, or (None, 0) when it looks binary."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig", 1.0
    for bom, name in ((codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"),
                      (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")):
        if sample.startswith(bom):
            return name, 1.0
    probe = sample[:CHARDET_SAMPLE_BYTES * 4]
    if b"\x00" in probe:
        return None, 0.0
    try:
        probe.decode("ascii")
        return "ascii", 1.0
    except UnicodeDecodeError:
        pass
    try:
        # A multi-byte character cut at the end of the sample is not an error.
        codecs.getincrementaldecoder("utf-8")().decode(probe, final=len(probe) >= describer.size)
        return "utf-8", 0.99
    except UnicodeDecodeError:
        pass
    try:
        import chardet
    except ImportError:
        describer.warn("chardet is not installed; assumed latin-1")
        return "latin-1", 0.0
    guess = chardet.detect(sample[:CHARDET_SAMPLE_BYTES])
    encoding = guess.get("encoding")
    if not encoding:
        describer.warn("chardet could not tell the encoding; assumed latin-1")
        return "latin-1", 0.0
    try:
        codecs.lookup(encoding)
    except LookupError:
        return "latin-1", 0.0
    return encoding.lower(), round(float(guess.get("confidence") or 0.0), 3)


def _python_codec(encoding):
    try:
        codecs.lookup(encoding)
        return encoding
    except LookupError:
        return "latin-1"


def _decode_head(data, encoding, size):
    """Decodes a sample; when it is a prefix of the file, the last (partial) line is dropped."""
    text = data.decode(_python_codec(encoding), errors="replace")
    if len(data) < size and "\n" in text:
        text = text[: text.rindex("\n") + 1]
    return text


_NUMBER = re.compile(r"^\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*$")


def _looks_numeric(value):
    return bool(_NUMBER.match(value))


_DATE = re.compile(r"^\s*(\d{4}-\d{1,2}-\d{1,2}([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?|\d{1,2}/\d{1,2}/\d{2,4})\s*$")


def infer_dtypes(text, delimiter, quotechar, has_header, names, body, describer):
    """pandas dtypes of the sample's columns; a plain fallback when pandas is missing or fails."""
    sample_rows = body[:DTYPE_SAMPLE_ROWS]
    try:
        import pandas as pd
    except ImportError:
        describer.warn("pandas is not installed; column types inferred by a simple rule")
        return _simple_dtypes(names, sample_rows)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            frame = pd.read_csv(
                io.StringIO(text), sep=delimiter, quotechar=quotechar, header=0 if has_header else None,
                names=names if names else None, nrows=DTYPE_SAMPLE_ROWS, engine="python" if len(delimiter) != 1 else "c",
                on_bad_lines="skip", skip_blank_lines=True, low_memory=False,
            )
    except (BudgetExceeded, MemoryError):
        raise
    except Exception as error:  # noqa: BLE001 - a ragged or odd file: fall back
        describer.warn("pandas could not read the sample (%s); column types inferred by a simple rule" % _cut(str(error), 200))
        return _simple_dtypes(names, sample_rows)
    dtypes = []
    for position in range(len(names)):
        if position >= frame.shape[1]:
            dtypes.append("unknown")
            continue
        column = frame.iloc[:, position]
        dtype = str(column.dtype)
        if dtype == "object":
            values = column.dropna().astype(str)
            if len(values) and all(_DATE.match(v) for v in values[:200]):
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        pd.to_datetime(values, errors="raise")
                    dtype = "datetime64[ns]"
                except (ValueError, TypeError, OverflowError):
                    pass
            elif len(values) and set(v.lower() for v in values) <= {"true", "false"}:
                dtype = "bool"
        dtypes.append(dtype)
    return dtypes


def _simple_dtypes(names, rows):
    dtypes = []
    for position in range(len(names)):
        values = [row[position] for row in rows if position < len(row) and row[position].strip() != ""]
        if values and all(re.match(r"^\s*[-+]?\d+\s*$", v) for v in values):
            dtypes.append("int64")
        elif values and all(_looks_numeric(v) for v in values):
            dtypes.append("float64")
        else:
            dtypes.append("object")
    return dtypes


def sniff_image(head):
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if head.startswith(b"BM") and len(head) >= 26:
        return "BMP"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[:4] == b"\x00\x00\x01\x00":
        return "ICO"
    text = head[:1024].lstrip()
    if text.startswith(b"<svg") or (text.startswith(b"<?xml") and b"<svg" in head[:4096]):
        return "SVG"
    return None


def image_header_size(head, image_format):
    """(width, height) from the header bytes, for PNG/GIF/BMP/JPEG; None otherwise."""
    try:
        if image_format == "PNG" and head[12:16] == b"IHDR":
            return struct.unpack(">II", head[16:24])
        if image_format == "GIF":
            return struct.unpack("<HH", head[6:10])
        if image_format == "BMP":
            width, height = struct.unpack("<ii", head[18:26])
            return abs(width), abs(height)
        if image_format == "JPEG":
            position = 2
            while position + 9 < len(head):
                if head[position] != 0xFF:
                    return None
                marker = head[position + 1]
                if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
                    position += 2
                    continue
                length = struct.unpack(">H", head[position + 2:position + 4])[0]
                if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                    height, width = struct.unpack(">HH", head[position + 5:position + 9])
                    return width, height
                position += 2 + length
    except struct.error:
        return None
    return None


def _zip_end_record(fd, size):
    """(entry count, central directory size) from the end record (zip64 aware), or None."""
    tail_size = min(size, 65536 + 22)
    tail = os.pread(fd, tail_size, size - tail_size)
    index = tail.rfind(b"PK\x05\x06")
    if index < 0 or index + 22 > len(tail):
        return None
    count, directory_size = struct.unpack("<HI", tail[index + 10:index + 16])
    if count == 0xFFFF or directory_size == 0xFFFFFFFF:
        locator = tail.rfind(b"PK\x06\x07", 0, index)
        if locator >= 0:
            (offset,) = struct.unpack("<Q", tail[locator + 8:locator + 16])
            record = os.pread(fd, 56, offset)
            if record[:4] == b"PK\x06\x06":
                count, directory_size = struct.unpack("<QQ", record[32:48])
    return count, directory_size


def _gzip_header_name_and_size(fd, size):
    head = os.pread(fd, 4096, 0)
    name = None
    try:
        flags = head[3]
        position = 10
        if flags & 0x04:
            (extra,) = struct.unpack("<H", head[position:position + 2])
            position += 2 + extra
        if flags & 0x08:
            end = head.index(b"\x00", position)
            name = os.path.basename(head[position:end].decode("latin-1"))
    except (IndexError, ValueError, struct.error):
        name = None
    trailer = os.pread(fd, 4, max(size - 4, 0))
    isize = struct.unpack("<I", trailer)[0] if len(trailer) == 4 else None
    return name, isize


def _unsafe_member(name):
    return name.startswith("/") or ".." in name.replace("\\", "/").split("/")


def _heading_level(style):
    if style == "Title":
        return 0
    match = re.match(r"^Heading (\d)$", style)
    return int(match.group(1)) if match else None


def _attributes(attrs, hidden=()):
    out = {}
    try:
        keys = list(attrs.keys())
    except Exception:  # noqa: BLE001 - unreadable attribute table
        return out
    for key in keys[:MAX_ATTRIBUTES]:
        if key in hidden:
            continue
        try:
            out[str(key)] = _cut(_text(attrs[key]), MAX_LINE_CHARS)
        except Exception:  # noqa: BLE001 - an attribute type h5py cannot read
            out[str(key)] = "<unreadable>"
    return out


def _text(value):
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    try:
        import numpy

        if isinstance(value, numpy.ndarray):
            if value.dtype.kind == "S" and value.size == 1:
                return value.reshape(-1)[0].decode("utf-8", errors="replace")
            if value.dtype.kind == "S" and value.ndim == 1:
                return value.tobytes().decode("utf-8", errors="replace").rstrip("\x00")
            return numpy.array2string(value, threshold=20)
        if isinstance(value, numpy.bytes_):
            return bytes(value).decode("utf-8", errors="replace")
    except ImportError:
        pass
    return str(value)


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return repr(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if hasattr(value, "isoformat"):
        text = value.isoformat()
        return text[:-9] if text.endswith("T00:00:00") else text
    return str(value)


def _cut(text, limit):
    if text is None:
        return ""
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _human(size):
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return ("%d %s" % (value, unit)) if unit == "B" else ("%.1f %s" % (value, unit))
        value /= 1024
    return "%d B" % size


# -- entry point -------------------------------------------------------------------------------------
def _open_file(path):
    full = os.path.join(os.getcwd(), path)
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(full, flags)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise IsADirectoryError("not a regular file: %s" % path)
        # Libraries re-open by name: the fd path pins them to the inode checked here.
        source = "/proc/self/fd/%d" % fd
        if not os.path.exists(source):
            source = full
        return fd, source, info.st_size
    except BaseException:
        os.close(fd)
        raise


def main(args):
    path = args.get("path")
    if not isinstance(path, str) or not path or path.startswith("/") or ".." in path.split("/"):
        raise ValueError("Expected `path` to be a workspace-relative path, got %r" % (path,))
    budget = Budget(args)
    fd, source, size = _open_file(path)
    describer = Describer(path, fd, source, size, budget)
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous_handler = None

    def on_alarm(_signum, _frame):
        raise BudgetExceeded()

    try:
        if in_main_thread:
            previous_handler = signal.signal(signal.SIGALRM, on_alarm)
            signal.setitimer(signal.ITIMER_REAL, budget.hard_budget_s)
        try:
            describer.describe()
        finally:
            if in_main_thread:
                signal.setitimer(signal.ITIMER_REAL, 0)
    except BudgetExceeded:
        describer.partial("stopped by the time budget (%d ms) in the middle of reading the file" % (budget.hard_budget_s * 1000))
    except MemoryError:
        describer.partial("stopped: the file needs more memory than the sandbox allows")
    except RecursionError:
        describer.partial("stopped: the file is nested too deeply")
    except Exception as error:  # noqa: BLE001 - any parser failure is a partial description, not a crash
        describer.partial("could not read the file as %s: %s: %s" % (
            describer.out.get("kind", "unknown"), type(error).__name__, _cut(str(error), 300)))
    finally:
        if in_main_thread:
            signal.signal(signal.SIGALRM, previous_handler if previous_handler is not None else signal.SIG_DFL)
        os.close(fd)
    out = describer.out
    if out["kind"] == "unknown" and "headHex" not in out and describer._head:
        out["headHex"] = describer._head[:32].hex()
    for key, value in KIND_DEFAULTS.get(out["kind"], {}).items():
        if key not in out:
            out[key] = json.loads(json.dumps(value))  # a fresh copy
    if out["kind"] == "archive" and not out["compressedSizeBytes"]:
        out["compressedSizeBytes"] = size
    return out


if __name__ == "__main__":  # for development: python3 -m vivarium_runtime.tools.file_metadata FILE
    os.chdir(os.path.dirname(os.path.abspath(sys.argv[1])))
    print(json.dumps(main({"path": os.path.basename(sys.argv[1])}), indent=2, ensure_ascii=False))
